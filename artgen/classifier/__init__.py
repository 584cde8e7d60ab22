"""The dense classifier head: its settings, its training step and a Keras-like API.

>>> import artgen
>>> model = artgen.Classifier()                                   # Flatten -> Dense(128, ReLU) -> Dense(10)
>>> model.compile(optimizer="adam", loss="cross_entropy", metrics=["accuracy"])
>>> history = model.fit(x_train, y_train, epochs=10, batch_size=32)
>>> model.evaluate(x_test, y_test)                                # {"loss": ..., "accuracy": ...}
>>> model = artgen.train_classifier(dataset="shapes", epochs=3, out="runs/shapes")   # what the CLI runs
"""

from __future__ import annotations

from ._task import ClassifyTask
from .config import CONFIG_VERSION, HEAD, ClassifierTrainConfig, migrate_config, read_config
from .pipeline import Classifier, as_images, check_weights_fit, init_from
from .training import train_classifier

__all__ = [
    "HEAD",
    "CONFIG_VERSION",
    "ClassifierTrainConfig",
    "migrate_config",
    "read_config",
    "Classifier",
    "ClassifyTask",
    "as_images",
    "check_weights_fit",
    "init_from",
    "train_classifier",
]

"""Settings of classifier training (:class:`ClassifierTrainConfig`), the shape of its ``config.json`` and its migration.

The model's own settings (hidden width, activation, initialisation) are :class:`ClassifierConfig`'s;
everything ``artgen classify train`` and :func:`train_classifier` default to is one of these two
dataclasses' field defaults.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..data import DATASETS
from ..errors import ArgumentError, UsageError
from ..runs.config import Settings, migrate_sections
from .networks import MAX_IMAGE_SIZE, ClassifierConfig

HEAD = "classifier"

KERAS_ADAM_EPSILON = 1e-7  # tf.keras.optimizers.Adam's default (torch.optim.Adam: 1e-8)
TORCH_ADAM_EPSILON = 1e-8
OPTIMIZERS = ("adam", "sgd")

#: The shape of a classifier run's ``config.json``. 1 (no ``config_version`` key): runs saved before
#: the training settings had a dataclass; :func:`migrate_config` reads them.
CONFIG_VERSION = 2

#: What a version-1 run meant by a missing key: Adam's epsilon was PyTorch's, the layers had
#: ``nn.Linear``'s initialisation, and the optimizer, loss and metrics were the only ones offered.
LEGACY_DEFAULTS = {
    "model": {"init": "pytorch"},
    "train": {"epsilon": TORCH_ADAM_EPSILON, "optimizer": "adam", "loss": "cross_entropy", "metrics": ["accuracy"]},
}

#: The model settings :func:`train_classifier` takes beside the training ones (the rest follow the data).
MODEL_FIELDS = ("hidden", "activation", "init")


def migrate_config(cfg: dict) -> dict:
    """A classifier run's ``config.json`` (as read) in the current shape (:data:`CONFIG_VERSION`).

    Version 1 (no ``config_version``): keys its sections lack take :data:`LEGACY_DEFAULTS`, the
    values they were saved under. Returns a new dict.
    """
    return migrate_sections(cfg, CONFIG_VERSION, {1: LEGACY_DEFAULTS})


def read_config(run, *, what: str = "") -> dict:
    """A classifier run folder's ``config.json``, checked to be a classifier run and migrated (:func:`migrate_config`).

    Raises:
        CheckpointError: no folder, an unreadable config, or another head's run.
    """
    return migrate_config(run.load_head_config(HEAD, "classifier", what=what))


@dataclass
class ClassifierTrainConfig(Settings):
    """Training settings of the classifier (stored under ``train`` in ``config.json``; ``--resume`` reads them back).

    ``dataset`` None means ``"folder"`` when ``data`` is given, else ``"shapes"``; ``size`` and
    ``channels`` shape the pictures of a folder (MNIST and the shapes are 28 px grey); ``lr`` None
    is the optimizer's default (1e-3 for Adam, 1e-2 for SGD); ``epsilon`` is Adam's (Keras' 1e-7).

    Raises:
        ArgumentError: a value out of range or unknown, naming the field.
        UsageError: ``data`` without the folder dataset, or the folder dataset without ``data``.
    """

    dataset: str | None = None
    data: str | None = None
    data_root: str | None = None
    size: int = ClassifierConfig.image_size
    channels: int = ClassifierConfig.in_channels
    limit: int | None = None
    epochs: int = 10
    batch_size: int = 32
    optimizer: str = "adam"
    lr: float | None = None
    epsilon: float = KERAS_ADAM_EPSILON
    loss: str = "cross_entropy"
    metrics: list[str] = field(default_factory=lambda: ["accuracy"])
    checkpoint_every: int | None = 1000
    seed: int = 0
    precision: str = "fp32"
    init_from: str | None = None

    def __post_init__(self) -> None:
        if self.dataset is None:
            self.dataset = "folder" if self.data else "shapes"
        if self.dataset not in DATASETS:
            raise ArgumentError("dataset", f"{self.dataset!r}: expected one of {', '.join(DATASETS)}")
        if self.dataset == "folder" and not self.data:
            raise UsageError("{arg:dataset=folder} needs {arg:data} (a folder with one subfolder per class)")
        if self.dataset != "folder" and self.data:
            raise UsageError(f"{{arg:data}} is for {{arg:dataset=folder}}; for {self.dataset} use {{arg:data_root}}")
        for name, low, high in (
            ("epochs", 1, None),
            ("batch_size", 1, None),
            ("limit", 1, None),
            ("size", 1, MAX_IMAGE_SIZE),
            ("checkpoint_every", 1, None),
        ):
            value = getattr(self, name)
            if value is None and name in ("limit", "checkpoint_every"):
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < low or (high and value > high):
                bound = f"from {low} to {high}" if high is not None else f"at least {low}"
                raise ArgumentError(name, f"must be {bound}, got {value}")
        if self.channels not in (1, 3):
            raise ArgumentError("channels", f"must be 1 or 3, got {self.channels}")
        if self.optimizer not in OPTIMIZERS:
            raise ArgumentError("optimizer", f"{self.optimizer!r}: expected one of {', '.join(OPTIMIZERS)}")
        for name in ("lr", "epsilon"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ArgumentError(name, f"must be a positive number, got {value}")

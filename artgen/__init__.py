"""artgen: make art with neural networks — a dense classifier, a small GAN and style transfer.

Public API (everything a notebook needs)::

    import artgen
    model = artgen.Classifier(); model.compile(...); model.fit(...)
"""

from __future__ import annotations

from .device import resolve_device, seed_everything
from .errors import ArtgenError, CheckpointError, ImageError, UsageError
from .heads.classify import Classifier, train_classifier
from .heads.fast_style import FastStyle, train_fast_style
from .heads.gan import GAN, train_gan
from .heads.stylize import ArbitraryStyle, stylize
from .heads.texture import texture
from .models.encoders import FeatureEncoder, build_encoder, style_grams
from .train import Callback, History, Trainer
from .version import __version__

__all__ = [
    "FeatureEncoder",
    "build_encoder",
    "style_grams",
    "stylize",
    "ArbitraryStyle",
    "texture",
    "__version__",
    "FastStyle",
    "train_fast_style",
    "train_gan",
    "ArtgenError",
    "Callback",
    "CheckpointError",
    "Classifier",
    "train_classifier",
    "GAN",
    "History",
    "ImageError",
    "Trainer",
    "UsageError",
    "resolve_device",
    "seed_everything",
]

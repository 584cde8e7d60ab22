"""artgen: make art with neural networks — a dense classifier, a small GAN and style transfer.

Public API (everything a notebook needs)::

    import artgen
    model = artgen.Classifier(); model.compile(...); model.fit(...)
"""

from __future__ import annotations

from .version import __version__
from .device import resolve_device, seed_everything
from .errors import ArtgenError, CheckpointError, ImageError, UsageError
from .heads.classify import Classifier
from .heads.stylize import ArbitraryStyle, stylize
from .models.encoders import FeatureEncoder, build_encoder, style_grams
from .heads.gan import GAN, load_gan, train_gan
from .heads.fast_style import FastStyle, train_fast_style
from .heads.texture import texture
from .train import Callback, History, Trainer

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
    "load_gan",
    "train_gan",
    "ArtgenError",
    "Callback",
    "CheckpointError",
    "Classifier",
    "GAN",
    "History",
    "ImageError",
    "Trainer",
    "UsageError",
    "resolve_device",
    "seed_everything",
]

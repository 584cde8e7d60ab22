"""artgen: make art with neural networks — a dense classifier, a small GAN and style transfer.

Public API (everything a notebook needs)::

    import artgen
    model = artgen.Classifier(); model.compile(...); model.fit(...)
"""

from __future__ import annotations

from .classifier import Classifier, train_classifier
from .device import resolve_device, seed_everything
from .encoders import FeatureEncoder, build_encoder, style_grams
from .errors import ArtgenError, CheckpointError, ImageError, UsageError
from .fast_style import FastStyle, train_fast_style
from .gan import GAN, train_gan
from .style_transfer import ArbitraryStyle, stylize
from .style_transfer.texture import texture
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

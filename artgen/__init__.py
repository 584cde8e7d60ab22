"""artgen: make art with neural networks — a dense classifier, a small GAN and style transfer.

Public API (everything a notebook needs)::

    import artgen
    model = artgen.Classifier(); model.compile(...); model.fit(...)
"""

from __future__ import annotations

__version__ = "0.1.0"

from .device import resolve_device, seed_everything
from .errors import ArtgenError, CheckpointError, ImageError, UsageError
from .heads.classify import Classifier
from .train import Callback, History, Trainer

__all__ = [
    "__version__",
    "ArtgenError",
    "Callback",
    "CheckpointError",
    "Classifier",
    "History",
    "ImageError",
    "Trainer",
    "UsageError",
    "resolve_device",
    "seed_everything",
]

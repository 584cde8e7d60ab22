"""artgen: make art with neural networks — a dense classifier, a small GAN and style transfer.

The public API, on purpose short: per head one training entry and one pipeline class that saves and
loads, and the image, dataset and evaluation helpers the notebooks use::

    import artgen
    clf = artgen.train_classifier(dataset="shapes", epochs=3, out="runs/shapes")   # artgen.Classifier
    gan = artgen.train_gan(data="my_art", out="runs/art")                         # artgen.GAN
    net = artgen.train_fast_style("swirls", out="runs/swirls")                    # artgen.FastStyle
    img = artgen.stylize("photo.jpg", "painting.jpg")       # artgen.ArbitraryStyle for one pass
    tex = artgen.texture("bark.jpg", size=(1024, 1024), seamless=True)

Everything else lives in its package: the heads ``artgen.classifier``, ``artgen.gan``, ``artgen.fast_style``
and ``artgen.style_transfer`` (``stylize`` and ``texture``), each in the same rooms (``config``, ``networks``,
``training``, ``pipeline``, ``cli``), and the shared ``artgen.runs``, ``artgen.encoders``, ``artgen.train``, ...
"""

from __future__ import annotations

from .classifier import Classifier, train_classifier
from .data import ImageFolder, art_images, load_dataset
from .data.style_images import style_image
from .demo import builtin_photo
from .device import seed_everything
from .errors import ArtgenError, CheckpointError, ImageError, UsageError
from .fast_style import FastStyle, train_fast_style
from .gan import GAN, evaluate_gan, train_gan
from .images import make_grid, on_checkerboard, save_gif, save_image, to_pil
from .style_transfer import ArbitraryStyle, stylize, texture
from .train import Callback, History
from .version import __version__

__all__ = [
    # classifier
    "Classifier",
    "train_classifier",
    # GAN
    "GAN",
    "train_gan",
    "evaluate_gan",
    # fast style
    "FastStyle",
    "train_fast_style",
    # stylize and texture
    "stylize",
    "ArbitraryStyle",
    "texture",
    # pictures and data for notebooks
    "to_pil",
    "make_grid",
    "on_checkerboard",
    "save_image",
    "save_gif",
    "load_dataset",
    "ImageFolder",
    "art_images",
    "style_image",
    "builtin_photo",
    # training hooks, reproducibility and errors
    "Callback",
    "History",
    "seed_everything",
    "ArtgenError",
    "UsageError",
    "ImageError",
    "CheckpointError",
    "__version__",
]

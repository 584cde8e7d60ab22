"""Datasets for artgen: image folders, the MNIST family and built-in procedural sets.

One job per module, every public name re-exported here (``artgen.data.load_dataset`` etc.):
:mod:`~artgen.data.folders`, :mod:`~artgen.data.mnist`, :mod:`~artgen.data.procedural`,
:mod:`~artgen.data.loading`.

* :class:`ImageFolder` reads a personal collection of images (optionally one
  subfolder per class).  Every file is checked when the dataset is built: broken
  files are skipped with one warning each (naming the file and the reason),
  hidden files and folders (``.DS_Store``, ``.ipynb_checkpoints/``,
  ``__MACOSX/``) are ignored.
* :func:`load_mnist` reads MNIST / Fashion-MNIST through torchvision, from local
  files or (with ``download=True``) from the network.
* :func:`make_shapes` / :func:`load_shapes` draw "shapes", a 10-class
  MNIST-sized data set generated in memory (no download, no disk cache), and
  :func:`art_images` draws small abstract paintings for the GAN.
* :func:`load_dataset` is the single entry point the command line uses.

Tensors use the layout (N, C, H, W), floats in [0, 1], labels int64.
"""

from __future__ import annotations

from .folders import RANDOM_CROP_MARGIN, ImageFolder, is_hidden, is_image_file, list_images
from .loading import DATASETS, fit_images, holdout_split, load_dataset, load_dataset_splits, square_image
from .mnist import default_data_root, load_mnist, mnist_class, write_idx_mnist
from .procedural import SHAPES_CLASSES, art_images, load_shapes, make_shapes

__all__ = [
    "is_hidden",
    "is_image_file",
    "list_images",
    "ImageFolder",
    "RANDOM_CROP_MARGIN",
    "default_data_root",
    "mnist_class",
    "load_mnist",
    "write_idx_mnist",
    "SHAPES_CLASSES",
    "make_shapes",
    "load_shapes",
    "art_images",
    "DATASETS",
    "square_image",
    "fit_images",
    "load_dataset",
    "load_dataset_splits",
    "holdout_split",
]

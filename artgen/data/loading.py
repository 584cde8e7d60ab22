"""The single entry point the command line uses to load a dataset by name, and the hold-out split.

Tensors use the layout (N, C, H, W), floats in [0, 1], labels int64.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Union

import torch
import torch.nn.functional as F

from artgen import images
from artgen.data.folders import ImageFolder
from artgen.data.mnist import default_data_root, load_mnist, mnist_class
from artgen.data.procedural import SHAPES_CLASSES, load_shapes
from artgen.errors import UsageError

log = logging.getLogger("artgen.data")

PathLike = Union[str, "os.PathLike[str]"]


#: Names of the dataset choices understood by :func:`load_dataset`.
DATASETS: tuple[str, ...] = ("shapes", "mnist", "fashion-mnist", "folder")


# --------------------------------------------------------------------------- folders


# --------------------------------------------------------------------------- shapes


# --------------------------------------------------------------------------- MNIST


# --------------------------------------------------------------------------- dispatch


def square_image(source, *, size: int, channels: int) -> torch.Tensor:
    """One picture as the classifier and the folder datasets see it: float (C, size, size) in [0, 1].

    Decoded with :func:`images.open_image` (EXIF rotation, transparency on white,
    first frame), made grey (``channels=1``) or RGB, the shorter side resized to
    ``size`` (Lanczos) and the centre square cropped: the same steps as
    :class:`ImageFolder`, so that training, evaluation and prediction agree.

    Raises:
        ImageError: the file cannot be read (naming it).
    """
    _check_shape_args(size, channels)
    img = images.open_image(source, mode="L" if channels == 1 else "RGB")
    return images.to_tensor(images.resize_crop(img, size, crop="center"))


def fit_images(x: torch.Tensor, size: int, channels: int) -> torch.Tensor:
    """Resize square (N,C,H,W) images in [0, 1] to ``size`` (bilinear, antialiased, clamped) and set the channel count.

    Grey to RGB repeats the channel; RGB to grey takes the BT.601 luminance
    (:func:`artgen.images.luminance`). Returns ``(N, channels, size, size)``; any other
    pair of channel counts (e.g. RGBA in) keeps the input's channels.
    """
    if x.shape[-1] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        x = x.clamp_(0.0, 1.0)
    if channels == 3 and x.shape[1] == 1:
        x = x.repeat(1, 3, 1, 1)
    elif channels == 1 and x.shape[1] == 3:
        x = images.luminance(x)
    return x


def load_dataset(
    name: str,
    *,
    train: bool = True,
    root: PathLike | None = None,
    data: PathLike | None = None,
    size: int = 28,
    channels: int = 1,
    download: bool = False,
    classes: list[str] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Load a labelled data set by name, as (x (N,C,size,size) in [0,1], y int64, classes).

    * "shapes": the built-in procedural set (:func:`load_shapes`).
    * "mnist", "fashion-mnist": torchvision files under ``root`` (default
      :func:`default_data_root`: $ARTGEN_DATA or ~/.cache/artgen/data), resized
      and given ``channels`` as asked.
    * "folder": a labelled :class:`ImageFolder` at ``data``.  When ``data`` has
      ``train/`` and ``test/`` (or ``val/``) subfolders those are the splits;
      otherwise a fixed 10% of each class (at least one image, when the class
      has two or more) is held out as the test split (:func:`holdout_split`).
      With ``classes`` (the class names of a model's training split) the labels
      follow those names: a class missing from the folder is simply absent, a
      class folder not in ``classes`` is an error naming it.

    Raises:
        UsageError: an unknown ``name``; ``channels`` not 1 or 3 or ``size`` not a positive
            integer; "folder" without ``data``, or ``data`` missing or not a folder.
        ArtgenError: MNIST files missing (without ``download``), damaged, or not
            downloadable; a folder with no usable image or class.
    """
    _check_shape_args(size, channels)
    key = name.lower().replace("_", "-")
    if key == "shapes":
        x, y = load_shapes(train, size=size, channels=channels)
        return x, y, list(SHAPES_CLASSES)
    if key in ("mnist", "fashion-mnist"):
        fashion = key == "fashion-mnist"
        x, y = load_mnist(
            root if root is not None else default_data_root(), train=train, fashion=fashion, download=download
        )
        classes = list(mnist_class(True)[0].classes) if fashion else [str(i) for i in range(10)]
        return fit_images(x, size, channels), y, classes
    if key == "folder":
        train_dir, test_dir = _folder_splits(data)
        if test_dir is not None:
            ds = ImageFolder(
                train_dir if train else test_dir, size=size, channels=channels, labelled=True, classes=classes
            )
            return (*ds.tensors(), list(ds.classes))
        ds = ImageFolder(train_dir, size=size, channels=channels, labelled=True, classes=classes)
        x, y = ds.tensors()
        keep = holdout_split(y, train=train)
        return x[keep], y[keep], list(ds.classes)
    raise UsageError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")


def load_dataset_splits(
    name: str,
    *,
    root: PathLike | None = None,
    data: PathLike | None = None,
    size: int = 28,
    channels: int = 1,
    download: bool = False,
) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor], list[str]]:
    """``((x, y) train, (x, y) test, classes)`` of :func:`load_dataset`, each image decoded once.

    A folder without ``train/`` and ``test/`` subfolders is read once and split with
    :func:`holdout_split` (its warnings about skipped files appear once).  Shapes, ranges
    and errors as :func:`load_dataset`.
    """
    if name.lower().replace("_", "-") == "folder" and _folder_splits(data)[1] is None:
        _check_shape_args(size, channels)
        ds = ImageFolder(_folder_splits(data)[0], size=size, channels=channels, labelled=True)
        x, y = ds.tensors()
        train, test = holdout_split(y, train=True), holdout_split(y, train=False)
        return (x[train], y[train]), (x[test], y[test]), list(ds.classes)
    kwargs = dict(root=root, data=data, size=size, channels=channels, download=download)
    x, y, classes = load_dataset(name, train=True, **kwargs)
    x_test, y_test, _ = load_dataset(
        name, train=False, classes=classes, **kwargs
    )  # test labels follow the training classes by name
    return (x, y), (x_test, y_test), classes


def _folder_splits(data: PathLike | None) -> tuple[Path, Path | None]:
    """``(train folder, test folder)`` when ``data`` has train/ and test/ (or val/) subfolders, else ``(data, None)``."""
    if data is None:
        raise UsageError("the 'folder' dataset needs {arg:data} (a folder with one subfolder per class)")
    folder = Path(data).expanduser()
    test_dir = next((folder / s for s in ("test", "val") if (folder / s).is_dir()), None)
    if (folder / "train").is_dir() and test_dir is not None:
        return folder / "train", test_dir
    return folder, None


def _check_shape_args(size, channels) -> None:
    if channels not in (1, 3):
        raise UsageError(f"channels must be 1 or 3, got {channels!r}")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise UsageError(f"image size must be a positive integer, got {size!r}")


def holdout_split(labels: torch.Tensor, *, train: bool, fraction: float = 0.1, seed: int = 0) -> torch.Tensor:
    """Indices of a fixed, per-class stratified train/test split.

    Each class with ``n >= 2`` images gives ``max(1, round(fraction * n))`` of them to
    the test split, chosen by ``seed``; a class with one image stays in train.
    ``labels`` is int64 ``(N,)``; returns sorted int64 indices into it.
    """
    g = torch.Generator().manual_seed(seed)
    chosen = []
    for cls in torch.unique(labels).tolist():
        idx = (labels == cls).nonzero().flatten()
        idx = idx[torch.randperm(len(idx), generator=g)]
        n_test = max(1, round(fraction * len(idx))) if len(idx) >= 2 else 0
        chosen.append(idx[n_test:] if train else idx[:n_test])
    return torch.sort(torch.cat(chosen)).values if chosen else torch.empty(0, dtype=torch.long)


# --------------------------------------------------------------------------- art

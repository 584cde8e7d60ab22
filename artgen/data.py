"""Datasets for artgen: image folders, the MNIST family and built-in procedural sets.

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

import gzip
import logging
import math
import os
import shutil
import struct
from pathlib import Path
from typing import Any, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from artgen import images
from artgen.errors import ArtgenError, ImageError, UsageError
from artgen.fileio import atomic_path

__all__ = [
    "SHAPES_CLASSES",
    "DATASETS",
    "is_hidden",
    "list_images",
    "ImageFolder",
    "make_shapes",
    "load_shapes",
    "load_mnist",
    "write_idx_mnist",
    "default_data_root",
    "load_dataset",
    "holdout_split",
    "art_images",
]

log = logging.getLogger("artgen.data")

PathLike = Union[str, "os.PathLike[str]"]

#: Side of the squares stored for random crops, relative to the crop size: 12.5% more
#: (72 px for 64 px crops). 9/8 gives a whole number of pixels for every power-of-two
#: size from 8 up, and is close to pix2pix/CycleGAN's random jitter (resize to 286,
#: crop 256: 1.117): the crop shifts by up to 1/9 of the stored image.
RANDOM_CROP_MARGIN = 1.125

#: Names of the dataset choices understood by :func:`load_dataset`.
DATASETS: tuple[str, ...] = ("shapes", "mnist", "fashion-mnist", "folder")

#: Class names of the built-in "shapes" data set, in label order.
SHAPES_CLASSES: list[str] = [
    "circle",
    "square",
    "triangle",
    "plus",
    "horizontal bar",
    "vertical bar",
    "diamond",
    "ring",
    "x",
    "star",
]


# --------------------------------------------------------------------------- folders


def is_hidden(path: PathLike) -> bool:
    """True when any part of ``path`` starts with "." or is "__MACOSX".

    Covers ``.DS_Store``, ``._photo.jpg`` (macOS resource forks),
    ``.ipynb_checkpoints/`` and ``.git/``.  The parts "." and ".." do not count.
    Callers that walk a folder should pass paths relative to that folder, so that
    a root such as ``~/.cache/artgen`` is not itself treated as hidden.
    """
    for part in Path(path).parts:
        if part in (".", ".."):
            continue
        if part.startswith(".") or part == "__MACOSX":
            return True
    return False


def _is_image_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in images.read_extensions()


def is_image_file(path: PathLike) -> bool:
    """Whether Pillow recognises the file's contents as an image (reads its header only)."""
    from PIL import Image

    try:
        with Image.open(path):
            return True
    except Exception:  # noqa: BLE001 - any failure means "not an image Pillow can open"
        return False


def list_images(root: PathLike, *, recursive: bool = True, skipped: list[tuple[Path, str]] | None = None) -> list[Path]:
    """Image files under ``root``, sorted, skipping hidden files and folders.

    A file counts as an image by its suffix when Pillow reads that suffix
    (``.jpg``, ``.jfif``, ``.png``, ``.webp``, ``.tga``, ...: see
    :func:`images.read_extensions`), and otherwise by its contents (a JPEG named
    ``photo`` or ``photo.dat`` is found). Files that are neither are appended to
    ``skipped`` as ``(path, reason)`` when a list is given. The contents of files
    with an image suffix are not checked here.  Symbolic links to folders are
    followed (each real folder once).

    Raises:
        UsageError: ``root`` does not exist or is not a folder.
    """
    root = Path(root).expanduser()
    if not root.exists():
        raise UsageError(f"image folder '{root}' does not exist")
    if not root.is_dir():
        raise UsageError(f"'{root}' is not a folder")
    found: list[Path] = []
    seen: set[str] = set()
    for folder, dirs, files in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:  # a link loop
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = sorted(d for d in dirs if not is_hidden(d)) if recursive else []
        for name in sorted(files):
            if is_hidden(name):
                continue
            path = Path(folder) / name
            if _is_image_name(name) or is_image_file(path):
                found.append(path)
            elif skipped is not None:
                skipped.append((path, "not an image file Pillow can read"))
    return sorted(found)


class ImageFolder(Dataset):
    """A folder of images as a dataset of (image, label) pairs.

    Args:
        root: the folder.
        size: output images are ``size`` x ``size`` (shorter side resized to
            ``size`` with Lanczos, then cropped).
        channels: 3 (RGB), 1 (grey) or 4 (RGBA, transparency kept).
        labelled: False: every image under ``root`` (recursively), label -1.
            True: one subfolder per class; class names are the sorted folder
            names (``classes``) and labels their index.  Subfolders without any
            usable image are left out with a warning, and images lying directly
            in ``root`` are ignored with a warning.
        crop: "center" or "random".  With ``preload`` a random crop is taken
            from a centre square 12.5% larger than ``size`` kept in memory;
            without it, from the whole resized image.
        hflip: flip each item horizontally with probability 0.5 in ``__getitem__``.
        preload: decode and resize every image once at construction and keep
            them as one uint8 tensor (right for personal collections of a few
            thousand images); otherwise files are decoded in ``__getitem__``.

    Every file is opened once at construction (with :func:`images.open_image`)
    whether or not it is preloaded, so broken files are found before training:
    each one gets a warning on the ``artgen.data`` logger naming it and the
    reason, followed by "skipped N of M files in ROOT".

    ``__getitem__`` returns (float tensor (C, size, size) in [0, 1], int label).
    Random crops and flips use torch's global generator, so they follow
    ``torch.manual_seed`` and DataLoader worker seeding.

    Raises:
        UsageError: ``root`` missing or not a folder, or a bad argument.
        ArtgenError: no images, no usable images, or (labelled) no class folders.
    """

    def __init__(
        self,
        root: PathLike,
        *,
        size: int,
        channels: int = 3,
        labelled: bool = False,
        crop: str = "center",
        hflip: bool = False,
        preload: bool = True,
        classes: list[str] | None = None,
    ) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise UsageError(f"image size must be a positive integer, got {size!r}")
        if channels not in (1, 3, 4):
            raise UsageError(f"channels must be 1, 3 or 4 (RGBA), got {channels!r}")
        if crop not in ("center", "random"):
            raise UsageError(f"crop must be 'center' or 'random', not {crop!r}")
        self.root = Path(root).expanduser()
        self.size = size
        self.channels = channels
        self.mode = {1: "L", 3: "RGB", 4: "RGBA"}[channels]
        self.labelled = labelled
        self.crop = crop
        self.hflip = hflip
        self.preload = preload
        # Side of the stored squares: room for random crops when preloading.
        self._stored = round(size * RANDOM_CROP_MARGIN) if (preload and crop == "random") else size

        self.skipped: list[tuple[Path, str]] = []
        candidates = self._candidates()
        for path, reason in self.skipped:
            log.warning("skipped '%s': %s", path, reason)
        total = len(candidates) + len(self.skipped)
        if not candidates:
            where = f" ({len(self.skipped)} other file(s) skipped)" if self.skipped else ""
            raise ArtgenError(f"no images found in '{self.root}'{where}")

        kept: list[tuple[Path, str]] = []
        arrays: list[torch.Tensor] = []
        for path, label in candidates:
            try:
                img = images.open_image(path, mode=self.mode)
            except ImageError as exc:
                reason = getattr(exc, "reason", str(exc))
                log.warning("skipped '%s': %s", path, reason)
                self.skipped.append((path, reason))
                continue
            kept.append((path, label))
            if preload:
                arrays.append(images.to_uint8_tensor(images.resize_crop(img, self._stored, crop="center")))
        if self.skipped:
            log.warning("skipped %d of %d files in %s", len(self.skipped), total, self.root)
        if not kept:
            raise ArtgenError(f"no usable images in '{self.root}' ({total} files skipped)")

        if labelled and classes is not None:
            names = list(classes)
            unknown = sorted({label for _, label in kept} - set(names))
            if unknown:
                raise UsageError(
                    f"class folder(s) {', '.join(repr(str(self.root / u)) for u in unknown)} are not among the training classes "
                    f"({', '.join(names[:10])}{', ...' if len(names) > 10 else ''})"
                )
            index = {name: i for i, name in enumerate(names)}
            self.classes: list[str] = names
            labels = [index[label] for _, label in kept]
        elif labelled:
            names = sorted({label for _, label in kept})
            for name in sorted({label for _, label in candidates} - set(names)):
                log.warning("class folder '%s' has no usable images; it is not a class", self.root / name)
            index = {name: i for i, name in enumerate(names)}
            self.classes: list[str] = names
            labels = [index[label] for _, label in kept]
        else:
            self.classes = []
            labels = [-1] * len(kept)
        self.files: list[Path] = [path for path, _ in kept]
        self.labels = torch.tensor(labels, dtype=torch.int64)  # (N,)
        self._images: torch.Tensor | None = torch.stack(arrays) if preload else None  # (N, C, S, S) uint8

    def _candidates(self) -> list[tuple[Path, str]]:
        """(path, class folder name) for every file with an image suffix."""
        if not self.labelled:
            return [(p, "") for p in list_images(self.root, recursive=True, skipped=self.skipped)]
        top_level = list_images(self.root, recursive=False)  # also checks root exists
        class_dirs = sorted(
            d for d in self.root.iterdir() if d.is_dir() and not is_hidden(d.name)
        )
        if not class_dirs:
            raise ArtgenError(
                f"no class subfolders in '{self.root}'; a labelled image folder needs one "
                f"subfolder per class (e.g. '{self.root / 'cats'}', '{self.root / 'dogs'}')"
            )
        if top_level:
            log.warning(
                "ignored %d image(s) directly in '%s': labelled images must be in a class subfolder",
                len(top_level),
                self.root,
            )
        out: list[tuple[Path, str]] = []
        for d in class_dirs:
            out.extend((p, d.name) for p in list_images(d, recursive=True, skipped=self.skipped))
        return out

    def __len__(self) -> int:
        return len(self.files)

    def _load(self, index: int) -> torch.Tensor:
        """Decoded item ``index`` as uint8 (C, S, S) with S = stored side (no crop)."""
        img = images.open_image(self.files[index], mode=self.mode)
        return images.to_uint8_tensor(images.resize_crop(img, self._stored, crop="center"))

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        if self._images is not None:
            x = self._images[index]  # (C, S, S) uint8
            if self.crop == "random" and self._stored > self.size:
                top, left = (int(v) for v in torch.randint(0, self._stored - self.size + 1, (2,)))
                x = x[:, top : top + self.size, left : left + self.size]
            x = x.to(torch.float32).div_(255.0)
        else:
            img = images.open_image(self.files[index], mode=self.mode)
            x = images.to_tensor(images.resize_crop(img, self.size, crop=self.crop))
        if self.hflip and float(torch.rand(())) < 0.5:
            x = x.flip(-1)
        return x, int(self.labels[index])

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All images as (float (N, C, size, size) in [0, 1], labels int64 (N,)).

        Centre crops, no flips: augmentation is left to the caller.  Loads the
        files now when the dataset was built with ``preload=False``.
        """
        stored = self._images
        if stored is None:
            stored = torch.stack([self._load(i) for i in range(len(self))])
        if self._stored > self.size:
            off = (self._stored - self.size) // 2
            stored = stored[:, :, off : off + self.size, off : off + self.size]
        return stored.to(torch.float32).div_(255.0), self.labels.clone()

    def __repr__(self) -> str:
        kind = f"{len(self.classes)} classes" if self.labelled else "unlabelled"
        return f"ImageFolder('{self.root}', {len(self)} images, {kind}, size={self.size}, channels={self.channels})"


# --------------------------------------------------------------------------- shapes


def _box(x: torch.Tensor, y: torch.Tensor, bx: Any, by: Any) -> torch.Tensor:
    """Signed distance to an axis-aligned box with half-sizes (bx, by)."""
    qx, qy = x.abs() - bx, y.abs() - by
    outside = torch.sqrt(qx.clamp(min=0) ** 2 + qy.clamp(min=0) ** 2)
    return outside + torch.minimum(torch.maximum(qx, qy), torch.zeros(()))


def _triangle(x: torch.Tensor, y: torch.Tensor, r: float) -> torch.Tensor:
    """Signed distance to an equilateral triangle pointing up (image y grows down)."""
    k = math.sqrt(3.0)
    px = x.abs() - r
    py = -y + r / k - 0.25 * r  # flip to "y up", then centre the triangle vertically
    fold = px + k * py > 0
    px, py = (
        torch.where(fold, (px - k * py) / 2, px),
        torch.where(fold, (-k * px - py) / 2, py),
    )
    px = px - px.clamp(-2 * r, 0)
    return -torch.sqrt(px**2 + py**2) * torch.sign(py)


def _shape_distance(k: int, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Signed distance (negative inside) of shape class ``k`` in local coordinates.

    x, y: (m, H, W) local coordinates (the shape spans about [-0.85, 0.85]);
    w: (m, 1, 1) half stroke width for the outlined / stroked shapes.
    """
    r = torch.sqrt(x * x + y * y)
    if k == 0:  # circle (filled)
        return r - 0.75
    if k == 1:  # square (outline)
        return _box(x, y, 0.68, 0.68).abs() - w
    if k == 2:  # triangle (filled)
        return _triangle(x, y, 0.85)
    if k == 3:  # plus
        return torch.minimum(_box(x, y, 0.82, w), _box(x, y, w, 0.82))
    if k == 4:  # horizontal bar
        return _box(x, y, 0.85, 1.5 * w)
    if k == 5:  # vertical bar
        return _box(x, y, 1.5 * w, 0.85)
    if k == 6:  # diamond (filled)
        return (x.abs() + y.abs() - 0.85) / math.sqrt(2.0)
    if k == 7:  # ring
        return (r - 0.68).abs() - w
    if k == 8:  # x: the plus turned by 45 degrees
        u, v = (x + y) / math.sqrt(2.0), (y - x) / math.sqrt(2.0)
        return torch.minimum(_box(u, v, 0.9, w), _box(u, v, w, 0.9))
    if k == 9:  # five-pointed star (filled)
        phi = torch.atan2(x, -y)  # 0 points straight up
        frac = torch.remainder(phi * (5.0 / (2.0 * math.pi)), 1.0)
        tri = (2.0 * (frac - 0.5)).abs()  # 1 at the points, 0 between them
        return (r - (0.38 + 0.5 * tri**1.5)) * 0.7
    raise ValueError(f"unknown shape class {k}")


def _hsv_to_rgb(h: torch.Tensor, s: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """(m,) hue/saturation/value in [0, 1] -> (m, 3) RGB."""
    n = torch.tensor([5.0, 3.0, 1.0])
    k = torch.remainder(n[None, :] + h[:, None] * 6.0, 6.0)
    f = torch.minimum(torch.minimum(k, 4.0 - k), torch.ones(())).clamp(min=0.0)
    return v[:, None] - v[:, None] * s[:, None] * f


def make_shapes(
    n: int, *, size: int = 28, seed: int = 0, channels: int = 1
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``n`` images of the 10 :data:`SHAPES_CLASSES`, an MNIST-like data set.

    Each image has one shape with random position, scale, small rotation, stroke
    width and brightness, antialiased edges and a little noise.  Classes are
    balanced (``n // 10`` or one more each) in random order.  The result depends
    only on ``(n, size, seed, channels)``.  With ``channels=3`` the shape and the
    background get random, contrasting colours.

    Returns:
        x: float32 (n, channels, size, size) in [0, 1]; y: int64 (n,).

    Raises:
        UsageError: ``n < 0``, ``size < 8`` or ``channels`` not 1 or 3.
    """
    if n < 0:
        raise UsageError(f"number of images must be >= 0, got {n}")
    if size < 8:
        raise UsageError(f"shapes image size must be at least 8, got {size}")
    if channels not in (1, 3):
        raise UsageError(f"channels must be 1 or 3, got {channels!r}")
    g = torch.Generator().manual_seed(int(seed))
    y = (torch.arange(n) % len(SHAPES_CLASSES))[torch.randperm(n, generator=g)]

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(n, generator=g)

    cx, cy = uniform(-0.18, 0.18), uniform(-0.18, 0.18)
    scale = uniform(0.6, 0.85)
    angle = uniform(-0.26, 0.26)  # about +-15 degrees
    half_width = uniform(0.11, 0.2)
    brightness = uniform(0.7, 1.0)
    background = uniform(0.0, 0.12)
    if channels == 3:
        hue = uniform(0.0, 1.0)
        fg = _hsv_to_rgb(hue, uniform(0.55, 1.0), uniform(0.75, 1.0))  # (n, 3)
        bg = _hsv_to_rgb(
            torch.remainder(hue + uniform(0.3, 0.7), 1.0), uniform(0.2, 0.8), uniform(0.05, 0.4)
        )
    else:
        fg, bg = brightness[:, None], background[:, None]  # (n, 1)
    noise_std = 0.04

    lin = (torch.arange(size, dtype=torch.float32) + 0.5) * (2.0 / size) - 1.0
    gy, gx = lin.view(1, size, 1), lin.view(1, 1, size)  # image y grows downwards
    x_out = torch.empty(n, channels, size, size)
    chunk = 8192
    for start in range(0, n, chunk):
        sl = slice(start, min(n, start + chunk))
        m = sl.stop - sl.start
        alpha = torch.empty(m, size, size)
        yc = y[sl]
        for k in range(len(SHAPES_CLASSES)):
            idx = (yc == k).nonzero().squeeze(1)
            if idx.numel() == 0:
                continue
            j = idx + start
            c, s = torch.cos(angle[j]).view(-1, 1, 1), torch.sin(angle[j]).view(-1, 1, 1)
            sc = scale[j].view(-1, 1, 1)
            dx, dy = gx - cx[j].view(-1, 1, 1), gy - cy[j].view(-1, 1, 1)
            lx, ly = (c * dx + s * dy) / sc, (-s * dx + c * dy) / sc  # (m_k, H, W)
            d = _shape_distance(k, lx, ly, half_width[j].view(-1, 1, 1))
            pixel = (2.0 / size) / sc  # one pixel in local units
            alpha[idx] = (0.5 - d / pixel).clamp_(0.0, 1.0)
        a = alpha.unsqueeze(1)  # (m, 1, H, W)
        img = bg[sl].view(m, -1, 1, 1) + a * (fg[sl] - bg[sl]).view(m, -1, 1, 1)
        img += noise_std * torch.randn(img.shape, generator=g)
        x_out[sl] = img.clamp_(0.0, 1.0)
    return x_out, y.to(torch.int64)


def load_shapes(
    train: bool = True,
    *,
    size: int = 28,
    channels: int = 1,
    n_train: int = 60000,
    n_test: int = 10000,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The fixed "shapes" split: train is ``make_shapes(n_train, seed=0)``, test
    ``make_shapes(n_test, seed=1)`` (sizes mirror MNIST).  Nothing is cached.

    Returns float32 ``(N, channels, size, size)`` in [0, 1] and int64 labels ``(N,)``;
    errors as :func:`make_shapes`.
    """
    if train:
        return make_shapes(n_train, size=size, seed=0, channels=channels)
    return make_shapes(n_test, size=size, seed=1, channels=channels)


# --------------------------------------------------------------------------- MNIST


def default_data_root() -> Path:
    """Where downloaded data sets live: $ARTGEN_DATA, else ~/.cache/artgen/data."""
    return Path(os.environ.get("ARTGEN_DATA") or "~/.cache/artgen/data").expanduser()


def _mnist_class(fashion: bool) -> tuple[Any, str]:
    from torchvision import datasets

    if fashion:
        return datasets.FashionMNIST, "Fashion-MNIST"
    return datasets.MNIST, "MNIST"


def _split_files(raw: Path, train: bool) -> tuple[Path, Path]:
    prefix = "train" if train else "t10k"
    return raw / f"{prefix}-images-idx3-ubyte", raw / f"{prefix}-labels-idx1-ubyte"


def _unpack_gz(raw: Path) -> None:
    """Decompress ``*-ubyte.gz`` files whose plain version is missing (offline)."""
    if not raw.is_dir():
        return
    for gz in sorted(raw.glob("*-ubyte.gz")):
        target = gz.with_suffix("")
        if target.exists():
            continue
        try:
            with atomic_path(target) as tmp, gzip.open(gz, "rb") as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst)
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise ArtgenError(f"cannot unpack '{gz}': {' '.join(str(exc).split())}") from None


def load_mnist(
    root: PathLike,
    *,
    train: bool = True,
    fashion: bool = False,
    download: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST (or Fashion-MNIST with ``fashion=True``) as in-memory tensors.

    ``root`` holds torchvision's layout: ``ROOT/MNIST/raw/train-images-idx3-ubyte``
    etc. (``FashionMNIST`` for Fashion-MNIST); ``.gz`` files there are unpacked.
    With ``download=True`` torchvision fetches missing files.  When only the
    requested split is present it is read with torchvision's IDX reader.

    Returns:
        x: float32 (N, 1, 28, 28) in [0, 1]; y: int64 (N,).

    Raises:
        ArtgenError: files missing (and ``download`` False), download failed,
            or the files are damaged; the message names the data set and root.
    """
    from torchvision.datasets import mnist as tv_mnist

    cls, name = _mnist_class(fashion)
    root = Path(root).expanduser()
    raw = root / cls.__name__ / "raw"
    _unpack_gz(raw)
    images_file, labels_file = _split_files(raw, train)
    have = images_file.is_file() and labels_file.is_file()
    if not have and not download:
        raise ArtgenError(
            f"{name} not found under '{root}'; pass {{arg:download=True}} (needs network) "
            f"or put the files in {raw}"
        )
    try:
        ds = cls(str(root), train=train, download=download)
        data, targets = ds.data, ds.targets
    except Exception as exc:  # URLError, OSError, RuntimeError from torchvision
        first = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        have = images_file.is_file() and labels_file.is_file()
        if not have:
            raise ArtgenError(f"could not download {name} into '{root}': {first}") from None
        # The other split is missing (torchvision wants all four files) or a
        # download of it failed: read the requested split directly.
        try:
            data = tv_mnist.read_image_file(str(images_file))
            targets = tv_mnist.read_label_file(str(labels_file))
        except Exception as read_exc:
            reason = " ".join(str(read_exc).split()) or type(read_exc).__name__
            raise ArtgenError(f"{name} files in '{raw}' are damaged: {reason}") from None
    if data.dim() != 3 or targets.dim() != 1 or data.shape[0] != targets.shape[0]:
        raise ArtgenError(
            f"{name} files in '{raw}' do not match: images {tuple(data.shape)}, labels {tuple(targets.shape)}"
        )
    x = data.unsqueeze(1).to(torch.float32).div_(255.0)  # (N, 1, 28, 28)
    return x, targets.to(torch.int64)


def write_idx_mnist(
    root: PathLike,
    x_uint8: Any,
    y_uint8: Any,
    *,
    train: bool = True,
    fashion: bool = False,
) -> Path:
    """Write images (N, H, W) and labels (N,) as MNIST IDX files torchvision reads.

    Files go to ``ROOT/MNIST/raw`` (``ROOT/FashionMNIST/raw`` with ``fashion``),
    named ``train-*`` or ``t10k-*``; images use magic 2051, labels 2049, sizes
    big-endian.  Useful for putting your own 28x28 digits through the MNIST
    path, and for offline tests.  Returns the raw folder.  ``x_uint8``/``y_uint8`` are
    arrays or tensors with values in 0..255.

    Raises:
        UsageError: images not (N, H, W), labels not (N,), or values outside 0..255.
    """
    x = np.asarray(x_uint8.cpu() if isinstance(x_uint8, torch.Tensor) else x_uint8)
    y = np.asarray(y_uint8.cpu() if isinstance(y_uint8, torch.Tensor) else y_uint8)
    if x.ndim != 3:
        raise UsageError(f"IDX images must have shape (N, H, W), got {x.shape}")
    if y.ndim != 1 or y.shape[0] != x.shape[0]:
        raise UsageError(f"IDX labels must have shape ({x.shape[0]},), got {y.shape}")
    for arr, what in ((x, "images"), (y, "labels")):
        if arr.size and (arr.min() < 0 or arr.max() > 255):
            raise UsageError(f"IDX {what} must be in 0..255")
    cls, _ = _mnist_class(fashion)
    raw = Path(root).expanduser() / cls.__name__ / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    images_file, labels_file = _split_files(raw, train)
    n, h, w = x.shape
    images_file.write_bytes(struct.pack(">IIII", 2051, n, h, w) + x.astype(np.uint8).tobytes())
    labels_file.write_bytes(struct.pack(">II", 2049, n) + y.astype(np.uint8).tobytes())
    return raw


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
        x, y = load_mnist(root if root is not None else default_data_root(), train=train,
                          fashion=fashion, download=download)
        classes = list(_mnist_class(True)[0].classes) if fashion else [str(i) for i in range(10)]
        return fit_images(x, size, channels), y, classes
    if key == "folder":
        train_dir, test_dir = _folder_splits(data)
        if test_dir is not None:
            ds = ImageFolder(train_dir if train else test_dir, size=size, channels=channels, labelled=True, classes=classes)
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
    x_test, y_test, _ = load_dataset(name, train=False, classes=classes, **kwargs)  # test labels follow the training classes by name
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


def art_images(n: int, *, size: int = 64, seed: int = 0) -> torch.Tensor:
    """Draw ``n`` small abstract paintings, float32 (n, 3, size, size) in [0, 1].

    Each has a two-colour gradient background, a few soft-edged coloured
    ellipses from a harmonious palette and one or two wavy brush strokes, plus a
    little grain: clear structure a small GAN learns to imitate within minutes.
    Deterministic for a given (n, size, seed).

    Raises:
        UsageError: ``n < 0`` or ``size < 8``.
    """
    if n < 0:
        raise UsageError(f"number of images must be >= 0, got {n}")
    if size < 8:
        raise UsageError(f"art image size must be at least 8, got {size}")
    g = torch.Generator().manual_seed(int(seed))

    def u(*shape: int, lo: float = 0.0, hi: float = 1.0) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(*shape, generator=g)

    n_blobs, n_strokes = 4, 2
    base = u(n)
    # Background: two tints of the base hue along a random direction.
    bg1 = _hsv_to_rgb(torch.remainder(base + u(n, lo=-0.05, hi=0.05), 1.0), u(n, lo=0.15, hi=0.45), u(n, lo=0.8, hi=0.97))
    bg2 = _hsv_to_rgb(torch.remainder(base + u(n, lo=-0.1, hi=0.1), 1.0), u(n, lo=0.3, hi=0.6), u(n, lo=0.45, hi=0.75))
    bg_angle = u(n, hi=2 * math.pi)
    # Blobs: hue offsets from the base (analogous or complementary colours).
    offsets = torch.tensor([0.0, 0.08, -0.08, 0.5, 0.42, 0.58])
    blob_hue = torch.remainder(
        base[:, None] + offsets[torch.randint(0, len(offsets), (n, n_blobs), generator=g)]
        + u(n, n_blobs, lo=-0.03, hi=0.03), 1.0)
    blob_rgb = _hsv_to_rgb(blob_hue.flatten(), u(n * n_blobs, lo=0.45, hi=0.95),
                           u(n * n_blobs, lo=0.45, hi=1.0)).view(n, n_blobs, 3)
    blob_c = u(n, n_blobs, 2, lo=0.15, hi=0.85)
    blob_r = u(n, n_blobs, 2, lo=0.08, hi=0.28)
    blob_rot = u(n, n_blobs, hi=math.pi)
    blob_sharp = u(n, n_blobs, lo=4.0, hi=14.0)
    blob_opacity = u(n, n_blobs, lo=0.6, hi=0.95)
    stroke_on = torch.ones(n, n_strokes)
    stroke_on[:, 1] = (u(n) < 0.6).float()
    stroke_rgb = _hsv_to_rgb(torch.remainder(base.repeat_interleave(n_strokes) + 0.5, 1.0),
                             u(n * n_strokes, lo=0.3, hi=0.9), u(n * n_strokes, lo=0.1, hi=0.45)).view(n, n_strokes, 3)
    stroke_c = u(n, n_strokes, 2, lo=0.25, hi=0.75)
    stroke_rot = u(n, n_strokes, hi=math.pi)
    stroke_len = u(n, n_strokes, lo=0.25, hi=0.45)
    stroke_amp = u(n, n_strokes, lo=0.02, hi=0.08)
    stroke_freq = u(n, n_strokes, lo=0.8, hi=2.5)  # waves per unit length
    stroke_phase = u(n, n_strokes, hi=2 * math.pi)
    stroke_w = u(n, n_strokes, lo=0.02, hi=0.045)

    lin = (torch.arange(size, dtype=torch.float32) + 0.5) / size
    gy, gx = lin.view(1, size, 1), lin.view(1, 1, size)  # (1, H, 1), (1, 1, W) in [0, 1]
    pixel = 1.0 / size
    out = torch.empty(n, 3, size, size)
    chunk = 256
    for start in range(0, n, chunk):
        s = slice(start, min(n, start + chunk))

        def col(t: torch.Tensor) -> torch.Tensor:  # (m,) -> (m, 1, 1)
            return t.view(-1, 1, 1)

        # Gradient background.                                        # (m, 3, H, W)
        t = (gx - 0.5) * col(torch.cos(bg_angle[s])) + (gy - 0.5) * col(torch.sin(bg_angle[s]))
        t = (t / math.sqrt(0.5) * 0.5 + 0.5).clamp(0.0, 1.0).unsqueeze(1)
        img = bg1[s].view(-1, 3, 1, 1) * (1 - t) + bg2[s].view(-1, 3, 1, 1) * t
        for b in range(n_blobs):
            dx, dy = gx - col(blob_c[s, b, 0]), gy - col(blob_c[s, b, 1])
            c, sn = col(torch.cos(blob_rot[s, b])), col(torch.sin(blob_rot[s, b]))
            ex = (c * dx + sn * dy) / col(blob_r[s, b, 0])
            ey = (-sn * dx + c * dy) / col(blob_r[s, b, 1])
            rad = torch.sqrt(ex * ex + ey * ey)
            a = torch.sigmoid((1.0 - rad) * col(blob_sharp[s, b])) * col(blob_opacity[s, b])
            a = a.unsqueeze(1)
            img = img * (1 - a) + blob_rgb[s, b].view(-1, 3, 1, 1) * a
        for k in range(n_strokes):
            dx, dy = gx - col(stroke_c[s, k, 0]), gy - col(stroke_c[s, k, 1])
            c, sn = col(torch.cos(stroke_rot[s, k])), col(torch.sin(stroke_rot[s, k]))
            along, across = c * dx + sn * dy, -sn * dx + c * dy
            wave = col(stroke_amp[s, k]) * torch.sin(
                along * col(stroke_freq[s, k]) * (2 * math.pi) + col(stroke_phase[s, k])
            )
            dist = torch.maximum((across - wave).abs() - col(stroke_w[s, k]),
                                 along.abs() - col(stroke_len[s, k]))
            a = (0.5 - dist / pixel).clamp(0.0, 1.0) * col(stroke_on[s, k]) * 0.9
            a = a.unsqueeze(1)
            img = img * (1 - a) + stroke_rgb[s, k].view(-1, 3, 1, 1) * a
        img = img + 0.015 * torch.randn(img.shape, generator=g)
        out[s] = img.clamp_(0.0, 1.0)
    return out

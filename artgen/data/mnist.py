"""The MNIST family (MNIST, Fashion-MNIST) through torchvision, from local files or downloaded when asked."""

from __future__ import annotations

import gzip
import os
import shutil
import struct
from pathlib import Path
from typing import Any, Union

import numpy as np
import torch

from artgen.errors import ArtgenError, UsageError
from artgen.runs.atomic import atomic_path

PathLike = Union[str, "os.PathLike[str]"]


def default_data_root() -> Path:
    """Where downloaded data sets live: $ARTGEN_DATA, else ~/.cache/artgen/data."""
    return Path(os.environ.get("ARTGEN_DATA") or "~/.cache/artgen/data").expanduser()


def mnist_class(fashion: bool) -> tuple[Any, str]:
    """torchvision's dataset class and display name for MNIST (``fashion=False``) or Fashion-MNIST."""
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

    cls, name = mnist_class(fashion)
    root = Path(root).expanduser()
    raw = root / cls.__name__ / "raw"
    _unpack_gz(raw)
    images_file, labels_file = _split_files(raw, train)
    have = images_file.is_file() and labels_file.is_file()
    if not have and not download:
        raise ArtgenError(
            f"{name} not found under '{root}'; pass {{arg:download=True}} (needs network) or put the files in {raw}"
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
    cls, _ = mnist_class(fashion)
    raw = Path(root).expanduser() / cls.__name__ / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    images_file, labels_file = _split_files(raw, train)
    n, h, w = x.shape
    images_file.write_bytes(struct.pack(">IIII", 2051, n, h, w) + x.astype(np.uint8).tobytes())
    labels_file.write_bytes(struct.pack(">II", 2049, n) + y.astype(np.uint8).tobytes())
    return raw

"""Personal image collections: finding pictures in a folder (by content, skipping hidden files) and :class:`ImageFolder`.

:class:`ImageFolder` reads a collection of images (optionally one subfolder per
class). Every file is checked when the dataset is built: broken files are skipped
with one warning each (naming the file and the reason), hidden files and folders
(``.DS_Store``, ``.ipynb_checkpoints/``, ``__MACOSX/``) are ignored.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Union

import torch
from torch.utils.data import Dataset

from artgen import images
from artgen.errors import ArtgenError, ImageError, UsageError

log = logging.getLogger("artgen.data")

PathLike = Union[str, "os.PathLike[str]"]


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
    except Exception:
        return False


def list_images(
    root: PathLike, *, recursive: bool = True, skipped: list[tuple[Path, str]] | None = None
) -> list[Path]:
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
        class_dirs = sorted(d for d in self.root.iterdir() if d.is_dir() and not is_hidden(d.name))
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


#: Side of the squares stored for random crops, relative to the crop size: 12.5% more
#: (72 px for 64 px crops). 9/8 gives a whole number of pixels for every power-of-two
#: size from 8 up, and is close to pix2pix/CycleGAN's random jitter (resize to 286,
#: crop 256: 1.117): the crop shifts by up to 1/9 of the stored image.
RANDOM_CROP_MARGIN = 1.125

"""GAN training data: a collection or built-in set loaded as uint8 tensors, served by :class:`SampledBatches` with replacement
in an order fixed by (seed, epoch), so that a resumed run draws exactly the batches an uninterrupted one would."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from ..data import RANDOM_CROP_MARGIN, fit_images
from ..errors import ArgumentError, UsageError
from ..train import SEED_STREAM_OFFSET, BatchSource, check_shardable, epoch_generator
from .config import ART_IMAGES, BUILTIN_DATASETS, MIN_STEPS_PER_EPOCH, SHAPES_IMAGES


class SampledBatches(BatchSource):
    """Batches drawn with replacement from in-memory images, in an order fixed by (seed, epoch).

    ``images`` is ``(N, C, S, S)`` (uint8 or float in [0, 1]); with ``S`` larger
    than ``size`` each draw takes a random ``size`` crop, and with ``hflip`` a
    random half of the draws are mirrored.  Batches are ``(x, labels)`` with
    ``x`` in [-1, 1] on ``device`` and ``labels`` int64 (``-1`` when unlabelled).
    Any number of images works, fewer than the batch size included.  An "epoch"
    is ``max(ceil(N / batch_size), 100)`` steps: bookkeeping only.

    Raises:
        UsageError: ``images`` is empty.
        ArgumentError: ``batch_size < 1``.
        ValueError: ``size`` is larger than the stored images.
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor | None = None,
        *,
        batch_size: int,
        size: int | None = None,
        hflip: bool = False,
        seed: int = 0,
        device=None,
        channels_last: bool = False,
    ):
        if len(images) == 0:
            raise UsageError("the dataset is empty")
        if batch_size < 1:
            raise ArgumentError("batch_size", f"must be at least 1, got {batch_size}")
        device = torch.device(device) if device is not None else torch.device("cpu")
        self.images = images.to(device)
        self.labels = (labels if labels is not None else torch.full((len(images),), -1, dtype=torch.int64)).to(device)
        self.size = size or images.shape[-1]
        if self.size > images.shape[-1]:
            raise ValueError("crop size larger than the stored images")
        self._batch_size = batch_size
        self.hflip = hflip
        self.seed = seed
        self.channels_last = channels_last
        self.n = len(images)
        self.rank, self.world_size = 0, 1

    @property
    def batch_size(self) -> int:
        """The global batch size."""
        return self._batch_size

    def shard(self, rank: int, world_size: int) -> None:
        """Under torchrun: every process draws the global batch and keeps its own slice.

        Raises:
            ArgumentError: ``batch_size`` does not divide evenly by ``world_size``.
        """
        check_shardable(self._batch_size, world_size)
        self.rank, self.world_size = rank, world_size

    def __len__(self) -> int:
        return max(math.ceil(self.n / self._batch_size), MIN_STEPS_PER_EPOCH)

    def epoch(self, epoch: int, start: int = 0):
        """Yield ``(x, labels)``: ``x`` float32 ``(batch_size // world_size, C, size, size)`` in [-1, 1], labels int64.

        Indices, crop offsets and flips for the whole epoch are drawn up front from
        ``(seed, epoch)``, so starting at ``start`` yields what an uninterrupted epoch would.
        """
        g = epoch_generator(
            self.seed, int(epoch) + SEED_STREAM_OFFSET
        )  # draws of their own, apart from TensorBatches'(seed, epoch)
        steps, bs = len(self), self._batch_size
        index = torch.randint(0, self.n, (steps, bs), generator=g)
        flips = torch.rand(steps, bs, generator=g) < 0.5
        margin = self.images.shape[-1] - self.size
        offsets = torch.randint(0, margin + 1, (steps, bs, 2), generator=g)
        per = bs // self.world_size
        keep = slice(self.rank * per, (self.rank + 1) * per)
        for i in range(start, steps):
            idx = index[i][keep].to(self.images.device)
            x = self.images.index_select(0, idx)
            if margin:
                x = torch.stack(
                    [img[:, t : t + self.size, l : l + self.size] for img, (t, l) in zip(x, offsets[i][keep].tolist())]
                )
            if x.dtype == torch.uint8:
                x = x.float().div_(127.5).sub_(1.0)
            else:
                x = x.float().mul(2.0).sub_(1.0)
            if self.hflip:
                f = flips[i][keep].to(x.device)
                x = torch.where(f.view(-1, 1, 1, 1), x.flip(-1), x)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield x, self.labels.index_select(0, idx)


@dataclass
class GANData:
    """What :func:`load_gan_data` returns: uint8 images, optional int64 labels ``(N,)``, class names, and the source's name."""

    images: torch.Tensor  # (N, C, S, S) uint8, S >= size
    labels: torch.Tensor | None
    classes: list[str]
    name: str


def load_gan_data(
    *,
    data: str | os.PathLike | None = None,
    dataset: str | None = None,
    data_root: str | os.PathLike | None = None,
    size: int = 64,
    channels: int | None = None,
    labelled: bool = False,
    crop: str = "center",
    limit: int | None = None,
) -> GANData:
    """Images for GAN training or evaluation as uint8 ``(N, C, S, S)`` (S = size, or 12.5% more for random crops).

    ``data`` is a folder of images of any size and aspect ratio (resized, then
    centre- or randomly cropped; transparency composited on white, or kept as a
    4th channel with ``channels=4``; broken files skipped
    with a warning naming each); with ``labelled`` its subfolders are the
    classes.  ``dataset`` is ``art`` (built-in abstract paintings), ``shapes``
    (built-in, 10 classes), ``mnist`` or ``fashion-mnist``.  ``limit`` keeps the first
    ``limit`` images.

    Raises:
        UsageError: both ``data`` and ``dataset``; ``labelled`` with the unlabelled ``art`` set.
        ArgumentError: ``limit`` not a whole number >= 1; ``data`` missing or not a folder;
            an unknown ``dataset``.
        ArtgenError: the folder holds no readable image; MNIST files missing or damaged.
    """
    from ..data import ImageFolder, art_images, load_dataset, make_shapes

    if data is not None and dataset is not None:
        raise UsageError("give either {arg:data} or {arg:dataset}, not both")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ArgumentError("limit", f"must be a whole number of at least 1, got {limit!r}")
    stored = round(size * RANDOM_CROP_MARGIN) if crop == "random" else size
    if data is not None:
        folder = Path(data).expanduser()
        if not folder.exists():
            raise ArgumentError("data", f"'{folder}' does not exist")
        if not folder.is_dir():
            raise ArgumentError("data", f"'{folder}' is not a folder")
        ch = channels or 3
        ds = ImageFolder(folder, size=stored, channels=ch, labelled=labelled, crop="center", preload=True)
        x, y = ds.tensors()
        images = x.mul(255).round_().to(torch.uint8)
        labels, classes, name = (y, list(ds.classes), "folder") if labelled else (None, [], "folder")
    else:
        key = (dataset or "art").lower().replace("_", "-")
        if key not in BUILTIN_DATASETS:
            raise ArgumentError("dataset", f"{dataset!r}: expected one of {', '.join(BUILTIN_DATASETS)}")
        if key == "art":
            if labelled:
                raise UsageError(
                    "{arg:conditional=True} needs labels; the built-in 'art' set has none (use shapes, mnist, fashion-mnist or a folder with one subfolder per class)"
                )
            ch = channels or 3
            n = min(limit, ART_IMAGES) if limit else ART_IMAGES
            x = fit_images(art_images(n, size=stored, seed=0), stored, ch)
            labels, classes = None, []
        elif key == "shapes":
            from ..data import SHAPES_CLASSES

            ch = channels or 1
            n = min(limit, SHAPES_IMAGES) if limit else SHAPES_IMAGES
            x, y = make_shapes(n, size=stored, seed=0, channels=ch)
            labels, classes = y, list(SHAPES_CLASSES)
        else:
            ch = channels or 1
            x, labels, classes = load_dataset(key, root=data_root, size=stored, channels=ch)
        images = x.clamp(0, 1).mul(255).round_().to(torch.uint8)
        name = key
        if not labelled:
            labels = None
    if limit:
        images = images[:limit]
        labels = labels[:limit] if labels is not None else None
    return GANData(images, labels, classes if labelled else [], name)

"""Batch sources: batches for one epoch in an order fixed by (seed, epoch), so a resume replays it exactly;
under torchrun each process serves its slice of every global batch."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import torch

from ..errors import ArgumentError, UsageError


class BatchSource:
    """Batches for one epoch, in an order fixed by (seed, epoch), so a resume replays it exactly."""

    def __len__(self) -> int:
        raise NotImplementedError

    def epoch(self, epoch: int, start: int = 0) -> Iterator[Any]:
        """Yield the batches of ``epoch``, skipping the first ``start`` of them."""
        raise NotImplementedError

    @property
    def batch_size(self) -> int | None:
        """The global batch size (summed over processes), or ``None`` where batches have no size."""
        return None

    def shard(self, rank: int, world_size: int) -> None:
        """Serve only this process's slice of each global batch (multi-process training).

        Raises:
            UsageError: in this base class (a source that cannot be split).
            ArgumentError: (subclasses) ``batch_size`` does not divide by ``world_size``.
        """
        raise UsageError(f"{type(self).__name__} cannot be split across processes")


def check_shardable(batch_size: int, world_size: int) -> None:
    """Raises ArgumentError naming ``batch_size`` when the global batch does not divide evenly over ``world_size`` processes."""
    if batch_size % world_size:
        raise ArgumentError(
            "batch_size", f"{batch_size} is the global batch and must divide evenly over {world_size} processes"
        )


#: The order of epoch ``e`` of a run seeded ``s`` comes from a generator seeded with
#: ``s * EPOCH_SEED_STRIDE + e``: a prime above any epoch count, so two (seed, epoch)
#: pairs with ``e < EPOCH_SEED_STRIDE`` never share an order.
EPOCH_SEED_STRIDE = 1_000_003


#: Offset added to an epoch (or a seed) to derive a second random stream from the same
#: run seed, e.g. the GAN's sampled batches apart from :class:`TensorBatches`' order for
#: the same (seed, epoch). The 1000th prime: the two streams coincide only 7919 epochs apart.
SEED_STREAM_OFFSET = 7919


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """A CPU generator seeded from ``(seed, epoch)``: the per-epoch order of every batch source."""
    gen = torch.Generator()
    gen.manual_seed(int(seed) * EPOCH_SEED_STRIDE + int(epoch))
    return gen


class _ShuffledBatches(BatchSource):
    """``n`` samples in batches, shuffled per (seed, epoch); under torchrun each process takes a slice of every batch."""

    def __init__(self, n: int, batch_size: int, shuffle: bool, seed: int, drop_last: bool):
        if n == 0:
            raise UsageError("the dataset is empty")
        if batch_size < 1:
            raise ArgumentError("batch_size", f"must be at least 1, got {batch_size}")
        self.n = n
        self._batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last and n >= batch_size
        self.rank, self.world_size = 0, 1

    @property
    def batch_size(self) -> int:
        """The global batch size."""
        return self._batch_size

    def shard(self, rank: int, world_size: int) -> None:
        """Serve rows ``rank * per : (rank + 1) * per`` of each global batch (``per = batch_size // world_size``).

        With ``world_size > 1`` a short last batch is dropped (when there is a full one).

        Raises:
            ArgumentError: ``batch_size`` does not divide evenly by ``world_size``.
        """
        check_shardable(self._batch_size, world_size)
        self.rank, self.world_size = rank, world_size
        self.drop_last = world_size > 1 and self.n >= self._batch_size or self.drop_last

    def __len__(self) -> int:
        if self.drop_last:
            return self.n // self._batch_size
        return math.ceil(self.n / self._batch_size)


class TensorBatches(_ShuffledBatches):
    """In-memory tensors kept on the training device, served as shuffled slices.

    This avoids collating samples one by one (what ``DataLoader`` over a
    ``TensorDataset`` does) and is the fast path for MNIST-sized data.

    Args:
        tensors: one or more tensors ``(N, ...)`` of any dtype with the same ``N``
            (e.g. images ``(N, C, H, W)`` and int64 labels ``(N,)``).
        batch_size: the global batch size (over all processes).
        shuffle: a new order each epoch, fixed by ``(seed, epoch)``; else in order.
        device: where the tensors are kept and served (default: where they are).
        drop_last: drop a last batch shorter than ``batch_size``.
        gather_bytes: shuffled rows are gathered about this many bytes at a time
            (default :attr:`GATHER_BYTES`); any value serves the same batches.
    Raises:
        ValueError: no tensors, or their first dimensions differ.
        UsageError: ``N == 0``.
        ArgumentError: ``batch_size < 1``.
    """

    #: Shuffled rows are gathered this many bytes at a time (4 MiB: about 1,300 MNIST rows,
    #: 20 batches of 64): one large gather streams through memory far better than one small
    #: gather per batch, and the gathered copy stays small next to the data.
    GATHER_BYTES = 4 << 20

    def __init__(
        self,
        *tensors: torch.Tensor,
        batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        device: torch.device | str | None = None,
        drop_last: bool = False,
        gather_bytes: int | None = None,
    ):
        if not tensors:
            raise ValueError("TensorBatches needs at least one tensor")
        n = len(tensors[0])
        if any(len(t) != n for t in tensors):
            raise ValueError("all tensors must have the same first dimension")
        super().__init__(n, batch_size, shuffle, seed, drop_last)
        device = torch.device(device) if device is not None else tensors[0].device
        self.tensors = tuple(t.to(device) for t in tensors)
        self.gather_bytes = int(gather_bytes) if gather_bytes is not None else self.GATHER_BYTES

    def epoch(self, epoch: int, start: int = 0) -> Iterator[tuple[torch.Tensor, ...]]:
        """Yield one tuple per batch: each tensor's ``(batch_size // world_size, ...)`` rows on its device.

        The last batch may be shorter unless ``drop_last`` (or sharded). Batches before
        ``start`` are skipped without being gathered.
        """
        device = self.tensors[0].device
        if self.shuffle:
            order = torch.randperm(self.n, generator=epoch_generator(self.seed, epoch)).to(device)
        else:
            order = None
        bs = self._batch_size
        per = bs // self.world_size
        lo, hi = self.rank * per, (self.rank + 1) * per
        row_bytes = sum(t[:1].numel() * t.element_size() for t in self.tensors)
        chunk = max(1, self.gather_bytes // max(1, per * row_bytes))  # batches per gather
        block_start = block_end = start
        block: tuple[torch.Tensor, ...] = ()
        for i in range(start, len(self)):
            if order is None:
                yield tuple(t[i * bs + lo : i * bs + hi] for t in self.tensors)
            elif i >= block_end:
                # Gather the shuffled rows of several batches at once (a few MB), then
                # serve contiguous slices: one large gather streams through memory far
                # better than one small gather per batch.
                block_start, block_end = i, min(i + chunk, len(self))
                idx = order[block_start * bs : block_end * bs]
                if self.world_size > 1:  # this process's columns of each batch (a lone short batch: its slice)
                    idx = idx.view(-1, bs)[:, lo:hi].reshape(-1) if idx.numel() % bs == 0 else idx[lo:hi]
                block = tuple(t.index_select(0, idx) for t in self.tensors)
            if order is not None:
                j = (i - block_start) * per
                yield tuple(b[j : j + per] for b in block)


class DatasetBatches(_ShuffledBatches):
    """A map-style ``Dataset`` through a ``DataLoader`` whose order is fixed per epoch.

    On resume the already-seen indices are dropped from the sampler, so no sample is
    loaded twice. Batches are moved to ``device`` (kept where the loader puts them
    when ``None``).

    Raises:
        UsageError: the dataset is empty.
        ArgumentError: ``batch_size < 1``.
    """

    def __init__(
        self,
        dataset,
        *,
        batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        device=None,
        num_workers: int = 0,
        drop_last: bool = False,
    ):
        super().__init__(len(dataset), batch_size, shuffle, seed, drop_last)
        self.dataset = dataset
        self.device = torch.device(device) if device is not None else None
        self.num_workers = num_workers

    def epoch(self, epoch: int, start: int = 0):
        """Yield the ``DataLoader``'s batches (default collation: samples stacked to ``(batch_size // world_size, ...)``)."""
        n = self.n
        if self.shuffle:
            order = torch.randperm(n, generator=epoch_generator(self.seed, epoch)).tolist()
        else:
            order = list(range(n))
        order = order[: len(self) * self._batch_size][start * self._batch_size :]
        per = self._batch_size // self.world_size
        if self.world_size > 1:
            order = [
                i
                for b in range(0, len(order), self._batch_size)
                for i in order[b + self.rank * per : b + (self.rank + 1) * per]
            ]
        loader = torch.utils.data.DataLoader(
            self.dataset,
            batch_size=per,
            sampler=order,
            num_workers=self.num_workers,
            pin_memory=self.device is not None and self.device.type == "cuda",
            drop_last=False,
        )
        for batch in loader:
            yield to_device(batch, self.device)


class Repeat(BatchSource):
    """``count`` steps per epoch with no data (``batch`` is ``None``): for optimising an image."""

    def __init__(self, count: int):
        self.count = int(count)

    def __len__(self) -> int:
        return self.count

    def epoch(self, epoch: int, start: int = 0):
        """Yield ``None`` ``count - start`` times."""
        for _ in range(start, self.count):
            yield None

    def shard(self, rank: int, world_size: int) -> None:
        """A no-op: there is no data to split; every process runs ``count`` steps."""
        return None


def to_device(batch, device):
    """``batch`` (a tensor, or a tuple/list/dict of them, nested) moved to ``device`` (non-blocking); None leaves it where it is."""
    if device is None:
        return batch
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    return batch

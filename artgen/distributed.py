"""Multi-process training on PyTorch's own engine: torchrun + DistributedDataParallel.

Launch any training command under ``torchrun``::

    torchrun --standalone --nproc_per_node=2 -m artgen classify train --out runs/ddp

torchrun sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; the shared loop then
initialises the process group (NCCL on CUDA, gloo on the CPU), wraps the trained
modules in DistributedDataParallel and gives each process its slice of every batch.
``--batch-size`` stays the *global* batch (split across processes), so a run gives
the same updates as a single process at that batch size and the learning rate
needs no change. Only rank 0 writes checkpoints, images, plots and progress bars.
Without those variables (or with ``WORLD_SIZE=1``) nothing here does anything.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from .errors import UsageError

#: Seconds the gloo ranks wait for each other in :func:`shutdown`: far longer than a
#: final checkpoint takes on one rank, short enough that a failed rank does not hang the rest.
SHUTDOWN_TIMEOUT_S = 30


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the run: global ``rank``, ``world_size`` and ``local_rank`` (its GPU on the node)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        """Whether more than one process trains."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Whether this is rank 0, the process that writes files."""
        return self.rank == 0


def requested() -> bool:
    """True when launched by torchrun (or similar) with more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def local_rank() -> int:
    """``LOCAL_RANK`` from the environment (0 when unset)."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def init(device: torch.device) -> DistInfo:
    """Join the process group described by the environment (idempotent); single-process otherwise.

    NCCL for a CUDA ``device`` (made the current device), gloo otherwise.

    Raises:
        UsageError: torchrun asked for several processes but this PyTorch has no ``torch.distributed``.
        ValueError: ``WORLD_SIZE`` is not an integer.
    """
    if not requested():
        return DistInfo()
    if not dist.is_available():
        raise UsageError("this PyTorch build has no torch.distributed; run without torchrun")
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend, device_id=device if device.type == "cuda" else None)
    return info()


def info() -> DistInfo:
    """The current :class:`DistInfo`: from the initialised process group, else single-process."""
    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank())
    return DistInfo()


def is_main() -> bool:
    """True in a single process and on rank 0 of a distributed run."""
    return info().is_main


def barrier() -> None:
    """Wait until every process reaches this point (a no-op in a single process)."""
    if info().enabled:
        dist.barrier()


def all_reduce_mean(tensor: torch.Tensor) -> torch.Tensor:
    """Average ``tensor`` (any shape, float dtype) over processes, in place; returns it. A no-op in a single process."""
    if info().enabled:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        tensor /= dist.get_world_size()
    return tensor


def any_process(flag: bool, device: torch.device) -> bool:
    """True if ``flag`` is true on any process (so all stop together)."""
    if not info().enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def shutdown() -> None:
    """Leave the process group, all ranks together.

    On gloo (CPU) the ranks first meet at a barrier with a :data:`SHUTDOWN_TIMEOUT_S` timeout: a rank that tears
    its group down while another still talks to it can abort in gloo's C++ threads. A rank
    that never arrives (it failed) only costs the others that timeout.
    """
    if dist.is_available() and dist.is_initialized():
        if dist.get_backend() == "gloo":
            from datetime import timedelta

            try:
                dist.monitored_barrier(timeout=timedelta(seconds=SHUTDOWN_TIMEOUT_S))
            except RuntimeError:
                pass  # another rank failed or left; tear down regardless
        dist.destroy_process_group()


def wrap_ddp(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """DistributedDataParallel around ``module`` (modules without trainable weights are left as they are)."""
    if not any(p.requires_grad for p in module.parameters()):
        return module
    ids = [device.index] if device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(module, device_ids=ids)

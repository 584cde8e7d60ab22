"""The one training loop every head runs on.

The loop owns iteration, devices, precision, progress, logging, checkpoints,
signals and resume. A head supplies a :class:`Task`: the modules and optimizers it
trains and a ``train_step(batch, ctx)`` that computes its losses and applies its
own optimizer update(s) through ``ctx``. That one interface covers all three heads:

* **Supervised (the classifier)** — one optimizer::

      def train_step(self, batch, ctx):
          x, y = batch
          with ctx.autocast():
              logits = self.model(x)
          loss = losses.cross_entropy(logits, y)
          ctx.optimize(loss, self.optimizer)          # zero_grad, backward, step
          return {"loss": loss, "accuracy": losses.accuracy(logits, y)}

* **GAN** — two optimizers, two updates per step, in the order the head chooses::

      def train_step(self, real, ctx):
          with ctx.autocast():
              d_loss = losses.gan_d_loss(D(real), D(G(z).detach()))
          ctx.optimize(d_loss, self.opt_d)
          with ctx.autocast():
              g_loss = losses.gan_g_loss(D(G(z)))
          ctx.optimize(g_loss, self.opt_g)
          return {"loss": d_loss + g_loss, "d_loss": d_loss, "g_loss": g_loss}

  (with fp16 the loop's single GradScaler serves both optimizers and is updated once
  per step, after ``train_step`` returns).

* **Optimising an image (style transfer)** — the "module" is a parameter holding
  the image, the data source yields ``None`` ``steps`` times (:class:`Repeat`), and
  the step may call ``optimizer.step(closure)`` itself, which is how L-BFGS works::

      def train_step(self, _, ctx):
          def closure():
              self.optimizer.zero_grad()
              loss = self.objective(self.image.pixels)
              loss.backward()
              return loss
          loss = self.optimizer.step(closure)
          return {"loss": loss}

``train_step`` returns a dict of scalars; ``"loss"`` is required and is checked for
NaN/inf. A value may also be a 1-D tensor of per-sample values (the classifier's
right/wrong per image), whose mean is the step's value: the loop averages many steps
of them at once. Every value is averaged per epoch into :class:`History` and logged at
``log_every`` steps. Values are kept on the device and read back in groups, so the
loop does not force a device synchronisation every step.
"""

from __future__ import annotations

import contextlib
import math
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from . import distributed
from .checkpoint import RunDir
from .device import Precision, flush_denormal_enabled, get_rng_state, resolve_device, set_flush_denormal, set_rng_state
from .errors import ArgumentError, NonFiniteLossError, TrainingInterrupted, UsageError

if TYPE_CHECKING:
    from .runs import RunSetup

# --- what a head provides ----------------------------------------------------------


class Task:
    """A head's training logic. Subclasses set ``modules`` and ``optimizers`` and implement ``train_step``.

    ``modules`` maps names to every module whose state must survive a resume (EMA
    copies included). ``export`` names those written to ``model.safetensors`` (all
    by default). ``extra_state``/``load_extra_state`` carry anything else a head
    needs to resume exactly (for example a learning-rate schedule).
    """

    modules: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]
    export: Sequence[str] | None = None

    def train_step(self, batch: Any, ctx: "StepContext") -> Mapping[str, torch.Tensor | float]:
        """One training step: forward, losses, and the optimizer update(s), made through ``ctx``.

        Args:
            batch: what the :class:`BatchSource` yields, already on the device (for
                :class:`TensorBatches` a tuple of ``(B_local, ...)`` tensors; ``None``
                for :class:`Repeat`).
            ctx: the loop's :class:`StepContext` (precision, grad scaler, position).
        Returns:
            A mapping with at least ``"loss"``; each value a float, a 0-d tensor, or a 1-D
            tensor of per-sample values (the loop averages it). Values may stay on the device.
        Raises:
            NotImplementedError: in this base class.
        """
        raise NotImplementedError

    def train(self) -> None:
        """Put every module in ``modules`` in training mode (the loop calls it once before the first step)."""
        for module in self.modules.values():
            module.train()

    def extra_state(self) -> dict:
        """State the head needs to resume exactly beyond modules and optimizers (default ``{}``).

        Saved in ``training_state.pt``, so it must hold only what ``torch.load(weights_only=True)``
        reads back: tensors, numbers, strings, lists and dicts.
        """
        return {}

    def load_extra_state(self, state: dict) -> None:
        """Restore what :meth:`extra_state` returned (``{}`` for a state saved without it)."""
        return None

    def distribute(self, wrap: Callable[[nn.Module], nn.Module]) -> None:
        """Wrap the trained modules for multi-process training (called by the loop under torchrun).

        The default wraps every module in ``modules`` that has trainable weights and
        points the task's attributes that held the plain module at the wrapper, so
        ``train_step`` runs through DistributedDataParallel. Override it when a step
        needs something else.
        """
        for name, module in list(self.modules.items()):
            wrapped = wrap(module)
            if wrapped is module:
                continue
            self.modules[name] = wrapped
            for attr, value in list(vars(self).items()):
                if value is module:
                    setattr(self, attr, wrapped)

    def export_modules(self) -> dict[str, nn.Module]:
        """The modules written to ``model.safetensors``: those named in ``export``, or all of ``modules``.

        Raises:
            KeyError: ``export`` names a module that is not in ``modules``.
        """
        names = self.export if self.export is not None else list(self.modules)
        return {name: self.modules[name] for name in names}


class StepContext:
    """What the loop hands a ``train_step``: device, precision, the grad scaler and position."""

    def __init__(self, device: torch.device, precision: Precision, *, rank: int = 0, world_size: int = 1):
        self.device = device
        self.precision = precision
        self.scaler = precision.make_scaler()
        self.step = 0  # steps completed before this one
        self.epoch = 0
        # Under torchrun each process sees 1/world_size of every batch. Random draws
        # that must match a single-process run (GAN noise, augmentation) are made for
        # the global batch on every process, then sliced with local_slice().
        self.rank = rank
        self.world_size = world_size

    def local_slice(self, tensor: torch.Tensor) -> torch.Tensor:
        """This process's share of a tensor drawn for the whole global batch.

        ``(B_global, ...)`` -> rows ``rank * per : (rank + 1) * per`` with
        ``per = B_global // world_size``; the tensor itself when ``world_size == 1``.
        """
        if self.world_size == 1:
            return tensor
        per = tensor.shape[0] // self.world_size
        return tensor[self.rank * per : (self.rank + 1) * per]

    def autocast(self):
        """A context manager running the forward pass in the run's precision (a no-op for fp32)."""
        return self.precision.autocast()

    def backward(self, loss: torch.Tensor) -> None:
        """``loss.backward()`` for a 0-d ``loss``, scaled by the grad scaler under fp16."""
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
        else:
            loss.backward()

    def step_optimizer(self, optimizer: torch.optim.Optimizer) -> None:
        """``optimizer.step()``; under fp16 through the grad scaler, which skips a step whose gradients overflowed."""
        if self.scaler is not None:
            self.scaler.step(optimizer)
        else:
            optimizer.step()

    def optimize(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        """zero_grad (set to ``None``), backward (scaled for fp16), optimizer step, for a 0-d ``loss``."""
        optimizer.zero_grad(set_to_none=True)
        self.backward(loss)
        self.step_optimizer(optimizer)


# --- data sources -------------------------------------------------------------------


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


def _check_shardable(batch_size: int, world_size: int) -> None:
    if batch_size % world_size:
        raise ArgumentError("batch_size", f"{batch_size} is the global batch and must divide evenly over {world_size} processes")


#: The order of epoch ``e`` of a run seeded ``s`` comes from a generator seeded with
#: ``s * EPOCH_SEED_STRIDE + e``: a prime above any epoch count, so two (seed, epoch)
#: pairs with ``e < EPOCH_SEED_STRIDE`` never share an order.
EPOCH_SEED_STRIDE = 1_000_003

#: Offset added to an epoch (or a seed) to derive a second random stream from the same
#: run seed, e.g. the GAN's sampled batches apart from :class:`TensorBatches`' order for
#: the same (seed, epoch). The 1000th prime: the two streams coincide only 7919 epochs apart.
SEED_STREAM_OFFSET = 7919


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
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
        _check_shardable(self._batch_size, world_size)
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
            order = torch.randperm(self.n, generator=_epoch_generator(self.seed, epoch)).to(device)
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

    def __init__(self, dataset, *, batch_size: int, shuffle: bool = True, seed: int = 0, device=None, num_workers: int = 0, drop_last: bool = False):
        super().__init__(len(dataset), batch_size, shuffle, seed, drop_last)
        self.dataset = dataset
        self.device = torch.device(device) if device is not None else None
        self.num_workers = num_workers

    def epoch(self, epoch: int, start: int = 0):
        """Yield the ``DataLoader``'s batches (default collation: samples stacked to ``(batch_size // world_size, ...)``)."""
        n = self.n
        if self.shuffle:
            order = torch.randperm(n, generator=_epoch_generator(self.seed, epoch)).tolist()
        else:
            order = list(range(n))
        order = order[: len(self) * self._batch_size][start * self._batch_size :]
        per = self._batch_size // self.world_size
        if self.world_size > 1:
            order = [i for b in range(0, len(order), self._batch_size) for i in order[b + self.rank * per : b + (self.rank + 1) * per]]
        loader = torch.utils.data.DataLoader(
            self.dataset,
            batch_size=per,
            sampler=order,
            num_workers=self.num_workers,
            pin_memory=self.device is not None and self.device.type == "cuda",
            drop_last=False,
        )
        for batch in loader:
            yield _to_device(batch, self.device)


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


def _to_device(batch, device):
    if device is None:
        return batch
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to_device(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: _to_device(v, device) for k, v in batch.items()}
    return batch


# --- history and callbacks ----------------------------------------------------------


@dataclass
class History:
    """Keras-style record: ``history["loss"]`` is a list with one mean per epoch.

    ``steps`` holds ``(step, {name: value})`` every ``log_every`` steps, for curves of
    runs measured in steps (the GAN).
    """

    history: dict[str, list[float]] = field(default_factory=dict)
    epoch: list[int] = field(default_factory=list)
    steps: list[tuple[int, dict[str, float]]] = field(default_factory=list)

    def __getitem__(self, key: str) -> list[float]:
        return self.history[key]

    def __contains__(self, key: str) -> bool:
        return key in self.history

    def keys(self):
        """The names of the recorded values, in the order they were first logged."""
        return self.history.keys()

    def add_epoch(self, epoch: int, logs: Mapping[str, float]) -> None:
        """Record the 1-based ``epoch`` and append each value of ``logs`` (as float) to its list."""
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(float(value))

    def to_dict(self) -> dict:
        """A JSON-serialisable dict (``history``, ``epoch``, ``steps``) that :meth:`from_dict` reads back."""
        return {"history": self.history, "epoch": self.epoch, "steps": [[s, v] for s, v in self.steps]}

    @classmethod
    def from_dict(cls, data: Mapping) -> "History":
        """Rebuild a History from :meth:`to_dict`'s output; a missing key gives an empty list."""
        return cls(
            history={k: list(v) for k, v in data.get("history", {}).items()},
            epoch=list(data.get("epoch", [])),
            steps=[(int(s), dict(v)) for s, v in data.get("steps", [])],
        )

    def plot(self, path=None, *, title: str | None = None):
        """Draw the curves (per epoch, and per logged step when there are any); save to ``path`` if given."""
        from .plots import plot_history

        return plot_history(self, path, title=title)


class Callback:
    """Hooks the loop calls; every method is optional.

    ``on_step_end`` runs after every step (keep it cheap); ``on_log`` gets averaged
    values every ``log_every`` steps; ``on_checkpoint`` runs after each save.
    """

    def on_train_begin(self, trainer: "Trainer") -> None:
        """Called once before the first step (after a resumed state is loaded)."""

    def on_step_end(self, trainer: "Trainer", step: int) -> None:
        """Called after every step; ``step`` counts the steps completed (1-based)."""

    def on_log(self, trainer: "Trainer", step: int, logs: dict[str, float]) -> None:
        """Called every ``log_every`` steps with each value averaged over those steps and processes."""

    def on_epoch_end(self, trainer: "Trainer", epoch: int, logs: dict[str, float]) -> None:
        """Called after each full epoch (1-based ``epoch``) with its means and ``validate``'s values."""

    def on_checkpoint(self, trainer: "Trainer", step: int) -> None:
        """Called on the main process after each checkpoint is written."""

    def on_train_end(self, trainer: "Trainer") -> None:
        """Called once after the last step and the final checkpoint (not when training fails)."""


class LambdaCallback(Callback):
    """Call ``fn(trainer, step)`` every ``every`` steps and at the end (sample grids, previews)."""

    def __init__(self, fn: Callable[["Trainer", int], None], every: int | None, *, at_end: bool = True):
        self.fn = fn
        self.every = every
        self.at_end = at_end
        self._last = -1

    def on_step_end(self, trainer, step):
        """Call ``fn(trainer, step)`` when ``step`` is a multiple of ``every``."""
        if self.every and step % self.every == 0:
            self._last = step
            self.fn(trainer, step)

    def on_train_end(self, trainer):
        """With ``at_end``, call ``fn`` at the final step unless it already ran there."""
        if self.at_end and self._last != trainer.step:
            self._last = trainer.step
            self.fn(trainer, trainer.step)


class ProgressBar(Callback):
    """tqdm progress with the latest losses and samples per second; silent off a terminal."""

    def __init__(self, desc: str = "training", *, enabled: bool | None = None):
        self.desc = desc
        self.enabled = enabled
        self.bar = None
        self._t0 = 0.0
        self._step0 = 0

    def on_train_begin(self, trainer):
        """Open the bar at the trainer's current step of ``total_steps``."""
        from tqdm.auto import tqdm

        enabled = show_progress(self.enabled)
        self.bar = tqdm(total=trainer.total_steps, initial=trainer.step, desc=self.desc, disable=not enabled, dynamic_ncols=True, leave=True)
        self._t0 = time.perf_counter()
        self._step0 = trainer.step

    def on_step_end(self, trainer, step):
        """Advance the bar by one step."""
        if self.bar is not None:
            self.bar.update(1)

    def on_log(self, trainer, step, logs):
        """Show the logged values and the global images per second since the bar opened."""
        if self.bar is None or self.bar.disable:
            return
        elapsed = max(time.perf_counter() - self._t0, 1e-9)
        post = {k: f"{v:.4g}" for k, v in logs.items()}
        bs = trainer.data.batch_size
        if bs:
            post["img/s"] = f"{(step - self._step0) * bs / elapsed:.0f}"  # bs is the global batch
        self.bar.set_postfix(post, refresh=False)

    def on_train_end(self, trainer):
        """Close the bar (also called when training fails)."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def show_progress(requested: bool | None) -> bool:
    """``requested`` when given; otherwise show progress bars on a terminal or in a notebook only."""
    if requested is not None:
        return bool(requested)
    return sys.stderr.isatty() or "ipykernel" in sys.modules


class CurvePlot(Callback):
    """Write the loss/metric curves to a PNG at each checkpoint and at the end."""

    def __init__(self, path, *, title: str | None = None):
        self.path = path
        self.title = title

    def _draw(self, trainer):
        if trainer.history.epoch or trainer.history.steps:
            trainer.history.plot(self.path, title=self.title)

    def on_checkpoint(self, trainer, step):
        """Redraw the PNG at ``path``."""
        self._draw(trainer)

    def on_train_end(self, trainer):
        """Redraw the PNG at ``path``."""
        self._draw(trainer)


# --- the loop -----------------------------------------------------------------------


class Trainer:
    """Runs a :class:`Task` over a :class:`BatchSource` for ``epochs`` or ``max_steps``.

    With ``run_dir`` set, the loop saves a checkpoint every ``checkpoint_every``
    steps, at the end, and when stopped by Ctrl-C or SIGTERM; ``resume=True``
    continues from the folder's ``training_state.pt`` to exactly the weights an
    uninterrupted run reaches (same seed, same settings). The recipe follows minGPT's
    ``Trainer`` and Keras' ``fit``/``History``/callbacks; under torchrun it shards the
    data and wraps the modules in DistributedDataParallel.

    Args:
        task: the head's :class:`Task`.
        data: a :class:`BatchSource`; ``len(data)`` steps make an epoch.
        epochs, max_steps: train for ``epochs * len(data)`` steps, at most ``max_steps``.
        device: ``"auto"``, ``"cpu"``, ``"cuda[:N]"``, ``"mps"`` or a ``torch.device``.
        precision: ``"fp32"``, ``"bf16"``, ``"fp16"`` or a :class:`~artgen.device.Precision`.
        run_dir: folder for checkpoints (a path or :class:`~artgen.checkpoint.RunDir`); none saved when ``None``.
        checkpoint_every: save every this many steps (as well as at the end and on a stop).
        callbacks: :class:`Callback` s, after the progress bar; run on the main process only.
        log_every: average and report the step values every this many steps.
        validate: ``validate(trainer) -> {name: float}`` run under ``no_grad`` after each epoch.
        progress: show a progress bar (``None``: on a terminal or in a notebook only).
        desc: the progress bar's label.
        config: the run's config, written to ``config.json`` at each checkpoint.
    Raises:
        ValueError: neither ``epochs`` nor ``max_steps`` is given.
        UsageError: ``data`` has no batches, or fewer rows than one global batch under
            torchrun; an unknown or unavailable ``device``.
        ArgumentError: ``precision`` unknown or unsupported on the device; the batch
            size does not divide over the processes.
    """

    def __init__(
        self,
        task: Task,
        data: BatchSource,
        *,
        epochs: int | None = None,
        max_steps: int | None = None,
        device: torch.device | str = "auto",
        precision: str | Precision = "fp32",
        run_dir: RunDir | str | None = None,
        checkpoint_every: int | None = None,
        callbacks: Sequence[Callback] = (),
        log_every: int = 50,
        validate: Callable[["Trainer"], Mapping[str, float]] | None = None,
        progress: bool | None = None,
        desc: str = "training",
        config: Mapping | None = None,
        setup: "RunSetup | None" = None,
    ):
        if epochs is None and max_steps is None:
            raise ValueError("give epochs or max_steps")
        if len(data) == 0:
            raise UsageError("no batches to train on")
        self.task = task
        self.data = data
        if setup is not None:  # artgen.runs.start_run already joined the process group and checked the precision
            self.device, self.dist = setup.device, setup.dist
            precision = setup.precision
            run_dir = setup.run_dir if run_dir is None else run_dir
        else:
            self.device = resolve_device(device) if not isinstance(device, torch.device) else device
            self.dist = distributed.init(self.device)
        if self.dist.enabled:
            data.shard(self.dist.rank, self.dist.world_size)
            if len(data) == 0:
                raise UsageError(f"the dataset is smaller than one global batch ({data.batch_size})")
        self.precision = precision if isinstance(precision, Precision) else Precision.create(precision, self.device)
        self.steps_per_epoch = len(data)
        total = epochs * self.steps_per_epoch if epochs is not None else None
        if max_steps is not None:
            total = max_steps if total is None else min(total, max_steps)
        self.total_steps = int(total)
        self.run_dir = RunDir(run_dir) if isinstance(run_dir, (str,)) or hasattr(run_dir, "__fspath__") else run_dir
        self.checkpoint_every = checkpoint_every
        self.log_every = max(1, int(log_every))
        self.validate = validate
        self.config = dict(config or {})
        self.ctx = StepContext(self.device, self.precision, rank=self.dist.rank, world_size=self.dist.world_size)
        self.history = History()
        self.step = 0
        self.epoch = 0
        self.batch_in_epoch = 0
        self.is_main = self.dist.is_main
        self._epoch_sums: dict[str, float] = {}
        self._epoch_count = 0
        self._pending: list[tuple[int, Mapping[str, torch.Tensor | float]]] = []
        self._stop_reason: str | None = None
        self._keys: list[str] | None = None
        self.last_checkpoint_step: int | None = None
        cbs: list[Callback] = []
        if progress is not False:
            cbs.append(ProgressBar(desc, enabled=progress))
        cbs.extend(callbacks)
        # only one process writes files and draws progress bars
        self.callbacks = cbs if self.is_main else []

    # -- state ------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Everything a resume needs, readable by ``torch.load(weights_only=True)``.

        Step, epoch and batch counters; each module's state (unwrapped from DDP and
        ``torch.compile``, cloned), each optimizer's, the grad scaler's; every RNG state;
        the history and the running epoch sums; the task's :meth:`Task.extra_state`; the config.
        """
        return {
            "step": self.step,
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "modules": {name: _unwrapped_state(m) for name, m in self.task.modules.items()},
            "optimizers": {name: opt.state_dict() for name, opt in self.task.optimizers.items()},
            "scaler": self.ctx.scaler.state_dict() if self.ctx.scaler is not None else None,
            "rng": get_rng_state(),
            "history": self.history.to_dict(),
            "epoch_sums": dict(self._epoch_sums),
            "epoch_count": self._epoch_count,
            "task": self.task.extra_state(),
            "config": self.config,
        }

    def load_state_dict(self, state: Mapping) -> None:
        """Restore what :meth:`state_dict` returned, including the RNG states.

        Raises:
            UsageError: the state has no entry for one of the task's modules.
            CheckpointError: a module's saved tensors do not match it (keys, shapes, dtypes, NaN).
        """
        from .weights import load_state_into

        for name, module in self.task.modules.items():
            if name not in state["modules"]:
                raise UsageError(f"the saved training state has no '{name}' module")
            load_state_into(module, state["modules"][name], what=name)
        for name, opt in self.task.optimizers.items():
            opt.load_state_dict(state["optimizers"][name])
        if self.ctx.scaler is not None and state.get("scaler") is not None:
            self.ctx.scaler.load_state_dict(state["scaler"])
        self.step = int(state["step"])
        self.epoch = int(state["epoch"])
        self.batch_in_epoch = int(state["batch_in_epoch"])
        self.history = History.from_dict(state["history"])
        self._epoch_sums = dict(state.get("epoch_sums", {}))
        self._epoch_count = int(state.get("epoch_count", 0))
        self.task.load_extra_state(state.get("task", {}))
        set_rng_state(state["rng"])

    def save_checkpoint(self) -> None:
        """Write weights, config and the resumable state (rank 0 only; a no-op without ``run_dir``).

        Call it on every process: it first averages the pending logged values across them.

        Raises:
            NonFiniteLossError: a pending logged value is NaN or infinite.
            ArtgenError: a file could not be written (disk full; the previous file is intact).
        """
        if self.run_dir is None:
            return
        self._flush()  # on every process: it averages the logged values across them
        self.last_checkpoint_step = self.step
        if not self.is_main:
            return
        meta = {"step": str(self.step), "epoch": str(self.epoch)}
        if self.config:
            self.run_dir.save_config(self.config)
        self.run_dir.save_weights(self.task.export_modules(), metadata=meta)
        self.run_dir.save_state(self.state_dict())
        self.run_dir.finish_replacing()  # an --overwrite'd old run goes once the new one has a checkpoint
        for cb in self.callbacks:
            cb.on_checkpoint(self, self.step)

    # -- signals ----------------------------------------------------------------
    @contextlib.contextmanager
    def _signal_guard(self):
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {}

        def request_stop(signum, frame):
            name = signal.Signals(signum).name
            if self._stop_reason is not None and signum == signal.SIGINT:
                raise KeyboardInterrupt  # a second Ctrl-C stops at once
            self._stop_reason = name

        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                previous[sig] = signal.signal(sig, request_stop)
            except (ValueError, OSError):  # pragma: no cover - not allowed here
                pass
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def request_stop(self, reason: str = "stop requested") -> None:
        """Stop after the current step, saving a checkpoint (as Ctrl-C does)."""
        self._stop_reason = reason

    # -- logging ----------------------------------------------------------------
    def _flush(self) -> dict[str, float] | None:
        """Read pending step values back from the device; check they are finite."""
        if not self._pending:
            return None
        keys = self._keys
        rows = torch.stack([self._column([vals[k] for _, vals in self._pending]) for k in keys], dim=1)
        rows = distributed.all_reduce_mean(rows).cpu()
        steps = [s for s, _ in self._pending]
        self._pending = []
        finite = torch.isfinite(rows)
        if not bool(finite.all()):
            bad_row, bad_col = (~finite).nonzero()[0].tolist()
            raise NonFiniteLossError(
                f"{keys[bad_col]} became {rows[bad_row, bad_col].item()} at step {steps[bad_row]} (epoch {self.epoch + 1}); "
                + (
                    f"the last good checkpoint is step {self.last_checkpoint_step} in '{self.run_dir.path}'; "
                    if self.last_checkpoint_step is not None and self.run_dir is not None
                    else ""
                )
                + "try a lower learning rate or {arg:precision=fp32}"
            )
        for j, key in enumerate(keys):
            self._epoch_sums[key] = self._epoch_sums.get(key, 0.0) + float(rows[:, j].sum())
        self._epoch_count += len(steps)
        means = {key: float(rows[:, j].mean()) for j, key in enumerate(keys)}
        self.history.steps.append((steps[-1], means))
        return means

    def _column(self, values: list) -> torch.Tensor:
        """One logged quantity over the pending steps as a float32 vector on the device."""
        if all(type(v) is torch.Tensor and v.dim() == 0 for v in values):
            try:
                return torch.stack(values).detach().to(self.device, torch.float32)
            except RuntimeError:  # values on different devices
                pass
        if all(type(v) is torch.Tensor and v.dim() == 1 for v in values):  # per-sample values: their mean
            if len({v.numel() for v in values}) == 1 and len({v.device for v in values}) == 1:
                return torch.stack(values).detach().to(self.device, torch.float32).mean(dim=1)
            return torch.stack([v.detach().to(self.device, torch.float32).mean() for v in values])
        return torch.stack([torch.as_tensor(v, dtype=torch.float32, device=self.device).detach().float().reshape(()) for v in values])

    # -- the loop ---------------------------------------------------------------
    def fit(self, *, resume: bool = False) -> History:
        """Train to the end (or to a stop request); returns the :class:`History`.

        Releases the run folder's lock (:meth:`RunDir.lock`) when it returns or fails.

        Args:
            resume: first load ``run_dir``'s ``training_state.pt`` and continue from its step.
        Returns:
            The :class:`History`: per-epoch means in ``history[name]``, logged steps in ``history.steps``.
        Raises:
            UsageError: ``resume`` without a ``run_dir``, or the saved state lacks a module.
            CheckpointError: nothing to resume, or the saved state is unreadable or does not match.
            NonFiniteLossError: a logged value became NaN or infinite (names the step and the last checkpoint).
            TrainingInterrupted: stopped by SIGINT/SIGTERM or :meth:`request_stop` before the
                last step, after saving a checkpoint.
            TypeError: ``train_step`` returned no ``"loss"``.
        """
        try:
            return self._fit(resume)
        finally:
            if self.run_dir is not None:
                self.run_dir.unlock()

    def _fit(self, resume: bool) -> History:
        if resume:
            if self.run_dir is None:
                raise UsageError("resume needs a run folder")
            self.load_state_dict(self.run_dir.load_state())
            self.last_checkpoint_step = self.step
        if self.dist.enabled:
            self.task.distribute(lambda module: distributed.wrap_ddp(module, self.device))
        self.task.train()
        for cb in self.callbacks:
            cb.on_train_begin(self)
        finished = False
        try:
            with self._signal_guard(), _flush_denormals(self.device):
                self._run()
            finished = True
        finally:
            if not finished:
                for cb in self.callbacks:
                    if isinstance(cb, ProgressBar):
                        cb.on_train_end(self)
        if self.run_dir is not None and self.last_checkpoint_step != self.step:
            self.save_checkpoint()
        for cb in self.callbacks:
            cb.on_train_end(self)
        if self._stop_reason is not None and self.step < self.total_steps:
            where = f"; checkpoint saved in '{self.run_dir.path}', continue with {{arg:resume=True}}" if self.run_dir is not None else ""
            raise TrainingInterrupted(f"training stopped by {self._stop_reason} at step {self.step} of {self.total_steps}{where}")
        return self.history

    def _run(self) -> None:
        while self.step < self.total_steps and self._stop_reason is None:
            self.ctx.epoch = self.epoch
            for batch in self.data.epoch(self.epoch, self.batch_in_epoch):
                self.ctx.step = self.step
                values = self.task.train_step(batch, self.ctx)
                if self.ctx.scaler is not None:
                    self.ctx.scaler.update()
                if "loss" not in values:
                    raise TypeError("train_step must return a dict with a 'loss' entry")
                if self._keys is None:
                    self._keys = list(values)
                self._pending.append((self.step + 1, values))
                self.step += 1
                self.batch_in_epoch += 1
                if self.step % self.log_every == 0:
                    logs = self._flush()
                    for cb in self.callbacks:
                        cb.on_log(self, self.step, logs)
                for cb in self.callbacks:
                    cb.on_step_end(self, self.step)
                if self.dist.enabled and distributed.any_process(self._stop_reason is not None, self.device) and self._stop_reason is None:
                    self._stop_reason = "a signal to another process"
                if self.checkpoint_every and self.step % self.checkpoint_every == 0 and self.step < self.total_steps:
                    self.save_checkpoint()
                if self.step >= self.total_steps or self._stop_reason is not None:
                    break
            if self.batch_in_epoch >= self.steps_per_epoch:
                self._end_epoch()
        self._flush()

    def _end_epoch(self) -> None:
        self._flush()
        logs = {k: v / max(self._epoch_count, 1) for k, v in self._epoch_sums.items()}
        if self.validate is not None and self.is_main:
            was_training = [m.training for m in self.task.modules.values()]
            with torch.no_grad():
                logs.update({k: float(v) for k, v in self.validate(self).items()})
            for m, flag in zip(self.task.modules.values(), was_training):
                m.train(flag)
        self.history.add_epoch(self.epoch + 1, logs)
        for cb in self.callbacks:
            cb.on_epoch_end(self, self.epoch + 1, logs)
        self.epoch += 1
        self.batch_in_epoch = 0
        self._epoch_sums = {}
        self._epoch_count = 0


@contextlib.contextmanager
def _flush_denormals(device: torch.device):
    """Treat denormal floats as zero on the calling thread while training on the CPU; the previous mode is restored.

    Adam's moment estimates decay towards zero for weights that rarely get a
    gradient (MNIST's border pixels); once denormal, every update of them runs in
    slow microcode. Flushing them changes results by less than 1e-38 per value.
    (Worker threads are out of reach; ``artgen.optim`` keeps Adam's moments normal there.)
    """
    if device.type != "cpu":
        yield
        return
    previous = flush_denormal_enabled()
    if not set_flush_denormal(True):
        yield
        return
    try:
        yield
    finally:
        set_flush_denormal(previous)


def _unwrapped_state(module: nn.Module) -> dict:
    from .weights import unwrap

    return {k: v.detach().clone() for k, v in unwrap(module).state_dict().items()}

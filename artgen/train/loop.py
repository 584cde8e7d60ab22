"""The loop: :class:`Trainer` runs a :class:`~artgen.train.task.Task` over a batch source, with checkpoints, signals and exact resume."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import torch
from torch import nn

from .. import distributed
from ..device import (
    Precision,
    flush_denormal_enabled,
    get_rng_state,
    resolve_device,
    set_flush_denormal,
    set_rng_state,
)
from ..errors import NonFiniteLossError, TrainingInterrupted, UsageError
from ..runs.folder import RunDir
from ..runs.weights import save_weights
from .batches import BatchSource
from .callbacks import Callback, History, ProgressBar
from .task import StepContext, Task

if TYPE_CHECKING:
    from ..runs.setup import RunSetup


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
        run_dir: folder for checkpoints (a path or :class:`~artgen.runs.folder.RunDir`); none saved when ``None``.
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
        validate: Callable[[Trainer], Mapping[str, float]] | None = None,
        progress: bool | None = None,
        desc: str = "training",
        config: Mapping | None = None,
        setup: RunSetup | None = None,
    ):
        if epochs is None and max_steps is None:
            raise ValueError("give epochs or max_steps")
        if len(data) == 0:
            raise UsageError("no batches to train on")
        self.task = task
        self.data = data
        if setup is not None:  # artgen.runs.setup.start_run already joined the process group and checked the precision
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
        from ..runs.weights import load_state_into

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
        save_weights(self.run_dir.weights_path, self.task.export_modules(), metadata=meta)
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
        return torch.stack(
            [torch.as_tensor(v, dtype=torch.float32, device=self.device).detach().float().reshape(()) for v in values]
        )

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
            where = (
                f"; checkpoint saved in '{self.run_dir.path}', continue with {{arg:resume=True}}"
                if self.run_dir is not None
                else ""
            )
            raise TrainingInterrupted(
                f"training stopped by {self._stop_reason} at step {self.step} of {self.total_steps}{where}"
            )
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
                if (
                    self.dist.enabled
                    and distributed.any_process(self._stop_reason is not None, self.device)
                    and self._stop_reason is None
                ):
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
    from ..runs.weights import unwrap

    return {k: v.detach().clone() for k, v in unwrap(module).state_dict().items()}

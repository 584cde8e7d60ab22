"""What the loop reports to: :class:`History` (per-epoch averages), :class:`Callback` hooks, the progress bar and the curves plot."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .loop import Trainer


@dataclass
class History:
    """Keras-style record: ``history["loss"]`` is a list with one mean per epoch.

    ``steps`` holds ``(step, {name: value})`` every ``log_every`` steps, for curves of
    runs measured in steps (the GAN). ``evals`` holds ``(step, {name: value})`` of
    measurements taken now and then during training (the GAN's KID), drawn in a panel of
    their own.
    """

    history: dict[str, list[float]] = field(default_factory=dict)
    epoch: list[int] = field(default_factory=list)
    steps: list[tuple[int, dict[str, float]]] = field(default_factory=list)
    evals: list[tuple[int, dict[str, float]]] = field(default_factory=list)

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
        """A JSON-serialisable dict (``history``, ``epoch``, ``steps``, ``evals``) that :meth:`from_dict` reads back."""
        return {
            "history": self.history,
            "epoch": self.epoch,
            "steps": [[s, v] for s, v in self.steps],
            "evals": [[s, v] for s, v in self.evals],
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> History:
        """Rebuild a History from :meth:`to_dict`'s output; a missing key gives an empty list."""
        return cls(
            history={k: list(v) for k, v in data.get("history", {}).items()},
            epoch=list(data.get("epoch", [])),
            steps=[(int(s), dict(v)) for s, v in data.get("steps", [])],
            evals=[(int(s), dict(v)) for s, v in data.get("evals", [])],
        )

    def plot(self, path=None, *, title: str | None = None):
        """Draw the curves (per epoch, and per logged step when there are any); save to ``path`` if given."""
        from ..plots import plot_history

        return plot_history(self, path, title=title)


class Callback:
    """Hooks the loop calls; every method is optional.

    ``on_step_end`` runs after every step (keep it cheap); ``on_log`` gets averaged
    values every ``log_every`` steps; ``on_checkpoint`` runs after each save.
    """

    def on_train_begin(self, trainer: Trainer) -> None:
        """Called once before the first step (after a resumed state is loaded)."""

    def on_step_end(self, trainer: Trainer, step: int) -> None:
        """Called after every step; ``step`` counts the steps completed (1-based)."""

    def on_log(self, trainer: Trainer, step: int, logs: dict[str, float]) -> None:
        """Called every ``log_every`` steps with each value averaged over those steps and processes."""

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        """Called after each full epoch (1-based ``epoch``) with its means and ``validate``'s values."""

    def on_checkpoint(self, trainer: Trainer, step: int) -> None:
        """Called on the main process after each checkpoint is written."""

    def on_train_end(self, trainer: Trainer) -> None:
        """Called once after the last step and the final checkpoint (not when training fails)."""


class LambdaCallback(Callback):
    """Call ``fn(trainer, step)`` every ``every`` steps and at the end (sample grids, previews)."""

    def __init__(self, fn: Callable[[Trainer, int], None], every: int | None, *, at_end: bool = True):
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
        from ..progress import progress_bar as tqdm

        enabled = show_progress(self.enabled)
        self.bar = tqdm(
            total=trainer.total_steps,
            initial=trainer.step,
            desc=self.desc,
            disable=not enabled,
            dynamic_ncols=True,
            leave=True,
        )
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
    """Write the loss/metric curves to a PNG: at a checkpoint when ``min_interval`` seconds have passed since the
    last drawing (the first checkpoint always draws), and always at the end of training.

    Drawing takes about 0.3 s on a CPU (matplotlib), so a run that checkpoints every few steps would
    otherwise spend most of its time redrawing the same curves.
    """

    def __init__(self, path, *, title: str | None = None, min_interval: float = 30.0):
        self.path = path
        self.title = title
        self.min_interval = min_interval
        self._drawn_at: float | None = None

    def _draw(self, trainer):
        if trainer.history.epoch or trainer.history.steps:
            trainer.history.plot(self.path, title=self.title)
            self._drawn_at = time.monotonic()

    def on_checkpoint(self, trainer, step):
        """Redraw the PNG at ``path`` unless it was drawn less than ``min_interval`` seconds ago."""
        if self._drawn_at is None or time.monotonic() - self._drawn_at >= self.min_interval:
            self._draw(trainer)

    def on_train_end(self, trainer):
        """Redraw the PNG at ``path``."""
        self._draw(trainer)

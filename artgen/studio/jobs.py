"""Background training jobs for the studio: one thread per job, a cancel that saves a checkpoint.

A job runs a training entry (``train_gan``, ``train_fast_style``) with a :class:`JobCallback` in its
callbacks. Cancel asks the loop to stop after the current step (:meth:`artgen.train.Trainer.request_stop`),
which writes a checkpoint, so the run folder resumes with ``resume=True`` as after a Ctrl-C.
A second job into a run folder that a job of this studio is training is refused with the message the
command line gives (another process's training is refused by the run folder's own lock).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from ..errors import ArtgenError, TrainingInterrupted, UsageError
from ..train import Callback

#: How the page names the library's arguments in error messages.
PAGE_NAMES = {
    "out": "run folder",
    "resume": "the Resume box",
    "data": "pictures folder",
    "steps": "steps",
    "size": "size",
    "styles": "style picture",
    "arch": "architecture",
    "preview_every": "preview every",
}

#: The states of a job, in order; the last three are final.
STATES = ("starting", "running", "finished", "cancelled", "failed")


class JobCallback(Callback):
    """Reports a job's step to the page and turns its cancel into a stop request."""

    def __init__(self, job: Job):
        self.job = job

    def on_train_begin(self, trainer) -> None:
        """Record the starting step and the total; the job is running from here."""
        self.job.step, self.job.total = trainer.step, trainer.total_steps
        self.job.first_step = trainer.step
        self.job.history = trainer.history
        self.job.running_since = time.monotonic()
        self.job.state = "running"
        if self.job.cancel_requested.is_set():
            trainer.request_stop("cancel in artgen studio")

    def on_step_end(self, trainer, step: int) -> None:
        """Record the step; stop (with a checkpoint) when the job was cancelled."""
        self.job.step = step
        if self.job.cancel_requested.is_set():
            trainer.request_stop("cancel in artgen studio")


class Job:
    """One background training into ``folder``; :attr:`state` is one of :data:`STATES`."""

    def __init__(self, kind: str, folder: Path, target: Callable[[list[Callback]], object]):
        self.kind, self.folder, self.target = kind, folder, target
        self.state = "starting"
        self.message = ""
        self.step = 0
        self.first_step = 0
        self.total: int | None = None
        self.history = None  # the trainer's History (losses, and the GAN's KID in .evals) once running
        self.started = time.monotonic()
        self.running_since: float | None = None
        self.cancel_requested = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"artgen-studio-{kind}", daemon=True)

    @property
    def active(self) -> bool:
        """True while the job has not finished, been cancelled or failed."""
        return self.state in ("starting", "running")

    def cancel(self) -> None:
        """Ask the job to stop after its current step (a checkpoint is saved)."""
        self.cancel_requested.set()

    def _run(self) -> None:
        try:
            self.target([JobCallback(self)])
            self.state, self.message = "finished", f"finished {self.step} steps"
        except TrainingInterrupted as exc:
            self.state, self.message = "cancelled", exc.for_cli(PAGE_NAMES)
        except ArtgenError as exc:
            self.state, self.message = "failed", " ".join(exc.for_cli(PAGE_NAMES).split())
        except Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            self.state, self.message = "failed", f"{type(exc).__name__}: {first}"

    def describe(self) -> str:
        """One line for the page: state, step of total, and the time left at the pace so far."""
        if self.state == "starting":
            return f"{self.kind} job starting (reading the pictures, building the networks)"
        if self.state == "running":
            total = self.total or 0
            done = self.step - self.first_step
            elapsed = time.monotonic() - (self.running_since or self.started)
            left = f", about {_duration(elapsed / done * (total - self.step))} left" if done > 0 and total else ""
            share = f" ({100 * self.step / total:.0f}%)" if total else ""
            return f"{self.kind} job running: step {self.step} of {total}{share}{left}"
        return f"{self.kind} job {self.state}: {self.message}"


class Jobs:
    """The studio's jobs, at most one active per run folder."""

    def __init__(self):
        self._lock = threading.Lock()
        self._jobs: dict[Path, Job] = {}
        self.last: Job | None = None

    def start(self, kind: str, folder: Path, target: Callable[[list[Callback]], object]) -> Job:
        """Start ``target(callbacks)`` in a thread as the job for ``folder``; returns once it runs its first step
        or has ended (:meth:`wait_started`), so a refused or failed start shows at once.

        Raises:
            UsageError: a job of this studio is training into ``folder`` (the run folder lock's message).
        """
        folder = Path(folder).resolve()
        with self._lock:
            current = self._jobs.get(folder)
            if current is not None and current.active:
                raise UsageError(
                    f"run folder '{folder}' is in use by another training (a {kind} job of this studio); "
                    "wait for it to finish, stop it, or choose another run folder"
                )
            job = Job(kind, folder, target)
            self._jobs[folder] = job
            self.last = job
            job.thread.start()
        self.wait_started(job)
        return job

    def get(self, folder: Path | None) -> Job | None:
        """The latest job for ``folder`` (None: the latest job of all), or None."""
        if folder is None:
            return self.last
        return self._jobs.get(Path(folder).resolve())

    def cancel_all(self, timeout: float = 60.0) -> None:
        """Cancel every active job and wait up to ``timeout`` seconds for each to save its checkpoint."""
        for job in list(self._jobs.values()):
            if job.active:
                job.cancel()
                job.thread.join(timeout)

    def wait_started(self, job: Job, timeout: float = 120.0) -> None:
        """Wait until ``job`` runs its first step or ends (a refused or failed start shows at once)."""
        deadline = time.monotonic() + timeout
        while job.state == "starting" and time.monotonic() < deadline:
            time.sleep(0.1)


def cancel_job(job: Job | None, idle: str) -> str:
    """Cancel ``job`` when it is active; returns the line for the page (``idle`` when there is nothing to cancel)."""
    if job is None or not job.active:
        return idle
    job.cancel()
    return f"{job.kind} job stopping after this step; a checkpoint will be saved"


def _duration(seconds: float) -> str:
    """``seconds`` as ``"40 s"``, ``"3 min"`` or ``"1.5 h"``."""
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"

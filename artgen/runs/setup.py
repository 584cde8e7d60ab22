"""One start-up sequence for every training run, shared by the GAN, fast-style and classifier heads.

:func:`start_run` does, in this order:

1. resolve the device (``auto|cpu|cuda|cuda:N|mps``, :func:`artgen.device.resolve_device`);
2. join the process group under torchrun (:func:`artgen.distributed.init`, once per run);
3. for a new run, settle the precision (``"auto"`` through :func:`artgen.device.auto_precision`)
   and run the head's ``check`` of its inputs, so a bad value or a missing file is refused
   before the run folder is touched (``overwrite`` deletes nothing before every input is checked);
4. prepare the run folder (:meth:`artgen.runs.folder.RunDir.prepare`) on rank 0, then a barrier;
5. on ``resume``, read the folder's ``config.json`` and take the saved precision and seed from it;
6. seed Python, NumPy and torch (:func:`artgen.device.seed_everything`).

It returns a :class:`RunSetup`, which :class:`artgen.train.Trainer` accepts as ``setup=`` so the
loop neither joins the process group again nor parses the precision again.

On ``resume`` the saved settings win, because an exact continuation needs them; a setting the
caller gave that differs from the saved one is reported with :func:`report_resume_changes`
(one warning naming the setting, the saved value and the given one), never dropped in silence.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .. import distributed
from ..device import Precision, auto_precision, resolve_device, seed_everything
from ..distributed import DistInfo
from ..errors import UsageError
from .folder import RunDir
from .weights import load_state_into, save_weights, split_prefix

log = logging.getLogger("artgen")


@dataclass(frozen=True)
class RunSetup:
    """What :func:`start_run` settled for one training run.

    Attributes:
        device: the device the run trains on.
        dist: this process's place in the process group (rank 0 of 1 without torchrun).
        precision: the checked precision (never ``"auto"``); ``precision.name`` is what
            ``config.json`` stores.
        run_dir: the prepared (and locked) run folder, or None for a run kept in memory.
        saved: the folder's ``config.json`` on resume, else None.
        seed: the seed the run was seeded with (the saved one on resume), or None when
            :func:`start_run` did not seed.
    """

    device: torch.device
    dist: DistInfo
    precision: Precision
    run_dir: RunDir | None = None
    saved: dict | None = None
    seed: int | None = None

    @property
    def resume(self) -> bool:
        """Whether this run continues a saved one."""
        return self.saved is not None

    @property
    def is_main(self) -> bool:
        """True in a single process and on rank 0 (the process that writes files)."""
        return self.dist.is_main


def saved_precision(saved: Mapping) -> str | None:
    """The precision a run folder's config stores: top level (GAN) or in ``"train"`` (fast style); None if neither."""
    value = saved.get("precision")
    if not isinstance(value, str):
        train = saved.get("train")
        value = train.get("precision") if isinstance(train, Mapping) else None
    return value if isinstance(value, str) else None


def saved_seed(saved: Mapping) -> int | None:
    """The seed a run folder's config stores in its ``"train"`` section; None if it has none."""
    train = saved.get("train")
    value = train.get("seed") if isinstance(train, Mapping) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def start_run(
    out: str | os.PathLike | RunDir | None = None,
    *,
    resume: bool = False,
    overwrite: bool = False,
    device: str | torch.device = "auto",
    precision: str | Precision = "fp32",
    seed: int | None = None,
    check: Callable[[torch.device], None] | None = None,
    read_config: Callable[[RunDir], dict] | None = None,
    loss_scaling: bool = True,
    cpu_bf16: bool = False,
    inputs: Mapping[str, str | os.PathLike | None] | None = None,
) -> RunSetup:
    """Start a training run: device, process group, checks, run folder, saved config, seed, precision.

    Args:
        out: the run folder, or None to train in memory (then ``resume`` is refused).
        resume: continue the run saved in ``out``; its config's precision and seed are used.
        overwrite: replace a run in ``out`` (its files go only once the new run's first
            checkpoint exists, see :meth:`RunDir.prepare`).
        device: ``auto|cpu|cuda|cuda:N|mps`` or a :class:`torch.device`.
        precision: ``fp32|bf16|fp16|auto`` or a :class:`Precision`; on resume the saved one wins.
        seed: the seed for Python, NumPy and torch (on resume the saved ``train.seed`` wins);
            None: do not seed here.
        check: called with the device before the run folder is touched (new runs and
            resumes alike); it raises on bad input.
        read_config: reads the folder's config on resume (a head checks it is its own run);
            default :meth:`RunDir.load_config`.
        loss_scaling, cpu_bf16: passed to :func:`artgen.device.auto_precision` for ``"auto"``.
        inputs: ``{argument name: path}`` of the files the run reads (its images); with
            ``overwrite`` none may lie inside ``out`` (see :meth:`RunDir.prepare`).

    Returns:
        A :class:`RunSetup`.

    Raises:
        UsageError: an unavailable device or precision, ``resume`` without ``out``, what
            ``check`` raises, and what :meth:`RunDir.prepare` refuses (exit 2).
        CheckpointError: the saved config cannot be read (exit 1).
    """
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    dist = distributed.init(dev)
    run = out if isinstance(out, RunDir) or out is None else RunDir(out)
    if resume and run is None:
        raise UsageError("{arg:resume=True} needs {arg:out}")
    chosen = None if resume else resolve_precision(precision, dev, loss_scaling=loss_scaling, cpu_bf16=cpu_bf16)
    if check is not None:
        check(dev)
    if run is not None:
        if dist.is_main:
            run.prepare(resume=resume, overwrite=overwrite, inputs=inputs)
        distributed.barrier()
    saved = None
    if resume:
        saved = read_config(run) if read_config is not None else run.load_config()
        stored = saved_precision(saved)
        chosen = resolve_precision(
            stored if stored is not None else precision, dev, loss_scaling=loss_scaling, cpu_bf16=cpu_bf16
        )
        stored_seed = saved_seed(saved)
        if stored_seed is not None and seed is not None:
            seed = stored_seed
    if seed is not None:
        seed_everything(seed)
    return RunSetup(device=dev, dist=dist, precision=chosen, run_dir=run, saved=saved, seed=seed)


def resolve_precision(
    precision: str | Precision, device: torch.device, *, loss_scaling: bool = True, cpu_bf16: bool = False
) -> Precision:
    """``fp32|bf16|fp16|auto`` (or a :class:`Precision`) as a checked :class:`Precision` for ``device``.

    Raises:
        ArgumentError: an unknown name, or one the device lacks (fp16 on the CPU, bf16 on an old GPU).
    """
    if isinstance(precision, Precision):
        return precision
    name = (precision or "fp32").strip().lower()
    if name == "auto":
        name = auto_precision(device, loss_scaling=loss_scaling, cpu_bf16=cpu_bf16)
    return Precision.create(name, device)


def report_resume_changes(given: Mapping[str, Any], saved: Mapping[str, Any]) -> list[str]:
    """Warn, once per setting, where a value given for a resumed run differs from the saved one.

    ``given`` holds the settings the caller gave (library keywords that differ from their
    defaults, or the flags typed on the command line); ``saved`` the values the run folder
    holds, under the same names. Names missing from ``saved`` are not compared. The saved
    values are the ones used: resuming exactly needs them. Returns the names reported.
    """
    changed = []
    for name, value in given.items():
        if name not in saved or _same(value, saved[name]):
            continue
        changed.append(name)
        log.warning(
            "resuming with the saved %s=%r, not the given %r: an exact resume needs the run's own settings (start a new run to change it)",
            name,
            saved[name],
            value,
        )
    return changed


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if (
        isinstance(a, (int, float))
        and isinstance(b, (int, float))
        and not isinstance(a, bool)
        and not isinstance(b, bool)
    ):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=0.0)
    if isinstance(a, str) and isinstance(b, str):
        return a.strip().lower() == b.strip().lower()
    return a == b


def given_arguments(fn: Callable, values: Mapping[str, Any], *, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    """The keyword arguments of ``fn`` whose value in ``values`` (its ``locals()``) differs from the default.

    What a library caller changed, for :func:`report_resume_changes`; a keyword passed
    with its default value cannot be told from one left out, and is not reported.
    """
    import inspect

    given = {}
    for name, param in inspect.signature(fn).parameters.items():
        if name in exclude or param.default is inspect.Parameter.empty or name not in values:
            continue
        value = values[name]
        if not _same(value, param.default):
            given[name] = value
    return given


# --- one save/load pair for trained runs -------------------------------------------------------


def save_pretrained(path: str | os.PathLike, config: Mapping, modules: Mapping[str, torch.nn.Module]) -> Path:
    """Write a trained model into the folder ``path``: ``config.json`` (``config`` plus artgen's
    version) and ``model.safetensors`` (each module's tensors keyed ``<module>.<param>``).

    Both files are written atomically (:mod:`artgen.runs.atomic`); the folder is created. The
    counterpart of :func:`from_pretrained`; every head's ``save`` goes through it.
    Returns the folder's path.

    Raises:
        OSError: the folder cannot be created or written.
    """
    run = RunDir(path)
    run.path.mkdir(parents=True, exist_ok=True)
    run.save_config(config)
    save_weights(run.weights_path, modules)
    return run.path


@dataclass(frozen=True)
class SavedRun:
    """A run folder opened by :func:`from_pretrained`: its checked config, and its weights on demand."""

    run: RunDir
    config: dict

    def settings(self, cls, section: str):
        """The settings dataclass ``cls`` from ``section`` of the config (see :meth:`RunDir.load_settings`).

        Raises:
            CheckpointError: the section is missing or a field is wrong (naming the file and field).
        """
        return self.run.load_settings(cls, section, self.config)

    def load_into(self, modules: Mapping[str, torch.nn.Module], describe: Callable[[str], str]) -> None:
        """Copy the saved weights into ``modules`` (by name: ``<name>.<param>`` keys), strictly.

        ``describe(name)`` names the module in errors (for example ``"generator in 'runs/x'"``).

        Raises:
            CheckpointError: no weights file, a damaged one, or keys, shapes or dtypes that do not match.
        """
        tensors = self.run.load_weights()
        for name, module in modules.items():
            load_state_into(module, split_prefix(tensors, name), what=describe(name))


def from_pretrained(
    path: str | os.PathLike,
    head: str | None = None,
    noun: str = "",
    *,
    what: str = "",
    read_config: Callable[[RunDir], dict] | None = None,
) -> SavedRun:
    """Open a run folder written by :func:`save_pretrained` or by training, for loading or fine-tuning.

    ``head`` (with ``noun`` for the message, e.g. ``"gan"``/``"GAN"``) refuses a folder holding
    another head's run; ``what`` prefixes that message (``"{arg:init_from}"``); ``read_config``
    replaces the config reading altogether (a head with its own messages). Weights are read by
    :meth:`SavedRun.load_into`, so a config-only look costs no tensor reads.

    Raises:
        CheckpointError: no folder, no or an unreadable ``config.json``, or another head's run.
    """
    run = RunDir(path)
    if read_config is not None:
        config = read_config(run)
    elif head is not None:
        config = run.load_head_config(head, noun or head, what=what)
    else:
        config = run.load_config()
    return SavedRun(run, config)

"""Run folders and checkpoints that load safely and are written atomically.

(Loading and checking the weights themselves is :mod:`artgen.runs.weights`; its functions are
also reachable here.)

A run folder holds:

- ``config.json``: everything needed to rebuild the model (the head name, the model
  config, the training settings) plus artgen's version;
- ``model.safetensors``: the weights users keep, keyed ``<module>.<param>``;
- ``training_state.pt``: what ``--resume`` needs (all module and optimizer states,
  the step, the random states, the history so far), loaded with
  ``torch.load(weights_only=True)`` so it can never run code.

Every file is written to a temporary file in the same folder and moved into place
with ``os.replace``: an interrupted write leaves the previous file intact.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path

import torch

from ..errors import CheckpointError, UsageError
from ..version import __version__
from .atomic import atomic_path, write_json_atomic
from .weights import load_weights_file, safe_torch_load

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
STATE_NAME = "training_state.pt"

log = logging.getLogger("artgen")


#: Every file artgen writes into a run folder, as a pattern over its path relative to the
#: folder (POSIX separators). These, and nothing else, are what ``overwrite`` replaces: a
#: ``notes.txt``, a ``best/favourite.png`` or a ``data/`` folder a user keeps in a run
#: folder is theirs and stays. Heads that write a new kind of file add its name here.
RUN_FILES = re.compile(
    r"(config\.json|model\.safetensors|training_state\.pt|curves\.png|metrics\.json|nearest\.png"
    r"|best/(model\.safetensors|config\.json)|samples/step_\d{6,}\.png|previews/step_\d{6,}\.png)"
)
#: The folders of :data:`RUN_FILES`; removed when replacing a run leaves them empty.
RUN_FOLDERS = ("samples", "previews", "best")


def is_run_file(relative: str | os.PathLike) -> bool:
    """Whether ``relative`` (a path inside a run folder, relative to it) is a file artgen writes there (:data:`RUN_FILES`)."""
    return RUN_FILES.fullmatch(Path(relative).as_posix()) is not None


# --- run folders --------------------------------------------------------------------


class RunDir:
    """A training run's folder: config, weights, resumable state, and outputs.

    ``RunDir(path) / "samples"`` is ``path / "samples"``. Nothing is created until
    :meth:`prepare` or a save. The layout (``config.json`` + safetensors weights) follows
    diffusers' model folders; the resumable state is artgen's own.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunDir('{self.path}')"

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    # config
    @property
    def config_path(self) -> Path:
        """``<path>/config.json``."""
        return self.path / CONFIG_NAME

    def has_config(self) -> bool:
        """Whether ``config.json`` exists as a file."""
        return self.config_path.is_file()

    def save_config(self, config: Mapping) -> Path:
        """Write ``config`` (JSON-serialisable; paths and tensors are converted) atomically, adding ``artgen_version``.

        Raises:
            TypeError: a value JSON cannot hold.
            ArtgenError, UsageError: the file cannot be written (see :func:`~artgen.runs.atomic.atomic_path`).
        """
        data = dict(config)
        data.setdefault("artgen_version", __version__)
        return write_json_atomic(self.config_path, data)

    def load_head_config(self, head: str, noun: str, *, what: str = "") -> dict:
        """:meth:`load_config` for a run that must belong to ``head`` (``noun`` names it in the message).

        Raises:
            CheckpointError: as :meth:`load_config`, or the run is another head's (naming both).
        """
        cfg = self.load_config()
        if cfg.get("head") != head:
            prefix = f"{what} " if what else ""
            raise CheckpointError(f"{prefix}'{self.path}' holds a {cfg.get('head', 'unknown')!r} run, not a {noun}")
        return cfg

    def load_config(self) -> dict:
        """``config.json`` as a dict, checked: UTF-8 JSON holding an object with a ``head`` name.

        Raises:
            CheckpointError: one line naming the folder or file and what is wrong.
        """
        if not self.path.exists():
            raise CheckpointError(f"run folder '{self.path}' does not exist")
        if not self.config_path.is_file():
            raise CheckpointError(f"'{self.path}' is not an artgen run folder (no {CONFIG_NAME})")
        try:
            data = json.loads(self.config_path.read_bytes().decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise CheckpointError(f"cannot read '{self.config_path}': not UTF-8 text (byte {exc.start})") from None
        except json.JSONDecodeError as exc:
            raise CheckpointError(
                f"cannot read '{self.config_path}': not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
            ) from None
        except (OSError, RecursionError) as exc:
            raise CheckpointError(
                f"cannot read '{self.config_path}': {getattr(exc, 'strerror', None) or exc}"
            ) from None
        if not isinstance(data, dict):
            raise CheckpointError(f"'{self.config_path}' must hold a JSON object, not {type(data).__name__}")
        if not isinstance(data.get("head"), str):
            raise CheckpointError(f'\'{self.config_path}\' names no head (expected "head": "classifier", "gan", ...)')
        for section in ("model", "train"):
            if section in data and not isinstance(data[section], dict):
                raise CheckpointError(
                    f"'{self.config_path}': the '{section}' section must be an object, not {type(data[section]).__name__}"
                )
        return data

    def load_settings(self, cls, section: str, config: Mapping | None = None):
        """The settings dataclass ``cls`` from the ``section`` of ``config.json``, through
        :func:`artgen.runs.config.load_settings` (types, ranges, unknown keys), every head alike.

        Raises:
            CheckpointError: the section is missing or a field is wrong (naming the file and field).
        """
        from .config import load_settings

        cfg = self.load_config() if config is None else config
        if section not in cfg:
            raise CheckpointError(f"'{self.config_path}' has no '{section}' section")
        return load_settings(cls, cfg[section], source=str(self.config_path), section=section)

    # weights
    @property
    def weights_path(self) -> Path:
        """``<path>/model.safetensors``."""
        return self.path / WEIGHTS_NAME

    def load_weights(self) -> dict[str, torch.Tensor]:
        """``{"<module>.<param>": tensor}`` from :attr:`weights_path`, on the CPU.

        Raises:
            CheckpointError: no weights file, or :func:`load_weights_file` refuses it.
        """
        if not self.weights_path.is_file():
            raise CheckpointError(f"run folder '{self.path}' has no {WEIGHTS_NAME}")
        return load_weights_file(self.weights_path)

    # resumable training state
    @property
    def state_path(self) -> Path:
        """``<path>/training_state.pt``."""
        return self.path / STATE_NAME

    def has_state(self) -> bool:
        """Whether ``training_state.pt`` exists as a file."""
        return self.state_path.is_file()

    def save_state(self, state: Mapping) -> Path:
        """``torch.save`` the resumable state (:meth:`artgen.train.Trainer.state_dict`) atomically.

        Raises:
            ArtgenError, UsageError: the file cannot be written (disk full, permissions); the previous one is intact.
        """
        with atomic_path(self.state_path) as tmp:
            torch.save(dict(state), tmp)
        return self.state_path

    def load_state(self) -> dict:
        """The saved training state, loaded with ``torch.load(weights_only=True)`` onto the CPU.

        Raises:
            CheckpointError: no state file, an unsafe or unreadable one, or not a dict with a ``step``.
        """
        if not self.has_state():
            raise CheckpointError(f"nothing to resume in '{self.path}' (no {STATE_NAME})")
        data = safe_torch_load(self.state_path)
        if not isinstance(data, dict) or "step" not in data:
            raise CheckpointError(f"'{self.state_path}' is not an artgen training state")
        return data

    def holds_run(self) -> bool:
        """Whether the folder holds something trained: weights or a resumable state."""
        return self.has_state() or self.weights_path.is_file()

    def prepare(
        self,
        *,
        resume: bool = False,
        overwrite: bool = False,
        inputs: Mapping[str, str | os.PathLike | None] | None = None,
    ) -> RunDir:
        """Open the folder for a training run: new, resumed, or replacing an old run.

        Call it after every argument, the data, the device and the precision are
        checked. It creates the folder, takes its lock (:meth:`lock`), removes
        temporary files left by a killed process, and checks that a new run does not
        clobber an old one without ``overwrite``. With ``overwrite`` nothing is
        deleted here: the old run's files are removed by :meth:`finish_replacing`,
        which the training loop calls once the new run's first checkpoint is written,
        so a run that fails before that leaves the old one as it was. A folder whose
        run stopped before its first checkpoint (config but no weights or state) can
        be started again without ``overwrite``.

        Only artgen's own files (:data:`RUN_FILES`) are ever replaced; anything else a
        user keeps in the folder stays. ``inputs`` (``{argument name: path}``, e.g. the
        training images) must not lie inside a folder that ``overwrite`` replaces.

        Raises:
            UsageError: the path is a file or under one, cannot be written, is in use by
                another process, holds a run and neither flag was given, has nothing
                to resume, or holds one of ``inputs`` while ``overwrite`` is given.
        """
        if self.path.exists() and not self.path.is_dir():
            raise UsageError(f"{{arg:out}} '{self.path}' exists and is not a folder")
        if overwrite and not resume:
            self._check_inputs_outside(inputs or {})
        if resume and not self.path.is_dir():
            raise UsageError(f"{{arg:resume=True}}: nothing to resume: run folder '{self.path}' does not exist")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"cannot create run folder '{self.path}': {_os_reason(exc)}") from None
        _PENDING_REPLACE.pop(_key(self.path), None)
        self.lock()
        try:
            self._check_contents(resume=resume, overwrite=overwrite)
        except BaseException:
            self.unlock()
            raise
        return self

    def _check_contents(self, *, resume: bool, overwrite: bool) -> None:
        self.remove_temp_files()
        if resume:
            if not self.has_state():
                if self.has_config() and not self.weights_path.is_file():
                    raise UsageError(
                        f"{{arg:resume=True}}: the run in '{self.path}' stopped before its first checkpoint, so there is nothing to resume; start it again without {{arg:resume=True}}"
                    )
                raise UsageError(
                    f"{{arg:resume=True}}: nothing to resume in '{self.path}' (no {STATE_NAME}){'; start over with {arg:overwrite=True}' if self.holds_run() else ''}"
                )
        elif self.holds_run():
            if not overwrite:
                raise UsageError(
                    f"run folder '{self.path}' already holds a run; pass {{arg:resume=True}} to continue it or {{arg:overwrite=True}} to start over"
                )
            _PENDING_REPLACE[_key(self.path)] = self._snapshot()
        elif self.has_config():
            log.info("'%s' holds a run that stopped before its first checkpoint; starting it again", self.path)
            _PENDING_REPLACE[_key(self.path)] = self._snapshot()

    def _check_inputs_outside(self, inputs: Mapping[str, str | os.PathLike | None]) -> None:
        here = Path(os.path.realpath(self.path))
        for name, value in inputs.items():
            if value is None:
                continue
            where = Path(os.path.realpath(Path(value).expanduser()))
            if where == here or here in where.parents:
                raise UsageError(
                    f"{{arg:{name}}} '{value}' lies inside the run folder '{self.path}' that {{arg:overwrite=True}} would replace; "
                    f"move it out of that folder or choose another {{arg:out}}"
                )

    # replacing an old run only once the new one has a checkpoint
    def _snapshot(self) -> dict[str, tuple[int, int]]:
        files = {}
        for folder, _dirs, names in os.walk(self.path):
            for name in names:
                p = Path(folder) / name
                if not is_run_file(p.relative_to(self.path)):
                    continue  # the user's: never replaced
                with contextlib.suppress(OSError):
                    st = p.stat()
                    files[str(p)] = (st.st_ino, st.st_mtime_ns)
        return files

    def finish_replacing(self) -> int:
        """Delete what is left of the run that ``prepare(overwrite=True)`` is replacing.

        Removes artgen's old files (:data:`RUN_FILES`) not rewritten since (old sample
        grids, previews, metrics, curves) and artgen's folders (:data:`RUN_FOLDERS`) that
        this leaves empty; nothing else in the folder is touched. Called by the training
        loop after the new run's first checkpoint; a no-op otherwise. Returns the number
        of files removed.
        """
        old = _PENDING_REPLACE.pop(_key(self.path), None)
        if not old:
            return 0
        removed = 0
        for name, ident in old.items():
            p = Path(name)
            with contextlib.suppress(OSError):
                st = p.stat()
                if (st.st_ino, st.st_mtime_ns) == ident:
                    p.unlink()
                    removed += 1
        for name in RUN_FOLDERS:
            with contextlib.suppress(OSError):
                (self.path / name).rmdir()  # only when empty
        return removed

    def remove_temp_files(self) -> int:
        """Remove temporary files that killed writes of artgen's own files left in the folder (``.curves.tmp-*.png``); returns how many."""
        from .atomic import temp_file_target

        removed = 0
        for folder, _dirs, names in os.walk(self.path):
            for name in names:
                target = temp_file_target(name)
                if target is not None and is_run_file((Path(folder) / target).relative_to(self.path)):
                    with contextlib.suppress(OSError):
                        (Path(folder) / name).unlink()
                        removed += 1
        return removed

    # one training process per folder
    @property
    def lock_path(self) -> Path:
        """``<path>/.artgen.lock``."""
        return self.path / LOCK_NAME

    def lock(self) -> None:
        """Take the folder's lock, so two trainings cannot write into it at once.

        The lock is an ``fcntl.flock`` on ``.artgen.lock`` (holding the process id,
        host and start time): the system releases it when its process dies, so a
        lock left by a crash is taken over (with a note). Taking it again in the
        same process is a no-op; :meth:`unlock` (and process exit) releases it.

        Raises:
            UsageError: another live process holds it; the message names that process.
        """
        key = _key(self.path)
        if key in _LOCKS:
            return
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no lock
            return
        for _attempt in range(5):
            try:
                fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise UsageError(f"cannot write to run folder '{self.path}': {_os_reason(exc)}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = _read_lock(fd)
                os.close(fd)
                raise UsageError(
                    f"run folder '{self.path}' is in use by another training ({holder}); wait for it to finish, stop it, or choose another {{arg:out}}"
                ) from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.lock_path).st_ino
            except OSError:
                same = False
            if same:
                break
            os.close(fd)  # the holder removed the file between our open and our lock: try again
        else:  # pragma: no cover
            raise UsageError(f"could not lock run folder '{self.path}'")
        previous = _read_lock(fd)
        if previous:
            log.info("took over the lock of '%s' left by %s, which is no longer running", self.path, previous)
        import socket
        import time

        os.ftruncate(fd, 0)
        os.pwrite(
            fd,
            f"process {os.getpid()} on {socket.gethostname()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}".encode(),
            0,
        )
        _LOCKS[key] = (fd, self.lock_path)

    def unlock(self) -> None:
        """Release the lock taken by :meth:`lock` in this process (a no-op otherwise)."""
        _release(_key(self.path))


LOCK_NAME = ".artgen.lock"
_LOCKS: dict[str, tuple[int, Path]] = {}
_PENDING_REPLACE: dict[str, dict[str, tuple[int, int]]] = {}


def _key(path: Path) -> str:
    return os.path.realpath(path)


def _read_lock(fd: int) -> str:
    with contextlib.suppress(OSError, UnicodeDecodeError):
        return os.pread(fd, 200, 0).decode("utf-8").strip()
    return ""


def _release(key: str) -> None:
    entry = _LOCKS.pop(key, None)
    if entry is None:
        return
    fd, path = entry
    with contextlib.suppress(OSError):
        path.unlink()
    with contextlib.suppress(OSError):
        os.close(fd)


@atexit.register
def _release_all() -> None:
    for key in list(_LOCKS):
        _release(key)


def _os_reason(exc: OSError) -> str:
    import errno

    if exc.errno in (errno.ENOTDIR, errno.EEXIST):
        return "a part of that path is a file, not a folder"
    return exc.strerror or str(exc)

"""Atomic file writes, shared by checkpoints, images and plots.

A file is written to a temporary name in its own folder, flushed to disk, given
ordinary permissions and moved onto its final name with ``os.replace``: readers see
the old file or the new one, never half of one, and a failure leaves the old one.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from pathlib import Path

import torch


def current_umask() -> int:
    """The process umask, read without changing it (Linux); 0o022 elsewhere."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path next to ``path`` (same suffix); move it onto ``path`` on success.

    >>> with atomic_path("run/model.safetensors") as tmp:
    ...     save_file(tensors, tmp)

    Creates the parent folders. On success the file is fsynced, given the umask's
    permissions and moved with ``os.replace``; on any failure the temporary file is
    removed and ``path`` keeps its previous content.

    Raises:
        ArtgenError: the disk is full, or the folder cannot be written for another reason.
        UsageError: a part of the folder path is a file, or permission is denied.
        Any other exception of the ``with`` body, unchanged.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.stem}{TEMP_MARK}", suffix=path.suffix or ".tmp"
        )
    except OSError as exc:
        raise _write_error(path, exc) from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, Exception) and _disk_full(exc, path):  # OSError, torch's RuntimeError, SafetensorError, ...
            raise _write_error(path, exc, full=True) from None
        raise
    fsync_dir(path.parent)


#: Marks the temporary files of :func:`atomic_path` (``.curves.tmp-k3j2.png``), so that
#: ones left by a killed process can be recognised and removed.
TEMP_MARK = ".tmp-"


def is_temp_file(name: str) -> bool:
    """Whether ``name`` is a temporary file of :func:`atomic_path` (current or older naming)."""
    return name.startswith(".") and (TEMP_MARK in name or bool(_OLD_TEMP.match(name)))


def temp_file_target(name: str) -> str | None:
    """The file name a temporary file of :func:`atomic_path` was to become (``.curves.tmp-k3j2.png`` -> ``curves.png``); None if ``name`` is not one."""
    if not is_temp_file(name):
        return None
    if TEMP_MARK in name:
        stem, _, rest = name[1:].partition(TEMP_MARK)
        suffix = Path(rest).suffix
        return stem + ("" if suffix == ".tmp" else suffix)
    m = _OLD_TEMP.match(name)
    return name[1:].rsplit(".", 2)[0] + "." + m.group(1)


# older artgen named temporaries ".<stem>.<8 random characters><suffix>"
_OLD_TEMP = re.compile(r"^\.[^.][^/]*\.[a-z0-9_]{8}\.(png|json|pt|safetensors|gif|jpg|onnx|tmp)$")


#: Free space below which a short write by ``torch.save`` is blamed on a full disk (64 MiB):
#: a checkpoint that fails to write with more free than this failed for another reason.
DISK_FULL_FREE_BYTES = 64 * 1024 * 1024


def _disk_full(exc: BaseException, path: Path) -> bool:
    import errno
    import shutil

    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(exc).lower()
    if "no space left" in text or "disk quota" in text or "storagefull" in text:
        return True
    if "file write failed" in text or "inline_container" in text or "unexpected pos" in text:
        # torch.save reports a short write this way; check whether the disk is the cause
        with contextlib.suppress(OSError):
            return shutil.disk_usage(path.parent).free < DISK_FULL_FREE_BYTES
    return False


def _write_error(path: Path, exc: BaseException, *, full: bool = False):
    """One line for a file that could not be written: disk full, not a folder, no permission."""
    from ..errors import ArtgenError, UsageError

    if full or _disk_full(exc, path):
        text = str(exc).strip()
        reason = getattr(exc, "strerror", None) or (text.splitlines()[-1][:120] if text else type(exc).__name__)
        return ArtgenError(
            f"the disk is full: could not write '{path}' ({reason}); the previous file, if any, is intact"
        )
    import errno

    code = getattr(exc, "errno", None)
    if code in (errno.ENOTDIR, errno.EEXIST):
        return UsageError(f"cannot write '{path}': a part of that path is a file, not a folder")
    if code in (errno.EACCES, errno.EPERM, errno.EROFS):
        return UsageError(f"cannot write '{path}': {getattr(exc, 'strerror', None) or 'permission denied'}")
    return ArtgenError(f"cannot write '{path}': {getattr(exc, 'strerror', None) or exc}")


def fsync_dir(folder: Path) -> None:
    """Make a rename durable (best effort; not available on every platform)."""
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` as UTF-8 to ``path`` through :func:`atomic_path`; returns ``path`` (errors as there)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json_atomic(path: str | os.PathLike, data) -> Path:
    """Write ``data`` as indented, key-sorted JSON through :func:`write_text_atomic`; returns ``path``.

    Paths become strings, tensors lists, sets and tuples lists.

    Raises:
        TypeError: a value JSON cannot hold (before anything is written).
        ArtgenError, UsageError: as :func:`atomic_path`.
    """
    return write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(value):
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if isinstance(value, (set, tuple)):
        return list(value)
    raise TypeError(f"cannot store {type(value).__name__} in JSON")

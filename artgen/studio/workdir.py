"""The studio's working folder: every path the page reads or writes resolves inside it.

Typed paths are resolved (``..`` and symbolic links followed) and refused when they land outside
the folder; uploads are size-limited, decoded with artgen's reader (Pillow's decompression-bomb
limit, one-line errors naming the file) and copied in before any head sees them.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from pathlib import Path

from ..errors import ImageError, UsageError

#: Largest upload the page accepts, in megabytes (also Gradio's own ``max_file_size``).
MAX_UPLOAD_MB = 32

#: Sub-folders of the working folder, by use.
FOLDERS = {"uploads": "uploads", "outputs": "outputs", "runs": "runs", "data": "data", "cache": ".gradio"}


class Workdir:
    """A working folder and the checks that keep the page inside it.

    Args:
        root: the folder (created when missing).
        max_upload_mb: uploads larger than this are refused.
    Raises:
        UsageError: ``root`` exists and is not a folder, or cannot be created.
    """

    def __init__(self, root: str | os.PathLike, *, max_upload_mb: float = MAX_UPLOAD_MB):
        path = Path(root).expanduser()
        if path.exists() and not path.is_dir():
            raise UsageError(f"working folder '{path}' is a file, not a folder")
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"cannot create working folder '{path}': {exc.strerror or exc}") from None
        self.root = path.resolve()
        self.max_upload_mb = float(max_upload_mb)

    def folder(self, use: str) -> Path:
        """The sub-folder for ``use`` (a key of :data:`FOLDERS`), created when missing."""
        path = self.root / FOLDERS[use]
        path.mkdir(parents=True, exist_ok=True)
        return path

    def inside(self, text: str | os.PathLike, what: str = "path", *, base: str | None = None) -> Path:
        """``text`` (relative to the working folder, or to its ``base`` sub-folder) as a resolved path inside it.

        Raises:
            UsageError: empty, or resolving outside the working folder (the message names both).
        """
        raw = str(text or "").strip()
        if not raw:
            raise UsageError(f"give a {what} inside the working folder '{self.root}'")
        start = self.root / FOLDERS[base] if base else self.root
        path = Path(raw).expanduser()
        resolved = (path if path.is_absolute() else start / path).resolve()
        if resolved != self.root and self.root not in resolved.parents:
            raise UsageError(
                f"{what} '{raw}' is outside the working folder '{self.root}'; the studio reads and writes only inside it"
            )
        return resolved

    def run_folder(self, text: str | os.PathLike | None) -> Path | None:
        """The run folder typed on the page (see :meth:`inside`), or None when the field is empty or points outside."""
        try:
            return self.inside(text, "run folder") if text else None
        except UsageError:
            return None

    def relative(self, path: str | os.PathLike) -> str:
        """``path`` relative to the working folder, for the page."""
        try:
            return str(Path(path).resolve().relative_to(self.root))
        except ValueError:
            return str(path)

    def output_path(self, stem: str, suffix: str = ".png") -> Path:
        """A new file name in ``outputs/``: ``stem-YYYYmmdd-HHMMSS[-N].png``, never an existing one."""
        folder = self.folder("outputs")
        base = f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"
        path, n = folder / f"{base}{suffix}", 1
        while path.exists():
            n += 1
            path = folder / f"{base}-{n}{suffix}"
        return path

    def accept_image(self, upload: str | os.PathLike | None, what: str) -> Path:
        """Check an uploaded picture and copy it into ``uploads/``; returns the copy.

        The file must be at most ``max_upload_mb`` and decode with :func:`artgen.images.open_image`
        (decompression bombs, truncated and non-image files refused as the CLI refuses them).

        Raises:
            UsageError: no file given, or the file is too large.
            ImageError: the picture cannot be read (the message names the uploaded file).
        """
        from ..images import open_image

        if not upload:
            raise UsageError(f"add a {what} picture first")
        source = Path(upload)
        name = source.name
        size = source.stat().st_size if source.is_file() else 0
        if size > self.max_upload_mb * 1024 * 1024:
            raise UsageError(
                f"{what} picture '{name}' is {size / 2**20:.1f} MB; the studio takes pictures up to {self.max_upload_mb:g} MB"
            )
        try:
            open_image(source)
        except ImageError as exc:
            reason = getattr(exc, "reason", None) or str(exc)
            raise ImageError(f"{what} picture '{name}': {reason}") from None
        return self._copy_in(source, name)

    def accept_video(self, upload: str | os.PathLike | None, what: str = "video") -> Path:
        """Check an uploaded video (or animated GIF) and copy it into ``uploads/``; returns the copy.

        The file must be at most ``max_upload_mb`` and be a video by its name or content
        (:func:`artgen.video.is_video_path`); its frames are decoded later, by the stylising itself.

        Raises:
            UsageError: no file given, the file is too large, or it is not a video.
        """
        if not upload:
            raise UsageError(f"add a {what} first")
        source = Path(upload)
        name = source.name
        size = source.stat().st_size if source.is_file() else 0
        if not source.is_file():
            raise UsageError(f"{what} '{name}' was not received; upload it again")
        if size > self.max_upload_mb * 1024 * 1024:
            raise UsageError(
                f"{what} '{name}' is {size / 2**20:.1f} MB; the studio takes files up to {self.max_upload_mb:g} MB"
            )
        from ..video import is_video_path

        if not is_video_path(source):
            raise UsageError(
                f"{what} '{name}' is not a video (.mp4, .mov, .m4v, .mkv, .webm, .avi or an animated .gif)"
            )
        return self._copy_in(source, name)

    def _copy_in(self, source: Path, name: str) -> Path:
        """``source`` copied into ``uploads/`` under a name led by its content's hash (kept when already there)."""
        if self.root in source.resolve().parents and self.folder("uploads") in source.resolve().parents:
            return source.resolve()
        digest = hashlib.sha256(source.read_bytes()).hexdigest()[:10]
        target = self.folder("uploads") / f"{digest}-{_safe_name(name)}"
        if not target.exists():
            tmp = target.with_name(f".{target.name}.tmp")
            shutil.copyfile(source, tmp)
            os.replace(tmp, target)
        return target

    def run_folders(self, head: str | None = None) -> list[str]:
        """Run folders (those holding a ``config.json``) under ``runs/`` and one level below the working folder, relative to it.

        ``head`` (``"gan"``, ``"fast_style"``, ...) keeps those whose ``config.json`` names that head.
        """
        found = set()
        for pattern in ("runs/*/config.json", "*/config.json", "runs/*/*/config.json"):
            for cfg in self.root.glob(pattern):
                if cfg.is_file() and (head is None or run_head(cfg.parent) == head):
                    found.add(self.relative(cfg.parent))
        return sorted(found)

    def picture_folders(self) -> list[str]:
        """Folders under ``data/`` (the usual place for training pictures), relative to the working folder."""
        return sorted(self.relative(p) for p in self.folder("data").iterdir() if p.is_dir())


def latest_step_picture(folder: Path | None, sub: str) -> str | None:
    """The newest ``step_*.png`` in ``folder/sub`` (a run's ``samples`` or ``previews``), or None."""
    if folder is None or not (folder / sub).is_dir():
        return None
    pictures = sorted((folder / sub).glob("step_*.png"))
    return str(pictures[-1]) if pictures else None


def run_head(folder: Path) -> str | None:
    """The head a run folder's ``config.json`` names (``"gan"``, ``"fast_style"``, ...), or None when unreadable.

    Only the JSON is read (at most 1 MB); nothing else in the folder is opened.
    """
    import json

    cfg = Path(folder) / "config.json"
    try:
        if cfg.stat().st_size > 2**20:
            return None
        data = json.loads(cfg.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    head = data.get("head") if isinstance(data, dict) else None
    return head if isinstance(head, str) else None


def _safe_name(name: str) -> str:
    """``name`` with only letters, digits, ``.``, ``-`` and ``_`` (others become ``_``), at most 80 characters."""
    cleaned = "".join(c if c.isalnum() or c in "._-" else "_" for c in name).lstrip(".")
    return (cleaned or "picture")[-80:]

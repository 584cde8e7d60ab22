"""Writing images: atomic, overwrite-safe, with the settings that made them.

Writing (:func:`save_image`, :func:`save_gif`) is atomic: the image goes to a
temporary file in the destination folder which then replaces the target, so an
interrupted write never leaves a half-written file and never damages the
previous one.  Existing files are only replaced with ``overwrite=True``.  PNG
outputs carry the settings that made them (``parameters`` and ``artgen`` text
chunks, see :func:`read_metadata`).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from artgen.errors import ArtgenError, UsageError
from artgen.images.reading import GREY_MODES, PathLike, error_reason, image_error, one_line, open_image, to_pil
from artgen.runs.atomic import atomic_path
from artgen.version import __version__

#: Lower-case suffixes artgen can write (the format follows the suffix).
WRITE_EXTENSIONS: frozenset[str] = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"})

_FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".webp": "WEBP",
    ".bmp": "BMP",
    ".gif": "GIF",
    ".tif": "TIFF",
    ".tiff": "TIFF",
}


def _suffix_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in WRITE_EXTENSIONS:
        choices = ", ".join(sorted(WRITE_EXTENSIONS))
        raise UsageError(
            f"cannot write '{path}': unknown image extension {suffix or '(none)'!r}; use one of {choices}"
        )
    return _FORMATS[suffix]


def check_writable(path: PathLike, *, overwrite: bool = False) -> Path:
    """Check, before a long job, that an image can be written to ``path``.

    Creates the parent folder.  Raises UsageError for an unknown extension or an
    existing file (unless ``overwrite``), ArtgenError when the folder cannot be
    created or written to.  Returns ``path`` as a Path.
    """
    path = Path(path).expanduser()
    _suffix_format(path)
    if path.is_dir():
        raise UsageError(f"output '{path}' is a folder; give a file name such as '{path / 'out.png'}'")
    if path.exists() and not overwrite:
        raise UsageError(f"output '{path}' exists; pass {{arg:overwrite=True}} to replace it")
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ArtgenError(f"cannot create folder '{parent}': {_reason_os(exc)}") from None
    try:
        fd, probe = tempfile.mkstemp(dir=parent, prefix=".artgen-write-test-")
    except OSError as exc:
        raise ArtgenError(f"cannot write to folder '{parent}': {_reason_os(exc)}") from None
    os.close(fd)
    try:
        os.unlink(probe)
    except OSError:
        pass
    return path


def _reason_os(exc: OSError) -> str:
    return one_line(exc.strerror or exc)


def _atomic_write(path: Path, overwrite: bool, write: Any) -> Path:
    """Call ``write(fileobj)`` on a temp file next to ``path``, then replace ``path``.

    On any failure the temp file is removed and an existing ``path`` is untouched.
    """
    if path.exists() and not overwrite:
        raise UsageError(f"output '{path}' exists; pass {{arg:overwrite=True}} to replace it")
    if path.is_dir():
        raise UsageError(f"output '{path}' is a folder; give a file name")
    try:
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            write(fh)
    except OSError as exc:
        raise ArtgenError(f"cannot write '{path}': {_reason_os(exc)}") from None
    return path


def _with_version(metadata: Mapping[str, Any]) -> dict[str, Any]:
    meta = dict(metadata)
    meta.setdefault("artgen_version", __version__)
    return meta


def _format_value(value: Any) -> str:
    if isinstance(value, str):
        text = value
    elif isinstance(value, float):
        text = f"{value:g}"
    elif isinstance(value, (dict, list, tuple)):
        text = json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))
    else:
        text = str(value)
    return one_line(text)


def _parameters_line(meta: Mapping[str, Any]) -> str:
    """One readable line, e.g. "artgen 0.1.0 stylize: steps=300, size=512, seed=0"."""
    head = f"artgen {meta.get('artgen_version', 'unknown')}"
    if meta.get("command") is not None:
        head += f" {_format_value(meta['command'])}"
    pairs = [
        f"{key}={_format_value(value)}" for key, value in meta.items() if key not in ("command", "artgen_version")
    ]
    return f"{head}: {', '.join(pairs)}" if pairs else head


def _for_format(img: Image.Image, fmt: str) -> Image.Image:
    """Convert ``img`` to a mode the output format can store."""
    mode = img.mode
    if fmt == "JPEG":
        return img if mode == "RGB" else open_image(img, mode="RGB")
    if fmt == "PNG":
        if mode in ("1", "L", "LA", "P", "RGB", "RGBA", "I;16", "I;16B", "I"):
            return img
    elif fmt == "WEBP":
        if mode in ("RGB", "RGBA"):
            return img
        if mode in ("LA", "PA") or "transparency" in img.info:
            return img.convert("RGBA")
        return open_image(img, mode="RGB")
    elif fmt == "BMP":
        if mode in ("1", "L", "P", "RGB", "RGBA"):
            return img
    elif fmt == "GIF":
        if mode in ("1", "L", "P", "RGB", "RGBA", "LA"):
            return img
    elif fmt == "TIFF":
        return img
    return open_image(img, mode="L" if mode in GREY_MODES else "RGB")


def save_image(
    image: Image.Image | torch.Tensor,
    path: PathLike,
    *,
    metadata: Mapping[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Save a PIL image or a tensor (C,H,W)/(1,C,H,W) in [0, 1] to ``path``, atomically.

    The format follows the suffix (.png .jpg .jpeg .webp .bmp .gif .tif .tiff).
    Missing folders are created.  An existing file is only replaced with
    ``overwrite=True``.  For PNG, ``metadata`` is stored as two text chunks:
    ``parameters`` (one readable line) and ``artgen`` (the JSON that
    :func:`read_metadata` returns, with ``artgen_version`` added).  JPEG is
    written as RGB at quality 95.

    Raises:
        UsageError: the file exists and ``overwrite`` is False, or the extension
            is unknown.
        ArtgenError: the location cannot be written (the message names it).
    """
    path = Path(path).expanduser()
    fmt = _suffix_format(path)
    img = to_pil(image) if isinstance(image, torch.Tensor) else image
    if not isinstance(img, Image.Image):
        raise UsageError(f"save_image expects a PIL image or a tensor, not {type(image).__name__}")
    img = _for_format(img, fmt)
    params: dict[str, Any] = {}
    if fmt == "JPEG" or fmt == "WEBP":
        params.update(quality=95)
    if metadata is not None and fmt == "PNG":
        from PIL.PngImagePlugin import PngInfo

        meta = _with_version(metadata)
        info = PngInfo()
        info.add_text("parameters", _parameters_line(meta))
        info.add_text("artgen", json.dumps(meta, sort_keys=True, default=str))
        params["pnginfo"] = info

    def write(fh: Any) -> None:
        img.save(fh, format=fmt, **params)

    return _atomic_write(path, overwrite, write)


def read_metadata(path: PathLike) -> dict[str, Any]:
    """The settings stored by :func:`save_image` (PNG) or :func:`save_gif`, or {} when there are none.

    Raises:
        ImageError: the file is missing or not an image (the message names it).
    """
    path = Path(path).expanduser()
    try:
        with Image.open(path) as img:
            text = getattr(img, "text", None) or {}  # PNG text chunks
            raw: Any = text.get("artgen")
            if raw is None and img.format == "GIF":
                raw = img.info.get("comment")
    except Exception as exc:
        raise image_error(path, error_reason(exc, path)) from None
    if raw is None:
        return {}
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="replace")
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


#: Shortest GIF frame delay written (ms): browsers replace shorter delays (10 ms, 0) by
#: a slow default of about 100 ms, so 20 ms (50 frames/s) is the fastest that plays as asked.
GIF_MIN_DELAY_MS = 20


def _transparent(img: Image.Image) -> bool:
    """Whether a picture has pixels that are not fully opaque."""
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        return img.getchannel("A").getextrema()[0] < 255
    return "transparency" in img.info


def _gif_palette(frame: Image.Image) -> tuple[Image.Image, int | None]:
    """A frame as a 256-colour palette picture, and the index of its transparent colour (None when opaque).

    GIF transparency is on or off: pixels less than half opaque become the transparent index 255;
    the other 255 colours are chosen from the picture.
    """
    if frame.mode == "RGBA":
        hidden = np.asarray(frame.getchannel("A")) < 128
        if hidden.any():
            p = frame.convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE, colors=255)
            palette = (p.getpalette() or [])[: 255 * 3]
            p.putpalette(palette + [0] * (255 * 3 - len(palette)) + [0, 0, 0])
            p.paste(255, mask=Image.fromarray(hidden.astype(np.uint8) * 255))
            return p, 255
    return frame.convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE, colors=256), None


def save_gif(
    frames: Sequence[Image.Image] | torch.Tensor,
    path: PathLike,
    *,
    fps: float = 20,
    overwrite: bool = False,
    loop: int | None = 0,
    metadata: Mapping[str, Any] | None = None,
    durations: Sequence[int] | None = None,
) -> Path:
    """Save frames (PIL images or an (N,C,H,W) tensor in [0, 1]) as an animated GIF.

    Every frame is written, identical ones included, so the frame count and the
    timing match what was given (GIF stores delays in 1/100 s; the delay is
    rounded to that and kept at >= 20 ms, the shortest browsers honour).
    ``durations`` (ms, one per frame, multiples of 10) replaces ``fps`` with per-frame delays.
    ``loop=0`` loops forever, ``loop=None`` plays once.  ``metadata`` is stored as a JSON GIF comment (see :func:`read_metadata`).
    Frames with transparency (RGBA pictures or 4-channel tensors) keep it: pixels less than half
    opaque are written transparent (GIF has no partial transparency).
    Atomic and overwrite-safe like :func:`save_image`. Returns ``path``.

    Raises:
        UsageError: not a ``.gif`` path; ``fps <= 0``; no frames, frames of different
            sizes, a tensor that is not (N,C,H,W), or ``durations`` of another length;
            ``path`` exists and ``overwrite`` is false.
        ArtgenError: the file cannot be written (disk full, permissions).
    """
    from PIL import GifImagePlugin

    path = Path(path).expanduser()
    if path.suffix.lower() != ".gif":
        raise UsageError(f"cannot write '{path}': an animation needs a .gif extension")
    if fps <= 0:
        raise UsageError(f"fps must be positive, got {fps}")
    if isinstance(frames, torch.Tensor):
        if frames.dim() != 4:
            raise UsageError(f"GIF frames must be a (N,C,H,W) tensor, got {tuple(frames.shape)}")
        pil_frames = [to_pil(f) for f in frames]
    else:
        pil_frames = [
            open_image(f, mode="RGBA" if _transparent(f) else "RGB") if isinstance(f, Image.Image) else to_pil(f)
            for f in frames
        ]
    if not pil_frames:
        raise UsageError(f"cannot write '{path}': no frames given")
    size = pil_frames[0].size
    for i, f in enumerate(pil_frames):
        if f.size != size:
            raise UsageError(f"GIF frame {i} is {f.size[0]}x{f.size[1]}, frame 0 is {size[0]}x{size[1]}")
    duration = max(GIF_MIN_DELAY_MS, int(round(1000.0 / fps / 10.0)) * 10)  # GIF stores 1/100 s
    if durations is not None and len(durations) != len(pil_frames):
        raise UsageError(f"{len(durations)} GIF frame durations for {len(pil_frames)} frames")
    delays = [int(d) for d in durations] if durations is not None else [duration] * len(pil_frames)
    paletted = [_gif_palette(f) for f in pil_frames]  # (P image, transparent index or None)
    info: dict[str, Any] = {"duration": duration}  # also marks the file as GIF89a
    if loop is not None:
        info["loop"] = int(loop)
    if metadata is not None:
        info["comment"] = json.dumps(_with_version(metadata), sort_keys=True, default=str).encode()

    def write(fh: Any) -> None:
        # Frame by frame with Pillow's GIF helpers: Pillow's save_all merges
        # identical consecutive frames, which would change the frame count.
        header, _ = GifImagePlugin.getheader(paletted[0][0].copy(), None, info)
        for chunk in header:
            fh.write(chunk)
        for (frame, clear), delay in zip(paletted, delays):
            # a frame with transparent pixels clears the picture first (disposal 2), so the frame
            # before it does not show through
            extra = {} if clear is None else {"transparency": clear}
            for chunk in GifImagePlugin.getdata(
                frame, (0, 0), duration=delay, disposal=1 if clear is None else 2, include_color_table=True, **extra
            ):
                fh.write(chunk)
        fh.write(b";")

    return _atomic_write(path, overwrite, write)

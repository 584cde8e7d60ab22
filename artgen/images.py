"""Reading and writing images: the one loader and saver every artgen head uses.

Reading (:func:`open_image`, :func:`load_tensor`) copes with the files people
actually have in their art folders: EXIF-rotated phone photos, palette and
RGBA PNGs with transparency, CMYK JPEGs, 16-bit scans, float TIFFs and animated
GIFs all come back as plain 8-bit RGB (or grey) images.  Anything unreadable
(missing, empty, truncated, not an image, larger than Pillow's decompression-bomb
limit) raises :class:`~artgen.errors.ImageError` with a one-line message that
names the file.

Writing (:func:`save_image`, :func:`save_gif`) is atomic: the image goes to a
temporary file in the destination folder which then replaces the target, so an
interrupted write never leaves a half-written file and never damages the
previous one.  Existing files are only replaced with ``overwrite=True``.  PNG
outputs carry the settings that made them (``parameters`` and ``artgen`` text
chunks, see :func:`read_metadata`).
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import re
import tempfile
import warnings
from pathlib import Path
from typing import Any, Mapping, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

from artgen.errors import ArtgenError, ImageError, UsageError
from artgen.fileio import atomic_path
from artgen.version import __version__

log = logging.getLogger("artgen.images")

__all__ = [
    "IMAGE_EXTENSIONS",
    "WRITE_EXTENSIONS",
    "open_image",
    "to_tensor",
    "to_pil",
    "load_tensor",
    "resize_crop",
    "save_image",
    "check_writable",
    "read_metadata",
    "make_grid",
    "save_gif",
]

#: Lower-case suffixes of files artgen reads as images.
IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}
)



def read_extensions() -> frozenset[str]:
    """Lower-case suffixes of every format this Pillow can open (``.jfif``, ``.jpe``, ``.tga``, ...) and :data:`IMAGE_EXTENSIONS`."""
    global _READ_EXTENSIONS
    if _READ_EXTENSIONS is None:
        Image.init()
        _READ_EXTENSIONS = IMAGE_EXTENSIONS | frozenset(e.lower() for e, fmt in Image.registered_extensions().items() if fmt in Image.OPEN)
    return _READ_EXTENSIONS


_READ_EXTENSIONS: frozenset[str] | None = None

#: Lower-case suffixes artgen can write (the format follows the suffix).
WRITE_EXTENSIONS: frozenset[str] = frozenset(
    {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"}
)

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

_GREY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})

PathLike = Union[str, "os.PathLike[str]"]
ImageSource = Union[PathLike, Image.Image]


# --------------------------------------------------------------------------- errors


def _one_line(text: object) -> str:
    """Collapse an exception text to one line."""
    return " ".join(str(text).split())


def _image_error(path: object, reason: str) -> ImageError:
    """An ImageError for ``path``; ``.path`` and ``.reason`` are kept for callers."""
    reason = _one_line(reason)
    err = ImageError(f"cannot read image '{path}': {reason}")
    err.path = path  # type: ignore[attr-defined]
    err.reason = reason  # type: ignore[attr-defined]
    return err


_BOMB_RE = re.compile(r"\((\d+) pixels\).*?(\d+) pixels")


def _bomb_error(path: object, exc: BaseException) -> ImageError:
    match = _BOMB_RE.search(str(exc))
    if match:
        # Pillow's text gives twice the limit when it raises; report the limit itself.
        limit = Image.MAX_IMAGE_PIXELS or int(match.group(2))
        reason = f"too large ({match.group(1)} pixels > {limit} pixel limit)"
    else:
        reason = f"too large ({_one_line(exc)})"
    err = ImageError(f"image '{path}' is {reason}")
    err.path = path  # type: ignore[attr-defined]
    err.reason = reason  # type: ignore[attr-defined]
    return err


def _reason(exc: BaseException, path: Path | None) -> str:
    """A short human reason for a failure to decode ``path``."""
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    if isinstance(exc, IsADirectoryError):
        return "it is a folder, not a file"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, UnidentifiedImageError):
        if path is not None:
            try:
                if path.stat().st_size == 0:
                    return "empty file (0 bytes)"
            except OSError:
                pass
        return "not a recognised image format (file is damaged or not an image)"
    text = _one_line(exc) or type(exc).__name__
    if "truncated" in text.lower():
        return f"file is truncated or damaged ({text})"
    return f"cannot decode image ({type(exc).__name__}: {text})"


# --------------------------------------------------------------------------- reading


def _scale_to_uint8(arr: np.ndarray, scale: float) -> np.ndarray:
    """Divide by ``scale``, round and clip to 0..255 as uint8."""
    out = np.rint(arr.astype(np.float64) / scale)
    return np.clip(out, 0, 255).astype(np.uint8)


def _wide_grey_to_l(img: Image.Image) -> Image.Image:
    """Scale 16/32-bit integer or float greyscale to 8-bit "L" (scaling, not clipping).

    * "I;16*" (16-bit): value / 257, so 65535 -> 255 and 32768 -> 128.
    * "I" (32-bit signed): Pillow uses this mode for most 16-bit PNG/TIFF files,
      so values within 0..65535 are read as 16-bit; larger values are scaled from
      the full 0..2**31-1 range.  Negative values become 0.
    * "F" (float): assumed to be in [0, 1] when its maximum is <= 1, else [0, 255].
    """
    mode = img.mode
    if mode.startswith("I;16"):
        arr = np.asarray(img).astype(np.int64)
        return Image.fromarray(_scale_to_uint8(arr, 257.0))
    if mode == "I":
        arr = np.asarray(img).astype(np.int64)
        top = int(arr.max()) if arr.size else 0
        scale = 257.0 if top <= 65535 else (2**31 - 1) / 255.0
        return Image.fromarray(_scale_to_uint8(arr, scale))
    if mode == "F":
        arr = np.asarray(img).astype(np.float64)
        arr = np.nan_to_num(arr, nan=0.0, posinf=0.0, neginf=0.0)
        top = float(arr.max()) if arr.size else 0.0
        scale = 1.0 / 255.0 if top <= 1.0 else 1.0
        return Image.fromarray(_scale_to_uint8(arr, scale))
    return img.convert("L")


def _composite_on_white(img: Image.Image) -> Image.Image:
    """Flatten an image with an alpha channel onto a white background (RGB)."""
    rgba = img.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def _cmyk_to_rgb(img: Image.Image) -> Image.Image:
    """Convert CMYK to RGB, through the embedded ICC profile when there is one."""
    icc = img.info.get("icc_profile")
    if icc:
        try:
            from PIL import ImageCms

            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            dst = ImageCms.createProfile("sRGB")
            out = ImageCms.profileToProfile(img, src, dst, outputMode="RGB")
            if out is not None:
                return out
        except Exception:  # a broken or unsupported profile: use the plain formula
            pass
    # Pillow already undoes Adobe's inverted CMYK when decoding JPEGs, so the
    # standard formula R = 255 - min(255, C + K) (etc.) is right here.
    return img.convert("RGB")


def _normalise(img: Image.Image, mode: str) -> Image.Image:
    """Turn any Pillow mode into plain 8-bit "RGB" or "L" (or "RGBA", keeping transparency)."""
    src = img.mode
    has_alpha = src in ("RGBA", "LA", "PA", "La", "RGBa") or (
        src in ("P", "L", "RGB") and "transparency" in img.info
    )
    if mode == "RGBA":
        return img.convert("RGBA") if has_alpha else _normalise(img, "RGB").convert("RGBA")
    if src in ("I", "F") or src.startswith("I;16"):
        img = _wide_grey_to_l(img)
    elif has_alpha:
        img = _composite_on_white(img)
    elif src == "CMYK":
        img = _cmyk_to_rgb(img)
    elif src == "RGB" and mode == "RGB":
        pass
    elif src == "L" and mode == "L":
        pass
    elif src not in ("RGB", "L"):
        # "P", "1", "YCbCr", "LAB", "HSV", "RGBX", 16-bit RGB variants, ...
        try:
            img = img.convert("RGB")
        except (ValueError, OSError):
            img = img.convert("RGBA").convert("RGB")
    return img.convert(mode) if img.mode != mode else img


def open_image(source: ImageSource, *, mode: str = "RGB") -> Image.Image:
    """Open an image file (or take a PIL image) and return a plain 8-bit image.

    Args:
        source: a path (``str`` / ``Path``) or a ``PIL.Image.Image``.
        mode: ``"RGB"`` (colour), ``"L"`` (grey) or ``"RGBA"`` (colour with
            transparency kept; images without alpha become opaque).

    The result is fully decoded and independent of the file.  On the way the
    EXIF orientation is applied, animated images give their first frame,
    transparency is composited onto white (kept with ``mode="RGBA"``), CMYK is converted to RGB, and 16-bit,
    32-bit and float images are scaled (not clipped) down to 8 bits.

    Raises:
        UsageError: ``mode`` is not "RGB", "L" or "RGBA".
        ImageError: the file is missing, empty, truncated, not an image, or over
            Pillow's ``MAX_IMAGE_PIXELS`` limit; the message names the file.
    """
    if mode not in ("RGB", "L", "RGBA"):
        raise UsageError(f"image mode must be 'RGB', 'L' or 'RGBA', not {mode!r}")
    if isinstance(source, Image.Image):
        return _prepare(source, mode, path=None)
    if not isinstance(source, (str, os.PathLike)):
        raise UsageError(
            f"expected an image path or PIL image, not {type(source).__name__}"
        )
    path = Path(source)
    try:
        with warnings.catch_warnings():
            # Over MAX_IMAGE_PIXELS Pillow only warns (it errors at twice the
            # limit); artgen treats both as "too large".
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                return _prepare(img, mode, path=path)
    except ArtgenError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise _bomb_error(path, exc) from None
    except MemoryError as exc:
        raise _image_error(path, f"not enough memory to decode it ({exc})") from None
    except Exception as exc:  # decoders raise many types for damaged files
        raise _image_error(path, _reason(exc, path)) from None


def _prepare(img: Image.Image, mode: str, *, path: Path | None) -> Image.Image:
    """First frame, fully loaded, EXIF-rotated, normalised; never ``img`` itself."""
    if getattr(img, "is_animated", False):
        if path is not None:
            log.warning("'%s' is animated (%d frames): using its first frame only", path, getattr(img, "n_frames", 0))
        img.seek(0)
    img.load()  # decode now, so a truncated file fails here and not later
    rotated = ImageOps.exif_transpose(img)  # a copy, rotated when EXIF says so
    if rotated is None:  # pragma: no cover - only with in_place=True
        rotated = img.copy()
    out = _normalise(rotated, mode)
    if out is img:  # pragma: no cover - exif_transpose always copies
        out = img.copy()
    return out


LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601 weights of R, G, B


def luminance(x: torch.Tensor) -> torch.Tensor:
    """Grey from RGB along the channel axis: ``(..., 3, H, W) -> (..., 1, H, W)``."""
    weights = torch.tensor(LUMA, dtype=x.dtype, device=x.device).view(3, 1, 1)
    return (x * weights).sum(-3, keepdim=True)


_RGB_TO_YIQ = torch.tensor([LUMA, [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
_YIQ_TO_RGB = torch.linalg.inv(_RGB_TO_YIQ)


def rgb_to_yiq(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB in [0, 1] -> YIQ (FCC/NTSC matrix; Y is BT.601 luminance in [0, 1], I and Q the chroma, about ±0.6 and ±0.52)."""
    return torch.einsum("ij,bjhw->bihw", _RGB_TO_YIQ.to(x), x)


def yiq_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) YIQ -> RGB, the exact inverse of :func:`rgb_to_yiq` (not clamped: out-of-gamut YIQ leaves [0, 1])."""
    return torch.einsum("ij,bjhw->bihw", _YIQ_TO_RGB.to(x), x)


def with_chroma(luma: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """RGB in [0, 1] from a luminance ``(B, 1, H, W)`` and the chroma (YIQ's I and Q) of ``content`` ``(B, 3, H, W)``."""
    return yiq_to_rgb(torch.cat([luma, rgb_to_yiq(content)[:, 1:]], dim=1)).clamp(0, 1)


def to_tensor(img: Image.Image) -> torch.Tensor:
    """PIL image -> float32 tensor (C, H, W) in [0, 1]; C is 1 for grey, 4 for "RGBA", else 3.

    Other modes (palette, CMYK, 16-bit, ...) are converted as :func:`open_image` does.
    """
    if img.mode not in ("RGB", "L", "RGBA"):
        img = open_image(img, mode="L" if img.mode in _GREY_MODES else "RGB")
    return to_uint8_tensor(img).to(torch.float32).div_(255.0)


def to_uint8_tensor(img: Image.Image) -> torch.Tensor:
    """PIL "L"/"RGB"/"RGBA" image -> contiguous uint8 tensor (C, H, W), C = 1, 3 or 4."""
    arr = np.asarray(img, dtype=np.uint8)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).contiguous()


def _as_chw(t: torch.Tensor, what: str = "image tensor") -> torch.Tensor:
    """Accept (C,H,W) or (1,C,H,W) with C in {1, 3, 4 (RGBA)}; return (C,H,W) float on CPU."""
    if not isinstance(t, torch.Tensor):
        raise UsageError(f"expected a tensor, not {type(t).__name__}")
    if t.dim() == 4 and t.shape[0] == 1:
        t = t[0]
    if t.dim() == 2:
        t = t.unsqueeze(0)
    if t.dim() != 3 or t.shape[0] not in (1, 3, 4):
        raise UsageError(
            f"{what} must have shape (C,H,W) or (1,C,H,W) with C=1, 3 or 4, "
            f"got {tuple(t.shape)}"
        )
    return t.detach().to("cpu", torch.float32)


def to_pil(t: torch.Tensor) -> Image.Image:
    """Tensor (C,H,W) or (1,C,H,W) in [0, 1] (clamped, NaN as 0, rounded to 8 bits), C=1, 3 or 4 -> PIL "L"/"RGB"/"RGBA".

    Raises:
        UsageError: not a tensor, or another shape.
    """
    t = _as_chw(t)
    arr = t.nan_to_num(0.0).clamp(0.0, 1.0).mul(255.0).round().to(torch.uint8)
    arr = arr.permute(1, 2, 0).contiguous().numpy()  # (H, W, C)
    if arr.shape[2] == 1:
        return Image.fromarray(arr[:, :, 0])
    return Image.fromarray(arr)


def _target_size(w: int, h: int, size: int | Sequence[int] | None, max_side: int | None) -> tuple[int, int]:
    """(width, height) after applying ``size`` then ``max_side``."""
    if size is not None:
        if isinstance(size, int) and not isinstance(size, bool):
            if size < 1:
                raise UsageError(f"image size must be a positive integer, got {size}")
            scale = size / max(w, h)
            w, h = max(1, round(w * scale)), max(1, round(h * scale))
        else:
            try:
                th, tw = (int(v) for v in size)
            except (TypeError, ValueError):
                raise UsageError(f"image size must be an int or (height, width), got {size!r}") from None
            if th < 1 or tw < 1:
                raise UsageError(f"image size must be positive, got {size!r}")
            w, h = tw, th
    if max_side is not None:
        if max_side < 1:
            raise UsageError(f"max_side must be a positive integer, got {max_side}")
        if max(w, h) > max_side:
            scale = max_side / max(w, h)
            w, h = max(1, round(w * scale)), max(1, round(h * scale))
    return w, h


def resize_tensor(x: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """Resize a batch ``(B, C, H, W)`` in [0, 1] to ``hw`` (bicubic, antialiased, clamped); unchanged if already that size."""
    if tuple(x.shape[-2:]) == tuple(hw):
        return x
    return F.interpolate(x, size=tuple(hw), mode="bicubic", align_corners=False, antialias=True).clamp_(0.0, 1.0)


def load_tensor(
    source: ImageSource | torch.Tensor,
    *,
    mode: str = "RGB",
    size: int | tuple[int, int] | None = None,
    max_side: int | None = None,
) -> torch.Tensor:
    """Load an image as a float tensor (C, H, W) in [0, 1].

    Args:
        source: a path, a PIL image, or a tensor ((C,H,W) or (1,C,H,W)).
        mode: "RGB" (C=3) or "L" (C=1).
        size: an int resizes the long side to ``size`` keeping the aspect ratio;
            an (H, W) tuple resizes to exactly that.  Lanczos (antialiased).
        max_side: afterwards, shrink so the long side is at most ``max_side``
            (never enlarges).

    Returns float32 on the CPU (a tensor source is resized bicubically instead).

    Raises:
        UsageError: ``mode`` is not "RGB" or "L"; a tensor source of another shape.
        ImageError: the file cannot be read (see :func:`open_image`).
    """
    if mode not in ("RGB", "L"):
        raise UsageError(f"image mode must be 'RGB' or 'L', not {mode!r}")
    if isinstance(source, torch.Tensor):
        t = _as_chw(source)
        if mode == "L" and t.shape[0] == 3:
            t = luminance(t)
        elif mode == "RGB" and t.shape[0] == 1:
            t = t.expand(3, -1, -1)
        h, w = t.shape[-2:]
        tw, th = _target_size(w, h, size, max_side)
        return resize_tensor(t[None], (th, tw))[0].contiguous()
    img = open_image(source, mode=mode)
    tw, th = _target_size(img.width, img.height, size, max_side)
    if (tw, th) != img.size:
        img = img.resize((tw, th), Image.Resampling.LANCZOS)
    return to_tensor(img)


def resize_crop(
    img: Image.Image,
    size: int,
    *,
    crop: str = "center",
    generator: torch.Generator | None = None,
) -> Image.Image:
    """Resize the shorter side to ``size`` (Lanczos), then crop a size x size square.

    ``crop`` is "center" or "random" (offsets drawn with ``generator``, or torch's
    global generator when it is None). Returns a ``size`` x ``size`` image in ``img``'s mode.

    Raises:
        UsageError: an unknown ``crop`` or ``size < 1``.
    """
    if crop not in ("center", "random"):
        raise UsageError(f"crop must be 'center' or 'random', not {crop!r}")
    if size < 1:
        raise UsageError(f"crop size must be a positive integer, got {size}")
    w, h = img.size
    scale = size / min(w, h)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    if (nw, nh) != (w, h):
        img = img.resize((nw, nh), Image.Resampling.LANCZOS)
    if crop == "center":
        left, top = (nw - size) // 2, (nh - size) // 2
    else:
        left = int(torch.randint(0, nw - size + 1, (1,), generator=generator))
        top = int(torch.randint(0, nh - size + 1, (1,), generator=generator))
    if (nw, nh) == (size, size):
        return img
    return img.crop((left, top, left + size, top + size))


# --------------------------------------------------------------------------- writing


def _suffix_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in WRITE_EXTENSIONS:
        choices = ", ".join(sorted(WRITE_EXTENSIONS))
        raise UsageError(
            f"cannot write '{path}': unknown image extension {suffix or '(none)'!r}; "
            f"use one of {choices}"
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
    return _one_line(exc.strerror or exc)


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
    return _one_line(text)


def _parameters_line(meta: Mapping[str, Any]) -> str:
    """One readable line, e.g. "artgen 0.1.0 stylize: steps=300, size=512, seed=0"."""
    head = f"artgen {meta.get('artgen_version', 'unknown')}"
    if meta.get("command") is not None:
        head += f" {_format_value(meta['command'])}"
    pairs = [
        f"{key}={_format_value(value)}"
        for key, value in meta.items()
        if key not in ("command", "artgen_version")
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
    return open_image(img, mode="L" if mode in _GREY_MODES else "RGB")


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
    if fmt == "JPEG":
        params.update(quality=95)
    elif fmt == "WEBP":
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
        raise _image_error(path, _reason(exc, path)) from None
    if raw is None:
        return {}
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", errors="replace")
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def on_checkerboard(x: torch.Tensor, square: int = 8) -> torch.Tensor:
    """Composite RGBA images ``(N, 4, H, W)`` or ``(4, H, W)`` in [0, 1] over a light-grey checkerboard of ``square`` px: RGB of the same shape with 3 channels.

    The usual way to show transparency; images with 1 or 3 channels are returned unchanged.
    """
    if x.shape[-3] != 4:
        return x
    h, w = x.shape[-2:]
    ys = torch.arange(h, device=x.device).view(h, 1) // square
    xs = torch.arange(w, device=x.device).view(1, w) // square
    board = torch.where((ys + xs) % 2 == 0, 0.8, 0.6).to(x.dtype)  # (H, W)
    rgb, alpha = x[..., :3, :, :], x[..., 3:, :, :]
    return rgb * alpha + board * (1 - alpha)


def make_grid(
    images: torch.Tensor | Sequence[torch.Tensor],
    nrow: int | None = None,
    padding: int = 2,
    pad_value: float = 1.0,
) -> torch.Tensor:
    """Tile images (N,C,H,W) in [0, 1] into one (C, H', W') image.

    ``nrow`` is the number of images per row (default ceil(sqrt(N))), as in
    torchvision; the channel count is kept (grey stays grey). ``padding`` pixels of
    ``pad_value`` surround every image: ``H' = rows * (H + padding) + padding``, likewise W'.
    Returns float32 on the CPU; a list of (C,H,W) or (1,C,H,W) tensors is stacked first.

    Raises:
        UsageError: no images, or not (N,C,H,W) / (C,H,W).
    """
    if not isinstance(images, torch.Tensor):
        images = torch.stack([_as_chw(t) for t in images])
    if images.dim() == 3:
        images = images.unsqueeze(0)
    if images.dim() != 4 or images.shape[0] == 0:
        raise UsageError(f"make_grid expects a non-empty (N,C,H,W) tensor, got {tuple(images.shape)}")
    images = images.detach().to("cpu", torch.float32)
    n, c, h, w = images.shape
    ncol = max(1, min(n, nrow if nrow is not None else math.ceil(math.sqrt(n))))
    nrows = math.ceil(n / ncol)
    grid = images.new_full(
        (c, nrows * (h + padding) + padding, ncol * (w + padding) + padding), float(pad_value)
    )
    for i in range(n):
        r, col = divmod(i, ncol)
        top, left = r * (h + padding) + padding, col * (w + padding) + padding
        grid[:, top : top + h, left : left + w] = images[i]
    return grid


#: Shortest GIF frame delay written (ms): browsers replace shorter delays (10 ms, 0) by
#: a slow default of about 100 ms, so 20 ms (50 frames/s) is the fastest that plays as asked.
GIF_MIN_DELAY_MS = 20


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
        pil_frames = [open_image(f, mode="RGB") if isinstance(f, Image.Image) else to_pil(f) for f in frames]
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
    paletted = [f.convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE, colors=256) for f in pil_frames]
    info: dict[str, Any] = {"duration": duration}  # also marks the file as GIF89a
    if loop is not None:
        info["loop"] = int(loop)
    if metadata is not None:
        info["comment"] = json.dumps(_with_version(metadata), sort_keys=True, default=str).encode()

    def write(fh: Any) -> None:
        # Frame by frame with Pillow's GIF helpers: Pillow's save_all merges
        # identical consecutive frames, which would change the frame count.
        header, _ = GifImagePlugin.getheader(paletted[0].copy(), None, info)
        for chunk in header:
            fh.write(chunk)
        for frame, delay in zip(paletted, delays):
            for chunk in GifImagePlugin.getdata(
                frame, (0, 0), duration=delay, disposal=1, include_color_table=True
            ):
                fh.write(chunk)
        fh.write(b";")

    return _atomic_write(path, overwrite, write)

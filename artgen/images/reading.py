"""Reading images: the one loader every artgen head uses, and tensor conversions.

Reading (:func:`open_image`, :func:`load_tensor`) copes with the files people
actually have in their art folders: EXIF-rotated phone photos, palette and
RGBA PNGs with transparency, CMYK JPEGs, 16-bit scans, float TIFFs and animated
GIFs all come back as plain 8-bit RGB (or grey) images.  Anything unreadable
(missing, empty, truncated, not an image, larger than Pillow's decompression-bomb
limit) raises :class:`~artgen.errors.ImageError` with a one-line message that
names the file.
"""

from __future__ import annotations

import io
import logging
import math
import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

from artgen.errors import ArtgenError, ImageError, UsageError
from artgen.images.colour import luminance

log = logging.getLogger("artgen.images")

#: Lower-case suffixes of files artgen reads as images.
IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}
)


def read_extensions() -> frozenset[str]:
    """Lower-case suffixes of every format this Pillow can open (``.jfif``, ``.jpe``, ``.tga``, ...) and :data:`IMAGE_EXTENSIONS`."""
    global _READ_EXTENSIONS
    if _READ_EXTENSIONS is None:
        Image.init()
        _READ_EXTENSIONS = IMAGE_EXTENSIONS | frozenset(
            e.lower() for e, fmt in Image.registered_extensions().items() if fmt in Image.OPEN
        )
    return _READ_EXTENSIONS


_READ_EXTENSIONS: frozenset[str] | None = None

#: PIL modes that hold one grey channel (converted to "L" when read).
GREY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})

PathLike = str | os.PathLike[str]
ImageSource = PathLike | Image.Image


# --------------------------------------------------------------------------- errors


def one_line(text: object) -> str:
    """Collapse an exception text to one line."""
    return " ".join(str(text).split())


def image_error(path: object, reason: str) -> ImageError:
    """An ImageError for ``path``; ``.path`` and ``.reason`` are kept for callers."""
    reason = one_line(reason)
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
        reason = f"too large ({one_line(exc)})"
    err = ImageError(f"image '{path}' is {reason}")
    err.path = path  # type: ignore[attr-defined]
    err.reason = reason  # type: ignore[attr-defined]
    return err


def error_reason(exc: BaseException, path: Path | None) -> str:
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
            from .kinds import holds_video

            if holds_video(path):
                return "it is a video, not a picture (write it to a video file such as out.mp4)"
        return "not a recognised image format (file is damaged or not an image)"
    text = one_line(exc) or type(exc).__name__
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
    has_alpha = src in ("RGBA", "LA", "PA", "La", "RGBa") or (src in ("P", "L", "RGB") and "transparency" in img.info)
    if mode == "RGBA":
        return img.convert("RGBA") if has_alpha else _normalise(img, "RGB").convert("RGBA")
    if src in ("I", "F") or src.startswith("I;16"):
        img = _wide_grey_to_l(img)
    elif has_alpha:
        img = _composite_on_white(img)
    elif src == "CMYK":
        img = _cmyk_to_rgb(img)
    elif src == "RGB" and mode == "RGB" or src == "L" and mode == "L":
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
        raise UsageError(f"expected an image path or PIL image, not {type(source).__name__}")
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
        raise image_error(path, f"not enough memory to decode it ({exc})") from None
    except Exception as exc:  # decoders raise many types for damaged files
        raise image_error(path, error_reason(exc, path)) from None


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


def to_tensor(img: Image.Image) -> torch.Tensor:
    """PIL image -> float32 tensor (C, H, W) in [0, 1]; C is 1 for grey, 4 for "RGBA", else 3.

    Other modes (palette, CMYK, 16-bit, ...) are converted as :func:`open_image` does.
    """
    if img.mode not in ("RGB", "L", "RGBA"):
        img = open_image(img, mode="L" if img.mode in GREY_MODES else "RGB")
    return to_uint8_tensor(img).to(torch.float32).div_(255.0)


def to_uint8_tensor(img: Image.Image) -> torch.Tensor:
    """PIL "L"/"RGB"/"RGBA" image -> contiguous uint8 tensor (C, H, W), C = 1, 3 or 4."""
    arr = np.asarray(img, dtype=np.uint8)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).contiguous()


def as_chw(t: torch.Tensor, what: str = "image tensor") -> torch.Tensor:
    """Accept (C,H,W) or (1,C,H,W) with C in {1, 3, 4 (RGBA)}; return (C,H,W) float on CPU."""
    if not isinstance(t, torch.Tensor):
        raise UsageError(f"expected a tensor, not {type(t).__name__}")
    if t.dim() == 4 and t.shape[0] == 1:
        t = t[0]
    if t.dim() == 2:
        t = t.unsqueeze(0)
    if t.dim() != 3 or t.shape[0] not in (1, 3, 4):
        raise UsageError(f"{what} must have shape (C,H,W) or (1,C,H,W) with C=1, 3 or 4, got {tuple(t.shape)}")
    return t.detach().to("cpu", torch.float32)


def to_pil(t: torch.Tensor) -> Image.Image:
    """Tensor (C,H,W) or (1,C,H,W) in [0, 1] (clamped, NaN as 0, rounded to 8 bits), C=1, 3 or 4 -> PIL "L"/"RGB"/"RGBA".

    Raises:
        UsageError: not a tensor, or another shape.
    """
    t = as_chw(t)
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


def resize_spectral(x: torch.Tensor, hw: tuple[int, int], *, periodic: bool = False) -> torch.Tensor:
    """Band-limited (Fourier) resampling of a batch ``(B, C, H, W)`` to ``hw``; float32, not clamped.

    Each axis is resampled by keeping the Fourier coefficients below both Nyquist
    frequencies, on the same pixel-centre grid as ``F.interpolate(align_corners=False)``
    (output sample ``i`` reads the input at ``(i + 0.5) * H / H' - 0.5``). ``periodic``:
    the picture tiles the plane (seamless), so the Fourier series is taken as is;
    otherwise the picture is mirrored first (half-sample symmetric, as a DCT), so its
    edges do not ring against each other. Unlike bilinear or bicubic enlargement, which
    weight neighbours differently at even and odd output pixels and leave a 2-pixel
    ripple in rough pictures, this is shift-invariant: used between the levels of
    texture synthesis's pyramid. Values may overshoot [0, 1] slightly near edges
    (Gibbs); callers clamp. Unchanged (as float32) if already that size.
    """
    x = x.float()
    for dim, n_out in ((2, int(hw[0])), (3, int(hw[1]))):
        n = x.shape[dim]
        if n == n_out:
            continue
        ext = x if periodic else torch.cat([x, x.flip(dim)], dim)
        length, length_out = (n, n_out) if periodic else (2 * n, 2 * n_out)
        spec = torch.fft.rfft(ext, dim=dim)
        keep = (min(length, length_out) + 1) // 2  # strictly below both Nyquist bins
        spec = spec.narrow(dim, 0, keep)
        shift = 0.5 * (n / n_out - 1.0)  # input pixels from the 0-aligned grid to the centre-aligned one
        shape = [1] * spec.dim()
        shape[dim] = keep
        phase = torch.exp(2j * math.pi * shift / length * torch.arange(keep, dtype=torch.float64)).to(spec.dtype)
        out = torch.fft.irfft(spec * phase.view(shape), n=length_out, dim=dim) * (length_out / length)
        x = out if periodic else out.narrow(dim, 0, n_out)
    return x.contiguous()


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
        t = as_chw(source)
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

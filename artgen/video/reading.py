"""Reading video: probing, decoding frames (PyAV, or Pillow for GIF) with their times and rotation."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from artgen.errors import UsageError, VideoError
from artgen.images.kinds import holds_video

log = logging.getLogger("artgen")

VIDEO_EXTENSIONS: frozenset[str] = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".gif"})
WRITE_VIDEO_EXTENSIONS: frozenset[str] = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm", ".gif"})


def require_av():
    """The ``av`` module (PyAV), or a UsageError saying how to install it."""
    try:
        import av
    except ImportError:
        raise UsageError("video needs PyAV, which is not installed: pip install 'artgen[video]'") from None
    return av


#: Suffixes of further containers PyAV reads (phone, camcorder and broadcast clips); a file is
#: still judged by its content (:func:`holds_video`), these only name files that do not exist yet.
OTHER_VIDEO_EXTENSIONS: frozenset[str] = frozenset(
    {".3gp", ".3g2", ".ts", ".mts", ".m2ts", ".mpg", ".mpeg", ".vob", ".flv", ".ogv", ".wmv", ".asf", ".mxf"}
)


def is_video_path(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a video (``.gif`` included): a suffix of :data:`VIDEO_EXTENSIONS`, else, for an
    existing file, what it holds (:func:`holds_video`: ``.3gp``, ``.ts``, ``.mts`` or any other name),
    else a suffix of :data:`OTHER_VIDEO_EXTENSIONS`."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in VIDEO_EXTENSIONS:
        return True
    try:
        if path.is_file():
            return holds_video(path)
    except OSError:
        pass
    return suffix in OTHER_VIDEO_EXTENSIONS


def one_line(exc: BaseException) -> str:
    """An exception as one line of at most 300 characters (its text with whitespace collapsed, or its type name)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]


# --- reading -------------------------------------------------------------------------------


@dataclass
class VideoInfo:
    """What the reader knows before decoding: sizes in pixels as stored (before rotation),
    ``fps`` (average, frames/s), ``frames`` (the count the file stores; None where it stores none,
    as in Matroska, WebM and MPEG-TS: never an estimate), ``duration`` (s: the video stream's own
    length, from its header or Matroska's per-track ``DURATION`` tag, never the container's, which
    includes the sound; None when unknown), ``rotation`` (degrees counter-clockwise to display
    upright; known after the first frame), ``audio`` (codec name or None), ``loop`` (GIF loop count;
    None = once). ``extra["end"]``: the video stream's end time in s, when its header says."""

    path: Path
    width: int
    height: int
    fps: float | None
    frames: int | None
    duration: float | None
    time_base: Fraction
    rotation: int = 0
    audio: str | None = None
    audio_index: int | None = None
    codec: str = ""
    pix_fmt: str = ""
    loop: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Frame:
    """One decoded frame: ``image`` (H, W, 3) uint8 RGB as stored (not rotated), ``pts`` in
    ``time_base`` units, ``duration`` in the same units (None when unknown). ``alpha``: (H, W)
    uint8 opacity of a frame with transparent pixels (a transparent GIF), whose ``image`` is then
    composited onto white as still pictures are; None for an opaque frame."""

    image: np.ndarray
    pts: int
    duration: int | None = None
    alpha: np.ndarray | None = None


class _AVReader:
    """Decode the first video stream with PyAV; errors midway end the stream, kept in ``error``."""

    def __init__(self, path: Path, size: tuple[int, int] | None = None):
        av = require_av()
        self.av = av
        self.path = path
        try:
            self.container = av.open(str(path))
        except (av.error.FFmpegError, OSError, UnicodeDecodeError, ValueError) as exc:
            raise VideoError(f"'{path}' is not a readable video ({one_line(exc)})") from None
        if not self.container.streams.video:
            self.container.close()
            raise VideoError(f"'{path}' has no video stream")
        vs = self.container.streams.video[0]
        vs.thread_type = "AUTO"
        self.stream = vs
        cc = vs.codec_context
        rate = vs.average_rate or vs.guessed_rate or vs.base_rate
        tb = vs.time_base or Fraction(1, 1000)
        duration, end = _video_timing(
            vs, tb
        )  # the video stream's own, never the container's (which includes the sound)
        audio = self.container.streams.audio[0] if self.container.streams.audio else None
        self.info = VideoInfo(
            path=path,
            width=cc.width,
            height=cc.height,
            fps=float(rate) if rate else None,
            frames=vs.frames or None,
            duration=duration,
            time_base=Fraction(tb),
            audio=audio.codec_context.name if audio is not None else None,
            audio_index=audio.index if audio is not None else None,
            codec=cc.name,
            pix_fmt=cc.pix_fmt or "",
            extra={"end": end},
        )
        if not cc.width or not cc.height:
            self.container.close()
            raise VideoError(f"'{path}' has a video stream without a frame size (unsupported or damaged)")
        self.size = size  # (width, height) to scale to, or None
        self.error: str | None = None
        self.undecodable = 0  # packets that failed to decode and were skipped

    def __iter__(self) -> Iterator[Frame]:
        av = self.av
        index = 0
        last_pts = None
        step = max(1, round(1 / (self.info.fps * self.info.time_base))) if self.info.fps else 1
        demux = self.container.demux(self.stream)
        try:
            while True:
                try:
                    packet = next(demux)
                except StopIteration:
                    break
                except av.error.FFmpegError as exc:
                    self.error = f"reading stopped after {index} frames: {one_line(exc)}"
                    break
                try:
                    frames = packet.decode()
                except av.error.FFmpegError as exc:
                    self.undecodable += 1
                    log.debug("skipped an undecodable packet in '%s': %s", self.path, exc)
                    continue
                for frame in frames:
                    if index == 0:
                        self.info.rotation = int(round(getattr(frame, "rotation", 0) or 0)) % 360
                        self.info.extra["first_pts"] = frame.pts
                    pts = frame.pts if frame.pts is not None else (last_pts + step if last_pts is not None else 0)
                    if last_pts is not None and pts <= last_pts:  # broken or missing timestamps
                        pts = last_pts + 1
                    last_pts = pts
                    if self.size is not None and (frame.width, frame.height) != self.size:
                        image = frame.to_ndarray(
                            format="rgb24", width=self.size[0], height=self.size[1], interpolation="AREA"
                        )
                    else:
                        image = frame.to_ndarray(format="rgb24")
                    dur = getattr(frame, "duration", None)
                    yield Frame(image, pts, dur or None)
                    index += 1
        finally:
            self.container.close()


def _video_timing(vs, tb: Fraction) -> tuple[float | None, float | None]:
    """(length in s, end time in s) of the video stream ``vs`` from its own header: the stream's
    duration, or the per-track ``DURATION`` tag Matroska and WebM files carry; (None, None) when
    the stream states neither (the container's duration is not used: it covers the sound too)."""
    if vs.duration:
        start = float(vs.start_time * tb) if vs.start_time is not None else 0.0
        length = float(vs.duration * tb)
        return length, start + length
    tag = next((v for k, v in (vs.metadata or {}).items() if k.upper() == "DURATION"), None)
    if tag:
        try:
            h, m, sec = str(tag).strip().split(":")
            end = int(h) * 3600 + int(m) * 60 + float(sec)
        except ValueError:
            return None, None
        start = float(vs.start_time * tb) if vs.start_time is not None else 0.0
        return max(0.0, end - start), end
    return None, None


class _GifReader:
    """Animated (or still) GIFs through Pillow: per-frame delays in ms and the loop count."""

    def __init__(self, path: Path, size: tuple[int, int] | None = None):
        from PIL import Image, UnidentifiedImageError

        self.path = path
        try:
            self.image = Image.open(path)
            self.image.load()
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
            raise VideoError(f"'{path}' is not a readable GIF ({one_line(exc)})") from None
        n = getattr(self.image, "n_frames", 1)
        durations = []
        for i in range(n):
            try:
                self.image.seek(i)
                durations.append(int(self.image.info.get("duration") or 100))
            except (EOFError, OSError):
                n = i
                break
        self.durations = durations
        total = sum(durations)
        self.info = VideoInfo(
            path=path,
            width=self.image.width,
            height=self.image.height,
            fps=(1000.0 * n / total) if total else None,
            frames=n,
            duration=total / 1000.0,
            time_base=Fraction(1, 1000),
            codec="gif",
            pix_fmt="pal8",
            loop=self.image.info.get("loop"),
        )
        self.size = size
        self.error: str | None = None
        self.undecodable = 0

    def __iter__(self) -> Iterator[Frame]:
        from PIL import Image

        pts = 0
        for i, dur in enumerate(self.durations):
            try:
                self.image.seek(i)
                rgba = self.image.convert(
                    "RGBA"
                )  # the transparent palette index becomes alpha 0, not its hidden colour
            except (OSError, EOFError, ValueError) as exc:
                self.error = f"reading stopped after {i} frames: {one_line(exc)}"
                return
            alpha = rgba.getchannel("A")
            if alpha.getextrema()[0] < 255:  # composite onto white, as still pictures with transparency are
                rgb = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB")
            else:
                rgb, alpha = rgba.convert("RGB"), None
            if self.size is not None and rgb.size != self.size:
                rgb = rgb.resize(self.size, Image.Resampling.LANCZOS)
                alpha = alpha.resize(self.size, Image.Resampling.LANCZOS) if alpha is not None else None
            yield Frame(
                np.asarray(rgb, dtype=np.uint8).copy(),
                pts,
                dur,
                None if alpha is None else np.asarray(alpha, dtype=np.uint8).copy(),
            )
            pts += dur


def open_video(path: str | os.PathLike, size: tuple[int, int] | None = None):
    """A frame reader for ``path`` with ``.info`` (:class:`VideoInfo`); iterate it for
    :class:`Frame` objects (scaled to ``size`` = (width, height) when given).

    Raises:
        UsageError: the file does not exist, or PyAV is missing for a non-GIF file.
        VideoError: not a video, no video stream, or no frame size.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise UsageError(f"input '{path}' does not exist")
    if path.is_dir():
        raise UsageError(f"input '{path}' is a folder, not a video")
    if path.suffix.lower() == ".gif" or _is_gif(path):
        return _GifReader(path, size)
    return _AVReader(path, size)


def _is_gif(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(6) in (b"GIF87a", b"GIF89a")
    except OSError:
        return False


def probe(path: str | os.PathLike) -> VideoInfo:
    """:class:`VideoInfo` of a video, rotation included (decodes the first frame); errors as :func:`open_video`."""
    reader = open_video(path)
    for _ in reader:
        break
    if isinstance(reader, _AVReader):
        reader.container.close()
    return reader.info


# --- writing -------------------------------------------------------------------------------


# --- the temporal filter -------------------------------------------------------------------


# --- the pipeline -----------------------------------------------------------------------------

"""Video in and out for fast style transfer: decode, stylise frame by frame, encode, keep the sound.

Containers (by suffix): ``.mp4 .m4v .mov .mkv .webm`` (and ``.avi`` in) through PyAV,
which ships its own FFmpeg in its wheel (``pip install 'artgen[video]'``), and animated
``.gif`` through Pillow (no extra needed for GIF to GIF). In a notebook::

    model = artgen.FastStyle.load("runs/starry")
    model.stylize_video("clip.mp4", "clip_starry.mp4", max_size=720, temporal_filter=0.5)

What is kept: every frame's presentation time (so the frame rate, variable frame rates
and the duration), the frame count, the rotation (display matrix) of phone clips, the
audio track (packets copied unchanged when the output container can hold its codec,
otherwise re-encoded to the container's default: AAC for .mp4/.mov/.mkv, Opus for
.webm; a .gif has no sound and says so) and a GIF's per-frame delays and loop count.
Video is written as H.264 (yuv420p, CRF 18) in .mp4/.mov/.mkv and VP9 in .webm; H.264
needs even sides, so an odd width or height is scaled to one pixel less (33x25 -> 32x24).

Decoding (a thread), stylising (the caller's thread) and encoding (a thread) overlap,
with a few frames queued between them. The output goes to a temporary file next to the
final name and is moved there only when complete: Ctrl-C leaves no half-written file.

Bad input: a file that is not a video or has no video stream raises
:class:`~artgen.errors.VideoError` with one line naming it; a stream that breaks midway
is stylised up to the break and the result says how many frames were lost and why.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import queue
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .errors import ArgumentError, ArtgenError, UsageError, VideoError
from .fileio import atomic_path

log = logging.getLogger("artgen")

VIDEO_EXTENSIONS: frozenset[str] = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".gif"})
WRITE_VIDEO_EXTENSIONS: frozenset[str] = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm", ".gif"})
_VIDEO_CODEC = {".webm": "libvpx-vp9"}  # everything else: libx264
_VIDEO_OPTIONS = {
    "libx264": {"crf": "18", "preset": "veryfast"},
    "libvpx-vp9": {"crf": "32", "b": "0", "deadline": "realtime", "cpu-used": "8", "row-mt": "1"},
}
_QUEUE = 6  # frames waiting between decoder, network and encoder


def require_av():
    """The ``av`` module (PyAV), or a UsageError saying how to install it."""
    try:
        import av
    except ImportError:
        raise UsageError("video needs PyAV, which is not installed: pip install 'artgen[video]'") from None
    return av


def is_video_path(path: str | os.PathLike) -> bool:
    """Whether the suffix names a video container artgen reads (``.gif`` included)."""
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]


# --- reading -------------------------------------------------------------------------------


@dataclass
class VideoInfo:
    """What the reader knows before decoding: sizes in pixels as stored (before rotation),
    ``fps`` (average, frames/s), ``frames`` and ``duration`` (s) from the container (None when
    it does not say), ``rotation`` (degrees counter-clockwise to display upright; known after
    the first frame), ``audio`` (codec name or None), ``loop`` (GIF loop count; None = once)."""

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
    ``time_base`` units, ``duration`` in the same units (None when unknown)."""

    image: np.ndarray
    pts: int
    duration: int | None = None


class _AVReader:
    """Decode the first video stream with PyAV; errors midway end the stream, kept in ``error``."""

    def __init__(self, path: Path, size: tuple[int, int] | None = None):
        av = require_av()
        self.av = av
        self.path = path
        try:
            self.container = av.open(str(path))
        except (av.error.FFmpegError, OSError, UnicodeDecodeError, ValueError) as exc:
            raise VideoError(f"'{path}' is not a readable video ({_one_line(exc)})") from None
        if not self.container.streams.video:
            self.container.close()
            raise VideoError(f"'{path}' has no video stream")
        vs = self.container.streams.video[0]
        vs.thread_type = "AUTO"
        self.stream = vs
        cc = vs.codec_context
        rate = vs.average_rate or vs.guessed_rate or vs.base_rate
        tb = vs.time_base or Fraction(1, 1000)
        duration = float(vs.duration * tb) if vs.duration else (self.container.duration / 1e6 if self.container.duration else None)
        audio = self.container.streams.audio[0] if self.container.streams.audio else None
        self.info = VideoInfo(
            path=path,
            width=cc.width,
            height=cc.height,
            fps=float(rate) if rate else None,
            frames=vs.frames or (round(duration * float(rate)) if duration and rate else None),
            duration=duration,
            time_base=Fraction(tb),
            audio=audio.codec_context.name if audio is not None else None,
            audio_index=audio.index if audio is not None else None,
            codec=cc.name,
            pix_fmt=cc.pix_fmt or "",
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
                    self.error = f"reading stopped after {index} frames: {_one_line(exc)}"
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
                        image = frame.to_ndarray(format="rgb24", width=self.size[0], height=self.size[1], interpolation="AREA")
                    else:
                        image = frame.to_ndarray(format="rgb24")
                    dur = getattr(frame, "duration", None)
                    yield Frame(image, pts, dur or None)
                    index += 1
        finally:
            self.container.close()


class _GifReader:
    """Animated (or still) GIFs through Pillow: per-frame delays in ms and the loop count."""

    def __init__(self, path: Path, size: tuple[int, int] | None = None):
        from PIL import Image, UnidentifiedImageError

        self.path = path
        try:
            self.image = Image.open(path)
            self.image.load()
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
            raise VideoError(f"'{path}' is not a readable GIF ({_one_line(exc)})") from None
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
                rgb = self.image.convert("RGB")
            except (OSError, EOFError, ValueError) as exc:
                self.error = f"reading stopped after {i} frames: {_one_line(exc)}"
                return
            if self.size is not None and rgb.size != self.size:
                rgb = rgb.resize(self.size, Image.Resampling.LANCZOS)
            yield Frame(np.asarray(rgb, dtype=np.uint8).copy(), pts, dur)
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
    if path.suffix.lower() == ".gif":
        return _GifReader(path, size)
    return _AVReader(path, size)


def probe(path: str | os.PathLike) -> VideoInfo:
    """:class:`VideoInfo` of a video, rotation included (decodes the first frame); errors as :func:`open_video`."""
    reader = open_video(path)
    for _ in reader:
        break
    if isinstance(reader, _AVReader):
        reader.container.close()
    return reader.info


# --- writing -------------------------------------------------------------------------------


class _AVWriter:
    """Encode RGB frames with PyAV into ``path``; copy (or re-encode) the source's audio."""

    def __init__(self, path: Path, suffix: str, info: VideoInfo, width: int, height: int, rotation: int, *, audio_until: float | None = None):
        av = require_av()
        self.av = av
        self.container = av.open(str(path), mode="w", format={".m4v": "mp4", ".mkv": "matroska"}.get(suffix, suffix.lstrip(".")))
        codec = _VIDEO_CODEC.get(suffix, "libx264")
        rate = Fraction(info.fps).limit_denominator(1001) if info.fps else Fraction(25)
        vs = self.container.add_stream(codec, rate=rate, options=dict(_VIDEO_OPTIONS.get(codec, {})))
        vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
        vs.time_base = info.time_base
        vs.codec_context.time_base = info.time_base
        vs.codec_context.framerate = rate
        vs.thread_type = "AUTO"
        if rotation:
            vs.set_display_rotation(rotation)
        self.stream = vs
        self.time_base = info.time_base
        self.audio_note = "none (the input has no sound)"
        self.audio_in = None
        self._audio_packets: Iterator | None = None
        self._pending_audio = None
        self.audio_until = audio_until
        if info.audio is not None and info.audio_index is not None:
            self._open_audio(info, suffix)

    def _open_audio(self, info: VideoInfo, suffix: str) -> None:
        av = self.av
        self.audio_in = av.open(str(info.path))
        ain = self.audio_in.streams.audio[0]
        self.audio_src = ain
        if ain.codec_context.name in self.container.supported_codecs:
            self.audio_out = self.container.add_stream_from_template(ain)
            self.transcode = False
            self.audio_note = f"{ain.codec_context.name} (copied)"
        else:
            codec = "libopus" if suffix == ".webm" else "aac"
            rate = 48000 if codec == "libopus" else (ain.codec_context.sample_rate or 48000)
            self.audio_out = self.container.add_stream(codec, rate=rate)
            self.audio_out.layout = ain.codec_context.layout.name if ain.codec_context.layout else "stereo"
            self.transcode = True
            self.audio_note = f"{ain.codec_context.name} re-encoded to {codec} ({suffix} cannot hold {ain.codec_context.name})"
        self._audio_packets = self.audio_in.demux(ain)

    def _mux_audio_until(self, t: float | None) -> None:
        """Mux the source's audio packets that start before ``t`` seconds (all when None)."""
        if self._audio_packets is None:
            return
        while True:
            packet = self._pending_audio
            if packet is None:
                try:
                    packet = next(self._audio_packets)
                except (StopIteration, self.av.error.FFmpegError):
                    self._finish_audio()
                    return
            if packet.dts is None and packet.pts is None:  # the demuxer's flush packet
                self._pending_audio = None
                continue
            start = float((packet.pts if packet.pts is not None else packet.dts) * packet.time_base)
            if self.audio_until is not None and start >= self.audio_until:
                self._finish_audio()
                return
            if t is not None and start > t:
                self._pending_audio = packet
                return
            self._pending_audio = None
            if self.transcode:
                try:
                    frames = packet.decode()
                except self.av.error.FFmpegError:
                    continue
                for frame in frames:
                    frame.pts = None
                    for out in self.audio_out.encode(frame):
                        self.container.mux(out)
            else:
                packet.stream = self.audio_out
                self.container.mux(packet)

    def _finish_audio(self) -> None:
        if self._audio_packets is None:
            return
        self._audio_packets = None
        if self.transcode:
            for out in self.audio_out.encode(None):
                self.container.mux(out)
        self.audio_in.close()

    def write(self, image: np.ndarray, pts: int, duration: int | None) -> None:
        frame = self.av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts = pts
        frame.time_base = self.time_base
        for packet in self.stream.encode(frame):
            self._mux_video(packet)

    def _mux_video(self, packet) -> None:
        if packet.dts is not None:
            self._mux_audio_until(float(packet.dts * packet.time_base) + 0.5)
        self.container.mux(packet)

    def close(self, ok: bool = True) -> None:
        try:
            if ok:
                for packet in self.stream.encode(None):
                    self._mux_video(packet)
                self._mux_audio_until(None)
        finally:
            if self.audio_in is not None and self._audio_packets is not None:
                self.audio_in.close()
            self.container.close()


class _GifWriter:
    """Collect frames and their delays; write one animated GIF (Pillow) on close."""

    def __init__(self, path: Path, info: VideoInfo, rotation: int, metadata: dict | None):
        self.path = path
        self.info = info
        self.rotation = rotation
        self.metadata = metadata
        self.frames: list = []
        self.times: list[float] = []  # start of each frame, seconds
        self.end: float | None = None
        self.audio_note = "none (the input has no sound)" if info.audio is None else f"dropped ({info.audio}; a GIF has no sound)"

    def write(self, image: np.ndarray, pts: int, duration: int | None) -> None:
        from PIL import Image

        if self.rotation:
            image = np.ascontiguousarray(np.rot90(image, k=self.rotation // 90))
        self.frames.append(Image.fromarray(image))
        t = float(pts * self.info.time_base)
        self.times.append(t)
        if duration:
            self.end = t + float(duration * self.info.time_base)

    def close(self, ok: bool = True) -> None:
        from .images import save_gif

        if not ok or not self.frames:
            return
        step = (1.0 / self.info.fps) if self.info.fps else 0.1
        end = self.end if self.end is not None and self.end > self.times[-1] else self.times[-1] + step
        start = self.times[0]
        marks = [round((t - start) * 100) for t in self.times] + [round((end - start) * 100)]  # 1/100 s, cumulative
        delays = [max(2, b - a) * 10 for a, b in zip(marks, marks[1:])]
        loop = self.info.loop if self.info.codec == "gif" else 0
        save_gif(self.frames, self.path, durations=delays, loop=loop, overwrite=True, metadata=self.metadata)


# --- the temporal filter -------------------------------------------------------------------


def _global_shift(prev: torch.Tensor, cur: torch.Tensor, work_size: int = 256) -> tuple[float, float]:
    """(dy, dx) in pixels such that ``cur ≈ prev`` shifted by (dy, dx): phase correlation
    (Kuglin & Hines 1975) of the luminance of two (3, H, W) frames, computed on at most
    ``work_size`` px with a parabolic sub-pixel fit of the peak."""
    h, w = cur.shape[-2:]
    scale = max(1, math.ceil(max(h, w) / work_size))
    a = prev.mean(0, keepdim=True)[None]
    b = cur.mean(0, keepdim=True)[None]
    if scale > 1:
        a, b = F.avg_pool2d(a, scale, ceil_mode=True), F.avg_pool2d(b, scale, ceil_mode=True)
    a, b = a[0, 0] - a.mean(), b[0, 0] - b.mean()
    hh, ww = a.shape
    win = torch.outer(torch.hann_window(hh, periodic=False), torch.hann_window(ww, periodic=False)) if min(hh, ww) > 4 else 1.0
    fa, fb = torch.fft.rfft2(a * win), torch.fft.rfft2(b * win)
    cross = fb * fa.conj()
    corr = torch.fft.irfft2(cross / cross.abs().clamp_min(1e-9), s=(hh, ww))
    py, px = divmod(int(corr.argmax()), ww)

    def refine(c_minus: float, c0: float, c_plus: float) -> float:
        denom = c_minus - 2 * c0 + c_plus
        return 0.0 if denom >= 0 else max(-0.5, min(0.5, 0.5 * (c_minus - c_plus) / denom))

    fy = py + refine(float(corr[(py - 1) % hh, px]), float(corr[py, px]), float(corr[(py + 1) % hh, px]))
    fx = px + refine(float(corr[py, (px - 1) % ww]), float(corr[py, px]), float(corr[py, (px + 1) % ww]))
    dy = fy - hh if fy > hh / 2 else fy
    dx = fx - ww if fx > ww / 2 else fx
    return dy * scale, dx * scale


def _shift(x: torch.Tensor, dy: float, dx: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``x`` (C, H, W) moved by whole pixels (dy, dx), and a (1, H, W) mask of valid pixels."""
    dy, dx = int(round(dy)), int(round(dx))
    c, h, w = x.shape
    out = torch.zeros_like(x)
    mask = torch.zeros(1, h, w, dtype=x.dtype, device=x.device)
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    if abs(dy) < h and abs(dx) < w:
        out[:, yd, xd] = x[:, ys, xs]
        mask[:, yd, xd] = 1
    return out, mask


class TemporalFilter:
    """A light motion-compensated recursive filter for stylised frames (no optical-flow network).

    For each frame, the global translation from the previous input frame is found by phase
    correlation; the previous *output* is moved by it and blended into the new stylised
    frame where the (moved) previous input matches the new one::

        w = strength * exp(-(|blur(x_t) - blur(shift(x_{t-1}))| / sigma)^2)   per pixel
        y_t = (1 - w) * s_t + w * shift(y_{t-1})

    where ``s_t`` is the network's output. Static backgrounds and panning shots are
    smoothed over time; moving objects and cuts (large differences) take the new frame.
    ``strength`` in [0, 1) (0 = off); ``sigma`` in [0, 1] RGB units. Frames are (3, H, W) float
    in [0, 1] on any device. Recursive filtering of this kind is the "blind" temporal
    smoothing of Lai et al. 2018 without their learned network; the blend mask is the
    usual photometric occlusion test.

    After each call, ``last_shift`` holds the (dy, dx) in pixels found between the
    previous and the current input frame (``None`` for a first frame, after a size
    change, or with ``strength`` 0).

    Raises:
        ArgumentError: ``strength`` outside [0, 1) (named ``temporal_filter``).
    """

    def __init__(self, strength: float = 0.5, sigma: float = 0.08):
        if not (0.0 <= strength < 1.0):
            raise ArgumentError("temporal_filter", f"must be in [0, 1), got {strength}")
        self.strength = float(strength)
        self.sigma = float(sigma)
        self.prev_in: torch.Tensor | None = None
        self.prev_out: torch.Tensor | None = None
        self.last_shift: tuple[float, float] | None = None

    def __call__(self, content: torch.Tensor, styled: torch.Tensor) -> torch.Tensor:
        """Filter one frame: ``content`` (the input frame) and ``styled`` (its stylisation), both
        (3, H, W) in [0, 1]; returns the float32 (3, H, W) output in [0, 1]."""
        if self.strength <= 0:
            return styled
        content, styled = content.float(), styled.float()
        if self.prev_in is None or self.prev_in.shape != content.shape:
            out = styled
            self.last_shift = None
        else:
            dy, dx = _global_shift(self.prev_in, content)
            self.last_shift = (dy, dx)
            moved_in, mask = _shift(self.prev_in, dy, dx)
            moved_out, _ = _shift(self.prev_out, dy, dx)
            blur = lambda t: F.avg_pool2d(t[None], 3, 1, 1, count_include_pad=False)[0]  # noqa: E731
            diff = (blur(content) - blur(moved_in)).abs().mean(0, keepdim=True)
            w = self.strength * torch.exp(-(diff / self.sigma).pow(2)) * mask
            out = torch.lerp(styled, moved_out, w)
        self.prev_in, self.prev_out = content, out
        return out


# --- the pipeline -----------------------------------------------------------------------------


def _fit(width: int, height: int, max_size: int | None, even: bool) -> tuple[int, int]:
    w, h = width, height
    if max_size and max(w, h) > max_size:
        s = max_size / max(w, h)
        w, h = max(1, round(w * s)), max(1, round(h * s))
    if even:
        w, h = max(2, w - w % 2), max(2, h - h % 2)
    return w, h


def check_video_output(path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Check, before any work, that a video can be written to ``path`` (suffix, existing file, folder).

    Creates the parent folder; returns the expanded path.

    Raises:
        UsageError: a suffix not in :data:`WRITE_VIDEO_EXTENSIONS`, a folder, or an existing
            file without ``overwrite``.
        ArtgenError: the parent folder cannot be created.
    """
    path = Path(path).expanduser()
    suffix = path.suffix.lower()
    if suffix not in WRITE_VIDEO_EXTENSIONS:
        raise UsageError(f"cannot write video '{path}': use one of {', '.join(sorted(WRITE_VIDEO_EXTENSIONS))}")
    if path.is_dir():
        raise UsageError(f"output '{path}' is a folder; give a file name such as '{path / 'out.mp4'}'")
    if path.exists() and not overwrite:
        raise UsageError(f"output '{path}' exists; pass {{arg:overwrite=True}} to replace it")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ArtgenError(f"cannot create folder '{path.parent}': {exc.strerror or exc}") from None
    return path


_DONE = object()


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """In the main thread, turn SIGTERM into KeyboardInterrupt so the temporary file is removed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def stylize_video(
    model,
    src: str | os.PathLike,
    dst: str | os.PathLike,
    *,
    max_size: int | None = None,
    strength: float = 1.0,
    preserve_colors: bool = False,
    temporal_filter: float = 0.0,
    overwrite: bool = False,
    progress: bool | None = None,
    metadata: dict | None = None,
) -> dict[str, Any]:
    """Stylise every frame of ``src`` with ``model`` (a :class:`~artgen.heads.fast_style.FastStyle`)
    into ``dst``; see the module doc for what is kept. ``max_size`` caps the long side (pixels),
    ``strength`` in [0, 1] blends towards the input, ``temporal_filter`` in [0, 1) turns on
    :class:`TemporalFilter`.

    Returns ``{"output", "frames", "expected_frames", "fps", "duration", "size", "rotation",
    "audio", "seconds", "frames_per_second", "error", "undecodable_packets"}``.

    Raises:
        UsageError: bad path/suffix/flag, PyAV missing, ``dst`` is ``src``, or ``dst`` exists
            without ``overwrite``.
        ArgumentError: ``strength`` outside [0, 1], ``max_size`` below 16, or
            ``temporal_filter`` outside [0, 1).
        VideoError: ``src`` is not a video, has no video stream, or no frame decodes.
    """
    from tqdm.auto import tqdm

    from .heads.fast_style import check_strength
    from .train import show_progress

    strength = check_strength(strength)
    if max_size is not None and max_size < 16:
        raise ArgumentError("max_size", f"must be at least 16 for video, got {max_size}")
    filt = TemporalFilter(temporal_filter) if temporal_filter else None
    src, dst = Path(src).expanduser(), Path(dst).expanduser()
    suffix = dst.suffix.lower()
    if not src.exists():
        raise UsageError(f"input '{src}' does not exist")
    dst = check_video_output(dst, overwrite=overwrite)
    if src.resolve() == dst.resolve():
        raise UsageError(f"output '{dst}' is the input; write to another file")
    if suffix != ".gif":
        require_av()
    reader = open_video(src)
    info = reader.info
    size = _fit(info.width, info.height, max_size, even=suffix != ".gif")
    if suffix != ".gif" and (info.width % 2 or info.height % 2) and not (max_size and max(info.width, info.height) > max_size):
        log.info("'%s' is %dx%d; the video is written at %dx%d (H.264/VP9 need even sides)", src, info.width, info.height, *size)
    reader.size = size if size != (info.width, info.height) else None

    stop = threading.Event()
    decoded: queue.Queue = queue.Queue(maxsize=_QUEUE)
    styled: queue.Queue = queue.Queue(maxsize=_QUEUE)
    failures: list[BaseException] = []

    def put(q: queue.Queue, item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def decode() -> None:
        try:
            for frame in reader:
                if not put(decoded, frame):
                    return
        except ArtgenError as exc:
            failures.append(exc)
        except Exception as exc:  # reported by the main thread, as one line
            failures.append(VideoError(f"decoding '{src}' failed: {_one_line(exc)}"))
        except BaseException as exc:
            failures.append(exc)
        finally:
            put(decoded, _DONE)

    writer_box: dict[str, Any] = {}

    def encode(tmp: Path) -> None:
        writer = None
        ok = False
        try:
            while True:
                try:
                    item = styled.get(timeout=0.1)
                except queue.Empty:
                    if stop.is_set():
                        return
                    continue
                if item is _DONE:
                    ok = True
                    if isinstance(writer, _AVWriter) and writer_box.get("audio_until") is not None:
                        writer.audio_until = writer_box["audio_until"]
                    return
                image, frame = item
                if writer is None:
                    rotation = info.rotation
                    if suffix == ".gif":
                        writer = _GifWriter(tmp, info, rotation, metadata)
                    else:
                        writer = _AVWriter(tmp, suffix, info, image.shape[1], image.shape[0], rotation)
                    writer_box["writer"] = writer
                writer.write(image, frame.pts, frame.duration)
        except ArtgenError as exc:
            failures.append(exc)
            stop.set()
        except Exception as exc:
            failures.append(ArtgenError(f"writing '{dst}' failed: {_one_line(exc)}"))
            stop.set()
        except BaseException as exc:
            failures.append(exc)
            stop.set()
        finally:
            if writer is not None:
                try:
                    writer.close(ok and not failures)
                except BaseException as exc:
                    failures.append(exc)

    count = 0
    last: Frame | None = None
    t0 = time.perf_counter()
    enabled = show_progress(progress)
    with _sigterm_as_interrupt(), atomic_path(dst) as tmp:
        reader_thread = threading.Thread(target=decode, name="artgen-video-decode", daemon=True)
        writer_thread = threading.Thread(target=encode, args=(tmp,), name="artgen-video-encode", daemon=True)
        reader_thread.start()
        writer_thread.start()
        try:
            with tqdm(total=info.frames, desc=f"fast-style {src.name}", unit="frame", disable=not enabled, dynamic_ncols=True) as bar:
                while True:
                    try:
                        frame = decoded.get(timeout=0.1)
                    except queue.Empty:
                        if failures:
                            break
                        continue
                    if frame is _DONE:
                        break
                    x = torch.from_numpy(frame.image).permute(2, 0, 1).unsqueeze(0).float().div_(255)  # (1, 3, H, W)
                    y = model.stylize_tensor(x, strength=strength, preserve_colors=preserve_colors)[0]
                    if filt is not None:
                        y = filt(x[0].to(y.device), y)
                    image = y.clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()  # (H, W, 3)
                    if not put(styled, (np.ascontiguousarray(image), frame)):
                        break
                    count += 1
                    last = frame
                    bar.update(1)
            if failures:
                raise failures[0]
            if count == 0:
                raise VideoError(f"no frame of '{src}' could be decoded" + (f" ({reader.error})" if reader.error else ""))
            if reader.error is None and info.frames and count < info.frames - max(1, info.frames // 50):
                reader.error = f"the video ends after {count} of the {info.frames} frames its header announces (truncated?)"
            if reader.error is not None and last is not None:  # cut the sound where the picture stops
                step = last.duration or (round(1 / (info.fps * info.time_base)) if info.fps else 0)
                writer_box["audio_until"] = float((last.pts + step) * info.time_base)
            put(styled, _DONE)
            writer_thread.join()
            if failures:
                raise failures[0]
        except BaseException:
            stop.set()
            writer_thread.join(timeout=10)
            raise
        finally:
            stop.set()
            reader_thread.join(timeout=10)
    seconds = time.perf_counter() - t0
    writer = writer_box.get("writer")
    error = reader.error
    if reader.undecodable:
        error = (error + "; " if error else "") + f"{reader.undecodable} damaged packet(s) skipped"
    if error:
        log.warning("'%s': %s; stylised the %d frames that decoded", src, error, count)
    return {
        "output": dst,
        "frames": count,
        "expected_frames": info.frames,
        "fps": info.fps,
        "duration": info.duration,
        "size": size,
        "rotation": info.rotation,
        "audio": writer.audio_note if writer is not None else None,
        "seconds": seconds,
        "frames_per_second": count / seconds if seconds > 0 else float("nan"),
        "error": error,
        "undecodable_packets": reader.undecodable,
    }

"""Writing video: H.264/VP9 through PyAV with the audio copied, or GIF through Pillow; checking the output name first."""

from __future__ import annotations

import os
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np

from artgen.errors import ArtgenError, UsageError
from artgen.video.reading import WRITE_VIDEO_EXTENSIONS, VideoInfo, require_av

_VIDEO_CODEC = {".webm": "libvpx-vp9"}  # everything else: libx264


_VIDEO_OPTIONS = {
    "libx264": {"crf": "18", "preset": "veryfast"},
    "libvpx-vp9": {"crf": "32", "b": "0", "deadline": "realtime", "cpu-used": "8", "row-mt": "1"},
}


class AVWriter:
    """Encode RGB frames with PyAV into ``path``; copy (or re-encode) the source's audio."""

    def __init__(
        self,
        path: Path,
        suffix: str,
        info: VideoInfo,
        width: int,
        height: int,
        rotation: int,
        *,
        audio_until: float | None = None,
    ):
        av = require_av()
        self.av = av
        self.container = av.open(
            str(path), mode="w", format={".m4v": "mp4", ".mkv": "matroska"}.get(suffix, suffix.lstrip("."))
        )
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
            self.audio_note = (
                f"{ain.codec_context.name} re-encoded to {codec} ({suffix} cannot hold {ain.codec_context.name})"
            )
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

    def write(self, image: np.ndarray, pts: int, duration: int | None, alpha: np.ndarray | None = None) -> None:
        """Add one frame: ``image`` (H, W, 3) uint8 RGB, ``pts`` its presentation time in the input's time base, ``duration`` in the same units (or None).
        ``alpha`` is ignored: H.264 and VP9 as written here are opaque, and ``image`` is already composited onto white."""
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
        """Finish the file (``ok``: flush the encoder and the remaining audio; else just release it)."""
        try:
            if ok:
                for packet in self.stream.encode(None):
                    self._mux_video(packet)
                self._mux_audio_until(None)
        finally:
            if self.audio_in is not None and self._audio_packets is not None:
                self.audio_in.close()
            self.container.close()


class GifWriter:
    """Collect frames and their delays; write one animated GIF (Pillow) on close."""

    def __init__(self, path: Path, info: VideoInfo, rotation: int, metadata: dict | None):
        self.path = path
        self.info = info
        self.rotation = rotation
        self.metadata = metadata
        self.frames: list = []
        self.times: list[float] = []  # start of each frame, seconds
        self.end: float | None = None
        self.audio_note = (
            "none (the input has no sound)" if info.audio is None else f"dropped ({info.audio}; a GIF has no sound)"
        )

    def write(self, image: np.ndarray, pts: int, duration: int | None, alpha: np.ndarray | None = None) -> None:
        """Add one frame: ``image`` (H, W, 3) uint8 RGB, ``pts`` its presentation time in the input's time base, ``duration`` in the same units (or None),
        ``alpha`` (H, W) uint8 opacity of a transparent source frame (kept: GIF has on/off transparency) or None."""
        from PIL import Image

        if alpha is not None:
            image = np.dstack([image, alpha])  # (H, W, 4)
        if self.rotation:
            image = np.ascontiguousarray(np.rot90(image, k=self.rotation // 90))
        self.frames.append(Image.fromarray(np.ascontiguousarray(image)))
        t = float(pts * self.info.time_base)
        self.times.append(t)
        if duration:
            self.end = t + float(duration * self.info.time_base)

    def close(self, ok: bool = True) -> None:
        """Finish the file (``ok``: flush the encoder and the remaining audio; else just release it)."""
        from artgen.images import save_gif

        if not ok or not self.frames:
            return
        step = (1.0 / self.info.fps) if self.info.fps else 0.1
        end = self.end if self.end is not None and self.end > self.times[-1] else self.times[-1] + step
        start = self.times[0]
        marks = [round((t - start) * 100) for t in self.times] + [round((end - start) * 100)]  # 1/100 s, cumulative
        delays = [max(2, b - a) * 10 for a, b in zip(marks, marks[1:])]
        loop = self.info.loop if self.info.codec == "gif" else 0
        save_gif(self.frames, self.path, durations=delays, loop=loop, overwrite=True, metadata=self.metadata)


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

"""Stylising a clip: decoding, the network and encoding overlap in three threads; the output appears only when complete."""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import signal
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from artgen.errors import ArgumentError, ArtgenError, UsageError, VideoError
from artgen.runs.atomic import atomic_path
from artgen.video.reading import Frame, one_line, open_video, require_av
from artgen.video.temporal import TemporalFilter
from artgen.video.writing import AVWriter, GifWriter, check_video_output

log = logging.getLogger("artgen")


_QUEUE = 6  # frames waiting between decoder, network and encoder


def _fit(width: int, height: int, max_size: int | None, even: bool) -> tuple[int, int]:
    w, h = width, height
    if max_size and max(w, h) > max_size:
        s = max_size / max(w, h)
        w, h = max(1, round(w * s)), max(1, round(h * s))
    if even:
        w, h = max(2, w - w % 2), max(2, h - h % 2)
    return w, h


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


def _shortfall(info, count: int, last: Frame | None, step: int, longest_gap: int) -> str | None:
    """Why the decoded video looks shorter than its own header says (truncated?), or None.

    With a stored frame count (MP4, MOV, AVI, GIF): fewer frames than it. Otherwise, with the
    video stream's own end time (Matroska's per-track tag, an MPEG-TS stream's duration): the
    last frame ending earlier than that by more than two of the longest frame intervals seen,
    so variable frame rates and the sound after the last frame raise no false alarm.
    """
    if last is None:
        return None
    if info.frames:
        if count < info.frames - max(1, info.frames // 50):
            return f"the video ends after {count} of the {info.frames} frames its header announces (truncated?)"
        return None
    end = info.extra.get("end")
    if not end:
        return None
    tb = info.time_base
    got = float((last.pts + step) * tb)
    slack = 2 * float(max(step, longest_gap) * tb) + 0.02 * end
    if got < end - slack:
        about = f" (about {round(info.duration * info.fps)} frames)" if info.duration and info.fps else ""
        return f"the video ends after {count} frames at {got:.2f} s of the {end:.2f} s{about} its header announces (truncated?)"
    return None


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
    """Stylise every frame of ``src`` with ``model`` (a :class:`~artgen.fast_style.FastStyle`)
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
    from artgen.progress import progress_bar as tqdm
    from artgen.runs.config import check_fraction
    from artgen.train import show_progress

    strength = check_fraction("strength", strength)
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
    if (
        suffix != ".gif"
        and (info.width % 2 or info.height % 2)
        and not (max_size and max(info.width, info.height) > max_size)
    ):
        log.info(
            "'%s' is %dx%d; the video is written at %dx%d (H.264/VP9 need even sides)",
            src,
            info.width,
            info.height,
            *size,
        )
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
            failures.append(VideoError(f"decoding '{src}' failed: {one_line(exc)}"))
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
                    if isinstance(writer, AVWriter) and writer_box.get("audio_until") is not None:
                        writer.audio_until = writer_box["audio_until"]
                    return
                image, frame = item
                if writer is None:
                    rotation = info.rotation
                    if suffix == ".gif":
                        writer = GifWriter(tmp, info, rotation, metadata)
                    else:
                        writer = AVWriter(tmp, suffix, info, image.shape[1], image.shape[0], rotation)
                    writer_box["writer"] = writer
                writer.write(image, frame.pts, frame.duration, alpha=frame.alpha)
        except ArtgenError as exc:
            failures.append(exc)
            stop.set()
        except Exception as exc:
            failures.append(ArtgenError(f"writing '{dst}' failed: {one_line(exc)}"))
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
    longest_gap = 0  # between consecutive frames, time_base units (variable frame rates)
    t0 = time.perf_counter()
    enabled = show_progress(progress)
    with _sigterm_as_interrupt(), atomic_path(dst) as tmp:
        reader_thread = threading.Thread(target=decode, name="artgen-video-decode", daemon=True)
        writer_thread = threading.Thread(target=encode, args=(tmp,), name="artgen-video-encode", daemon=True)
        reader_thread.start()
        writer_thread.start()
        try:
            estimate = info.frames or (
                round(info.duration * info.fps) if info.duration and info.fps else None
            )  # the bar's total only
            with tqdm(
                total=estimate, desc=f"fast-style {src.name}", unit="frame", disable=not enabled, dynamic_ncols=True
            ) as bar:
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
                    if last is not None:
                        longest_gap = max(longest_gap, frame.pts - last.pts)
                    last = frame
                    bar.update(1)
            if failures:
                raise failures[0]
            if count == 0:
                raise VideoError(
                    f"no frame of '{src}' could be decoded" + (f" ({reader.error})" if reader.error else "")
                )
            step = (
                (last.duration or (round(1 / (info.fps * info.time_base)) if info.fps else 0))
                if last is not None
                else 0
            )
            if reader.error is not None and last is not None:  # decoding broke: cut the sound where the picture stops
                writer_box["audio_until"] = float((last.pts + step) * info.time_base)
            short = None if reader.error is not None else _shortfall(info, count, last, step, longest_gap)
            if short is not None:  # the sound is kept whole: the header's length is no reason to cut it
                reader.error = short
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

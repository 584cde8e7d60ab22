"""Video in and out for fast style transfer: decode, stylise frame by frame, encode, keep the sound.

Containers: ``.mp4 .m4v .mov .mkv .webm`` (and ``.avi``, ``.3gp``, ``.ts``, ``.mts`` and any other
file PyAV reads, told from pictures by what the file holds, not its name) through PyAV,
which ships its own FFmpeg in its wheel (``pip install 'artgen[video]'``), and animated
``.gif`` through Pillow (no extra needed for GIF to GIF). In a notebook::

    model = artgen.FastStyle.load("runs/starry")
    model.stylize_video("clip.mp4", "clip_starry.mp4", max_size=720, temporal_filter=0.5)

What is kept: every frame's presentation time (so the frame rate, variable frame rates
and the duration), the frame count, all of the sound (even where it runs on after the last frame), the rotation (display matrix) of phone clips, the
audio track (packets copied unchanged when the output container can hold its codec,
otherwise re-encoded to the container's default: AAC for .mp4/.mov/.mkv, Opus for
.webm; a .gif has no sound and says so) and a GIF's per-frame delays and loop count.
Video is written as H.264 (yuv420p, CRF 18) in .mp4/.mov/.mkv and VP9 in .webm; H.264
needs even sides, so an odd width or height is scaled to one pixel less (33x25 -> 32x24).

Decoding (a thread), stylising (the caller's thread) and encoding (a thread) overlap,
with a few frames queued between them. The output goes to a temporary file next to the
final name and is moved there only when complete: Ctrl-C leaves no half-written file.

One job per module, re-exported here: :mod:`~artgen.video.reading`,
:mod:`~artgen.video.writing`, :mod:`~artgen.video.temporal`, :mod:`~artgen.video.pipeline`.

Bad input: a file that is not a video or has no video stream raises
:class:`~artgen.errors.VideoError` with one line naming it; a stream that breaks midway
is stylised up to the break and the result says how many frames were lost and why.
"""

from __future__ import annotations

from .pipeline import stylize_video
from .reading import (
    VIDEO_EXTENSIONS,
    WRITE_VIDEO_EXTENSIONS,
    Frame,
    VideoInfo,
    holds_video,
    is_video_path,
    open_video,
    probe,
    require_av,
)
from .temporal import TemporalFilter
from .writing import AVWriter, GifWriter, check_video_output

__all__ = [
    "VIDEO_EXTENSIONS",
    "WRITE_VIDEO_EXTENSIONS",
    "Frame",
    "VideoInfo",
    "holds_video",
    "is_video_path",
    "open_video",
    "probe",
    "require_av",
    "TemporalFilter",
    "AVWriter",
    "GifWriter",
    "check_video_output",
    "stylize_video",
]

"""What a file holds, judged by its content rather than its name: a video container or a picture.

Used to tell ``.3gp``, ``.ts``, ``.mts`` and other clips (or a clip under any name) from pictures,
so that neither is refused or blamed for a suffix artgen does not know.
"""

from __future__ import annotations

import os
from pathlib import Path

# ISO base media brands of still pictures (AVIF, HEIF/HEIC), not video
_IMAGE_BRANDS = frozenset({b"avif", b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1", b"jp2 ", b"jpx "})


def holds_video(path: str | os.PathLike) -> bool:
    """Whether the file holds a video, judged by its content and never by its name.

    The first bytes name the common containers (ISO media: MP4/MOV/3GP; Matroska/WebM; MPEG
    transport streams, also the 192-byte packets of AVCHD ``.mts``/``.m2ts``; MPEG program streams;
    AVI; FLV; ASF; animated GIF); pictures that Pillow opens are not videos; anything else is asked
    of PyAV (when installed): a video stream in a container that is not a single-picture format.
    False for a file that cannot be read.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(1024)
    except OSError:
        return False
    kind = _sniff(head)
    if kind is not None:
        return kind
    try:
        from PIL import Image

        with Image.open(path):
            return False
    except Exception:  # not a picture Pillow knows
        pass
    try:
        import av
    except ImportError:
        return False
    try:
        with av.open(str(path)) as container:
            name = container.format.name or ""
            if name in ("image2", "image2pipe") or name.endswith("_pipe"):
                return False
            return bool(container.streams.video)
    except Exception:  # PyAV refuses it: not a video
        return False


def _sniff(head: bytes) -> bool | None:
    """True for a video container's signature, False for a still picture's, None when unknown."""
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return head[8:12] not in _IMAGE_BRANDS
    if head[:4] == b"\x1a\x45\xdf\xa3":  # EBML: Matroska, WebM
        return True
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return True  # artgen reads GIFs as animations
    if len(head) >= 377 and head[0] == 0x47 and head[188] == 0x47 and head[376] == 0x47:  # MPEG-TS
        return True
    if len(head) >= 389 and head[4] == 0x47 and head[196] == 0x47 and head[388] == 0x47:  # M2TS / AVCHD .mts
        return True
    if head[:4] in (b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3"):  # MPEG program / elementary stream
        return True
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return True
    if head[:3] == b"FLV" or head[:4] == b"\x30\x26\xb2\x75":  # Flash video, ASF/WMV
        return True
    if (
        head[:8] == b"\x89PNG\r\n\x1a\n"
        or head[:3] == b"\xff\xd8\xff"
        or head[:2] == b"BM"
        or head[:4] in (b"II*\x00", b"MM\x00*")
    ):
        return False
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return False
    return None

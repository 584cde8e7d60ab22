"""Images in and out: the one loader and saver every artgen head uses.

The package keeps one job per module and re-exports their public names, so
``artgen.images.save_image`` and friends stay where users find them:

* :mod:`~artgen.images.reading`: opening any image file people have (EXIF rotation, palettes,
  transparency, CMYK, 16-bit, float TIFF, animations) as 8-bit RGB/grey or float tensors, with
  one-line :class:`~artgen.errors.ImageError` messages naming the file;
* :mod:`~artgen.images.writing`: atomic, overwrite-safe PNG/JPEG/WebP/GIF writing with the
  settings in the PNG's text chunks (:func:`read_metadata`);
* :mod:`~artgen.images.grids`: contact-sheet grids and the transparency checkerboard;
* :mod:`~artgen.images.colour`: luminance and the YIQ colour space.
"""

from __future__ import annotations

from .colour import LUMA, luminance, rgb_to_yiq, with_chroma, yiq_to_rgb
from .grids import make_grid, on_checkerboard
from .reading import (
    IMAGE_EXTENSIONS,
    ImageSource,
    PathLike,
    as_chw,
    load_tensor,
    open_image,
    read_extensions,
    resize_crop,
    resize_spectral,
    resize_tensor,
    to_pil,
    to_tensor,
    to_uint8_tensor,
)
from .writing import GIF_MIN_DELAY_MS, WRITE_EXTENSIONS, check_writable, read_metadata, save_gif, save_image

__all__ = [
    "IMAGE_EXTENSIONS",
    "read_extensions",
    "PathLike",
    "ImageSource",
    "open_image",
    "to_tensor",
    "to_uint8_tensor",
    "to_pil",
    "resize_tensor",
    "resize_spectral",
    "load_tensor",
    "resize_crop",
    "as_chw",
    "LUMA",
    "luminance",
    "rgb_to_yiq",
    "yiq_to_rgb",
    "with_chroma",
    "WRITE_EXTENSIONS",
    "check_writable",
    "save_image",
    "read_metadata",
    "GIF_MIN_DELAY_MS",
    "save_gif",
    "on_checkerboard",
    "make_grid",
]

"""Built-in, procedurally painted style images (no files, no downloads).

>>> from artgen.data.style_images import style_image
>>> img = style_image("swirls", size=256)      # PIL.Image, deterministic for (name, size, seed)

``swirls``: short thick brush strokes following a swirling flow field, in a night-sky
palette (a nod to Van Gogh). ``mosaic``: irregular tiles with dark grout.
``embers``: warm strokes on a dark ground along a turbulent field.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from ..errors import UsageError

PALETTES = {
    "swirls": [
        (22, 42, 96),
        (40, 78, 150),
        (70, 120, 190),
        (120, 165, 215),
        (230, 205, 90),
        (245, 230, 150),
        (18, 30, 60),
    ],
    "embers": [(250, 160, 40), (230, 90, 30), (190, 40, 30), (255, 215, 110), (90, 25, 20), (40, 15, 15)],
    "mosaic": [
        (200, 70, 50),
        (230, 180, 60),
        (60, 120, 160),
        (40, 70, 110),
        (220, 210, 180),
        (110, 150, 80),
        (170, 90, 140),
    ],
}

STYLES = ("swirls", "embers", "mosaic")


def _flow(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, size: int, turbulence: float) -> np.ndarray:
    """A smooth angle field from a few random vortices plus waves."""
    angle = np.zeros_like(x, dtype=np.float64)
    for _ in range(5):
        cx, cy = rng.uniform(0, size, 2)
        strength = rng.choice([-1.0, 1.0]) * rng.uniform(0.6, 1.2)
        dx, dy = x - cx, y - cy
        r2 = dx * dx + dy * dy + (0.05 * size) ** 2
        w = np.exp(-r2 / (2 * (0.3 * size) ** 2))
        angle += strength * w * np.arctan2(dy, dx)
    k = 2 * math.pi / size
    angle += turbulence * np.sin(x * k * 2.3 + rng.uniform(0, 6)) * np.cos(y * k * 1.7 + rng.uniform(0, 6))
    return angle


def _strokes(
    size: int,
    rng: np.random.Generator,
    palette,
    background,
    *,
    n: int,
    length: float,
    width: float,
    turbulence: float,
    dark_sky: bool,
) -> Image.Image:
    img = Image.new("RGB", (size, size), background)
    draw = ImageDraw.Draw(img)
    pts = rng.uniform(0, size, (n, 2))
    angles = _flow(pts[:, 0], pts[:, 1], rng, size, turbulence) + math.pi / 2
    for (px, py), a in zip(pts, angles):
        if dark_sky:
            # lighter, warmer strokes near a few "stars"; deep blues elsewhere
            idx = rng.choice(len(palette), p=None)
        else:
            idx = rng.integers(len(palette))
        col = np.array(palette[idx]) + rng.normal(0, 12, 3)
        col = tuple(int(v) for v in np.clip(col, 0, 255))
        seg = length * rng.uniform(0.6, 1.4)
        line = [(px, py)]
        x, y, ang = px, py, a
        for _ in range(4):
            x += math.cos(ang) * seg / 4
            y += math.sin(ang) * seg / 4
            ang += rng.normal(0, 0.15)
            line.append((x, y))
        draw.line(line, fill=col, width=max(1, int(width * rng.uniform(0.7, 1.3))), joint="curve")
    return img


#: Style ``k`` of :data:`STYLES` draws from ``seed + k * STYLE_SEED_STRIDE``: each style its own
#: random stream for the same user seed; two (style, seed) pairs share a stream only if their
#: seeds differ by a multiple of 7919 (the 1000th prime), far above the seeds people pick.
STYLE_SEED_STRIDE = 7919
#: Smallest side :func:`style_image` draws (pixels): strokes are ``16 * size / 256`` px long, 2 px at 32.
MIN_SIZE = 32


def style_image(name: str = "swirls", size: int = 256, seed: int = 0) -> Image.Image:
    """A painting-like RGB image ``size`` x ``size`` pixels (PIL, uint8); deterministic for (name, size, seed).

    Procedural strokes (``swirls``, ``embers``) or a Voronoi mosaic (``mosaic``) drawn with NumPy and PIL.

    Raises:
        UsageError: an unknown ``name``, or ``size`` below :data:`MIN_SIZE`.
    """
    if name not in STYLES:
        raise UsageError(f"unknown built-in style {name!r}; choose one of {', '.join(STYLES)}")
    if size < MIN_SIZE:
        raise UsageError(f"style image size must be at least {MIN_SIZE}, got {size}")
    rng = np.random.default_rng(seed + STYLE_SEED_STRIDE * STYLES.index(name))
    s = size / 256.0
    if name == "swirls":
        img = _strokes(
            size,
            rng,
            PALETTES["swirls"],
            (25, 45, 95),
            n=int(2600 * s * s),
            length=16 * s,
            width=4.0 * s,
            turbulence=2.0,
            dark_sky=True,
        )
    elif name == "embers":
        img = _strokes(
            size,
            rng,
            PALETTES["embers"],
            (45, 18, 15),
            n=int(2200 * s * s),
            length=20 * s,
            width=4.5 * s,
            turbulence=3.5,
            dark_sky=False,
        )
    else:
        img = _mosaic(size, rng)
    return img.filter(ImageFilter.SMOOTH)


def _mosaic(size: int, rng: np.random.Generator) -> Image.Image:
    n = max(12, int(110 * (size / 256) ** 2))
    seeds = rng.uniform(0, size, (n, 2))
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    d = (xx[..., None] - seeds[:, 0]) ** 2 + (yy[..., None] - seeds[:, 1]) ** 2  # (H, W, n)
    order = np.argsort(d, axis=-1)
    nearest = order[..., 0]
    d_sorted = np.take_along_axis(d, order[..., :2], axis=-1)
    edge = np.sqrt(d_sorted[..., 1]) - np.sqrt(d_sorted[..., 0])
    palette = np.array(PALETTES["mosaic"], dtype=np.float32)
    colours = palette[rng.integers(len(palette), size=n)] + rng.normal(0, 14, (n, 3))
    img = colours[nearest]
    img = img * (0.9 + 0.1 * rng.random((size, size, 1)))  # glaze variation
    grout = np.clip(edge / (2.5 * size / 256), 0, 1)[..., None]
    img = img * grout + np.array([35, 30, 28]) * (1 - grout)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))

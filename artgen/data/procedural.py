"""Built-in procedural data sets, drawn in memory (no download, no disk cache).

* :func:`make_shapes` / :func:`load_shapes`: "shapes", a 10-class MNIST-sized data set;
* :func:`art_images`: small abstract paintings for the GAN and the style networks.

Tensors use the layout (N, C, H, W), floats in [0, 1], labels int64.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from artgen.errors import UsageError
from artgen.images.colour import hsv_to_rgb

#: Class names of the built-in "shapes" data set, in label order.
SHAPES_CLASSES: list[str] = [
    "circle",
    "square",
    "triangle",
    "plus",
    "horizontal bar",
    "vertical bar",
    "diamond",
    "ring",
    "x",
    "star",
]


def _box(x: torch.Tensor, y: torch.Tensor, bx: Any, by: Any) -> torch.Tensor:
    """Signed distance to an axis-aligned box with half-sizes (bx, by)."""
    qx, qy = x.abs() - bx, y.abs() - by
    outside = torch.sqrt(qx.clamp(min=0) ** 2 + qy.clamp(min=0) ** 2)
    return outside + torch.minimum(torch.maximum(qx, qy), torch.zeros(()))


def _triangle(x: torch.Tensor, y: torch.Tensor, r: float) -> torch.Tensor:
    """Signed distance to an equilateral triangle pointing up (image y grows down)."""
    k = math.sqrt(3.0)
    px = x.abs() - r
    py = -y + r / k - 0.25 * r  # flip to "y up", then centre the triangle vertically
    fold = px + k * py > 0
    px, py = (
        torch.where(fold, (px - k * py) / 2, px),
        torch.where(fold, (-k * px - py) / 2, py),
    )
    px = px - px.clamp(-2 * r, 0)
    return -torch.sqrt(px**2 + py**2) * torch.sign(py)


def _shape_distance(k: int, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Signed distance (negative inside) of shape class ``k`` in local coordinates.

    x, y: (m, H, W) local coordinates (the shape spans about [-0.85, 0.85]);
    w: (m, 1, 1) half stroke width for the outlined / stroked shapes.
    """
    r = torch.sqrt(x * x + y * y)
    if k == 0:  # circle (filled)
        return r - 0.75
    if k == 1:  # square (outline)
        return _box(x, y, 0.68, 0.68).abs() - w
    if k == 2:  # triangle (filled)
        return _triangle(x, y, 0.85)
    if k == 3:  # plus
        return torch.minimum(_box(x, y, 0.82, w), _box(x, y, w, 0.82))
    if k == 4:  # horizontal bar
        return _box(x, y, 0.85, 1.5 * w)
    if k == 5:  # vertical bar
        return _box(x, y, 1.5 * w, 0.85)
    if k == 6:  # diamond (filled)
        return (x.abs() + y.abs() - 0.85) / math.sqrt(2.0)
    if k == 7:  # ring
        return (r - 0.68).abs() - w
    if k == 8:  # x: the plus turned by 45 degrees
        u, v = (x + y) / math.sqrt(2.0), (y - x) / math.sqrt(2.0)
        return torch.minimum(_box(u, v, 0.9, w), _box(u, v, w, 0.9))
    if k == 9:  # five-pointed star (filled)
        phi = torch.atan2(x, -y)  # 0 points straight up
        frac = torch.remainder(phi * (5.0 / (2.0 * math.pi)), 1.0)
        tri = (2.0 * (frac - 0.5)).abs()  # 1 at the points, 0 between them
        return (r - (0.38 + 0.5 * tri**1.5)) * 0.7
    raise ValueError(f"unknown shape class {k}")


def make_shapes(n: int, *, size: int = 28, seed: int = 0, channels: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``n`` images of the 10 :data:`SHAPES_CLASSES`, an MNIST-like data set.

    Each image has one shape with random position, scale, small rotation, stroke
    width and brightness, antialiased edges and a little noise.  Classes are
    balanced (``n // 10`` or one more each) in random order.  The result depends
    only on ``(n, size, seed, channels)``.  With ``channels=3`` the shape and the
    background get random, contrasting colours.

    Returns:
        x: float32 (n, channels, size, size) in [0, 1]; y: int64 (n,).

    Raises:
        UsageError: ``n < 0``, ``size < 8`` or ``channels`` not 1 or 3.
    """
    if n < 0:
        raise UsageError(f"number of images must be >= 0, got {n}")
    if size < 8:
        raise UsageError(f"shapes image size must be at least 8, got {size}")
    if channels not in (1, 3):
        raise UsageError(f"channels must be 1 or 3, got {channels!r}")
    g = torch.Generator().manual_seed(int(seed))
    y = (torch.arange(n) % len(SHAPES_CLASSES))[torch.randperm(n, generator=g)]

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(n, generator=g)

    cx, cy = uniform(-0.18, 0.18), uniform(-0.18, 0.18)
    scale = uniform(0.6, 0.85)
    angle = uniform(-0.26, 0.26)  # about +-15 degrees
    half_width = uniform(0.11, 0.2)
    brightness = uniform(0.7, 1.0)
    background = uniform(0.0, 0.12)
    if channels == 3:
        hue = uniform(0.0, 1.0)
        fg = hsv_to_rgb(hue, uniform(0.55, 1.0), uniform(0.75, 1.0))  # (n, 3)
        bg = hsv_to_rgb(torch.remainder(hue + uniform(0.3, 0.7), 1.0), uniform(0.2, 0.8), uniform(0.05, 0.4))
    else:
        fg, bg = brightness[:, None], background[:, None]  # (n, 1)
    noise_std = 0.04

    lin = (torch.arange(size, dtype=torch.float32) + 0.5) * (2.0 / size) - 1.0
    gy, gx = lin.view(1, size, 1), lin.view(1, 1, size)  # image y grows downwards
    x_out = torch.empty(n, channels, size, size)
    chunk = 8192
    for start in range(0, n, chunk):
        sl = slice(start, min(n, start + chunk))
        m = sl.stop - sl.start
        alpha = torch.empty(m, size, size)
        yc = y[sl]
        for k in range(len(SHAPES_CLASSES)):
            idx = (yc == k).nonzero().squeeze(1)
            if idx.numel() == 0:
                continue
            j = idx + start
            c, s = torch.cos(angle[j]).view(-1, 1, 1), torch.sin(angle[j]).view(-1, 1, 1)
            sc = scale[j].view(-1, 1, 1)
            dx, dy = gx - cx[j].view(-1, 1, 1), gy - cy[j].view(-1, 1, 1)
            lx, ly = (c * dx + s * dy) / sc, (-s * dx + c * dy) / sc  # (m_k, H, W)
            d = _shape_distance(k, lx, ly, half_width[j].view(-1, 1, 1))
            pixel = (2.0 / size) / sc  # one pixel in local units
            alpha[idx] = (0.5 - d / pixel).clamp_(0.0, 1.0)
        a = alpha.unsqueeze(1)  # (m, 1, H, W)
        img = bg[sl].view(m, -1, 1, 1) + a * (fg[sl] - bg[sl]).view(m, -1, 1, 1)
        img += noise_std * torch.randn(img.shape, generator=g)
        x_out[sl] = img.clamp_(0.0, 1.0)
    return x_out, y.to(torch.int64)


def load_shapes(
    train: bool = True,
    *,
    size: int = 28,
    channels: int = 1,
    n_train: int = 60000,
    n_test: int = 10000,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The fixed "shapes" split: train is ``make_shapes(n_train, seed=0)``, test
    ``make_shapes(n_test, seed=1)`` (sizes mirror MNIST).  Nothing is cached.

    Returns float32 ``(N, channels, size, size)`` in [0, 1] and int64 labels ``(N,)``;
    errors as :func:`make_shapes`.
    """
    if train:
        return make_shapes(n_train, size=size, seed=0, channels=channels)
    return make_shapes(n_test, size=size, seed=1, channels=channels)


def art_images(n: int, *, size: int = 64, seed: int = 0) -> torch.Tensor:
    """Draw ``n`` small abstract paintings, float32 (n, 3, size, size) in [0, 1].

    Each has a two-colour gradient background, a few soft-edged coloured
    ellipses from a harmonious palette and one or two wavy brush strokes, plus a
    little grain: clear structure a small GAN learns to imitate within minutes.
    Deterministic for a given (n, size, seed).

    Raises:
        UsageError: ``n < 0`` or ``size < 8``.
    """
    if n < 0:
        raise UsageError(f"number of images must be >= 0, got {n}")
    if size < 8:
        raise UsageError(f"art image size must be at least 8, got {size}")
    g = torch.Generator().manual_seed(int(seed))

    def u(*shape: int, lo: float = 0.0, hi: float = 1.0) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(*shape, generator=g)

    n_blobs, n_strokes = 4, 2
    base = u(n)
    # Background: two tints of the base hue along a random direction.
    bg1 = hsv_to_rgb(
        torch.remainder(base + u(n, lo=-0.05, hi=0.05), 1.0), u(n, lo=0.15, hi=0.45), u(n, lo=0.8, hi=0.97)
    )
    bg2 = hsv_to_rgb(torch.remainder(base + u(n, lo=-0.1, hi=0.1), 1.0), u(n, lo=0.3, hi=0.6), u(n, lo=0.45, hi=0.75))
    bg_angle = u(n, hi=2 * math.pi)
    # Blobs: hue offsets from the base (analogous or complementary colours).
    offsets = torch.tensor([0.0, 0.08, -0.08, 0.5, 0.42, 0.58])
    blob_hue = torch.remainder(
        base[:, None]
        + offsets[torch.randint(0, len(offsets), (n, n_blobs), generator=g)]
        + u(n, n_blobs, lo=-0.03, hi=0.03),
        1.0,
    )
    blob_rgb = hsv_to_rgb(blob_hue.flatten(), u(n * n_blobs, lo=0.45, hi=0.95), u(n * n_blobs, lo=0.45, hi=1.0)).view(
        n, n_blobs, 3
    )
    blob_c = u(n, n_blobs, 2, lo=0.15, hi=0.85)
    blob_r = u(n, n_blobs, 2, lo=0.08, hi=0.28)
    blob_rot = u(n, n_blobs, hi=math.pi)
    blob_sharp = u(n, n_blobs, lo=4.0, hi=14.0)
    blob_opacity = u(n, n_blobs, lo=0.6, hi=0.95)
    stroke_on = torch.ones(n, n_strokes)
    stroke_on[:, 1] = (u(n) < 0.6).float()
    stroke_rgb = hsv_to_rgb(
        torch.remainder(base.repeat_interleave(n_strokes) + 0.5, 1.0),
        u(n * n_strokes, lo=0.3, hi=0.9),
        u(n * n_strokes, lo=0.1, hi=0.45),
    ).view(n, n_strokes, 3)
    stroke_c = u(n, n_strokes, 2, lo=0.25, hi=0.75)
    stroke_rot = u(n, n_strokes, hi=math.pi)
    stroke_len = u(n, n_strokes, lo=0.25, hi=0.45)
    stroke_amp = u(n, n_strokes, lo=0.02, hi=0.08)
    stroke_freq = u(n, n_strokes, lo=0.8, hi=2.5)  # waves per unit length
    stroke_phase = u(n, n_strokes, hi=2 * math.pi)
    stroke_w = u(n, n_strokes, lo=0.02, hi=0.045)

    lin = (torch.arange(size, dtype=torch.float32) + 0.5) / size
    gy, gx = lin.view(1, size, 1), lin.view(1, 1, size)  # (1, H, 1), (1, 1, W) in [0, 1]
    pixel = 1.0 / size
    out = torch.empty(n, 3, size, size)
    chunk = 256
    for start in range(0, n, chunk):
        s = slice(start, min(n, start + chunk))

        def col(t: torch.Tensor) -> torch.Tensor:  # (m,) -> (m, 1, 1)
            return t.view(-1, 1, 1)

        # Gradient background.                                        # (m, 3, H, W)
        t = (gx - 0.5) * col(torch.cos(bg_angle[s])) + (gy - 0.5) * col(torch.sin(bg_angle[s]))
        t = (t / math.sqrt(0.5) * 0.5 + 0.5).clamp(0.0, 1.0).unsqueeze(1)
        img = bg1[s].view(-1, 3, 1, 1) * (1 - t) + bg2[s].view(-1, 3, 1, 1) * t
        for b in range(n_blobs):
            dx, dy = gx - col(blob_c[s, b, 0]), gy - col(blob_c[s, b, 1])
            c, sn = col(torch.cos(blob_rot[s, b])), col(torch.sin(blob_rot[s, b]))
            ex = (c * dx + sn * dy) / col(blob_r[s, b, 0])
            ey = (-sn * dx + c * dy) / col(blob_r[s, b, 1])
            rad = torch.sqrt(ex * ex + ey * ey)
            a = torch.sigmoid((1.0 - rad) * col(blob_sharp[s, b])) * col(blob_opacity[s, b])
            a = a.unsqueeze(1)
            img = img * (1 - a) + blob_rgb[s, b].view(-1, 3, 1, 1) * a
        for k in range(n_strokes):
            dx, dy = gx - col(stroke_c[s, k, 0]), gy - col(stroke_c[s, k, 1])
            c, sn = col(torch.cos(stroke_rot[s, k])), col(torch.sin(stroke_rot[s, k]))
            along, across = c * dx + sn * dy, -sn * dx + c * dy
            wave = col(stroke_amp[s, k]) * torch.sin(
                along * col(stroke_freq[s, k]) * (2 * math.pi) + col(stroke_phase[s, k])
            )
            dist = torch.maximum((across - wave).abs() - col(stroke_w[s, k]), along.abs() - col(stroke_len[s, k]))
            a = (0.5 - dist / pixel).clamp(0.0, 1.0) * col(stroke_on[s, k]) * 0.9
            a = a.unsqueeze(1)
            img = img * (1 - a) + stroke_rgb[s, k].view(-1, 3, 1, 1) * a
        img = img + 0.015 * torch.randn(img.shape, generator=g)
        out[s] = img.clamp_(0.0, 1.0)
    return out

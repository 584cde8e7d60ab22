"""The tile grid shared by both tiled methods: boxes aligned to the network's stride, reads and
writes with wrap-around, cross-fade ramps, the encoder's receptive field, and the out-of-memory hint."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import torch
from torch import nn

#: Levels (optimisation) or pictures (feed-forward) whose long side exceeds this are tiled by default.
AUTO_TILE = 1024
#: Core side of the tiles those optimisation levels are cut into by default (``--tile-size`` not given).
#: Memory follows the tile's context (core plus the encoder's margin on each side): at most 704 px
#: square for the original VGG19 instead of 1120 px at 1024 px cores, so that ``stylize --size 2048``
#: stays within 4 GB (:func:`level_memory`).
LEVEL_TILE = 512
#: L-BFGS history on every level, tiled or not, is capped so its vectors take at most this many bytes
#: (at least 5 pairs): 10 pairs on a whole 1024x1024 level, whose encoder pass alone holds 2.3 GiB.
LBFGS_BUDGET = 256 << 20

#: The memory model of one optimisation level (:func:`level_memory`), from peak resident memory
#: measured on the CPU with the original VGG19 at relu1_1..relu5_1 and relu3_2 in bf16: the process
#: with torch and the encoder loaded (0.75 GiB); the encoder's forward and backward pass, per pixel
#: it sees (the activations autograd keeps, their float32 copies for the Gram matrices, the
#: gradients: 2.32 GiB over a whole 1024x1024 level); and per pixel of the level, what it holds
#: besides the history (the image, its gradient, L-BFGS's direction and last gradient, the content
#: picture and its relu3_2 target, the style image: 0.19 GiB per megapixel between tiled 2048x1152
#: and 4096x2304 outputs).
PROCESS_BYTES = 800 << 20
ENCODER_BYTES_PER_PIXEL = {"bf16": 2400}
LEVEL_BYTES_PER_PIXEL = 200


@contextlib.contextmanager
def out_of_memory_hint(flag: str, value, default: int = AUTO_TILE):
    """Turn an out-of-memory error inside the block into one ``ArtgenError`` line naming ``flag`` to lower.

    ``value`` is the flag's current setting (``default`` when it is falsy); the message
    suggests half of it, at least 64. Other ``RuntimeError`` s pass through unchanged.

    Raises:
        ArtgenError: a ``MemoryError``, or a ``RuntimeError`` saying "out of memory", in the block.
    """
    from artgen.errors import ArtgenError

    try:
        yield
    except (MemoryError, RuntimeError) as exc:  # torch.OutOfMemoryError is a RuntimeError
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if not isinstance(exc, MemoryError) and "out of memory" not in text.lower():
            raise
        now = value if value else default
        raise ArtgenError(
            f"out of memory ({text}); lower {flag} (now {now}), e.g. {flag} {max(64, now // 2)}, or the output size"
        ) from None


# --- the grid ----------------------------------------------------------------------------


def tile_boxes(height: int, width: int, tile: int, align: int = 1) -> list[tuple[int, int, int, int]]:
    """Core boxes ``(y0, y1, x0, x1)`` covering a ``height x width`` picture, row-major.

    Every start is a multiple of ``align`` and every core is at most ``tile`` (rounded
    down to a multiple of ``align``, at least ``align``) on a side; the last row and
    column of tiles end at the picture's edge. Raises ValueError for non-positive sizes.
    """
    if height < 1 or width < 1 or tile < 1 or align < 1:
        raise ValueError(f"tile_boxes needs positive sizes, got {height}x{width}, tile {tile}, align {align}")
    step = max(align, tile // align * align)
    ys = list(range(0, height, step))
    xs = list(range(0, width, step))
    return [(y, min(y + step, height), x, min(x + step, width)) for y in ys for x in xs]


def gather(x: torch.Tensor, y0: int, y1: int, x0: int, x1: int, wrap: bool) -> torch.Tensor:
    """``x[..., y0:y1, x0:x1]``; with ``wrap`` the indices are taken modulo H and W (may extend past the edges)."""
    if not wrap:
        return x[..., y0:y1, x0:x1]
    h, w = x.shape[-2:]
    if y0 >= 0 and y1 <= h and x0 >= 0 and x1 <= w:
        return x[..., y0:y1, x0:x1]
    rows = torch.arange(y0, y1, device=x.device) % h
    cols = torch.arange(x0, x1, device=x.device) % w
    return x.index_select(-2, rows).index_select(-1, cols)


def scatter_add(target: torch.Tensor, values: torch.Tensor, y0: int, x0: int, wrap: bool) -> None:
    """``target[..., y0:y0+h, x0:x0+w] += values``; with ``wrap`` modulo the target's H and W."""
    vh, vw = values.shape[-2:]
    h, w = target.shape[-2:]
    if not wrap or (y0 >= 0 and y0 + vh <= h and x0 >= 0 and x0 + vw <= w):
        target[..., y0 : y0 + vh, x0 : x0 + vw] += values
        return
    rows = torch.arange(y0, y0 + vh, device=target.device) % h
    cols = torch.arange(x0, x0 + vw, device=target.device) % w
    # index_add over rows then columns, through a (.., H, vw) buffer
    band = torch.zeros(*target.shape[:-1], vw, dtype=target.dtype, device=target.device)
    band.index_add_(-2, rows, values.to(target.dtype))
    target.index_add_(-1, cols, band)


def context_box(box, height: int, width: int, margin: int, wrap: bool) -> tuple[int, int, int, int]:
    """The box a tile reads: its core ``box`` (y0, y1, x0, x1) grown by ``margin`` px, clipped to the picture unless ``wrap``."""
    y0, y1, x0, x1 = box
    if wrap:
        return y0 - margin, y1 + margin, x0 - margin, x1 + margin
    return max(0, y0 - margin), min(height, y1 + margin), max(0, x0 - margin), min(width, x1 + margin)


# --- encoders: strides and receptive fields --------------------------------------------------


def encoder_geometry(encoder, layers: Sequence[str]) -> tuple[dict[str, int], int]:
    """``({layer: stride}, receptive-field radius in pixels)`` of a VGG-style ``FeatureEncoder`` up to ``layers``.

    The radius is the usual recursion ``r += (k // 2) * jump`` for convolutions and
    ``r += (k - 1) * jump`` for pooling (``jump`` = the product of the strides so far).

    Raises:
        ValueError: a layer in ``layers`` is not in the encoder.
    """
    wanted = set(layers)
    strides: dict[str, int] = {}
    radius, jump, deepest = 0, 1, 0
    for name, module in zip(encoder.names, encoder.features):
        if isinstance(module, nn.Conv2d):
            radius += (module.kernel_size[0] // 2) * module.dilation[0] * jump
            jump *= module.stride[0]
        elif isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
            k = module.kernel_size if isinstance(module.kernel_size, int) else module.kernel_size[0]
            s = module.stride if isinstance(module.stride, int) else module.stride[0]
            radius += (k - 1) * jump
            jump *= s
        if name in wanted:
            strides[name] = jump
            deepest = radius
        if len(strides) == len(wanted):
            break
    missing = wanted - set(strides)
    if missing:
        raise ValueError(f"layer(s) {', '.join(sorted(missing))} are not in this encoder")
    return strides, deepest


def lbfgs_history(numel: int, budget: int = LBFGS_BUDGET, most: int = 50) -> int:
    """L-BFGS history size whose ``2 * history`` float32 vectors of ``numel`` entries fit in ``budget`` bytes (5..``most``).
    (``torch.optim.LBFGS``'s own default is 100.)
    """
    return int(min(most, max(5, budget // (8 * max(1, numel)))))


def level_memory(
    hw: tuple[int, int],
    *,
    tile: int,
    margin: int,
    history: int,
    precision: str = "bf16",
    channels: int = 3,
    align: int = 16,
) -> dict[str, int]:
    """Estimated peak memory, in bytes, of optimising one pyramid level of ``hw`` = (height, width) pixels.

    ``tile``: core tile side (0: the level is evaluated whole); ``margin``: the encoder's
    receptive-field margin around a core, px (96 for the original VGG19 at relu5_1);
    ``history``: L-BFGS history pairs; ``precision``: the encoder's (a key of :data:`ENCODER_BYTES_PER_PIXEL`: "bf16");
    ``channels``: of the optimised image (3, or 1 for grey and luminance-only transfer);
    ``align``: the encoder's deepest stride, on which tiles are cut (16 for VGG19 at relu5_1).
    Returns ``{"process", "encoder", "level", "history", "total"}``: the process with the encoder
    loaded (:data:`PROCESS_BYTES`), the encoder's pass over the largest tile context (core plus
    ``margin`` on each side, within the picture: :func:`tile_boxes`, :func:`context_box`) or the whole level
    (:data:`ENCODER_BYTES_PER_PIXEL`), the level's picture-sized buffers
    (:data:`LEVEL_BYTES_PER_PIXEL`) and the history's ``2 * history`` float32 vectors.

    Raises:
        ValueError: an unknown precision, or a non-positive size.
    """
    h, w = hw
    if h < 1 or w < 1:
        raise ValueError(f"level_memory needs a positive size, got {h}x{w}")
    if precision not in ENCODER_BYTES_PER_PIXEL:
        raise ValueError(f"unknown precision {precision!r}; expected one of {', '.join(ENCODER_BYTES_PER_PIXEL)}")
    region = h * w
    if tile:
        contexts = (context_box(box, h, w, margin, False) for box in tile_boxes(h, w, tile, align))
        region = max((y1 - y0) * (x1 - x0) for y0, y1, x0, x1 in contexts)
    parts = {
        "process": PROCESS_BYTES,
        "encoder": ENCODER_BYTES_PER_PIXEL[precision] * region,
        "level": LEVEL_BYTES_PER_PIXEL * h * w,
        "history": 2 * history * channels * h * w * 4,
    }
    parts["total"] = sum(parts.values())
    return parts


# --- optimisation-based style transfer, tile by tile ----------------------------------------


# --- feed-forward style networks, tile by tile ----------------------------------------------


def resize_periodic(x: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """Bilinear resampling of ``x`` (B, C, H, W) to ``hw`` that treats the picture as periodic.

    Sample ``i`` of the output reads the input at ``(i + 0.5) * H / H' - 0.5`` with
    indices taken modulo ``H`` (likewise for the width), so a picture that tiles the
    plane still does after resampling. Returns float32; unchanged if already that size.
    """
    x = x.float()
    for dim, (n_in, n_out) in ((2, (x.shape[2], hw[0])), (3, (x.shape[3], hw[1]))):
        if n_in == n_out:
            continue
        pos = (torch.arange(n_out, dtype=torch.float64) + 0.5) * (n_in / n_out) - 0.5
        lo = torch.floor(pos)
        frac = (pos - lo).to(torch.float32)
        lo = lo.long() % n_in
        hi = (lo + 1) % n_in
        shape = [1, 1, 1, 1]
        shape[dim] = n_out
        frac = frac.view(shape)
        x = x.index_select(dim, lo) * (1 - frac) + x.index_select(dim, hi) * frac
    return x


def ramp(e0: int, e1: int, c0: int, c1: int) -> torch.Tensor:
    """Weights over [e0, e1): 1 on the core [c0, c1), falling linearly to near 0 towards the extended ends."""
    pos = torch.arange(e0, e1, dtype=torch.float32) + 0.5
    left = (pos - e0) / max(1, c0 - e0) if c0 > e0 else torch.ones_like(pos)
    right = (e1 - pos) / max(1, e1 - c1) if e1 > c1 else torch.ones_like(pos)
    return torch.minimum(torch.ones_like(pos), torch.minimum(left, right)).clamp_min(1e-3)

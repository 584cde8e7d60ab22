"""Feed-forward style networks over overlapping tiles, with instance-norm statistics of the whole picture."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

from artgen.tiling.grid import AUTO_TILE, context_box, gather, ramp, resize_periodic, scatter_add, tile_boxes

#: Feed-forward networks: pictures with more pixels than this are tiled by default (2048 x 2048).
AUTO_TILE_PIXELS = 2048 * 2048


#: Instance-norm statistics of a tiled picture are measured on it downscaled to this long side.
STATS_SIZE = 1024


#: Feed-forward tiles are cross-faded over this many pixels beyond their cores (when
#: ``feather`` is not given); the margin grows by the same amount, so the fade mixes
#: equal values, and each extra pixel costs a wider margin on every tile.
FEATHER = 16


#: :func:`stats_picture`'s "crops" mosaic is this many full-resolution crops on a side (4 x 4 = 16).
STATS_CROPS_PER_SIDE = 4


def _instance_norms(net: nn.Module) -> list[nn.InstanceNorm2d]:
    return [m for m in net.modules() if isinstance(m, nn.InstanceNorm2d)]


@torch.no_grad()
def instance_norm_stats(net: nn.Module, image: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per-channel ``(mean, biased variance)`` that each ``InstanceNorm2d`` of ``net`` sees on ``image`` (1, 3, H, W).

    Returns one pair of ``(C,)`` float32 tensors per norm layer, in module order.
    """
    stats: list[tuple[torch.Tensor, torch.Tensor]] = []

    def hook(module, inputs, output):
        h = inputs[0].float()
        stats.append((h.mean(dim=(0, 2, 3)), h.var(dim=(0, 2, 3), unbiased=False)))

    handles = [m.register_forward_hook(hook) for m in _instance_norms(net)]
    try:
        net(image)
    finally:
        for handle in handles:
            handle.remove()
    return stats


@contextlib.contextmanager
def frozen_instance_norm(net: nn.Module, stats: Sequence[tuple[torch.Tensor, torch.Tensor]]):
    """Within the block, each ``InstanceNorm2d`` of ``net`` normalises with the given fixed statistics.

    Uses instance norm's running-statistics path (``use_input_stats=False``), so a tile
    is normalised exactly as the whole picture the statistics came from. ``stats`` is
    :func:`instance_norm_stats`'s output; the layers' own state is restored on exit.

    Raises:
        ValueError: ``stats`` has another length than ``net``'s instance-norm layers.
    """
    norms = _instance_norms(net)
    if len(norms) != len(stats):
        raise ValueError(f"{len(stats)} statistics for {len(norms)} instance-norm layers")
    saved = [(m.track_running_stats, m.running_mean, m.running_var, m.training) for m in norms]
    try:
        for m, (mean, var) in zip(norms, stats):
            dev = m.weight.device if m.weight is not None else mean.device
            m.track_running_stats = True
            m.running_mean = mean.to(dev)
            m.running_var = var.to(dev)
            m.training = False
        yield net
    finally:
        for m, (track, mean, var, training) in zip(norms, saved):
            m.track_running_stats, m.running_mean, m.running_var, m.training = track, mean, var, training


def net_tile(height: int, width: int, tile: int | None) -> int | None:
    """Core tile side for a feed-forward pass over a ``height x width`` picture, or None for one pass.

    ``tile=None``: :data:`AUTO_TILE` when the picture has more than :data:`AUTO_TILE_PIXELS`
    pixels; ``0``: never; otherwise ``tile`` when the picture is longer than it.

    Raises:
        ValueError: ``tile < 0``.
    """
    if tile is None:
        return AUTO_TILE if height * width > AUTO_TILE_PIXELS else None
    if tile < 0:
        raise ValueError(f"tile size must be 0 (never tile) or positive, got {tile}")
    return int(tile) if tile and max(height, width) > tile else None


def stats_picture(image: torch.Tensor, size: int = STATS_SIZE, align: int = 4, how: str = "crops") -> torch.Tensor:
    """The picture (1, 3, H, W) whose instance-norm statistics stand for the whole ``image``.

    The image itself when its long side is at most ``size``. Otherwise ``"crops"``: a
    ``size``-sided mosaic of full-resolution crops taken on an even grid over the image
    (the network sees its features at their real scale, a sample of the content);
    ``"downscale"``: the whole image resized to ``size`` on its long side (all of the
    content, at a smaller scale). Crops start on multiples of ``align`` (the network's stride).

    Raises:
        ValueError: ``how`` is neither "crops" nor "downscale".
    """
    from artgen.images import resize_tensor

    h, w = image.shape[-2:]
    if max(h, w) <= size:
        return image
    if how == "downscale":
        scale = size / max(h, w)
        return resize_tensor(image, (max(16, round(h * scale)), max(16, round(w * scale))))
    if how != "crops":
        raise ValueError(f"statistics from {how!r}: expected 'crops' or 'downscale'")
    n = STATS_CROPS_PER_SIDE
    c = max(align, size // n // align * align)
    ch, cw = min(c, h), min(c, w)
    ys = [round(i * (h - ch) / (n - 1)) // align * align for i in range(n)]
    xs = [round(j * (w - cw) / (n - 1)) // align * align for j in range(n)]
    rows = [torch.cat([image[..., y : y + ch, x : x + cw] for x in xs], dim=-1) for y in ys]
    return torch.cat(rows, dim=-2)


def style_net_radius(config) -> int:
    """Receptive-field radius in pixels of a ``StyleNet`` with this ``StyleNetConfig``."""
    jump = config.stem_stride
    radius = config.stem_kernel // 2
    for _ in config.channels[1:]:
        radius += jump  # 3x3, stride 2
        jump *= 2
    radius += 2 * config.num_res * jump  # two 3x3 convs per residual block
    for _ in config.channels[1:]:
        jump //= 2
        radius += jump  # nearest x2, then 3x3
    radius += (config.out_kernel // 2) * jump + (jump if config.bilinear_output else 0)
    return radius


def tiled_style_net(
    forward: Callable[[torch.Tensor], torch.Tensor],
    net: nn.Module,
    image: torch.Tensor,
    *,
    tile: int | None,
    device: torch.device,
    wrap: bool = False,
    stats_size: int = STATS_SIZE,
    feather: int | None = None,
    stats_from: str = "crops",
) -> torch.Tensor:
    """Run a style network over ``image`` (1, 3, H, W) in [0, 1] (CPU) tile by tile; returns (1, 3, H, W) float32 on the CPU.

    Instance-norm statistics come from the picture itself when its long side is at
    most ``stats_size``, else from :func:`stats_picture` (``stats_from``: "crops" or
    "downscale"), and are held fixed, so all tiles are normalised alike; with margins
    of the receptive-field radius and statistics from the picture itself the result
    equals the untiled one up to float rounding. Each tile's output is cross-faded with its neighbours over ``feather``
    pixels (default 16) beyond its core; the margin is the receptive-field radius plus
    that, so the cross-fade only mixes equal values and hides nothing (default :data:`FEATHER`). ``tile=None``
    runs one tile (used for ``wrap`` on pictures that fit). ``wrap`` reads the margins
    modulo the picture's size: the output tiles the plane without a seam. A strided
    network is only shift-equivariant by multiples of its stride, so with ``wrap`` a
    picture whose sides are not multiples of it is resampled periodically
    (:func:`resize_periodic`) to the next multiples and back.

    ``net``'s geometry: its ``stride`` and ``radius`` attributes (total downsampling and
    receptive-field radius in pixels) where it has them, else its ``config`` (a ``StyleNet``).
    """
    cfg = getattr(net, "config", None)
    align = getattr(net, "stride", None) or cfg.stride
    radius = getattr(net, "radius", None) or style_net_radius(cfg)
    h, w = image.shape[-2:]
    if wrap and (h % align or w % align):
        hp, wp = -(-h // align) * align, -(-w // align) * align
        out = tiled_style_net(
            forward,
            net,
            resize_periodic(image, (hp, wp)),
            tile=tile,
            device=device,
            wrap=True,
            stats_size=stats_size,
            feather=feather,
            stats_from=stats_from,
        )
        return resize_periodic(out, (h, w))
    feather = FEATHER if feather is None else max(0, int(feather))
    margin = math.ceil((radius + feather + 1) / align) * align
    stats = instance_norm_stats(net, stats_picture(image, stats_size, align, stats_from).to(device))
    core = max(h, w) if tile is None else int(tile)
    split_y, split_x = core < h, core < w  # cross-fade only where neighbouring tiles meet
    out = torch.zeros(1, 3, h, w, dtype=torch.float32)
    weight = torch.zeros(1, 1, h, w, dtype=torch.float32)
    with frozen_instance_norm(net, stats):
        for box in tile_boxes(h, w, core, align):
            ctx = context_box(box, h, w, margin, wrap)
            piece = gather(image, *ctx, wrap).to(device)
            y = forward(piece).float().cpu()  # (1, 3, ch, cw)
            # the core, extended by `feather` pixels into the margin, weighted by a linear ramp
            y0, y1, x0, x1 = box
            ey0 = y0 - feather if split_y and (wrap or y0 > 0) else y0
            ey1 = y1 + feather if split_y and (wrap or y1 < h) else y1
            ex0 = x0 - feather if split_x and (wrap or x0 > 0) else x0
            ex1 = x1 + feather if split_x and (wrap or x1 < w) else x1
            ey0, ey1, ex0, ex1 = max(ey0, ctx[0]), min(ey1, ctx[1]), max(ex0, ctx[2]), min(ex1, ctx[3])
            part = y[..., ey0 - ctx[0] : ey1 - ctx[0], ex0 - ctx[2] : ex1 - ctx[2]]
            fade = ramp(ey0, ey1, y0, y1).view(1, 1, -1, 1) * ramp(ex0, ex1, x0, x1).view(1, 1, 1, -1)
            scatter_add(out, part * fade, ey0, ex0, wrap)
            scatter_add(weight, fade.expand(1, 1, ey1 - ey0, ex1 - ex0).contiguous(), ey0, ex0, wrap)
    return out.div_(weight.clamp_min_(1e-8))

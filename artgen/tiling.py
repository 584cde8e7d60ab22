"""Large pictures in bounded memory: tiles with overlap, for style transfer by optimisation
and for the feed-forward style networks, and wrap-around (seamless) variants of both.

Two users, one idea: a convolutional network's output at a pixel depends only on the
input within its receptive field. A tile whose *core* is surrounded by a *margin* at
least as wide as that radius therefore gives, on its core, exactly what the whole
picture would give. Tiles are cut on a grid aligned to the network's stride so that
pooling and strided convolutions see the same pixel phases as on the whole picture.

* :class:`TiledStyleObjective` -- the Gatys et al. (2016) objective of
  :class:`artgen.heads.stylize.StyleObjective`, evaluated tile by tile. Gram matrices
  are sums over positions, so the image's Gram matrix is accumulated over tile cores
  (pass 1, no graph); the style loss and its derivative with respect to each Gram
  matrix follow from :func:`artgen.losses.style_loss_from_grams`; pass 2 back-propagates
  ``<dL/dG, G_tile>`` plus each tile's share of the content loss through one tile at a
  time. The gradient equals the untiled one (up to float rounding) and peak memory
  follows the tile, not the picture.
* :func:`tiled_style_net` -- a feed-forward style network (Johnson et al. 2016) over
  overlapping tiles. Instance normalisation (Ulyanov et al. 2016) normalises with the
  statistics of the whole picture, so they are measured once -- on the picture itself, or
  for a larger one on a mosaic of full-resolution crops of it (:func:`stats_picture`) --
  and held fixed for every tile (:func:`frozen_instance_norm`); tiles are cross-faded
  over their overlap.

``wrap=True`` reads every tile's margin modulo the picture's height and width: the
picture is treated as one period of a plane it tiles, which makes the result seamless.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence

import torch
from torch import nn

from . import losses

#: Levels (optimisation) or pictures (feed-forward) whose long side exceeds this are tiled by default.
AUTO_TILE = 1024
#: Feed-forward networks: pictures with more pixels than this are tiled by default (2048 x 2048).
AUTO_TILE_PIXELS = 2048 * 2048
#: Instance-norm statistics of a tiled picture are measured on it downscaled to this long side.
STATS_SIZE = 1024
#: L-BFGS history on tiled levels is capped so its vectors take at most this many bytes.
LBFGS_BUDGET = 1 << 30
#: Feed-forward tiles are cross-faded over this many pixels beyond their cores (when
#: ``feather`` is not given); the margin grows by the same amount, so the fade mixes
#: equal values, and each extra pixel costs a wider margin on every tile.
FEATHER = 16
#: :func:`stats_picture`'s "crops" mosaic is this many full-resolution crops on a side (4 x 4 = 16).
STATS_CROPS_PER_SIDE = 4


@contextlib.contextmanager
def out_of_memory_hint(flag: str, value, default: int = AUTO_TILE):
    """Turn an out-of-memory error inside the block into one ``ArtgenError`` line naming ``flag`` to lower.

    ``value`` is the flag's current setting (``default`` when it is falsy); the message
    suggests half of it, at least 64. Other ``RuntimeError`` s pass through unchanged.

    Raises:
        ArtgenError: a ``MemoryError``, or a ``RuntimeError`` saying "out of memory", in the block.
    """
    from .errors import ArtgenError

    try:
        yield
    except (MemoryError, RuntimeError) as exc:  # torch.OutOfMemoryError is a RuntimeError
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if not isinstance(exc, MemoryError) and "out of memory" not in text.lower():
            raise
        now = value if value else default
        raise ArtgenError(f"out of memory ({text}); lower {flag} (now {now}), e.g. {flag} {max(64, now // 2)}, or the output size") from None


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


def _gather(x: torch.Tensor, y0: int, y1: int, x0: int, x1: int, wrap: bool) -> torch.Tensor:
    """``x[..., y0:y1, x0:x1]``; with ``wrap`` the indices are taken modulo H and W (may extend past the edges)."""
    if not wrap:
        return x[..., y0:y1, x0:x1]
    h, w = x.shape[-2:]
    if 0 <= y0 and y1 <= h and 0 <= x0 and x1 <= w:
        return x[..., y0:y1, x0:x1]
    rows = torch.arange(y0, y1, device=x.device) % h
    cols = torch.arange(x0, x1, device=x.device) % w
    return x.index_select(-2, rows).index_select(-1, cols)


def _scatter_add(target: torch.Tensor, values: torch.Tensor, y0: int, x0: int, wrap: bool) -> None:
    """``target[..., y0:y0+h, x0:x0+w] += values``; with ``wrap`` modulo the target's H and W."""
    vh, vw = values.shape[-2:]
    h, w = target.shape[-2:]
    if not wrap or (0 <= y0 and y0 + vh <= h and 0 <= x0 and x0 + vw <= w):
        target[..., y0 : y0 + vh, x0 : x0 + vw] += values
        return
    rows = torch.arange(y0, y0 + vh, device=target.device) % h
    cols = torch.arange(x0, x0 + vw, device=target.device) % w
    # index_add over rows then columns, through a (.., H, vw) buffer
    band = torch.zeros(*target.shape[:-1], vw, dtype=target.dtype, device=target.device)
    band.index_add_(-2, rows, values.to(target.dtype))
    target.index_add_(-1, cols, band)


def _context(box, height: int, width: int, margin: int, wrap: bool) -> tuple[int, int, int, int]:
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
    for i, (name, module) in enumerate(zip(encoder.names, encoder.features)):
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


# --- optimisation-based style transfer, tile by tile ----------------------------------------


class TiledStyleObjective:
    """The Gatys et al. objective of ``StyleObjective``, evaluated over tiles (same value and gradient).

    Args:
        encoder: a ``FeatureEncoder`` (its padding mode decides zero or circular padding).
        content: ``(1, 3, H, W)`` in [0, 1] on the encoder's device, or None (texture
            synthesis: no content term).
        styles: style images ``(1, 3, h, w)`` in [0, 1]; their Gram matrices are also
            accumulated tile by tile, so large style images fit too.
        tile: core tile side in pixels (rounded down to a multiple of the deepest
            layer's stride); the margin around it is the receptive-field radius of
            the deepest layer, rounded up to that stride.
        wrap: read margins modulo the picture's size (seamless results); the caller
            sets the encoder to circular padding to match.
        tv_wrap: the total-variation term compares the last row/column with the first.
        The other arguments are ``StyleObjective``'s.

    :meth:`backward` fills ``image.grad`` (through autograd from the image tensor
    given) and returns ``{"loss", "content", "style", "tv"}`` as 0-d float32 tensors.

    Raises:
        ValueError: a layer not in the encoder; ``blend`` or ``style_layer_weights`` of
            another length than ``styles`` or ``style_layers``.
    """

    tiled = True

    def __init__(
        self,
        encoder,
        content: torch.Tensor | None,
        styles: Sequence[torch.Tensor],
        *,
        content_layers: Sequence[str],
        style_layers: Sequence[str],
        content_weight: float,
        style_weight: float,
        tv_weight: float,
        blend: Sequence[float] | None = None,
        style_layer_weights: Sequence[float] | None = None,
        normalize: bool = True,
        autocast: Callable | None = None,
        tile: int = AUTO_TILE,
        wrap: bool = False,
        tv_wrap: bool = False,
    ):
        self.encoder = encoder
        self.content_layers = tuple(content_layers) if content is not None else ()
        self.style_layers = tuple(style_layers)
        self.layers = tuple(dict.fromkeys(self.style_layers + self.content_layers))
        self.content_weight = float(content_weight)
        self.style_weight = float(style_weight)
        self.tv_weight = float(tv_weight)
        self.autocast = autocast or contextlib.nullcontext
        self.wrap = bool(wrap)
        self.tv_wrap = bool(tv_wrap)
        self.strides, radius = encoder_geometry(encoder, self.layers)
        self.align = max(self.strides.values())
        self.margin = math.ceil(radius / self.align) * self.align
        self.tile = max(self.align, int(tile) // self.align * self.align)
        with torch.no_grad():
            self.content_targets = []
            if self.content_layers:
                feats = self._whole_features(content, self.content_layers)
                self.content_targets = [feats[n] for n in self.content_layers]
            weights = [1.0] * len(styles) if blend is None else [float(w) for w in blend]
            if len(weights) != len(styles):
                raise ValueError(f"{len(weights)} blend weights for {len(styles)} style images")
            total = sum(weights)
            targets = None
            for img, w in zip(styles, weights):
                grams = self._grams(img)
                grams = [g * (w / total) for g in grams]
                targets = grams if targets is None else [a + b for a, b in zip(targets, grams)]
            self.style_targets = targets
        n_style = len(self.style_layers)
        if style_layer_weights is not None:
            if len(style_layer_weights) != n_style:
                raise ValueError(f"{len(style_layer_weights)} style layer weights for {n_style} style layers")
            self.style_layer_weights = [float(w) for w in style_layer_weights]
        elif normalize:
            self.style_layer_weights = losses.energy_weights(self.style_targets)
        else:
            self.style_layer_weights = [1.0] * n_style
        if normalize:
            self.content_scales = losses.energy_weights(self.content_targets)
        else:
            self.content_scales = [1.0] * len(self.content_targets)

    # -- tiles ---------------------------------------------------------------------------------
    def _tiles(self, x: torch.Tensor) -> Iterator[tuple[tuple, tuple, torch.Tensor]]:
        """(core box, context box, context pixels) for each tile of ``x`` (1, C, H, W)."""
        h, w = x.shape[-2:]
        for box in tile_boxes(h, w, self.tile, self.align):
            ctx = _context(box, h, w, self.margin, self.wrap)
            yield box, ctx, _gather(x, *ctx, self.wrap)

    def _core(self, feature: torch.Tensor, layer: str, box, ctx) -> torch.Tensor:
        """The part of a tile's feature map ``(1, C, h, w)`` that lies over its core box."""
        d = self.strides[layer]
        y0, y1, x0, x1 = box
        oy, ox = (y0 - ctx[0]) // d, (x0 - ctx[2]) // d
        return feature[..., oy : oy + y1 // d - y0 // d, ox : ox + x1 // d - x0 // d]

    def _forward(self, tile: torch.Tensor, layers) -> dict[str, torch.Tensor]:
        with self.autocast():
            return self.encoder(tile, layers)

    @torch.no_grad()
    def _whole_features(self, x: torch.Tensor, layers) -> dict[str, torch.Tensor]:
        """Feature maps of the whole picture, float32, assembled from tile cores."""
        h, w = x.shape[-2:]
        out: dict[str, torch.Tensor] = {}
        for box, ctx, tile in self._tiles(x):
            feats = self._forward(tile, layers)
            for name in layers:
                core = self._core(feats[name], name, box, ctx).float()
                if name not in out:
                    d = self.strides[name]
                    out[name] = core.new_zeros(1, core.shape[1], h // d, w // d)
                d = self.strides[name]
                out[name][..., box[0] // d : box[1] // d, box[2] // d : box[3] // d] = core
        return out

    @torch.no_grad()
    def _grams(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Gram matrices ``(1, C, C)`` of the whole picture per style layer, summed over tile cores."""
        sums: list[torch.Tensor | None] = [None] * len(self.style_layers)
        counts = [0] * len(self.style_layers)
        for box, ctx, tile in self._tiles(x):
            feats = self._forward(tile, self.style_layers)
            for i, name in enumerate(self.style_layers):
                core = self._core(feats[name], name, box, ctx)
                n = core.shape[-2] * core.shape[-1]
                if n == 0:
                    continue
                part = losses.gram_matrix(core) * (core.shape[1] * n)  # (1, C, C), unnormalised sum F F^T
                sums[i] = part if sums[i] is None else sums[i] + part
                counts[i] += n
        return [s / (s.shape[-1] * max(1, c)) for s, c in zip(sums, counts)]

    # -- the objective ---------------------------------------------------------------------------
    def backward(self, image: torch.Tensor, autocast=None) -> dict[str, torch.Tensor]:
        """Loss values for ``image`` (1, 3, H, W) in [0, 1] and its gradient, accumulated into the graph's leaves.

        Returns 0-d float32 tensors ``loss``, ``content``, ``style``, ``tv`` (already
        detached); ``autocast``, when given, replaces the stored autocast context.
        """
        if autocast is not None:
            self.autocast = autocast
        x = image.detach()
        # pass 1: the picture's Gram matrices, and dL/dG for each style layer
        grams = [g.requires_grad_() for g in self._grams(x)]
        with torch.enable_grad():
            style = losses.style_loss_from_grams(grams, self.style_targets, self.style_layer_weights)
            dgrams = torch.autograd.grad(style, grams) if self.style_weight > 0 else [torch.zeros_like(g) for g in grams]
        counts = {}
        h, w = x.shape[-2:]
        for name in self.layers:
            d = self.strides[name]
            counts[name] = (h // d) * (w // d)
        # pass 2: one tile at a time, the gradient of <dL/dG, G_tile> and of its share of the content loss
        grad = torch.zeros_like(x, dtype=torch.float32)
        content = x.new_zeros((), dtype=torch.float32)
        for box, ctx, tile in self._tiles(x):
            tile = tile.clone().requires_grad_()
            with torch.enable_grad():
                feats = self._forward(tile, self.layers)
                total = tile.new_zeros((), dtype=torch.float32)
                for name, dgram in zip(self.style_layers, dgrams):
                    core = self._core(feats[name], name, box, ctx)
                    n = core.shape[-2] * core.shape[-1]
                    if n == 0:
                        continue
                    part = losses.gram_matrix(core) * (n / counts[name])  # this tile's share of G
                    total = total + self.style_weight * (dgram * part).sum()
                for name, target, scale in zip(self.content_layers, self.content_targets, self.content_scales):
                    core = self._core(feats[name], name, box, ctx)
                    d = self.strides[name]
                    ref = target[..., box[0] // d : box[1] // d, box[2] // d : box[3] // d]
                    if core.numel() == 0:
                        continue
                    share = scale * losses.content_loss(core, ref) * (core.numel() / target.numel())
                    content = content + share.detach()
                    total = total + self.content_weight * share
                if total.requires_grad:
                    (g,) = torch.autograd.grad(total, tile)
                    _scatter_add(grad, g.float(), ctx[0], ctx[2], self.wrap)
        tv = x.new_zeros((), dtype=torch.float32)
        if self.tv_weight > 0:
            with torch.enable_grad():
                xt = x.float().requires_grad_()
                tv = losses.tv_loss(xt, wrap=self.tv_wrap)
                (g,) = torch.autograd.grad(self.tv_weight * tv, xt)
            grad += g
            tv = tv.detach()
        image.backward(grad.to(image.dtype))
        style = style.detach()
        loss = self.content_weight * content + self.style_weight * style + self.tv_weight * tv
        return {"loss": loss, "content": content, "style": style, "tv": tv}


# --- feed-forward style networks, tile by tile ----------------------------------------------


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
    from .images import resize_tensor

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
    """
    cfg = net.config
    align = cfg.stride
    h, w = image.shape[-2:]
    if wrap and (h % align or w % align):
        hp, wp = -(-h // align) * align, -(-w // align) * align
        out = tiled_style_net(forward, net, resize_periodic(image, (hp, wp)), tile=tile, device=device, wrap=True, stats_size=stats_size,
                              feather=feather, stats_from=stats_from)
        return resize_periodic(out, (h, w))
    feather = FEATHER if feather is None else max(0, int(feather))
    margin = math.ceil((style_net_radius(cfg) + feather + 1) / align) * align
    stats = instance_norm_stats(net, stats_picture(image, stats_size, align, stats_from).to(device))
    core = max(h, w) if tile is None else int(tile)
    split_y, split_x = core < h, core < w  # cross-fade only where neighbouring tiles meet
    out = torch.zeros(1, 3, h, w, dtype=torch.float32)
    weight = torch.zeros(1, 1, h, w, dtype=torch.float32)
    with frozen_instance_norm(net, stats):
        for box in tile_boxes(h, w, core, align):
            ctx = _context(box, h, w, margin, wrap)
            piece = _gather(image, *ctx, wrap).to(device)
            y = forward(piece).float().cpu()  # (1, 3, ch, cw)
            # the core, extended by `feather` pixels into the margin, weighted by a linear ramp
            y0, y1, x0, x1 = box
            ey0 = y0 - feather if split_y and (wrap or y0 > 0) else y0
            ey1 = y1 + feather if split_y and (wrap or y1 < h) else y1
            ex0 = x0 - feather if split_x and (wrap or x0 > 0) else x0
            ex1 = x1 + feather if split_x and (wrap or x1 < w) else x1
            ey0, ey1, ex0, ex1 = max(ey0, ctx[0]), min(ey1, ctx[1]), max(ex0, ctx[2]), min(ex1, ctx[3])
            part = y[..., ey0 - ctx[0] : ey1 - ctx[0], ex0 - ctx[2] : ex1 - ctx[2]]
            ramp = _ramp(ey0, ey1, y0, y1).view(1, 1, -1, 1) * _ramp(ex0, ex1, x0, x1).view(1, 1, 1, -1)
            _scatter_add(out, part * ramp, ey0, ex0, wrap)
            _scatter_add(weight, ramp.expand(1, 1, ey1 - ey0, ex1 - ex0).contiguous(), ey0, ex0, wrap)
    return out.div_(weight.clamp_min_(1e-8))


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


def _ramp(e0: int, e1: int, c0: int, c1: int) -> torch.Tensor:
    """Weights over [e0, e1): 1 on the core [c0, c1), falling linearly to near 0 towards the extended ends."""
    pos = torch.arange(e0, e1, dtype=torch.float32) + 0.5
    left = (pos - e0) / max(1, c0 - e0) if c0 > e0 else torch.ones_like(pos)
    right = (e1 - pos) / max(1, e1 - c1) if e1 > c1 else torch.ones_like(pos)
    return torch.minimum(torch.ones_like(pos), torch.minimum(left, right)).clamp_min(1e-3)

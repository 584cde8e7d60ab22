"""Style transfer by optimisation, tile by tile: the Gatys et al. objective with Gram matrices accumulated over tiles."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence

import torch

from artgen import losses
from artgen.tiling.grid import AUTO_TILE, context_box, encoder_geometry, gather, scatter_add, tile_boxes


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
                with encoder.padding("zeros"):  # examples have edges (see StyleObjective)
                    grams = self._grams(img, wrap=False)
                grams = [g * (w / total) for g in grams]
                targets = grams if targets is None else [a + b for a, b in zip(targets, grams)]
            self.style_targets = targets
        self.style_layer_weights = losses.term_weights(self.style_targets, style_layer_weights, normalize=normalize)
        self.content_scales = losses.term_weights(self.content_targets, normalize=normalize)

    # -- tiles ---------------------------------------------------------------------------------
    def _tiles(self, x: torch.Tensor, wrap: bool | None = None) -> Iterator[tuple[tuple, tuple, torch.Tensor]]:
        """(core box, context box, context pixels) for each tile of ``x`` (1, C, H, W); ``wrap`` defaults to the objective's."""
        wrap = self.wrap if wrap is None else wrap
        h, w = x.shape[-2:]
        for box in tile_boxes(h, w, self.tile, self.align):
            ctx = context_box(box, h, w, self.margin, wrap)
            yield box, ctx, gather(x, *ctx, wrap)

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
    def _grams(self, x: torch.Tensor, wrap: bool | None = None) -> list[torch.Tensor]:
        """Gram matrices ``(1, C, C)`` of the whole picture per style layer, summed over tile cores."""
        sums: list[torch.Tensor | None] = [None] * len(self.style_layers)
        counts = [0] * len(self.style_layers)
        for box, ctx, tile in self._tiles(x, wrap):
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
            dgrams = (
                torch.autograd.grad(style, grams) if self.style_weight > 0 else [torch.zeros_like(g) for g in grams]
            )
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
                    scatter_add(grad, g.float(), ctx[0], ctx[2], self.wrap)
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

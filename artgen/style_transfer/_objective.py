"""The Gatys et al. objective on one pyramid level: the image as a parameter, content/style/TV terms, and the loop's task."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence

import torch
from torch import nn

from .. import losses
from ..encoders import FeatureEncoder, style_grams
from ..train import Task
from .config import ADAM_LR


class ImageParameter(nn.Module):
    """The image being optimised, ``(1, C, H, W)`` in [0, 1] (C = 1 for luminance-only transfer)."""

    def __init__(self, init: torch.Tensor):
        super().__init__()
        self.pixels = nn.Parameter(init.detach().clone().contiguous())

    def rgb(self) -> torch.Tensor:
        """The image being optimised as (1, 3, H, W) (a grey image's one channel repeated), same range as the pixels."""
        x = self.pixels
        return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x  # (1, 3, H, W)


class StyleObjective:
    """The Gatys objective for one pyramid level: targets computed once, losses from :mod:`artgen.losses`."""

    def __init__(
        self,
        encoder: FeatureEncoder,
        content: torch.Tensor,
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
        tv_wrap: bool = False,
    ):
        self.encoder = encoder
        self.tv_wrap = bool(tv_wrap)
        self.content_layers = tuple(content_layers)
        self.style_layers = tuple(style_layers)
        self.layers = tuple(dict.fromkeys(self.style_layers + self.content_layers))
        self.content_weight = float(content_weight)
        self.style_weight = float(style_weight)
        self.tv_weight = float(tv_weight)
        with torch.no_grad(), (autocast or contextlib.nullcontext)():
            # targets in the precision the image will be seen in, so that they match exactly
            feats = encoder(content, self.content_layers) if self.content_layers else {}
            self.content_targets = [feats[n].detach().float() for n in self.content_layers]
            # a style example is a picture with edges, not one period of a tiling: padded circularly
            # its opposite edges would meet in straight seams that the Gram targets then ask for
            with encoder.padding("zeros"):
                grams = style_grams(encoder, styles, self.style_layers, blend=blend)
            self.style_targets = [grams[n] for n in self.style_layers]
        self.style_layer_weights = losses.term_weights(self.style_targets, style_layer_weights, normalize=normalize)
        self.content_scales = losses.term_weights(self.content_targets, normalize=normalize)

    def __call__(self, image: torch.Tensor, autocast=None) -> dict[str, torch.Tensor]:
        """Losses for ``image`` (1, 3, H, W): {"loss", "content", "style", "tv"}."""
        if autocast is None:
            feats = self.encoder(image, self.layers)
        else:
            with autocast():
                feats = self.encoder(image, self.layers)
        content = image.new_zeros((), dtype=torch.float32)
        for name, target, scale in zip(self.content_layers, self.content_targets, self.content_scales):
            content = content + scale * losses.content_loss(feats[name], target)
        style = losses.style_loss([feats[n] for n in self.style_layers], self.style_targets, self.style_layer_weights)
        tv = (
            losses.tv_loss(image, wrap=self.tv_wrap)
            if self.tv_weight > 0
            else image.new_zeros((), dtype=torch.float32)
        )
        loss = self.content_weight * content + self.style_weight * style + self.tv_weight * tv
        return {"loss": loss, "content": content.detach(), "style": style.detach(), "tv": tv.detach()}

    def backward(self, image: torch.Tensor, autocast=None) -> dict[str, torch.Tensor]:
        """:meth:`__call__`, then back-propagate the loss (the interface tiled objectives share)."""
        values = self(image, autocast)
        values["loss"].backward()
        return values


class StylizeTask(Task):
    """One pyramid level: optimise the image parameter with L-BFGS (one evaluation per step) or Adam."""

    def __init__(
        self,
        image: ImageParameter,
        objective: StyleObjective,
        optimizer: str = "lbfgs",
        lr: float | None = None,
        history_size: int = 50,
    ):
        self.image = image
        self.objective = objective
        if optimizer == "lbfgs":
            # One function evaluation per loop step, so the loop's step count, progress bar
            # and --save-every count evaluations; L-BFGS keeps its history across calls.
            self.optimizer = torch.optim.LBFGS(
                [image.pixels], lr=1.0, max_iter=1, history_size=history_size, tolerance_grad=0.0, tolerance_change=0.0
            )
        else:
            self.optimizer = torch.optim.Adam([image.pixels], lr=lr or ADAM_LR)
        self.kind = optimizer
        self.modules = {"image": image}
        self.optimizers = {"optimizer": self.optimizer}
        self._last: dict[str, torch.Tensor] = {}

    def train_step(self, batch, ctx):
        """One optimiser step on the image (one L-BFGS call of ``eval_per_step`` evaluations, or one Adam step).

        ``batch`` is unused (the image is the only parameter). Returns the loss terms of the last
        evaluation as 0-dim tensors.
        """
        if self.kind == "lbfgs":
            # No clamping inside the closure: changing x behind L-BFGS's back breaks its
            # curvature pairs (it diverges); the image is clamped between pyramid levels and at the end.
            def closure():
                self.optimizer.zero_grad(set_to_none=True)
                values = self.objective.backward(self.image.rgb(), ctx.autocast)
                self._last = values
                return values["loss"]

            self.optimizer.step(closure)
        elif getattr(self.objective, "tiled", False):  # the objective back-propagates tile by tile
            self.optimizer.zero_grad(set_to_none=True)
            values = self.objective.backward(self.image.rgb(), ctx.autocast)
            self.optimizer.step()
            with torch.no_grad():
                self.image.pixels.clamp_(0.0, 1.0)
            self._last = values
        else:
            values = self.objective(self.image.rgb(), ctx.autocast)
            ctx.optimize(values["loss"], self.optimizer)
            with torch.no_grad():
                self.image.pixels.clamp_(0.0, 1.0)
            self._last = values
        out = dict(self._last)
        out["loss"] = out["loss"].detach()
        return out


def match_luminance(style_y: torch.Tensor, content_y: torch.Tensor) -> torch.Tensor:
    """Shift/scale the style's luminance to the content's mean and std (Gatys et al. 2016b)."""
    s_mean, s_std = style_y.mean(), style_y.std().clamp_min(1e-6)
    return ((style_y - s_mean) / s_std * content_y.std() + content_y.mean()).clamp(0, 1)


def level_plan(hw: tuple[int, int], options) -> tuple[int, int]:
    """(core tile side, L-BFGS history size) for one pyramid level of ``hw`` = (height, width) pixels.

    The tile side is 0 when the level is optimised whole. ``options.tile`` None (the default):
    levels longer than :data:`~artgen.tiling.AUTO_TILE` (1024 px) go in tiles of
    :data:`~artgen.tiling.LEVEL_TILE` (512 px); 0: never tiled; N: levels longer than N px go in
    tiles of N px. The history on every level is capped so that its vectors take at most
    :data:`~artgen.tiling.LBFGS_BUDGET` (256 MiB; between 5 and 50 pairs). With
    :func:`artgen.tiling.level_memory` this is the level's memory plan.
    """
    from ..tiling import AUTO_TILE, LEVEL_TILE, lbfgs_history

    if options.tile is None:
        tile = LEVEL_TILE if max(hw) > AUTO_TILE else 0
    else:
        tile = options.tile if options.tile and max(hw) > options.tile else 0
    return tile, lbfgs_history(3 * hw[0] * hw[1])


def level_objective(encoder: FeatureEncoder, content, styles, options, hw: tuple[int, int], **kwargs):
    """(objective, L-BFGS history size) for one pyramid level of ``hw`` pixels, as :func:`level_plan` plans it.

    Tiled levels are evaluated tile by tile (:class:`artgen.tiling.TiledStyleObjective`: same
    loss and gradient, memory of one tile). ``options.seamless`` wraps the TV term (and the
    tiles) around the picture's edges.
    """
    from ..tiling import TiledStyleObjective

    tile, history = level_plan(hw, options)
    if tile:
        objective = TiledStyleObjective(
            encoder, content, styles, tile=tile, wrap=options.seamless, tv_wrap=options.seamless, **kwargs
        )
        return objective, history
    return StyleObjective(encoder, content, styles, tv_wrap=options.seamless, **kwargs), history

"""Neural style transfer by optimisation (Gatys et al. 2016) on artgen's training loop.

>>> import artgen
>>> img = artgen.stylize("photo.jpg", "painting.jpg", size=512)          # PIL.Image
>>> img = artgen.stylize(photo, [monet, hokusai], style_blend=[0.7, 0.3], preserve_colors=True)

The image being optimised is the only "module"; each level of a coarse-to-fine
pyramid is one :class:`~artgen.train.Trainer` run over :class:`~artgen.train.Repeat`
steps, so the progress bar, callbacks, NaN checks and device handling are the
shared loop's. The objective is built from :mod:`artgen.losses` only::

    loss = content_weight * content_loss(F_c(x), F_c(content)) / mean(F_c(content)^2)
         + style_weight   * sum_l style_loss(F_l(x), G_l) * w_l                  (w_l = 1 / (L * mean(G_l^2)))
         + tv_weight      * tv_loss(x)

Normalising each term by its target's energy makes the weights mean the same
thing for every backbone (VGG19 or the offline encoder) and every image size.
Pass explicit ``style_layer_weights`` (and ``normalize=False``) for the classic
un-normalised objective.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .. import losses
from ..device import Precision, auto_precision, cpu_has_fast_bf16, cudnn_benchmark, resolve_device, seed_everything
from ..errors import ArgumentError, ImageError, UsageError
from ..images import load_tensor, resize_tensor, rgb_to_yiq, to_pil, with_chroma
from ..models.encoders import GATYS_CONTENT_LAYERS, GATYS_STYLE_LAYERS, FeatureEncoder, build_encoder, min_input_side, style_grams
from ..settings import Settings
from ..train import LambdaCallback, Repeat, Task, Trainer

HEAD = "stylize"
MIN_SIDE = 32
OPTIMIZERS = ("lbfgs", "adam")
INITS = ("content", "noise")


@dataclass
class StyleOptions(Settings):
    """Every setting of a stylisation; stored in the output PNG's metadata to reproduce it."""

    size: int = 512                      # long side of the output, pixels
    steps: int | None = None             # total optimisation steps over all levels (None: per-backbone default)
    optimizer: str = "lbfgs"             # lbfgs | adam
    lr: float | None = None              # adam learning rate (default 0.02); L-BFGS uses lr=1
    content_weight: float = 1.0
    style_weight: float | None = None    # None: per-backbone default
    tv_weight: float | None = None       # None: per-backbone default
    style_blend: list[float] | None = None   # one weight per style image (normalised)
    style_scale: float = 1.0             # style image long side = style_scale * output long side
    preserve_colors: bool = False        # luminance-only transfer, keeps the content's colours
    backbone: str = "auto"               # auto | vgg19-original | vgg19 | random
    weights: str | None = None           # local torchvision VGG19 state dict
    init: str = "content"                # content | noise
    levels: int | None = None            # pyramid levels (None: as many as keep the coarsest >= 128 px, up to 3)
    content_layers: tuple[str, ...] = GATYS_CONTENT_LAYERS
    style_layers: tuple[str, ...] = GATYS_STYLE_LAYERS
    style_layer_weights: tuple[float, ...] | None = None   # None: 1 / (L * mean(G^2)) per layer
    normalize: bool = True               # normalise content / style terms by their targets
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"             # auto | fp32 | bf16 | fp16 (auto: see stylize_precision)
    save_every: int | None = None
    progress: bool | None = None
    seamless: bool = False               # circular padding + wrap-around TV: the result tiles the plane
    tile: int | None = None              # levels with a longer side are optimised in tiles of this side (None: 1024, 0: never)

    def __post_init__(self) -> None:
        """Check every value, so that no invalid options object exists.

        Raises:
            ArgumentError: a value out of range or unknown, naming the field.
        """
        if self.tile is not None and self.tile != 0 and self.tile < MIN_SIDE:
            raise ArgumentError("tile", f"must be 0 (never tile) or at least {MIN_SIDE}, got {self.tile}")
        if self.size < MIN_SIDE:
            raise ArgumentError("size", f"must be at least {MIN_SIDE}, got {self.size}")
        if self.steps is not None and self.steps < 1:
            raise ArgumentError("steps", f"must be at least 1, got {self.steps}")
        if self.optimizer not in OPTIMIZERS:
            raise ArgumentError("optimizer", f"{self.optimizer!r}: expected lbfgs or adam")
        if self.init not in INITS:
            raise ArgumentError("init", f"{self.init!r}: expected content or noise")
        for name in ("content_weight", "style_weight", "tv_weight"):
            value = getattr(self, name)
            if value is not None and (value < 0 or not math.isfinite(value)):
                raise ArgumentError(name, f"must be a non-negative number, got {value}")
        if not (0.05 <= self.style_scale <= 8):
            raise ArgumentError("style_scale", f"must be between 0.05 and 8, got {self.style_scale}")
        if self.levels is not None and self.levels < 1:
            raise ArgumentError("levels", f"must be at least 1, got {self.levels}")
        if self.save_every is not None and self.save_every < 1:
            raise ArgumentError("save_every", f"must be at least 1, got {self.save_every}")


#: Defaults that depend on the backbone: (total steps, style weight, TV weight).
#: vgg19-original: measured with benchmarks/style_quality.py on real photos and textures at
#: 256 px (reference style loss / content detail; lower / higher is better). On the cat photo with
#: a stained-tissue texture: style weight 3 -> 0.065 / 0.78, 5 -> 0.046 / 0.73, 10 -> 0.031 / 0.68,
#: 30 -> 0.020 / 0.57, 100 -> 0.015 / 0.47, 300 (the old default) leaves only the texture; the
#: PyTorch tutorial's 300 steps give 0.133 / 0.60 and pastiche's defaults 0.066 / 0.59 on the same
#: pair. Over six pairs, 5 keeps every subject recognisable (mean 0.061 / 0.51) where 10 loses
#: faces and objects under strong textures (0.031 / 0.42). torchvision's vgg19 uses the same
#: values (its weights cannot be measured offline). The offline random encoder keeps the values
#: it was tuned with.
BACKBONE_DEFAULTS = {
    "vgg19-original": {"steps": 300, "style_weight": 5.0, "tv_weight": 3.0},
    "vgg19": {"steps": 300, "style_weight": 5.0, "tv_weight": 3.0},
    "random": {"steps": 300, "style_weight": 300.0, "tv_weight": 3.0},
}


def stylize_precision(name: str, device: torch.device) -> str:
    """``auto``: bf16 on GPUs with bfloat16 and on CPUs with native bfloat16 units (AMX, AVX-512 BF16), else fp32.

    The encoder's convolutions run in bf16 (2x faster at 512 px on a CPU with AMX);
    Gram matrices, losses and the image stay in fp32. fp16 is never chosen
    automatically: L-BFGS gets no loss scaling, so its gradients could underflow.
    """
    if name != "auto":
        return name
    native = cpu_has_fast_bf16() if device.type == "cpu" else None
    return auto_precision(device, loss_scaling=False, cpu_bf16=True, bf16_supported=native)


def set_encoder_layout(encoder: FeatureEncoder, precision: str, device: torch.device) -> FeatureEncoder:
    """Channels-last for bf16/fp16 and on CUDA (what oneDNN's bf16 and cuDNN's convolutions run fastest on)."""
    fast = precision != "fp32" or device.type == "cuda"
    return encoder.set_memory_format(torch.channels_last if fast else torch.contiguous_format)


# --- image parameter, objective, task ------------------------------------------------------


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
            grams = style_grams(encoder, styles, self.style_layers, blend=blend)
            self.style_targets = [grams[n] for n in self.style_layers]
        n_style = len(self.style_layers)
        if style_layer_weights is not None:
            if len(style_layer_weights) != n_style:
                raise UsageError(f"{len(style_layer_weights)} style layer weights for {n_style} style layers")
            weights = [float(w) for w in style_layer_weights]
        elif normalize:
            weights = losses.energy_weights(self.style_targets)
        else:
            weights = [1.0] * n_style
        self.style_layer_weights = weights
        if normalize:
            self.content_scales = losses.energy_weights(self.content_targets)
        else:
            self.content_scales = [1.0] * len(self.content_targets)

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
        tv = losses.tv_loss(image, wrap=self.tv_wrap) if self.tv_weight > 0 else image.new_zeros((), dtype=torch.float32)
        loss = self.content_weight * content + self.style_weight * style + self.tv_weight * tv
        return {"loss": loss, "content": content.detach(), "style": style.detach(), "tv": tv.detach()}

    def backward(self, image: torch.Tensor, autocast=None) -> dict[str, torch.Tensor]:
        """:meth:`__call__`, then back-propagate the loss (the interface tiled objectives share)."""
        values = self(image, autocast)
        values["loss"].backward()
        return values


class StylizeTask(Task):
    """One pyramid level: optimise the image parameter with L-BFGS (one evaluation per step) or Adam."""

    def __init__(self, image: ImageParameter, objective: StyleObjective, optimizer: str = "lbfgs", lr: float | None = None, history_size: int = 50):
        self.image = image
        self.objective = objective
        if optimizer == "lbfgs":
            # One function evaluation per loop step, so the loop's step count, progress bar
            # and --save-every count evaluations; L-BFGS keeps its history across calls.
            self.optimizer = torch.optim.LBFGS([image.pixels], lr=1.0, max_iter=1, history_size=history_size, tolerance_grad=0.0, tolerance_change=0.0)
        else:
            self.optimizer = torch.optim.Adam([image.pixels], lr=lr or 0.02)
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


# --- colour helpers -----------------------------------------------------------------------

def _match_luminance(style_y: torch.Tensor, content_y: torch.Tensor) -> torch.Tensor:
    """Shift/scale the style's luminance to the content's mean and std (Gatys et al. 2016b)."""
    s_mean, s_std = style_y.mean(), style_y.std().clamp_min(1e-6)
    return ((style_y - s_mean) / s_std * content_y.std() + content_y.mean()).clamp(0, 1)


# --- inputs -------------------------------------------------------------------------------


def _load(source, what: str, size: int | None = None) -> torch.Tensor:
    """An image (path, PIL or tensor) as (1, 3, H, W) in [0, 1], refused under 32 px on a side."""
    if isinstance(source, torch.Tensor):
        t = source.detach().float()
        if t.dim() == 3:
            t = t.unsqueeze(0)
        if t.dim() != 4 or t.shape[0] != 1 or t.shape[1] not in (1, 3):
            raise UsageError(f"{what} tensor must be (3, H, W) or (1, 3, H, W), got {tuple(source.shape)}")
        if t.min() < -1e-3 or t.max() > 1 + 1e-3:
            raise UsageError(f"{what} tensor values must be in [0, 1] (got {t.min().item():.3g}..{t.max().item():.3g})")
        t = t.clamp(0, 1)
    else:
        t = load_tensor(source, mode="RGB").unsqueeze(0)
    h, w = t.shape[-2:]
    if min(h, w) < MIN_SIDE:
        label = f"'{source}'" if isinstance(source, (str, Path)) else what
        raise ImageError(f"{what} image {label} is {w}x{h}; images must be at least {MIN_SIDE} px on each side")
    if t.shape[1] == 1:
        t = t.expand(-1, 3, -1, -1)
    if size is not None and max(h, w) != size:
        t = _resize(t, _fit(h, w, size))
    return t.contiguous()


def _fit(h: int, w: int, long_side: int) -> tuple[int, int]:
    scale = long_side / max(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))


_resize = resize_tensor


def is_grey(x: torch.Tensor, tolerance: float = 2.0 / 255) -> bool:
    """Whether an image ``(B, 3, H, W)`` in [0, 1] has no colour: every pixel's channels within ``tolerance``."""
    if x.shape[1] == 1:
        return True
    return bool((x.amax(dim=1) - x.amin(dim=1)).max() <= tolerance)


def _fit_min(h: int, w: int, long_side: int, min_side: int) -> tuple[int, int]:
    """``_fit`` to ``long_side``, enlarged when needed so that the short side is at least ``min_side``."""
    hw = _fit(h, w, long_side)
    if min(hw) >= min_side:
        return hw
    scale = min_side / min(h, w)
    return max(min_side, round(h * scale)), max(min_side, round(w * scale))


def fit_pyramid(size: int, content_hw: tuple[int, int], min_side: int, levels: int | None = None) -> list[int]:
    """Pyramid long sides for a content of ``content_hw`` whose every level keeps ``min_side`` px on the short side.

    ``min_side`` is what the encoder's deepest layer needs (:meth:`FeatureEncoder.min_side`).
    Coarse levels too small for it are dropped. Raises UsageError, naming ``--size``, when
    even the output itself would be too thin (an extreme aspect ratio at a small size).
    """
    h, w = content_hw
    out = _fit(h, w, size)
    if min(out) < min_side:
        need = math.ceil(min_side * max(h, w) / min(h, w))
        raise UsageError(
            f"the content image is {w}x{h} (aspect {max(h, w) / min(h, w):.0f}:1); at {{arg:size={size}}} its short side would be "
            f"{min(out)} px, under the {min_side} px the encoder's deepest layer needs: use {{arg:size={need}}} or more, or crop the image"
        )
    sizes = pyramid_sizes(size, levels)
    kept = [side for side in sizes if min(_fit(h, w, side)) >= min_side]
    return kept


def pyramid_sizes(size: int, levels: int | None = None, coarsest: int = 128) -> list[int]:
    """Long sides of the pyramid levels, coarse to fine: halving from ``size`` down to about ``coarsest``."""
    if levels is None:
        levels = 1
        while levels < 3 and size / 2**levels >= coarsest * 0.99:
            levels += 1
    return [max(MIN_SIDE, round(size / 2**k)) for k in range(levels - 1, -1, -1)]


def split_steps(total: int, levels: int) -> list[int]:
    """Steps per level, coarse to fine: each finer level gets a quarter of the one before.

    Most steps run at low resolution, where they are 4x (or 16x) cheaper, and the
    fine levels only add detail to an already converged layout.
    """
    shares = [4.0 ** (levels - 1 - i) for i in range(levels)]
    raw = [total * s / sum(shares) for s in shares]
    steps = [max(1, int(round(r))) for r in raw]
    steps[0] = max(1, total - sum(steps[1:])) if levels > 1 else total
    return steps


# --- the public function --------------------------------------------------------------------


def resolve_options(options: StyleOptions, encoder: FeatureEncoder) -> StyleOptions:
    """Fill the per-backbone defaults (steps, style and TV weight)."""
    name = encoder.name if encoder.name in BACKBONE_DEFAULTS else ("vgg19" if encoder.pretrained else "random")
    defaults = BACKBONE_DEFAULTS[name]
    return dataclasses.replace(
        options,
        steps=options.steps if options.steps is not None else defaults["steps"],
        style_weight=options.style_weight if options.style_weight is not None else defaults["style_weight"],
        tv_weight=options.tv_weight if options.tv_weight is not None else defaults["tv_weight"],
    )


def stylize_tensor(
    content,
    styles,
    options: StyleOptions | None = None,
    *,
    encoder: FeatureEncoder | None = None,
    callbacks: Sequence[Callable[[torch.Tensor, int], None]] = (),
) -> tuple[torch.Tensor, dict[str, Any]]:
    """Run the optimisation; returns the image (1, 3, H, W) on the CPU and the settings used.

    ``callbacks`` are called as ``fn(image_rgb, step)`` every ``options.save_every`` steps.
    """
    options = options or StyleOptions()
    if not isinstance(styles, (list, tuple)):
        styles = [styles]
    if not styles:
        raise UsageError("give at least one style image")
    if options.style_blend is not None and len(options.style_blend) != len(styles):
        raise ArgumentError("style_blend", f"has {len(options.style_blend)} values for {len(styles)} style images")
    device = resolve_device(options.device)
    options = dataclasses.replace(options, precision=stylize_precision(options.precision, device))
    precision = Precision.create(options.precision, device)  # usage errors before any work
    content_full = _load(content, "content")
    style_full = [_load(s, "style") for s in styles]
    min_side = min_input_side(tuple(options.style_layers) + tuple(options.content_layers))
    sizes = fit_pyramid(options.size, tuple(content_full.shape[-2:]), min_side, options.levels)  # usage errors before any work
    if encoder is None:
        layers = tuple(dict.fromkeys(tuple(options.style_layers) + tuple(options.content_layers)))
        encoder = build_encoder(options.backbone, layers, weights=options.weights, device=device)
    encoder = set_encoder_layout(encoder.to(device), options.precision, device)
    encoder.set_padding_mode("circular" if options.seamless else "zeros")
    options = resolve_options(options, encoder)
    seed_everything(options.seed)

    h0, w0 = content_full.shape[-2:]
    out_hw = _fit(h0, w0, options.size)
    steps = split_steps(options.steps, len(sizes))
    # every input grey: optimise luminance only and return a grey picture (no colour speckle)
    grey = not options.preserve_colors and is_grey(content_full) and all(is_grey(s) for s in style_full)
    image: torch.Tensor | None = None
    done = 0
    for level, (side, n_steps) in enumerate(zip(sizes, steps)):
        hw = out_hw if side == options.size else _fit(h0, w0, side)
        content_l = _resize(content_full, hw).to(device)
        style_side = max(MIN_SIDE, round(side * options.style_scale))
        styles_l = [_resize(s, _fit_min(*s.shape[-2:], style_side, min_side)).to(device) for s in style_full]
        if options.preserve_colors:
            content_y = rgb_to_yiq(content_l)[:, :1]
            styles_l = [_match_luminance(rgb_to_yiq(s)[:, :1], content_y).expand(-1, 3, -1, -1) for s in styles_l]
            content_in = content_y.expand(-1, 3, -1, -1)
        else:
            content_in = content_l
        one_channel = options.preserve_colors or grey
        if image is None:
            if options.init == "content":
                init = content_in[:, :1] if one_channel else content_in
            else:
                g = torch.Generator().manual_seed(options.seed)
                channels = 1 if one_channel else 3
                init = (0.5 + 0.25 * torch.randn(1, channels, *hw, generator=g)).clamp(0, 1).to(device)
        else:
            init = _resize(image, hw)
        param = ImageParameter(init.to(device))
        objective, history = level_objective(
            encoder, content_in, styles_l, options, hw,
            content_layers=options.content_layers, style_layers=options.style_layers,
            content_weight=options.content_weight, style_weight=options.style_weight, tv_weight=options.tv_weight,
            blend=options.style_blend, style_layer_weights=options.style_layer_weights, normalize=options.normalize,
            autocast=precision.autocast,
        )
        task = StylizeTask(param, objective, options.optimizer, options.lr, history_size=history)
        cbs = []
        if options.save_every and callbacks:
            offset = done

            def snapshot(trainer, step, _param=param, _offset=offset, _content=content_l):
                for fn in callbacks:
                    fn(_finish(_param.pixels.detach(), _content, options.preserve_colors), _offset + step)

            cbs.append(LambdaCallback(snapshot, options.save_every, at_end=False))
        desc = f"stylize {hw[1]}x{hw[0]}" + (f" ({level + 1}/{len(sizes)})" if len(sizes) > 1 else "")
        trainer = Trainer(task, Repeat(n_steps), max_steps=n_steps, device=device, precision=precision,
                          callbacks=cbs, log_every=max(1, min(10, n_steps)), progress=options.progress, desc=desc)
        with cudnn_benchmark(device):  # the same shapes every step; restored afterwards
            trainer.fit()
        image = param.pixels.detach().clamp(0, 1)
        done += n_steps
        last_content = content_l
    result = _finish(image, last_content, options.preserve_colors).cpu()
    if result.shape[1] == 1:  # grey inputs, grey result
        result = result.expand(-1, 3, -1, -1).contiguous()
    settings = _settings(options, encoder, styles)
    return result, settings


def level_objective(encoder: FeatureEncoder, content, styles, options, hw: tuple[int, int], **kwargs):
    """(objective, L-BFGS history size) for one pyramid level of ``hw`` pixels.

    Levels whose long side exceeds ``options.tile`` (default 1024; 0 never) are
    evaluated tile by tile (:class:`artgen.tiling.TiledStyleObjective`: same loss and
    gradient, memory of one tile) with an L-BFGS history capped to 1 GB of vectors.
    ``options.seamless`` wraps the TV term (and the tiles) around the picture's edges.
    """
    from ..tiling import AUTO_TILE, TiledStyleObjective, lbfgs_history

    tile = AUTO_TILE if options.tile is None else options.tile
    if tile and max(hw) > tile:
        objective = TiledStyleObjective(encoder, content, styles, tile=tile, wrap=options.seamless, tv_wrap=options.seamless, **kwargs)
        return objective, lbfgs_history(3 * hw[0] * hw[1])
    return StyleObjective(encoder, content, styles, tv_wrap=options.seamless, **kwargs), 50


def _finish(pixels: torch.Tensor, content: torch.Tensor, preserve_colors: bool) -> torch.Tensor:
    """The displayable RGB image: with preserve_colors, the optimised luminance plus the content's chroma."""
    pixels = pixels.clamp(0, 1)
    return with_chroma(pixels[:, :1], content) if preserve_colors else pixels


def _settings(options: StyleOptions, encoder: FeatureEncoder, styles) -> dict[str, Any]:
    data = options.to_dict()
    data.pop("progress", None)
    data["content_layers"] = list(options.content_layers)
    data["style_layers"] = list(options.style_layers)
    data["backbone_used"] = encoder.name
    data["pretrained"] = encoder.pretrained
    data["weights_source"] = encoder.source
    return data


def stylize(content, style, **options) -> "PIL.Image.Image":  # noqa: F821
    """Style transfer by optimisation; returns a PIL image.

    ``content``: a path, PIL image or tensor (3, H, W) in [0, 1]. ``style``: one of
    those or a list of them. ``options`` are the fields of :class:`StyleOptions`
    (``size=512, steps=None, optimizer="lbfgs", content_weight=1, style_weight=None,
    tv_weight=None, style_blend=None, style_scale=1, preserve_colors=False,
    backbone="auto", weights=None, init="content", seed=0, device="auto", ...``).
    The result's ``.info["artgen"]`` holds the settings used.
    """
    unknown = set(options) - StyleOptions.field_names()
    if unknown:
        raise UsageError(f"unknown stylize option(s): {', '.join(sorted(unknown))}; see artgen.heads.stylize.StyleOptions")
    opts = StyleOptions(**options)
    image, settings = stylize_tensor(content, style, opts)
    pil = to_pil(image[0])
    pil.info["artgen"] = settings
    return pil

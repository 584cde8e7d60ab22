"""Settings of style transfer (:class:`StyleConfig`), the defaults measured per backbone, and the precision rule."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..device import auto_precision, cpu_has_fast_bf16
from ..encoders import GATYS_CONTENT_LAYERS, GATYS_STYLE_LAYERS, FeatureEncoder
from ..errors import ArgumentError, UsageError
from ..runs.config import Settings

HEAD = "stylize"


MIN_SIDE = 32


OPTIMIZERS = ("lbfgs", "adam")


INITS = ("content", "noise")


#: Adam's learning rate when ``optimizer="adam"`` and ``lr`` is None (L-BFGS always uses 1).
ADAM_LR = 0.02


@dataclass
class StyleConfig(Settings):
    """Every setting of a stylisation; stored in the output PNG's metadata to reproduce it."""

    size: int = 512  # long side of the output, pixels
    steps: int | None = None  # total optimisation steps over all levels (None: per-backbone default)
    optimizer: str = "lbfgs"  # lbfgs | adam
    lr: float | None = None  # adam learning rate (None: ADAM_LR); L-BFGS uses lr=1
    content_weight: float = 1.0
    style_weight: float | None = None  # None: per-backbone default
    tv_weight: float | None = None  # None: per-backbone default
    style_blend: list[float] | None = None  # one weight per style image (normalised)
    style_scale: float = 1.0  # style image long side = style_scale * output long side
    preserve_colors: bool = False  # luminance-only transfer, keeps the content's colours
    backbone: str = "auto"  # auto | vgg19-original | vgg19 | random
    weights: str | None = None  # local torchvision VGG19 state dict
    init: str = "content"  # content | noise
    levels: int | None = None  # pyramid levels (None: as many as keep the coarsest >= 128 px, up to 3)
    content_layers: tuple[str, ...] | None = None  # None: per-backbone default (relu3_2 for VGG19s, relu4_2 offline)
    style_layers: tuple[str, ...] = GATYS_STYLE_LAYERS
    style_layer_weights: tuple[float, ...] | None = None  # None: 1 / (L * mean(G^2)) per layer
    normalize: bool = True  # normalise content / style terms by their targets
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"  # auto | fp32 | bf16 | fp16 (auto: see stylize_precision)
    save_every: int | None = None
    progress: bool | None = None
    seamless: bool = False  # circular padding + wrap-around TV: the result tiles the plane
    tile: int | None = None  # levels with a longer side are optimised in tiles of this side (None: 1024, 0: never)

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


#: Defaults that depend on the backbone: total steps, style weight, TV weight, content layers.
#: vgg19-original: measured with benchmarks/style_quality.py on real photos and textures at
#: 256 px (reference style loss / content detail; lower / higher is better). On the cat photo with
#: a stained-tissue texture: style weight 3 -> 0.065 / 0.78, 5 -> 0.046 / 0.73, 10 -> 0.031 / 0.68,
#: 30 -> 0.020 / 0.57, 100 -> 0.015 / 0.47, 300 (the old default) leaves only the texture; the
#: PyTorch tutorial's 300 steps give 0.133 / 0.60 and pastiche's defaults 0.066 / 0.59 on the same
#: pair. Over six pairs, 5 keeps every subject recognisable (mean 0.061 / 0.51) where 10 loses
#: faces and objects under strong textures (0.031 / 0.42). torchvision's vgg19 uses the same
#: values (its weights cannot be measured offline). The offline random encoder keeps the values
#: it was tuned with. Steps: 260 rather than 300 (at 512 px: 198 / 50 / 12 per level instead of
#: 229 / 57 / 14) takes 13% less time; on the six 512 px pairs the median reference style loss went
#: from 0.028 to 0.030 and the median content detail stayed 0.47 (0.48 before).
#: Content layer: relu3_2 rather than Gatys's relu4_2 for both VGG19 backbones. Six 512 px pairs
#: (reference style loss / content detail): relu4_2 gave medians 0.030 / 0.47, relu3_2 gives
#: 0.026 / 0.67, better on both measures for every pair (cat 0.034 / 0.74 -> 0.030 / 0.93, where
#: pastiche's defaults reach 0.054 / 0.83); relu4_2 + relu3_2 on the cat: 0.031 / 0.90, relu4_2 +
#: relu2_2: 0.038 / 0.96. relu4_2's 8x-downsampled target lets the finest pyramid level's few
#: steps blur the photo's edges; relu3_2 holds them at 4x.
VGG19_CONTENT_LAYERS = ("relu3_2",)
BACKBONE_DEFAULTS = {
    "vgg19-original": {"steps": 260, "style_weight": 5.0, "tv_weight": 3.0, "content_layers": VGG19_CONTENT_LAYERS},
    "vgg19": {"steps": 260, "style_weight": 5.0, "tv_weight": 3.0, "content_layers": VGG19_CONTENT_LAYERS},
    "random": {"steps": 300, "style_weight": 300.0, "tv_weight": 3.0, "content_layers": GATYS_CONTENT_LAYERS},
}

#: Every content layer a default may pick: an encoder built before its backbone is known computes them all.
DEFAULT_CONTENT_LAYERS = tuple(
    dict.fromkeys(layer for d in BACKBONE_DEFAULTS.values() for layer in d["content_layers"])
)


def stylize_precision(name: str, device: torch.device, *, bf16_supported: bool | None = None) -> str:
    """``auto``: bf16 on GPUs with bfloat16 and on CPUs with native bfloat16 units (AMX, AVX-512 BF16), else fp32.

    The encoder's convolutions run in bf16 (2x faster at 512 px on a CPU with AMX);
    Gram matrices, losses and the image stay in fp32. fp16 is never chosen
    automatically: L-BFGS gets no loss scaling, so its gradients could underflow.
    ``bf16_supported`` overrides the hardware probe (None: ask the device). Other names
    are returned unchanged.
    """
    if name != "auto":
        return name
    if bf16_supported is None and device.type == "cpu":
        bf16_supported = cpu_has_fast_bf16()
    return auto_precision(device, loss_scaling=False, cpu_bf16=True, bf16_supported=bf16_supported)


def memory_format_for(precision: str, device: torch.device) -> torch.memory_format:
    """Channels-last for bf16/fp16 and on CUDA (what oneDNN's bf16 and cuDNN's convolutions run fastest on), else contiguous."""
    return torch.channels_last if precision != "fp32" or device.type == "cuda" else torch.contiguous_format


def set_encoder_layout(encoder: FeatureEncoder, precision: str, device: torch.device) -> FeatureEncoder:
    """Run ``encoder`` in :func:`memory_format_for` ``(precision, device)``."""
    return encoder.set_memory_format(memory_format_for(precision, device))


def resolve_options(options: StyleConfig, encoder: FeatureEncoder) -> StyleConfig:
    """Fill the per-backbone defaults (steps, style and TV weight, content layers)."""
    name = encoder.name if encoder.name in BACKBONE_DEFAULTS else ("vgg19" if encoder.pretrained else "random")
    defaults = BACKBONE_DEFAULTS[name]
    return dataclasses.replace(
        options,
        steps=options.steps if options.steps is not None else defaults["steps"],
        style_weight=options.style_weight if options.style_weight is not None else defaults["style_weight"],
        tv_weight=options.tv_weight if options.tv_weight is not None else defaults["tv_weight"],
        content_layers=tuple(options.content_layers)
        if options.content_layers is not None
        else defaults["content_layers"],
    )


def check_style_images(images, blend: Sequence[float] | None, noun: str = "style image") -> list:
    """``images`` (one or a list) as a non-empty list whose length matches ``blend`` (if given).

    Raises:
        UsageError: no image. ArgumentError: ``style_blend`` of another length.
    """
    if not isinstance(images, (list, tuple)):
        images = [images]
    if not images:
        raise UsageError(f"give at least one {noun}")
    if blend is not None and len(blend) != len(images):
        raise ArgumentError("style_blend", f"has {len(blend)} values for {len(images)} {noun}s")
    return list(images)

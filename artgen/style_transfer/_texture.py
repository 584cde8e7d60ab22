"""Texture synthesis from one or more example images (Gatys, Ecker & Bethge 2015).

>>> import artgen
>>> img = artgen.texture("bark.jpg", size=(1024, 1024), seamless=True)       # PIL.Image
>>> img = artgen.texture(["moss.png", "stone.png"], style_blend=[0.6, 0.4], size=(768, 1536))

Style transfer without a content term: starting from noise, the picture is optimised
until its Gram matrices match the example's (``loss = style_weight * sum_l w_l
style_loss_l + tv_weight * tv``), on the same objective (:class:`StyleObjective`, with
no content layers), coarse-to-fine pyramid, L-BFGS task and training loop as
``artgen stylize``. The output may be larger than the example and of any aspect ratio:
the example keeps its own scale (``example_size``), so a larger output holds more of
its features rather than bigger ones. ``seamless=True`` pads the encoder circularly and
wraps the TV term so the result tiles the plane; the picture is then optimised at sides
that are multiples of the encoder's deepest stride and resampled periodically to the
size asked for. Each level starts from the previous one enlarged by Fourier resampling
(:func:`artgen.images.resize_spectral`): bilinear or bicubic enlargement left a 2-pixel
ripple that the few fine-level steps kept (neighbouring-pixel differences 34% larger at
odd than at even columns at 512 px). Levels longer than ``tile`` pixels run tile by tile
(:mod:`artgen.tiling`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import torch

from ..device import seed_everything
from ..encoders import GATYS_STYLE_LAYERS, build_encoder
from ..errors import ArgumentError, UsageError
from ..images import resize_spectral, resize_tensor, to_pil
from ..runs.config import Settings
from ..runs.setup import start_run
from ._objective import level_objective
from ._pyramid import fit_long_side, is_grey, optimise_pyramid, pyramid_sizes, split_steps
from .config import (
    MIN_SIDE,
    OPTIMIZERS,
    StyleConfig,
    check_style_images,
    resolve_options,
    set_encoder_layout,
)
from .training import load_input

#: Long side of the examples at the finest level when ``example_size`` is not given: their
#: own size, at most this (1024 px), so large photos do not multiply the encoder's cost.
EXAMPLE_MAX_SIDE = 1024
#: The first level starts from grey noise: per pixel ``clamp(INIT_MEAN + INIT_STD * N(0, 1), 0, 1)``,
#: mid-grey noise of which about 5% of values clip at 0 or 1 (two standard deviations out).
INIT_MEAN = 0.5
INIT_STD = 0.25


@dataclass
class TextureConfig(Settings):
    """Every setting of a texture synthesis; stored in the output PNG's metadata."""

    height: int = 512
    width: int = 512
    steps: int | None = None  # total steps over all levels (None: the stylize default)
    optimizer: str = "lbfgs"
    lr: float | None = None
    style_weight: float | None = None  # None: the stylize default
    tv_weight: float | None = None  # None: the stylize default
    style_blend: list[float] | None = None
    example_size: int | None = None  # long side of the examples at the finest level (None: their own, at most 1024)
    seamless: bool = False
    backbone: str = "auto"
    weights: str | None = None
    levels: int | None = None
    style_layers: tuple[str, ...] = GATYS_STYLE_LAYERS
    style_layer_weights: tuple[float, ...] | None = None
    normalize: bool = True
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    tile: int | None = None  # levels longer than this run tile by tile (None: 1024, 0: never)
    progress: bool | None = None

    def __post_init__(self) -> None:
        """Check every value, so that no invalid options object exists.

        Raises:
            ArgumentError: ``height``/``width``/``example_size`` below ``MIN_SIDE``; ``steps`` or
                ``levels`` below 1; an unknown ``optimizer``; a negative or non-finite weight;
                ``tile`` in 1..MIN_SIDE-1.
        """
        for name in ("height", "width"):
            if getattr(self, name) < MIN_SIDE:
                raise ArgumentError("size", f"{self.width}x{self.height}: the {name} must be at least {MIN_SIDE}")
        if self.steps is not None and self.steps < 1:
            raise ArgumentError("steps", f"must be at least 1, got {self.steps}")
        if self.optimizer not in OPTIMIZERS:
            raise ArgumentError("optimizer", f"{self.optimizer!r}: expected lbfgs or adam")
        for name in ("style_weight", "tv_weight"):
            value = getattr(self, name)
            if value is not None and (value < 0 or not math.isfinite(value)):
                raise ArgumentError(name, f"must be a non-negative number, got {value}")
        if self.example_size is not None and self.example_size < MIN_SIDE:
            raise ArgumentError("example_size", f"must be at least {MIN_SIDE}, got {self.example_size}")
        if self.levels is not None and self.levels < 1:
            raise ArgumentError("levels", f"must be at least 1, got {self.levels}")
        if self.tile is not None and self.tile != 0 and self.tile < MIN_SIDE:
            raise ArgumentError("tile", f"must be 0 (never tile) or at least {MIN_SIDE}, got {self.tile}")


def parse_size(text: str) -> tuple[int, int]:
    """``"1024x768"`` (width x height, pixels) or ``"1024"`` (square) -> ``(height, width)``; ArgumentError (``size``) otherwise."""
    parts = str(text).lower().replace("×", "x").split("x")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise ArgumentError("size", f"expects WIDTHxHEIGHT or one number, got {text!r}") from None
    if len(values) == 1:
        values *= 2
    if len(values) != 2:
        raise ArgumentError("size", f"expects WIDTHxHEIGHT or one number, got {text!r}")
    return values[1], values[0]


def texture_tensor(
    examples, options: TextureConfig | None = None, *, encoder=None
) -> tuple[torch.Tensor, dict[str, Any]]:
    """Synthesise a texture; returns ``(1, 3, height, width)`` float32 in [0, 1] on the CPU and the settings used.

    ``examples``: one image or a list (paths, PIL images or (3, H, W) tensors in [0, 1]),
    each at least 32 px on a side. When every example is grey (stored as grey or as RGB with
    R = G = B, within 2/255), one channel is optimised and the result is grey (R = G = B). Method: Gatys, Ecker & Bethge 2015 (Gram matrices of VGG
    features, L-BFGS); artgen adds the coarse-to-fine pyramid, tiling and circular padding.

    Raises:
        UsageError: bad settings (:meth:`TextureConfig.validate`), no examples, a
            ``style_blend`` of another length, an unavailable device or precision.
        ImageError: an example cannot be read.
    """
    options = options or TextureConfig()
    examples = check_style_images(examples, options.style_blend, noun="example image")
    # the start-up every training shares (device, precision): "auto" means bf16 only where it is fast, never fp16
    # (L-BFGS has no loss scaling); the seed comes after the encoder is built (below), so the random start does
    # not depend on whether the encoder was built here or passed in
    setup = start_run(None, device=options.device, precision=options.precision, loss_scaling=False, cpu_bf16=True)
    device, precision = setup.device, setup.precision
    options = dataclasses.replace(options, precision=precision.name)
    full = [load_input(e, "example") for e in examples]
    # every example grey (whatever the file's mode: R = G = B counts): optimise one channel and return
    # grey, as stylize does; three free channels drift apart into colour blotches the grey Gram targets do not see
    grey = all(is_grey(e) for e in full)
    if encoder is None:
        encoder = build_encoder(options.backbone, tuple(options.style_layers), weights=options.weights, device=device)
    encoder = set_encoder_layout(encoder.to(device), options.precision, device)
    encoder.set_padding_mode("circular" if options.seamless else "zeros")
    # the stylize defaults for steps and weights, through the same per-backbone table
    filled = resolve_options(
        StyleConfig(steps=options.steps, style_weight=options.style_weight, tv_weight=options.tv_weight), encoder
    )
    options = dataclasses.replace(
        options, steps=filled.steps, style_weight=filled.style_weight, tv_weight=filled.tv_weight
    )
    seed_everything(options.seed)

    out_h, out_w = options.height, options.width
    work_h, work_w = out_h, out_w
    if options.seamless:  # periodic only at multiples of the deepest stride
        stride = 2 ** sum(
            1
            for n in encoder.names[: max(encoder.names.index(l) for l in options.style_layers) + 1]
            if n.startswith("pool")
        )
        work_h, work_w = -(-out_h // stride) * stride, -(-out_w // stride) * stride
    long_side = max(work_h, work_w)
    example_long = options.example_size or min(EXAMPLE_MAX_SIDE, max(max(e.shape[-2:]) for e in full))
    sizes = pyramid_sizes(long_side, options.levels)
    steps = split_steps(options.steps, len(sizes))
    sizes_hw = [(work_h, work_w) if side == long_side else fit_long_side(work_h, work_w, side) for side in sizes]
    if options.seamless:
        sizes_hw = [(-(-h // stride) * stride, -(-w // stride) * stride) for h, w in sizes_hw]

    def objective_at(level: int, hw: tuple[int, int]):
        side = max(MIN_SIDE, round(example_long * max(hw) / long_side))
        examples_l = [resize_tensor(e, fit_long_side(*e.shape[-2:], side)).to(device) for e in full]
        return level_objective(
            encoder,
            None,
            examples_l,
            options,
            hw,
            content_layers=(),
            style_layers=options.style_layers,
            content_weight=0.0,
            style_weight=options.style_weight,
            tv_weight=options.tv_weight,
            blend=options.style_blend,
            style_layer_weights=options.style_layer_weights,
            normalize=options.normalize,
            autocast=precision.autocast,
        )

    def start(hw: tuple[int, int]) -> torch.Tensor:
        g = torch.Generator().manual_seed(options.seed)
        init = (INIT_MEAN + INIT_STD * torch.randn(1, 3, *hw, generator=g)).clamp(0, 1)
        return init[:, :1] if grey else init  # grey: (1, 1, H, W), the same noise as the colour case's first channel

    def enlarge(image: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
        return resize_spectral(image.cpu(), hw, periodic=options.seamless).clamp(0, 1)

    image = optimise_pyramid(
        list(zip(sizes_hw, steps)),
        objective_at,
        start,
        enlarge,
        options,
        device=device,
        precision=precision,
        name="texture",
    ).cpu()
    if image.shape[-2:] != (out_h, out_w):
        image = resize_spectral(image, (out_h, out_w), periodic=True).clamp(0, 1)
    if image.shape[1] == 1:  # grey examples, grey result
        image = image.expand(-1, 3, -1, -1).contiguous()
    settings = options.to_dict()
    settings.pop("progress", None)
    settings.update(
        style_layers=list(options.style_layers),
        example_size=example_long,
        backbone_used=encoder.name,
        pretrained=encoder.pretrained,
        weights_source=encoder.source,
    )
    return image, settings


def texture(examples, config: TextureConfig | None = None, **options) -> PIL.Image.Image:  # noqa: F821
    """Texture synthesis from one or more examples; returns a PIL image (``.info["artgen"]`` holds the settings).

    ``config``: the settings (default: :class:`TextureConfig`'s defaults, also ``artgen texture``'s);
    ``options`` replace some of its fields; ``size=(height, width)`` or
    ``size=n`` may stand for ``height``/``width`` (``height=512, width=512, steps=None,
    seamless=False, example_size=None, style_blend=None, backbone="auto", seed=0, ...``).
    The image is RGB, ``width`` x ``height`` pixels.

    Raises:
        UsageError: an unknown option, or as :func:`texture_tensor`.
        ImageError: an example cannot be read.
    """
    if config is not None:
        options = {**{f.name: getattr(config, f.name) for f in dataclasses.fields(config)}, **options}
    if "size" in options:
        size = options.pop("size")
        h, w = (size, size) if isinstance(size, int) else tuple(size)
        options.update(height=int(h), width=int(w))
    unknown = set(options) - TextureConfig.field_names()
    if unknown:
        raise UsageError(
            f"unknown texture option(s): {', '.join(sorted(unknown))}; see artgen.style_transfer.TextureConfig"
        )
    image, settings = texture_tensor(examples, TextureConfig(**options))
    pil = to_pil(image[0])
    pil.info["artgen"] = settings
    return pil

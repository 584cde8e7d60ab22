"""Style transfer by optimisation, the public functions: :func:`stylize_tensor` runs the pyramid, :func:`stylize` wraps it for PIL images."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from ..device import seed_everything
from ..encoders import FeatureEncoder, build_encoder, min_input_side
from ..errors import ImageError, UsageError
from ..images import load_tensor, resize_tensor, rgb_to_yiq, to_pil, with_chroma
from ..runs.setup import start_run
from ._objective import level_objective, match_luminance
from ._pyramid import fit_long_side, fit_min_side, fit_pyramid, is_grey, optimise_pyramid, split_steps
from .config import (
    DEFAULT_CONTENT_LAYERS,
    MIN_SIDE,
    StyleConfig,
    check_style_images,
    resolve_options,
    set_encoder_layout,
)


def load_input(source, what: str, size: int | None = None) -> torch.Tensor:
    """An image (path, PIL or tensor) as (1, 3, H, W) in [0, 1], refused under 32 px on a side."""
    if isinstance(source, torch.Tensor):
        t = source.detach().float()
        if t.dim() == 3:
            t = t.unsqueeze(0)
        if t.dim() != 4 or t.shape[0] != 1 or t.shape[1] not in (1, 3):
            raise UsageError(f"{what} tensor must be (3, H, W) or (1, 3, H, W), got {tuple(source.shape)}")
        if t.min() < -1e-3 or t.max() > 1 + 1e-3:
            raise UsageError(
                f"{what} tensor values must be in [0, 1] (got {t.min().item():.3g}..{t.max().item():.3g})"
            )
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
        t = resize_tensor(t, fit_long_side(h, w, size))
    return t.contiguous()


def stylize_tensor(
    content,
    styles,
    options: StyleConfig | None = None,
    *,
    encoder: FeatureEncoder | None = None,
    callbacks: Sequence[Callable[[torch.Tensor, int], None]] = (),
) -> tuple[torch.Tensor, dict[str, Any]]:
    """Run the optimisation; returns the image (1, 3, H, W) on the CPU and the settings used.

    ``callbacks`` are called as ``fn(image_rgb, step)`` every ``options.save_every`` steps.
    """
    options = options or StyleConfig()
    styles = check_style_images(styles, options.style_blend)
    # the start-up every training shares (device, precision): "auto" means bf16 only where it is fast, never fp16
    # (L-BFGS has no loss scaling); the seed comes after the encoder is built (below), so the random start does
    # not depend on whether the encoder was built here or passed in
    setup = start_run(None, device=options.device, precision=options.precision, loss_scaling=False, cpu_bf16=True)
    device, precision = setup.device, setup.precision
    options = dataclasses.replace(options, precision=precision.name)  # usage errors before any work
    content_full = load_input(content, "content")
    if (
        options.seamless
    ):  # a photo's opposite edges differ: make it wrap around first, or the result keeps the line where they meet
        from ..tiling import make_tileable

        content_full = make_tileable(content_full)
    style_full = [load_input(s, "style") for s in styles]
    content_layers = tuple(options.content_layers) if options.content_layers is not None else DEFAULT_CONTENT_LAYERS
    min_side = min_input_side(tuple(options.style_layers) + content_layers)
    sizes = fit_pyramid(
        options.size, tuple(content_full.shape[-2:]), min_side, options.levels
    )  # usage errors before any work
    if encoder is None:
        layers = tuple(dict.fromkeys(tuple(options.style_layers) + content_layers))
        encoder = build_encoder(options.backbone, layers, weights=options.weights, device=device)
    encoder = set_encoder_layout(encoder.to(device), options.precision, device)
    encoder.set_padding_mode("circular" if options.seamless else "zeros")
    options = resolve_options(options, encoder)
    seed_everything(options.seed)

    h0, w0 = content_full.shape[-2:]
    out_hw = fit_long_side(h0, w0, options.size)
    steps = split_steps(options.steps, len(sizes))
    # every input grey: optimise luminance only and return a grey picture (no colour speckle)
    grey = not options.preserve_colors and is_grey(content_full) and all(is_grey(s) for s in style_full)
    one_channel = options.preserve_colors or grey
    levels = [(out_hw if side == options.size else fit_long_side(h0, w0, side), n) for side, n in zip(sizes, steps)]
    level_content: dict[str, torch.Tensor] = {}  # the current level's content picture, as given and as optimised

    def objective_at(level: int, hw: tuple[int, int]):
        content_l = resize_tensor(content_full, hw).to(device)
        style_side = max(MIN_SIDE, round(sizes[level] * options.style_scale))
        styles_l = [resize_tensor(s, fit_min_side(*s.shape[-2:], style_side, min_side)).to(device) for s in style_full]
        if options.preserve_colors:
            content_y = rgb_to_yiq(content_l)[:, :1]
            styles_l = [match_luminance(rgb_to_yiq(s)[:, :1], content_y).expand(-1, 3, -1, -1) for s in styles_l]
            content_in = content_y.expand(-1, 3, -1, -1)
        else:
            content_in = content_l
        level_content.update(given=content_l, optimised=content_in)
        return level_objective(
            encoder,
            content_in,
            styles_l,
            options,
            hw,
            content_layers=options.content_layers,
            style_layers=options.style_layers,
            content_weight=options.content_weight,
            style_weight=options.style_weight,
            tv_weight=options.tv_weight,
            blend=options.style_blend,
            style_layer_weights=options.style_layer_weights,
            normalize=options.normalize,
            autocast=precision.autocast,
        )

    def start(hw: tuple[int, int]) -> torch.Tensor:
        if options.init == "content":
            content_in = level_content["optimised"]
            return content_in[:, :1] if one_channel else content_in
        g = torch.Generator().manual_seed(options.seed)
        return (0.5 + 0.25 * torch.randn(1, 1 if one_channel else 3, *hw, generator=g)).clamp(0, 1).to(device)

    def snapshot(pixels: torch.Tensor, step: int) -> None:
        for fn in callbacks:
            fn(_finish(pixels, level_content["given"], options.preserve_colors), step)

    image = optimise_pyramid(
        levels,
        objective_at,
        start,
        resize_tensor,
        options,
        device=device,
        precision=precision,
        name="stylize",
        on_step=snapshot if callbacks else None,
    )
    result = _finish(image, level_content["given"], options.preserve_colors).cpu()
    if result.shape[1] == 1:  # grey inputs, grey result
        result = result.expand(-1, 3, -1, -1).contiguous()
    settings = _settings(options, encoder, styles)
    return result, settings


def _finish(pixels: torch.Tensor, content: torch.Tensor, preserve_colors: bool) -> torch.Tensor:
    """The displayable RGB image: with preserve_colors, the optimised luminance plus the content's chroma."""
    pixels = pixels.clamp(0, 1)
    return with_chroma(pixels[:, :1], content) if preserve_colors else pixels


def _settings(options: StyleConfig, encoder: FeatureEncoder, styles) -> dict[str, Any]:
    data = options.to_dict()
    data.pop("progress", None)
    data["content_layers"] = list(options.content_layers)
    data["style_layers"] = list(options.style_layers)
    data["backbone_used"] = encoder.name
    data["pretrained"] = encoder.pretrained
    data["weights_source"] = encoder.source
    return data


def stylize(content, style, config=None, *, method: str = "optimise", **options) -> PIL.Image.Image:  # noqa: F821
    """Style transfer; returns a PIL image.

    ``content``: a path, PIL image or tensor (3, H, W) in [0, 1]. ``style``: one of
    those or a list of them. ``config``: the method's settings dataclass (default: its defaults,
    which are also ``artgen stylize``'s); ``options`` replace some of its fields.
    ``method="optimise"`` (the default): Gatys et al.'s optimisation;
    ``options`` are the fields of :class:`StyleConfig` (``size=512, steps=None,
    optimizer="lbfgs", content_weight=1, style_weight=None, tv_weight=None,
    style_blend=None, style_scale=1, preserve_colors=False, backbone="auto", weights=None,
    init="content", seed=0, device="auto", ...``). ``method="fast"``: Ghiasi et al.'s
    arbitrary-style networks in one pass (:mod:`artgen.style_transfer.pipeline`); ``options`` are
    the fields of :class:`ArbitraryStyleConfig` (``size=512, fast_size, strength=1,
    style_blend=None, preserve_colors=False, seamless=False, tile=None, device="auto"``).
    The result's ``.info["artgen"]`` holds the settings used.

    Raises:
        UsageError: an unknown method or option, or an option of the other method.
    """
    from .pipeline import check_method, stylize_fast

    if config is not None:
        options = {**{f.name: getattr(config, f.name) for f in dataclasses.fields(config)}, **options}
    if check_method(method) == "fast":
        return stylize_fast(content, style, **options)
    unknown = set(options) - StyleConfig.field_names()
    if unknown:
        raise UsageError(
            f"unknown stylize option(s): {', '.join(sorted(unknown))}; see artgen.style_transfer.StyleConfig"
        )
    opts = StyleConfig(**options)
    image, settings = stylize_tensor(content, style, opts)
    pil = to_pil(image[0])
    pil.info["artgen"] = settings
    return pil

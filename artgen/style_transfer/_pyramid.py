"""The coarse-to-fine pyramid shared by stylize and texture: its sizes (levels too thin for the encoder
dropped), the steps per level, and the loop that optimises the picture level by level (:func:`optimise_pyramid`)."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

import torch

from ..device import cudnn_benchmark
from ..errors import UsageError
from ..train import LambdaCallback, Repeat, Trainer
from ._objective import ImageParameter, StylizeTask, level_plan
from .config import MIN_SIDE


def fit_long_side(h: int, w: int, long_side: int) -> tuple[int, int]:
    """(height, width) scaled so the longer side is ``long_side`` px, aspect kept (rounded; each side at least 1)."""
    scale = long_side / max(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))


def is_grey(x: torch.Tensor, tolerance: float = 2.0 / 255) -> bool:
    """Whether an image ``(B, 3, H, W)`` in [0, 1] has no colour: every pixel's channels within ``tolerance``."""
    if x.shape[1] == 1:
        return True
    return bool((x.amax(dim=1) - x.amin(dim=1)).max() <= tolerance)


def fit_min_side(h: int, w: int, long_side: int, min_side: int) -> tuple[int, int]:
    """``fit_long_side`` to ``long_side``, enlarged when needed so that the short side is at least ``min_side``."""
    hw = fit_long_side(h, w, long_side)
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
    out = fit_long_side(h, w, size)
    if min(out) < min_side:
        need = math.ceil(min_side * max(h, w) / min(h, w))
        raise UsageError(
            f"the content image is {w}x{h} (aspect {max(h, w) / min(h, w):.0f}:1); at {{arg:size={size}}} its short side would be "
            f"{min(out)} px, under the {min_side} px the encoder's deepest layer needs: use {{arg:size={need}}} or more, or crop the image"
        )
    sizes = pyramid_sizes(size, levels)
    kept = [side for side in sizes if min(fit_long_side(h, w, side)) >= min_side]
    return kept


def pyramid_sizes(size: int, levels: int | None = None, coarsest: int = 128) -> list[int]:
    """Long sides of the pyramid levels, coarse to fine: halving from ``size`` down to about ``coarsest``.

    At most 3 levels. When halving would leave the coarsest level well above ``coarsest`` (384 px:
    192 and 384), one more level is added and the levels are spaced evenly from ``coarsest`` (128,
    222 and 384): the coarsest level holds most steps, so a large one made 384 px slower than
    512 px. An explicit ``levels`` keeps plain halving.
    """
    if levels is None:
        levels = 1
        while levels < 3 and size / 2**levels >= coarsest * 0.99:
            levels += 1
        if levels < 3 and size / 2 ** (levels - 1) > coarsest * 1.25:
            ratio = (size / coarsest) ** (1 / levels)
            return [max(MIN_SIDE, round(size / ratio**k)) for k in range(levels, -1, -1)]
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


@functools.lru_cache(maxsize=8)
def vgg19_margin(layers: tuple[str, ...]) -> int:
    """The margin (px) around a tile core that the VGG19 encoders need for ``layers``: the deepest layer's
    receptive-field radius rounded up to its stride (96 for relu5_1). Raises ValueError for a layer VGG19 lacks."""
    from types import SimpleNamespace

    from ..encoders import VGG19_BLOCKS, layer_names, vgg_stack
    from ..tiling import encoder_geometry

    names = layer_names(VGG19_BLOCKS)
    unknown = [n for n in layers if n not in names]
    if unknown:
        raise ValueError(f"layer(s) {', '.join(unknown)} are not in VGG19")
    with torch.device("meta"):  # the shapes only, no weights
        stack = vgg_stack(VGG19_BLOCKS, max(names.index(n) for n in layers))
    strides, radius = encoder_geometry(SimpleNamespace(names=names, features=stack), layers)
    align = max(strides.values())
    return math.ceil(radius / align) * align


def memory_plan(content_hw: tuple[int, int], options, precision: str = "bf16") -> list[dict]:
    """The memory plan of ``stylize`` with ``options`` (a ``StyleConfig``) on a content of ``content_hw`` pixels.

    One dict per pyramid level, coarse to fine: ``hw``, ``tile`` (0: whole) and ``pairs`` (the L-BFGS
    history) as :func:`~artgen.style_transfer._objective.level_plan` chooses them, and the estimated
    bytes of :func:`artgen.tiling.level_memory` for a VGG19 encoder at ``options``' layers
    (``process``, ``encoder``, ``level``, ``history``, ``total``). The peak is the largest ``total``.

    Raises:
        UsageError: a size at which the content is too thin (as ``stylize`` itself).
    """
    from ..encoders import min_input_side
    from ..tiling import level_memory
    from .config import VGG19_CONTENT_LAYERS

    content_layers = tuple(options.content_layers or VGG19_CONTENT_LAYERS)
    layers = tuple(dict.fromkeys(tuple(options.style_layers) + content_layers))
    margin = vgg19_margin(layers)
    sizes = fit_pyramid(options.size, content_hw, min_input_side(layers), options.levels)
    plan = []
    for side in sizes:
        hw = fit_long_side(*content_hw, side)
        tile, history = level_plan(hw, options)
        parts = level_memory(hw, tile=tile, margin=margin, history=history, precision=precision)
        plan.append({"hw": hw, "tile": tile, "pairs": history, **parts})
    return plan


def optimise_pyramid(
    levels: Sequence[tuple[tuple[int, int], int]],
    objective_at: Callable[[int, tuple[int, int]], tuple[Callable, int]],
    start: Callable[[tuple[int, int]], torch.Tensor],
    enlarge: Callable[[torch.Tensor, tuple[int, int]], torch.Tensor],
    options,
    *,
    device: torch.device,
    precision,
    name: str,
    on_step: Callable[[torch.Tensor, int], None] | None = None,
) -> torch.Tensor:
    """The coarse-to-fine optimisation of stylize and texture: one run of the shared loop per level.

    For each ``(hw, steps)`` of ``levels``, coarse to fine: ``objective_at(level, hw)`` gives the
    level's objective and L-BFGS history size (:func:`~artgen.stylize.objective.level_objective`);
    the picture starts as ``start(hw)`` at the first level and as ``enlarge(previous, hw)`` after,
    and :class:`~artgen.stylize.objective.StylizeTask` optimises it with ``options.optimizer`` and
    ``options.lr`` for ``steps`` steps. ``on_step(pixels, step)`` runs every ``options.save_every``
    steps when both are given (``step`` counted over all levels). Progress bars are named ``name``.

    Returns:
        The finest level's pixels, (1, C, H, W) in [0, 1], on ``device`` (C as ``start`` gave).
    """
    image = None
    done = 0
    for level, (hw, n_steps) in enumerate(levels):
        objective, history = objective_at(level, hw)
        init = start(hw) if image is None else enlarge(image, hw)
        param = ImageParameter(init.to(device))
        task = StylizeTask(param, objective, options.optimizer, options.lr, history_size=history)
        callbacks = []
        every = getattr(options, "save_every", None)
        if on_step is not None and every:

            def snapshot(trainer, step, _param=param, _offset=done):
                on_step(_param.pixels.detach(), _offset + step)

            callbacks.append(LambdaCallback(snapshot, every, at_end=False))
        desc = f"{name} {hw[1]}x{hw[0]}" + (f" ({level + 1}/{len(levels)})" if len(levels) > 1 else "")
        trainer = Trainer(
            task,
            Repeat(n_steps),
            max_steps=n_steps,
            device=device,
            precision=precision,
            callbacks=callbacks,
            log_every=max(1, min(10, n_steps)),
            progress=options.progress,
            desc=desc,
        )
        with cudnn_benchmark(device):  # the same shapes every step; restored afterwards
            trainer.fit()
        image = param.pixels.detach().clamp(0, 1)
        done += n_steps
    return image

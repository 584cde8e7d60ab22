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

from ._objective import ImageParameter, StyleObjective, StylizeTask, level_objective, match_luminance
from ._pyramid import fit_long_side, fit_min_side, fit_pyramid, is_grey, memory_plan, pyramid_sizes, split_steps
from ._texture import TextureConfig, parse_size, texture, texture_tensor
from .config import (
    BACKBONE_DEFAULTS,
    HEAD,
    INITS,
    MIN_SIDE,
    OPTIMIZERS,
    StyleConfig,
    check_style_images,
    resolve_options,
    set_encoder_layout,
    stylize_precision,
)
from .pipeline import ArbitraryStyle, ArbitraryStyleConfig, stylize_fast
from .training import load_input, stylize, stylize_tensor

__all__ = [
    "HEAD",
    "MIN_SIDE",
    "OPTIMIZERS",
    "INITS",
    "StyleConfig",
    "check_style_images",
    "BACKBONE_DEFAULTS",
    "stylize_precision",
    "set_encoder_layout",
    "resolve_options",
    "fit_long_side",
    "is_grey",
    "fit_min_side",
    "fit_pyramid",
    "pyramid_sizes",
    "split_steps",
    "ImageParameter",
    "StyleObjective",
    "StylizeTask",
    "match_luminance",
    "level_objective",
    "load_input",
    "stylize_tensor",
    "stylize",
    "ArbitraryStyle",
    "ArbitraryStyleConfig",
    "stylize_fast",
    "memory_plan",
    "TextureConfig",
    "texture",
    "texture_tensor",
    "parse_size",
]

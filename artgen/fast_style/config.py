"""Settings of style-network training (:class:`FastStyleConfig`) and the head's constants."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..encoders import FAST_STYLE_CONTENT_LAYERS, FAST_STYLE_STYLE_LAYERS
from ..errors import ArgumentError, UsageError
from ..runs.config import Settings, migrate_sections
from .networks import ARCHS

HEAD = "fast_style"

#: The shape of a style network run's ``config.json``. 1 (no ``config_version`` key): runs saved
#: before it was written; 2: networks without the anti-aliasing blurs (``model.antialias``);
#: :func:`migrate_config` reads them.
CONFIG_VERSION = 3

#: What a version-1 run meant by a missing key: it trained in fp32 (``precision`` was not stored
#: then, and fp32 was the default), with no stability term.
LEGACY_DEFAULTS = {"train": {"precision": "fp32", "stability_weight": 0.0}}

#: ``fast-style train --video`` (``train_fast_style(..., stability_weight=VIDEO_STABILITY_WEIGHT,
#: style_weight=VIDEO_STYLE_WEIGHT)`` in a notebook): the stability term's weight, and the style weight
#: raised with it so that the network keeps more of its style while it learns to hold still. Chosen from
#: benchmarks/video_flicker.py's sweep over 3 styles x 4 clips (docs/video.md): 1000 / 20 cuts a small
#: network's flicker 2.1x on average (200 / 10: 1.5x) for +18% per-frame style loss (200 / 10: +6%).
VIDEO_STABILITY_WEIGHT = 1000.0
VIDEO_STYLE_WEIGHT = 20.0

#: What a version-2 (or older) run meant by a missing ``model.antialias``: a network without the blurs.
LEGACY_V2 = {"model": {"antialias": False}}


def migrate_config(cfg: dict) -> dict:
    """A style network run's ``config.json`` (as read) in the current shape (:data:`CONFIG_VERSION`).

    Version 1 (no ``config_version``): keys its ``train`` section lacks take :data:`LEGACY_DEFAULTS`,
    so a resumed old run keeps the precision it trained in. Versions 1 and 2: the network is built
    without the anti-aliasing blurs (:data:`LEGACY_V2`), as it was trained. Returns a new dict.
    """
    return migrate_sections(cfg, CONFIG_VERSION, {1: LEGACY_DEFAULTS, 2: LEGACY_V2})


BUILTIN_DATA = "builtin"


BUILTIN_COUNT = 64  # built-in content pictures (procedural paintings, artgen.data.art_images)


@dataclass
class FastStyleConfig(Settings):
    """Every training setting; stored under ``"train"`` in the run's config.json."""

    styles: list[str] = field(default_factory=list)  # style image paths, or built-in names (artgen.data.style_images)
    style_blend: list[float] | None = None  # one weight per style image (normalised); equal by default
    data: str | None = None  # content image folder; None or "builtin": built-in pictures (offline)
    size: int = 256  # training crops, pixels
    style_size: int | None = None  # style image long side (default: size)
    steps: int = 4000
    batch_size: int = 4
    lr: float = 1e-3
    arch: str = "arbitrary"  # Ghiasi et al.'s pretrained network with the style's vector, fitted further (see docs/fast-style.md)
    content_weight: float = 1.0
    style_weight: float = 5.0
    tv_weight: float = 1e-4
    content_layers: list[str] = field(default_factory=lambda: list(FAST_STYLE_CONTENT_LAYERS))
    style_layers: list[str] = field(default_factory=lambda: list(FAST_STYLE_STYLE_LAYERS))
    backbone: str = "auto"  # auto | vgg19-original | vgg19 | random
    weights: str | None = None  # local torchvision VGG19 state dict
    init_from: str | None = None  # another fast-style run to fine-tune
    preview_every: int | None = 200
    checkpoint_every: int | None = 500
    log_every: int = 20
    seed: int = 0
    precision: str = (
        "auto"  # auto: bf16 on GPUs with it and on AMX / AVX-512 BF16 CPUs, else fp32 (stored as what it chose)
    )
    stability_weight: float = 0.0  # temporal stability under small motions and noise (video); 0 = off
    stability_noise: float = 0.02  # std of the pixel noise added to the moved photo (image units)

    def __post_init__(self) -> None:
        """Check every value, so that no invalid options object exists.

        ``styles`` may be empty here (the defaults, or a run folder's stored
        settings read field by field); :func:`train_fast_style` requires at least one.

        Raises:
            ArgumentError: a value out of range or unknown, naming the field.
            UsageError: ``style_blend`` does not give one weight per style image.
        """
        if self.arch not in ARCHS:
            raise ArgumentError("arch", f"{self.arch!r}: expected one of {', '.join(ARCHS)}")
        for name in ("size", "steps", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ArgumentError(name, f"must be a positive integer, got {value}")
        if self.size < 16:
            raise ArgumentError("size", f"must be at least 16, got {self.size}")
        if self.style_size is not None and self.style_size < 16:
            raise ArgumentError("style_size", f"must be at least 16, got {self.style_size}")
        for name in ("content_weight", "style_weight", "tv_weight", "lr", "stability_weight", "stability_noise"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ArgumentError(name, f"must be a non-negative number, got {value}")
        if self.style_blend is not None and len(self.style_blend) != len(self.styles):
            raise UsageError(
                f"{len(self.style_blend)} {{arg:style_blend}} weights for {len(self.styles)} style images"
            )
        for name in ("preview_every", "checkpoint_every"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ArgumentError(name, f"must be at least 1, got {value}")

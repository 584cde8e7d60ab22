"""Feed-forward style transfer: train one network per style, then stylise in one pass.

Training (Johnson et al. 2016) runs through the shared loop with the shared
perceptual losses: a frozen feature encoder (VGG19, or the offline random
fallback, from :mod:`artgen.encoders`) compares the network's output with
the content photo (content loss) and with the style image's Gram matrices
(style loss), plus total variation. In a notebook::

    import artgen
    model = artgen.train_fast_style("starry.png", data="photos/", out="runs/starry", steps=4000)
    model = artgen.FastStyle.load("runs/starry")
    model.stylize("photo.jpg").save("photo_starry.png")   # PIL in, PIL out
    model.stylize(tensor)                                 # (3, H, W) / (B, 3, H, W) in [0, 1] -> same shape
    model.stylize_files(["photos/"], "styled/")           # a folder in, a folder out
    model.export_onnx("starry.onnx")

Both loss terms are normalised by their targets (content by the mean square of
the photo's features, each style layer by the mean square of its target Gram
matrix, divided among the layers), so the default weights suit VGG19 and the
fallback encoder alike and a weight of 1 means "as important as the content".
"""

from __future__ import annotations

from ._task import FastStyleTask
from .config import (
    BUILTIN_COUNT,
    BUILTIN_DATA,
    CONFIG_VERSION,
    HEAD,
    VIDEO_STABILITY_WEIGHT,
    VIDEO_STYLE_WEIGHT,
    FastStyleConfig,
    migrate_config,
)
from .pipeline import FastStyle, build_net, check_strength, finish, load_net_weights, open_run, plan_outputs, read_run
from .training import train_fast_style

__all__ = [
    "HEAD",
    "BUILTIN_DATA",
    "BUILTIN_COUNT",
    "FastStyleConfig",
    "CONFIG_VERSION",
    "migrate_config",
    "VIDEO_STABILITY_WEIGHT",
    "VIDEO_STYLE_WEIGHT",
    "FastStyleTask",
    "train_fast_style",
    "finish",
    "check_strength",
    "FastStyle",
    "plan_outputs",
    "build_net",
    "read_run",
    "open_run",
    "load_net_weights",
]

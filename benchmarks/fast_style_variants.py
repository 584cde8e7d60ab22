"""``fast_style_quality.py`` with network and loss variants that artgen does not ship, for comparison.

Each flag changes one thing before the benchmark runs, then every other argument goes to
``benchmarks/fast_style_quality.py`` unchanged (same crops, held-out photos, Gatys cache and scores):

* ``--channels 16,32,64`` / ``--num-res N``: the ``small`` network's widths (one more entry adds a
  stride-2 level, so the residual blocks work at 1/8 of the resolution) and residual-block count;
* ``--dilations 1,2,4,8``: dilated 3x3 convolutions in the ``small`` network's residual blocks (one
  dilation per block, both convs of a block; Yu & Koltun 2016), for a wider receptive field at the
  same resolution and cost;
* ``--layer-scale 0.5,0.5,0.5,0.5,3``: multiply the energy-normalised style-layer weights
  (``artgen.losses.energy_weights``) by these factors, one per style layer, during training.

    OMP_NUM_THREADS=1 python -m benchmarks.fast_style_variants --dilations 1,2,4,8 -- \\
        --arch small --steps 300 --styles ihc --threads 1 --out /tmp/fsq/dilated \\
        --train '{"style_weight": 10, "style_layers": ["relu1_1","relu2_1","relu3_1","relu4_1","relu5_1"]}'
"""

from __future__ import annotations

import argparse

from torch import nn

from artgen import losses
from artgen.fast_style import networks as style_net


def _floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v.strip()]


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def patch_small(channels: list[int] | None, num_res: int | None, dilations: list[int] | None) -> None:
    """Change what ``StyleNetConfig.for_arch("small")`` builds (widths, block count) and dilate its residual blocks."""
    base_for_arch = style_net.StyleNetConfig.for_arch.__func__

    def for_arch(cls, arch):
        cfg = base_for_arch(cls, arch)
        if arch == "small":
            if channels:
                cfg.channels = list(channels)
            if num_res is not None:
                cfg.num_res = num_res
        return cfg

    style_net.StyleNetConfig.for_arch = classmethod(for_arch)
    if not dilations:
        return
    base_init = style_net.StyleNet.__init__

    def init(self, config=None):
        base_init(self, config)
        if self.config.arch != "small":
            return
        if len(dilations) != len(self.res):
            raise SystemExit(f"--dilations: {len(dilations)} values for {len(self.res)} residual blocks")
        for block, d in zip(self.res, dilations):
            for conv_norm_act in block.body:
                pad_conv = conv_norm_act[0]  # (ReflectionPad2d(1), Conv2d 3x3)
                pad_conv[0] = nn.ReflectionPad2d(d)
                pad_conv[1].dilation = (d, d)

    style_net.StyleNet.__init__ = init


def patch_layer_scale(scale: list[float]) -> None:
    """Multiply ``losses.energy_weights`` by ``scale`` whenever it weighs that many layers."""
    base = losses.energy_weights

    def energy_weights(targets):
        weights = base(targets)
        return [w * s for w, s in zip(weights, scale)] if len(weights) == len(scale) else weights

    losses.energy_weights = energy_weights


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--channels", type=_ints, default=None)
    ap.add_argument("--num-res", type=int, default=None)
    ap.add_argument("--dilations", type=_ints, default=None)
    ap.add_argument("--layer-scale", type=_floats, default=None)
    args, rest = ap.parse_known_args(argv)
    if rest and rest[0] == "--":
        rest = rest[1:]
    patch_small(args.channels, args.num_res, args.dilations)
    if args.layer_scale:
        patch_layer_scale(args.layer_scale)
    from benchmarks import fast_style_quality

    return fast_style_quality.main(rest)


if __name__ == "__main__":
    raise SystemExit(main())

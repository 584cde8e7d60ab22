"""The feature encoder every style method measures with: VGG-style layer names, input normalisation,
the layer sets of each method, and the smallest input each depth needs."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence

import torch
from torch import nn

from ..errors import UsageError

BACKBONES = ("auto", "vgg19-original", "vgg19", "random")


#: Optimisation-based style transfer and texture synthesis (Gatys, Ecker & Bethge 2016):
#: content at relu4_2, style at the first ReLU of each of the five blocks.
GATYS_CONTENT_LAYERS = ("relu4_2",)


GATYS_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


#: Feed-forward style networks (after Johnson, Alahi & Fei-Fei 2016, who use relu3_3 and
#: relu1_2..relu4_3): content at relu3_1, style at the first ReLU of blocks 1-4. Shallower
#: than Gatys's layers, so a small network trained on crops can match them.
FAST_STYLE_CONTENT_LAYERS = ("relu3_1",)


FAST_STYLE_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")


IMAGENET_MEAN = (0.485, 0.456, 0.406)


IMAGENET_STD = (0.229, 0.224, 0.225)


#: The original VGG19's input: BGR in 0-255 minus these per-channel means (Simonyan & Zisserman
#: 2014). Expressed for artgen's RGB [0, 1] images: ``(x - mean) / std`` with the means in RGB
#: order over 255 and ``std = 1/255``; the first convolution's input channels are flipped to RGB.
ORIGINAL_MEAN_BGR = (103.939, 116.779, 123.68)


ORIGINAL_MEAN = tuple(m / 255.0 for m in reversed(ORIGINAL_MEAN_BGR))


ORIGINAL_STD = (1.0 / 255.0,) * 3


# VGG19 "E" configuration: convolutions per block and their widths.
VGG19_BLOCKS = ((2, 64), (2, 128), (4, 256), (4, 512), (4, 512))


def layer_names(blocks: Sequence[tuple[int, int]] = VGG19_BLOCKS) -> list[str]:
    """Names of the layers of a VGG-style ``features`` stack, in order (index = position)."""
    names = []
    for b, (n_conv, _) in enumerate(blocks, start=1):
        for i in range(1, n_conv + 1):
            names += [f"conv{b}_{i}", f"relu{b}_{i}"]
        names.append(f"pool{b}")
    return names


class FeatureEncoder(nn.Module):
    """A frozen VGG-style stack that returns the requested layers' activations.

    ``forward(x)`` takes images ``(B, 3, H, W)`` in [0, 1], applies the input
    normalisation the weights expect and returns ``{layer: (B, C_l, H_l, W_l)}`` for
    ``self.layers`` (or for ``layers=`` given to the call, a subset of them).

    Attributes: ``name`` ("vgg19" or "random"), ``pretrained`` (bool), ``layers``
    (tuple of names), ``source`` (where the weights came from, for metadata).
    """

    def __init__(
        self,
        features: nn.Sequential,
        names: Sequence[str],
        layers: Sequence[str],
        *,
        mean: Sequence[float],
        std: Sequence[float],
        name: str,
        pretrained: bool,
        source: str = "",
    ):
        super().__init__()
        self.features = features  # keys "features.<torchvision index>.weight"
        self.names = list(names)[: len(features)]
        self.layers = tuple(layers)
        self.name = name
        self.pretrained = bool(pretrained)
        self.source = source
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self._index = {n: i for i, n in enumerate(self.names)}
        self.memory_format = torch.contiguous_format
        self.requires_grad_(False)
        self.eval()

    def set_memory_format(self, memory_format: torch.memory_format) -> FeatureEncoder:
        """Run in ``torch.channels_last`` (NHWC; faster on CUDA tensor cores) or ``torch.contiguous_format``."""
        self.memory_format = memory_format
        self.features.to(memory_format=memory_format)
        return self

    def set_padding_mode(self, mode: str) -> FeatureEncoder:
        """Pad every convolution with ``"zeros"`` (VGG's own) or ``"circular"`` (wrap around).

        Circular padding makes the encoder see its input as one period of an image
        that tiles the plane, so losses on it favour images without a seam
        (seamless textures and tiles). Pooling stays unpadded: for an exactly
        periodic result the height and width should be multiples of the deepest
        layer's stride (16 for relu5_1).
        Raises ValueError for another mode.
        """
        if mode not in ("zeros", "circular"):
            raise ValueError(f"padding mode {mode!r}: expected 'zeros' or 'circular'")
        for module in self.features:
            if isinstance(module, nn.Conv2d):
                module.padding_mode = mode
        return self

    @contextlib.contextmanager
    def padding(self, mode: str) -> Iterator[FeatureEncoder]:
        """``with encoder.padding("zeros"):`` pads with ``mode`` inside the block, then restores the previous mode.

        Raises ValueError for another mode (see :meth:`set_padding_mode`).
        """
        previous = self.padding_mode
        self.set_padding_mode(mode)
        try:
            yield self
        finally:
            self.set_padding_mode(previous)

    @property
    def padding_mode(self) -> str:
        """``"zeros"`` or ``"circular"`` (see :meth:`set_padding_mode`)."""
        convs = [m for m in self.features if isinstance(m, nn.Conv2d)]
        return convs[0].padding_mode if convs else "zeros"

    def train(self, mode: bool = True) -> FeatureEncoder:
        """Stays in eval mode whatever ``mode`` says: the encoder is a fixed measuring network."""
        return super().train(False)  # always in eval mode

    @property
    def channels(self) -> dict[str, int]:
        """Channels of each requested layer."""
        out, width = {}, 3
        for name, module in zip(self.names, self.features):
            if isinstance(module, nn.Conv2d):
                width = module.out_channels
            if name in self.layers:
                out[name] = width
        return out

    def forward(self, x: torch.Tensor, layers: Iterable[str] | None = None) -> dict[str, torch.Tensor]:
        """Features of ``x`` (B, 3, H, W) RGB in [0, 1] at ``layers`` (default: those it was built for).

        The backbone's own input normalisation is applied inside. Returns ``{name: (B, C_l, H_l,
        W_l)}``; the network runs only as deep as the deepest layer asked for.

        Raises:
            UsageError: a layer name this encoder does not have.
        """
        wanted = set(self.layers if layers is None else layers)
        unknown = wanted - set(self._index)
        if unknown:
            raise UsageError(
                f"layer(s) {', '.join(sorted(unknown))} are not in this encoder (it ends at {self.names[-1]})"
            )
        last = max(self._index[n] for n in wanted)
        h = ((x - self.mean.to(x.dtype)) / self.std.to(x.dtype)).contiguous(
            memory_format=self.memory_format
        )  # (B, 3, H, W)
        out: dict[str, torch.Tensor] = {}
        for i, module in enumerate(self.features):
            h = module(h)
            name = self.names[i]
            if name in wanted:
                out[name] = h
            if i == last:
                break
        return out

    def extra_repr(self) -> str:
        """Name, whether the weights are pretrained, and the layers (for ``print(encoder)``)."""
        return f"name={self.name!r}, pretrained={self.pretrained}, layers={self.layers}"


def min_input_side(layers: Iterable[str]) -> int:
    """Smallest image side (pixels) that the deepest of ``layers`` can take, for VGG-style layer names.

    Every 2x2 pooling before a layer halves the map (``convB_I``/``reluB_I`` come after
    ``B - 1`` poolings, ``poolB`` after ``B``), so the input needs ``2 ** poolings`` pixels on
    each side: 16 for relu5_1. Raises UsageError for a name that is not VGG-style.
    """
    pools = 0
    for name in layers:
        kind, _, rest = name.partition("_") if not name.startswith("pool") else ("pool", "", name[4:])
        block = kind[4:] if kind.startswith("relu") else kind[4:] if kind.startswith("conv") else rest
        if not block.isdigit():
            raise UsageError(f"layer {name!r} is not a VGG layer name (relu4_2, conv3_1, pool2 ...)")
        pools = max(pools, int(block) - (0 if kind == "pool" else 1))
    return 2**pools


def check_layers(layers: Sequence[str], names: Sequence[str], backbone: str) -> list[str]:
    """``layers`` without repeats, in order, each one of ``names``.

    Raises:
        UsageError: no layer, or a name the ``backbone`` does not have (the message lists its layers).
    """
    layers = list(dict.fromkeys(layers))
    if not layers:
        raise UsageError("give at least one encoder layer")
    bad = [n for n in layers if n not in names]
    if bad:
        raise UsageError(
            f"unknown {backbone} layer(s): {', '.join(bad)}; expected names like relu1_1, relu4_2, conv3_1, pool2"
        )
    return layers


def vgg_stack(
    blocks: Sequence[tuple[int, int]], upto: int, *, pool: str = "max", first_kernel: int = 3
) -> nn.Sequential:
    """The first ``upto + 1`` modules of a VGG ``features`` stack (torchvision's indices)."""
    mods: list[nn.Module] = []
    width = 3
    for n_conv, out in blocks:
        for _ in range(n_conv):
            k = first_kernel if not mods else 3
            mods += [nn.Conv2d(width, out, k, padding=k // 2), nn.ReLU(inplace=False)]
            width = out
        mods.append(nn.MaxPool2d(2, 2) if pool == "max" else nn.AvgPool2d(2, 2))
    return nn.Sequential(*mods[: upto + 1])

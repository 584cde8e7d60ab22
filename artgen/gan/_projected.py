"""The projected discriminator of Projected GAN (Sauer et al., NeurIPS 2021): small discriminators on the
features of a frozen pretrained network, the field's fastest recipe for small data and little compute.

Images ``(B, C, S, S)`` in [-1, 1] go through, in order:

1. **to RGB**: grey images are repeated to three channels; RGBA images are composited over mid-grey
   (0 in [-1, 1]), so the alpha channel is judged through the silhouette it gives the picture;
2. **resize** to ``pg_size`` (bilinear; 0 keeps the images' own side: the paper resizes to 224 px);
3. **feature network**: EfficientNet-Lite0 (:mod:`artgen.encoders.efficientnet_lite`), frozen,
   in eval mode, its first ``pg_levels`` feature levels (24/40/112/320 channels at 1/4 ... 1/32 of the side);
4. **cross-channel mixing (CCM)**: a fixed random 1x1 convolution per level, to ``pg_width * 2**i`` channels;
5. **cross-scale mixing (CSM)**: from the deepest level up, each level's mixed features plus the
   deeper result, upsampled x2 (bilinear) and a fixed random 1x1 convolution, so every level sees
   the coarser ones (the paper's feature fusion; output sides 1/2 ... 1/16 of the input side);
6. **one small discriminator per level**: [4x4 stride-2 conv -> BatchNorm -> LeakyReLU(0.2)] down to
   8x8 (at most), then a 4x4 conv to a map of logits; every convolution spectrally normalised.

The logits of all levels are concatenated: the forward returns ``(B, L)`` raw scores (L logits per
image), each trained with the hinge loss in the paper. With classes, each level's last layer is a
projection (score = <embed(y), features>) as in the paper's conditional variant.

The feature network is held outside the module's state: it is not in ``state_dict()`` (checkpoints
do not carry its 18.8 MB; a run records which network it used), not in ``parameters()`` (no
optimizer sees it) and takes no gradient updates; ``.to()`` moves it along. CCM and CSM are fixed
random weights: buffers-like parameters with ``requires_grad=False``, saved so a resumed run sees
the same projection.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ..encoders.efficientnet_lite import LEVEL_CHANNELS, EfficientNetLite0, efficientnet_lite0

#: Negative slope of the per-level discriminators' LeakyReLU (as in the paper and DCGAN).
LEAKY_SLOPE = 0.2
#: The per-level discriminators halve their maps down to this side (the paper's ``end_sz``).
END_SIDE = 8
#: Channels of the conditional projection per level (the paper's ``cmap_dim``).
CMAP_DIM = 64


@functools.lru_cache(maxsize=1)
def _shared_feature_network() -> EfficientNetLite0:
    with torch.device("cpu"):  # real tensors, even when first asked for under another default device (meta)
        return efficientnet_lite0()


def feature_network() -> EfficientNetLite0:
    """A fresh copy of the frozen pretrained EfficientNet-Lite0 (the file is read once per process).

    Raises:
        FeatureNetworkMissing: the package holding the weights is missing or damaged (names
            ``--discriminator plain`` as the way around it).
    """
    import copy

    return copy.deepcopy(_shared_feature_network())


def level_widths(width: int, levels: int) -> list[int]:
    """Channels after cross-scale mixing per level: ``[w, w, 2w, 4w][:levels]`` (the paper's expand layout, w = 64 there)."""
    return [width, width, 2 * width, 4 * width][:levels]


def disc_width(width: int, side: int) -> int:
    """Channels of a per-level discriminator's map of side ``side``: the paper's table (64 at 64 px, 128 at 32, 256 at 16, 512 at 8 and below for w = 64), scaled by ``width / 64``."""
    table = {4: 8, 8: 8, 16: 4, 32: 2}
    return max(1, width * table.get(side, 1))


class LevelDiscriminator(nn.Module):
    """One level's discriminator: features ``(B, C, s, s)`` -> logits ``(B, n)`` (n = 1 to 25 positions).

    ``s`` halves through [4x4 stride-2 conv, BatchNorm, LeakyReLU] blocks until it is at most
    :data:`END_SIDE`, then a 4x4 convolution (or ``s x s`` when smaller) gives the logits map.
    """

    def __init__(self, c_in: int, side: int, width: int, num_classes: int = 0):
        super().__init__()
        blocks = []
        while side > END_SIDE:
            c_out = disc_width(width, side // 2)
            blocks.append(
                nn.Sequential(
                    spectral_norm(nn.Conv2d(c_in, c_out, 4, 2, 1)),
                    nn.BatchNorm2d(c_out),
                    nn.LeakyReLU(LEAKY_SLOPE, inplace=True),
                )
            )
            c_in, side = c_out, side // 2
        self.blocks = nn.Sequential(*blocks)
        k = min(4, side)
        self.num_classes = num_classes
        self.out = spectral_norm(nn.Conv2d(c_in, CMAP_DIM if num_classes else 1, k, 1, 0, bias=False))
        if num_classes:
            self.embed = nn.Embedding(num_classes, CMAP_DIM)

    def forward(self, h: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, C, s, s)`` [+ int64 labels ``(B,)``] -> ``(B, n)`` raw logits."""
        out = self.out(self.blocks(h))  # (B, 1 or CMAP_DIM, k', k')
        if self.num_classes:
            cmap = self.embed(labels).to(out.dtype)[:, :, None, None]  # (B, CMAP_DIM, 1, 1)
            out = (out * cmap).sum(dim=1, keepdim=True) * CMAP_DIM**-0.5
        return out.flatten(1)


class ProjectedDiscriminator(nn.Module):
    """Images ``(B, channels, size, size)`` in [-1, 1] [+ labels] -> raw logits ``(B, L)`` from frozen pretrained features.

    See the module docstring for the layers and their source. ``config`` is a
    :class:`artgen.gan.networks.GANConfig` with ``discriminator="projected"``; ``features``
    replaces the pretrained network (tests pass a randomly initialised one).

    Raises:
        FeatureNetworkMissing: no ``features`` given and the pretrained weights cannot be had.
    """

    def __init__(self, config, features: EfficientNetLite0 | None = None):
        super().__init__()
        self.config = c = config
        net = features if features is not None else feature_network()
        object.__setattr__(
            self, "feature_net", net.eval().requires_grad_(False)
        )  # not a submodule: never saved or optimised
        self.levels = c.pg_levels
        side = c.pg_size or c.size
        mixed = [c.pg_width * 2**i for i in range(self.levels)]  # CCM output channels
        fused = level_widths(c.pg_width, self.levels)  # CSM output channels
        self.ccm = nn.ModuleList([nn.Conv2d(LEVEL_CHANNELS[i], mixed[i], 1) for i in range(self.levels)])
        self.csm = nn.ModuleList([nn.Conv2d(mixed[i], fused[i], 1) for i in range(self.levels)])
        self.ccm.requires_grad_(False)
        self.csm.requires_grad_(False)
        level_sides = [
            -(-side // 2 ** (i + 2)) for i in range(self.levels)
        ]  # the feature levels: 1/4 ... 1/32, rounded up
        sides = [2 * level_sides[0]] + level_sides[:-1]  # after CSM, each level at the side of the one above it
        self.discs = nn.ModuleList(
            [LevelDiscriminator(fused[i], sides[i], c.d_width, c.num_classes) for i in range(self.levels)]
        )

    # the feature network follows the module's device and dtype, but stays out of its state
    def _apply(self, fn, *args, **kwargs):
        super()._apply(fn, *args, **kwargs)
        self.feature_net._apply(fn, *args, **kwargs)
        return self

    def train(self, mode: bool = True):
        """Train or eval mode for the per-level discriminators; the feature network stays in eval mode."""
        super().train(mode)
        self.feature_net.eval()
        return self

    def blocks_to_freeze(self, n: int) -> list[nn.Module]:
        """The first ``n`` down-sampling blocks of every level's discriminator, or all of a level's
        when it has fewer (FreezeD's layers, for fine-tuning; the output convolutions always train).

        Raises:
            ValueError: no level has ``n`` blocks.
        """
        most = max(len(d.blocks) for d in self.discs)
        if n > most:
            raise ValueError(
                f"{n}: the projected discriminator's levels have at most {most} down-sampling block(s) at this size"
            )
        return [block for d in self.discs for block in d.blocks[:n]]

    def to_rgb(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 1|3|4, S, S)`` in [-1, 1] -> ``(B, 3, S', S')`` in [-1, 1] as the feature network sees it (grey repeated, RGBA over mid-grey, resized to ``pg_size``)."""
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        elif x.shape[1] == 4:
            alpha = (x[:, 3:] + 1) * 0.5  # [0, 1]
            x = x[:, :3] * alpha  # over 0 = mid-grey
        size = self.config.pg_size
        if size and x.shape[-1] != size:
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=x.shape[-1] > size)
        return x

    def projected_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Images ``(B, C, S, S)`` in [-1, 1] -> the fused features per level, ``(B, fused_i, S'/2**(i+1), ...)`` after CCM and CSM."""
        feats = self.feature_net.levels(self.to_rgb(x), self.levels)
        mixed = [ccm(f) for ccm, f in zip(self.ccm, feats)]
        out: list[torch.Tensor] = [mixed[0]] * self.levels
        deeper = None
        for i in reversed(range(self.levels)):  # the deepest level first; each passes itself up to the next
            h = mixed[i] if deeper is None else mixed[i] + deeper
            target = mixed[i - 1].shape[-2:] if i else (2 * h.shape[-2], 2 * h.shape[-1])
            h = F.interpolate(h, size=target, mode="bilinear", align_corners=True)
            out[i] = deeper = self.csm[i](h)  # (B, fused_i, side of level i - 1)
        return out

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Images ``(B, channels, size, size)`` in [-1, 1] [+ int64 labels ``(B,)``] -> raw logits ``(B, L)``; ValueError if a conditional D gets no labels."""
        if self.config.conditional and labels is None:
            raise ValueError("this discriminator is class-conditional: pass labels")
        feats = self.projected_features(x)
        return torch.cat([d(f, labels) for d, f in zip(self.discs, feats)], dim=1)

"""A small GAN for personal art collections: generator, discriminator and their config.

Both networks follow the resolution: square outputs of 32 to 256 px (powers of
two), one block per doubling, widths halving as the resolution grows (capped at
``max_width``).  The model file knows nothing about training.

* :class:`Generator`: ``z (B, z_dim)`` (+ class embedding) -> Linear -> 4x4 ->
  [nearest upsample x2 -> ``g_convs`` x (3x3 conv -> LeakyReLU -> pixel norm)] per
  doubling, the last doubling ending in a 3x3 conv to ``channels`` -> tanh (with
  ``g_convs=1`` the last doubling is upsample + that conv alone).  Two convolutions
  per resolution are ProGAN's and StyleGAN's layout.  Nearest upsampling plus a 3x3 convolution
  avoids the checkerboard artefacts of transposed convolutions; pixel norm
  keeps activations bounded without BatchNorm (whose batch statistics make the
  EMA copy and single-image sampling behave differently from training).
  With ``skip_z`` the stem's output and every doubling's but the last are also modulated by the latent code
  (BigGAN's skip-z, Brock et al. 2019, with the conditional gains and biases
  applied after pixel norm instead of BatchNorm; the per-layer styles of
  StyleGAN work the same way): ``x * (1 + gain(z)) + bias(z)`` per channel, from
  a linear layer that starts at zero, so a new generator starts as without it.
  Without it the code reaches only the 4x4 stem, and at 64 px every sample of a
  run was measured to share one palette; with it each sample can set its own
  colours at every resolution.
* :class:`Discriminator`: [4x4 stride-2 conv -> LeakyReLU] per halving down to
  4x4 -> [minibatch standard deviation -> 3x3 conv -> LeakyReLU] -> Linear to
  one score.  The minibatch standard deviation layer (ProGAN, Karras et al.
  2018) appends the average spread of the features over groups of
  ``mbstd_group`` images, so the discriminator can see when a batch of
  generated images are all alike: the standard counter to mode collapse.  With classes it is a projection discriminator
  (score + <embed(y), features>).  No normalisation layers: the head regularises
  it with R1 (see :mod:`artgen.gan`), optionally with spectral norm.

Images are ``(B, C, H, W)`` in [-1, 1].
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ..runs.config import Settings

SIZES = (32, 64, 128, 256)
#: The discriminators a GAN can train with: today's convolutional one, or Projected GAN's on frozen pretrained features.
DISCRIMINATORS = ("plain", "projected")
#: Added under the square roots of pixel norm and the minibatch standard deviation, as in ProGAN.
NORM_EPS = 1e-8
#: Negative slope of every LeakyReLU (DCGAN, ProGAN).
LEAKY_SLOPE = 0.2
#: Largest ``num_classes`` a config accepts: a guard against a damaged config.json, far above any labelled art set.
MAX_CLASSES = 100_000
#: Largest ``z_dim``/``g_width``/``d_width``/``max_width``: wider is terabytes of weights, not a GAN this toolkit trains.
MAX_WIDTH = 4096


@dataclass
class GANConfig(Settings):
    """Everything needed to rebuild the generator and discriminator (stored in ``config.json``).

    Raises:
        ValueError: ``size`` not in :data:`SIZES`; ``channels`` not 1, 3 or 4; ``num_classes``
            outside 0..:data:`MAX_CLASSES`; a width outside 1..:data:`MAX_WIDTH`;
            ``mbstd_group < 0``; ``g_convs`` outside 1..4; ``classes`` not ``num_classes`` long.
    """

    size: int = 64
    channels: int = 3
    z_dim: int = 128
    num_classes: int = 0  # 0: unconditional
    g_width: int = 64  # generator channels at half the output resolution; doubles per halving of the resolution
    d_width: int = 32  # discriminator channels after its first block
    max_width: int = 256
    spectral_norm: bool = False
    classes: list[str] | None = None
    mbstd_group: int = 4  # minibatch standard deviation over groups of this many images (0: off)
    latent_norm: bool = True  # scale z and the class embedding each to unit RMS before the stem
    g_convs: int = 1  # 3x3 convolutions per generator doubling (ProGAN/StyleGAN use 2)
    skip_z: bool = True  # latent code modulates every doubling (BigGAN's skip-z)
    discriminator: str = "plain"  # "plain": the convolutional D below; "projected": D on frozen pretrained features (artgen.gan._projected)
    pg_size: int = 0  # projected D: side the images are resized to for the feature network (0: their own side; the paper uses 224)
    pg_levels: int = 2  # projected D: feature levels discriminated on (1-4, shallowest first; the paper's 4; 2 measured best at a fixed CPU time)
    pg_width: int = (
        64  # projected D: channels of the first cross-channel-mixing level (doubling per level; the paper's 64)
    )

    def __post_init__(self):
        if self.size not in SIZES:
            raise ValueError(f"size {self.size}: expected one of {', '.join(map(str, SIZES))}")
        if self.channels not in (1, 3, 4):
            raise ValueError(f"channels must be 1, 3 or 4 (RGBA), got {self.channels}")
        if self.num_classes < 0 or self.num_classes > MAX_CLASSES:
            raise ValueError(f"num_classes must be from 0 to {MAX_CLASSES}, got {self.num_classes}")
        for name in ("z_dim", "g_width", "d_width", "max_width"):
            value = getattr(self, name)
            if not 1 <= value <= MAX_WIDTH:
                raise ValueError(f"{name} must be from 1 to {MAX_WIDTH}, got {value}")
        if self.mbstd_group < 0:
            raise ValueError("mbstd_group must be >= 0")
        if not 1 <= self.g_convs <= 4:
            raise ValueError(f"g_convs must be from 1 to 4, got {self.g_convs}")
        if self.classes is not None and len(self.classes) != self.num_classes:
            raise ValueError(f"{len(self.classes)} class names for {self.num_classes} classes")
        if self.discriminator not in DISCRIMINATORS:
            raise ValueError(f"discriminator {self.discriminator!r}: expected one of {', '.join(DISCRIMINATORS)}")
        if not (self.pg_size == 0 or 16 <= self.pg_size <= 512):
            raise ValueError(f"pg_size must be 0 (the images' own side) or from 16 to 512, got {self.pg_size}")
        if not 1 <= self.pg_levels <= 4:
            raise ValueError(f"pg_levels must be from 1 to 4, got {self.pg_levels}")
        if not 1 <= self.pg_width <= 1024:
            raise ValueError(f"pg_width must be from 1 to 1024, got {self.pg_width}")

    @property
    def conditional(self) -> bool:
        """Whether the GAN is class-conditional (``num_classes > 0``)."""
        return self.num_classes > 0

    @property
    def num_blocks(self) -> int:
        """Doublings from 4x4 to ``size`` (3 at 32 px, 6 at 256 px)."""
        return int(math.log2(self.size)) - 2

    def g_channels(self, res: int) -> int:
        """Channels of the generator's feature map at resolution ``res`` (< size)."""
        return min(self.max_width, self.g_width * (self.size // (2 * res)))

    def d_channels(self, res: int) -> int:
        """Channels of the discriminator's feature map at resolution ``res`` (< size)."""
        return min(self.max_width, self.d_width * (self.size // (2 * res)))


#: The :class:`GANConfig` fields that shape the networks' weights besides ``size``, ``channels`` and
#: ``num_classes``: a run can start from another's weights only where all of them agree.
ARCHITECTURE_FIELDS = (
    "z_dim",
    "g_width",
    "d_width",
    "max_width",
    "spectral_norm",
    "mbstd_group",
    "latent_norm",
    "g_convs",
    "skip_z",
    "discriminator",
    "pg_size",
    "pg_levels",
    "pg_width",
)


def _unit_rms(v: torch.Tensor) -> torch.Tensor:
    return v * torch.rsqrt(v.pow(2).mean(dim=1, keepdim=True) + NORM_EPS)


class PixelNorm(nn.Module):
    """Normalise each pixel's feature vector to unit RMS (ProGAN, Karras et al. 2018)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W) -> (B, C, H, W)``, each ``x[b, :, i, j]`` scaled to unit RMS over C."""
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + NORM_EPS)


class GBlock(nn.Sequential):
    """One generator doubling: ``(B, c_in, R, R) -> (B, c_out, 2R, 2R)`` by nearest upsample, then ``convs`` x (3x3 conv, LeakyReLU(0.2), pixel norm)."""

    def __init__(self, c_in: int, c_out: int, convs: int = 1):
        layers: list[nn.Module] = [nn.Upsample(scale_factor=2, mode="nearest")]
        for i in range(convs):
            layers += [
                nn.Conv2d(c_in if i == 0 else c_out, c_out, 3, padding=1),
                nn.LeakyReLU(LEAKY_SLOPE, inplace=True),
                PixelNorm(),
            ]
        super().__init__(*layers)


class SkipZ(nn.Module):
    """Per-channel gain and bias from the latent code: ``(B, C, H, W), (B, in_dim) -> (B, C, H, W)``.

    ``x * (1 + gain) + bias`` with ``(gain, bias) = Linear(v)``; the linear layer starts at
    zero, so the module starts as the identity (BigGAN's skip-z conditional gains and biases).
    """

    def __init__(self, in_dim: int, channels: int):
        super().__init__()
        self.affine = nn.Linear(in_dim, 2 * channels)
        nn.init.zeros_(self.affine.weight)
        nn.init.zeros_(self.affine.bias)

    def forward(self, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Modulate ``x`` ``(B, C, H, W)`` by the code ``v`` ``(B, in_dim)``."""
        gain, bias = self.affine(v).to(x.dtype).unsqueeze(-1).unsqueeze(-1).chunk(2, dim=1)  # (B, C, 1, 1) each
        return x * (1 + gain) + bias


class Generator(nn.Module):
    """``z (B, z_dim)`` [+ labels (B,)] -> images ``(B, channels, size, size)`` in [-1, 1]."""

    def __init__(self, config: GANConfig | None = None):
        super().__init__()
        self.config = c = config or GANConfig()
        c0 = c.g_channels(4)
        in_dim = c.z_dim
        if c.conditional:
            self.embed = nn.Embedding(c.num_classes, c.z_dim)
            in_dim += c.z_dim
        self.stem = nn.Linear(in_dim, c0 * 16)
        self.stem_act = nn.Sequential(nn.LeakyReLU(LEAKY_SLOPE, inplace=True), PixelNorm())
        blocks = []
        res = 4
        for _ in range(c.num_blocks - 1):
            blocks.append(GBlock(c.g_channels(res), c.g_channels(res * 2), c.g_convs))
            res *= 2
        self.blocks = nn.Sequential(*blocks)  # ends at size / 2
        if c.skip_z:  # one modulation after the stem and after each doubling but the last
            self.skip = nn.ModuleList([SkipZ(in_dim, c.g_channels(4 * 2**i)) for i in range(c.num_blocks)])
        # The last doubling ends in pixels: nearest upsample, g_convs - 1 convolutions at full
        # resolution on half the previous width, then a 3x3 conv to `channels` (with g_convs=1,
        # upsample + that conv: the layout of runs saved before g_convs existed).
        c_in = c.g_channels(res)
        c_full = max(1, c_in // 2) if c.g_convs > 1 else c_in
        self.to_image = nn.Sequential(
            *GBlock(c_in, c_full, c.g_convs - 1), nn.Conv2d(c_full, c.channels, 3, padding=1)
        )

    def forward(
        self, z: torch.Tensor, labels: torch.Tensor | None = None, *, keep_scale: bool = False
    ) -> torch.Tensor:
        """``z`` ``(B, z_dim)`` [+ int64 ``labels`` ``(B,)``] -> ``(B, channels, size, size)`` in [-1, 1]; ValueError if a conditional G gets no labels.

        With ``latent_norm``, each code is scaled to unit RMS; ``keep_scale=True`` keeps its own scale
        instead (a standard normal code's RMS is close to 1, a truncated one's is smaller), so that
        truncation pulls the samples toward the generator's average picture.
        """
        c = self.config
        if c.latent_norm and keep_scale:
            z = _unit_rms(z) * z.float().pow(2).mean(dim=1, keepdim=True).sqrt().to(z.dtype)
        elif c.latent_norm:
            z = _unit_rms(z)
        if c.conditional:
            if labels is None:
                raise ValueError("this generator is class-conditional: pass labels")
            e = self.embed(labels)
            if c.latent_norm:  # neither part can drown the other as the embedding grows in training
                e = _unit_rms(e)
            z = torch.cat([z, e], dim=1)  # (B, 2*z_dim)
        x = self.stem_act(self.stem(z).view(z.shape[0], -1, 4, 4))  # (B, C0, 4, 4)
        if c.skip_z:
            x = self.skip[0](x, z)
            for block, mod in zip(self.blocks, self.skip[1:]):
                x = mod(block(x), z)
        else:
            x = self.blocks(x)  # (B, C, size/2, size/2)
        return torch.tanh(self.to_image(x))


def build_discriminator(config: GANConfig) -> nn.Module:
    """The discriminator ``config.discriminator`` names: :class:`Discriminator` or a
    :class:`~artgen.gan._projected.ProjectedDiscriminator`.

    Raises:
        FeatureNetworkMissing: ``"projected"`` and the pretrained feature network's package is missing.
    """
    if config.discriminator == "projected":
        from ._projected import ProjectedDiscriminator

        return ProjectedDiscriminator(config)
    return Discriminator(config)


class Discriminator(nn.Module):
    """Images ``(B, channels, size, size)`` [+ labels] -> raw scores ``(B,)``."""

    def __init__(self, config: GANConfig | None = None):
        super().__init__()
        self.config = c = config or GANConfig()
        sn = spectral_norm if c.spectral_norm else (lambda m: m)
        blocks = []
        c_in, res = c.channels, c.size
        for _ in range(c.num_blocks):
            c_out = c.d_channels(res // 2)
            blocks.append(
                nn.Sequential(
                    sn(nn.Conv2d(c_in, c_out, 4, stride=2, padding=1)), nn.LeakyReLU(LEAKY_SLOPE, inplace=True)
                )
            )
            c_in, res = c_out, res // 2
        self.blocks = nn.Sequential(*blocks)  # ends at 4x4
        if c.mbstd_group:
            self.mbstd = MinibatchStd(c.mbstd_group)
            self.final = nn.Sequential(
                sn(nn.Conv2d(c_in + 1, c_in, 3, padding=1)), nn.LeakyReLU(LEAKY_SLOPE, inplace=True)
            )
        self.features_dim = c_in * 16
        self.head = sn(nn.Linear(self.features_dim, 1))
        if c.conditional:
            self.embed = sn(nn.Embedding(c.num_classes, self.features_dim))

    def blocks_to_freeze(self, n: int) -> list[nn.Module]:
        """The first ``n`` down-sampling blocks (FreezeD's layers, for fine-tuning).

        Raises:
            ValueError: the discriminator has fewer than ``n`` blocks.
        """
        if n > len(self.blocks):
            raise ValueError(f"{n}: the discriminator has only {len(self.blocks)} blocks at {self.config.size}px")
        return list(self.blocks[:n])

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``(B, channels, size, size)`` in [-1, 1] -> the flattened 4x4 features ``(B, features_dim)``."""
        h = self.blocks(x)  # (B, C, 4, 4)
        if self.config.mbstd_group:
            h = self.final(self.mbstd(h))
        return h.flatten(1)  # (B, C*16)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Images ``(B, channels, size, size)`` in [-1, 1] [+ int64 ``labels`` ``(B,)``] -> raw logits ``(B,)``; ValueError if a conditional D gets no labels."""
        h = self.features(x)
        out = self.head(h).squeeze(1)  # (B,)
        if self.config.conditional:
            if labels is None:
                raise ValueError("this discriminator is class-conditional: pass labels")
            out = out + (self.embed(labels) * h).sum(dim=1)  # projection
        return out


class MinibatchStd(nn.Module):
    """ProGAN's minibatch standard deviation: ``(B, C, H, W) -> (B, C+1, H, W)``.

    Images are split into groups of ``group`` consecutive images (``group`` is
    lowered to the largest divisor of B not above it); the extra channel is, for
    every image, the standard deviation of each feature over its group, averaged
    over features and positions.  Consecutive groups stay whole when a batch is
    sliced between processes (torchrun), so the result does not depend on the
    number of processes.
    """

    def __init__(self, group: int = 4):
        super().__init__()
        self.group = group

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W) -> (B, C + 1, H, W)``, the statistic computed in float32 and cast back to ``x``'s dtype."""
        b, c, h, w = x.shape
        g = min(self.group, b)
        while b % g:
            g -= 1
        y = x.float().view(b // g, g, c, h, w)  # image i is in group i // g
        std = (y.var(dim=1, unbiased=False) + NORM_EPS).sqrt().mean(dim=(1, 2, 3))  # (B // g,)
        feat = std.view(b // g, 1, 1, 1, 1).expand(-1, g, 1, h, w).reshape(b, 1, h, w).to(x.dtype)
        return torch.cat([x, feat], dim=1)


def count_parameters(module: nn.Module) -> int:
    """Number of parameter values in ``module`` (trainable or not; buffers excluded)."""
    return sum(p.numel() for p in module.parameters())

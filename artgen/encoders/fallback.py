"""The offline fallback encoder: a VGG-shaped network with a Gabor first layer and calibrated random
weights, deterministic and download-free (lower quality than a real VGG19)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from .base import (
    GATYS_CONTENT_LAYERS,
    GATYS_STYLE_LAYERS,
    IMAGENET_MEAN,
    IMAGENET_STD,
    FeatureEncoder,
    check_layers,
    layer_names,
    vgg_stack,
)

#: The fallback's architecture: a VGG-shaped stack, narrower and with fewer convolutions.
RANDOM_BLOCKS = ((2, 52), (2, 96), (2, 192), (2, 256), (1, 256))


RANDOM_SEED = 1234


RANDOM_FIRST_KERNEL = 7


def _reference_images(size: int = 64) -> torch.Tensor:
    """Fixed images used to calibrate the fallback's activations (natural-ish statistics)."""
    from ..data import art_images

    g = torch.Generator().manual_seed(RANDOM_SEED)
    art = art_images(3, size=size, seed=RANDOM_SEED)
    # 1/f noise adds the texture the procedural paintings lack.
    noise = torch.randn(3, 3, size, size, generator=g)
    fy = torch.fft.fftfreq(size).view(-1, 1)
    fx = torch.fft.fftfreq(size).view(1, -1)
    amp = 1.0 / (fx.pow(2) + fy.pow(2)).sqrt().clamp_min(1.0 / size)
    pink = torch.fft.ifft2(torch.fft.fft2(noise) * amp).real
    pink = (pink - pink.mean()) / pink.std() * 0.15 + 0.5
    return torch.cat([art, pink.clamp(0, 1)])


@torch.no_grad()
def build_random_encoder(
    layers: Sequence[str] = GATYS_STYLE_LAYERS + GATYS_CONTENT_LAYERS,
    *,
    seed: int = RANDOM_SEED,
    blocks: Sequence[tuple[int, int]] = RANDOM_BLOCKS,
    device: torch.device | str = "cpu",
) -> FeatureEncoder:
    """The offline encoder: a seeded random VGG-shaped network, calibrated, deterministic.

    Untrained convolutional networks already capture texture statistics (He et al.
    2016; Ustyuzhaninov et al. 2017). To make their Gram matrices describe paint
    rather than pixel noise this network:

    * uses zero-mean filters (no response to flat colour beyond the first layer's
      colour filters), scaled per layer so each channel's pre-activation has unit
      variance and zero median on fixed calibration images (a data-driven
      initialisation), so every layer weighs in equally;
    * pools with averages instead of maxima (smoother gradients, less speckle);
    * is narrower than VGG19 and has fewer convolutions per block (faster; the
      extra depth of random layers adds no useful statistics).

    Building it leaves the global random stream where it was, so a seeded run draws the same
    numbers whether or not an earlier call already built (and cached) this encoder.
    """
    names = layer_names(blocks)
    layers = check_layers(layers, names, "random")
    upto = max(names.index(n) for n in layers)
    key = (int(seed), tuple(map(tuple, blocks)))
    with torch.random.fork_rng(
        devices=[]
    ):  # the layers' default initialisation (overwritten) must not move the caller's random stream
        if key not in _RANDOM_CACHE:
            _RANDOM_CACHE[key] = _calibrated_random_state(int(seed), blocks)
        stack = vgg_stack(blocks, upto, pool="avg", first_kernel=RANDOM_FIRST_KERNEL)
    stack.load_state_dict({k: v for k, v in _RANDOM_CACHE[key].items() if int(k.split(".")[0]) <= upto})
    enc = FeatureEncoder(
        stack,
        names,
        layers,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        name="random",
        pretrained=False,
        source=f"random(seed={seed})",
    )
    return enc.to(device)


_RANDOM_CACHE: dict = {}


@torch.no_grad()
def _calibrated_random_state(seed: int, blocks) -> dict[str, torch.Tensor]:
    names = layer_names(blocks)
    g = torch.Generator().manual_seed(seed)
    stack = vgg_stack(blocks, len(names) - 1, pool="avg", first_kernel=RANDOM_FIRST_KERNEL)
    h = _reference_images()
    h = (h - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    first = True
    for module in stack:
        if isinstance(module, nn.Conv2d) and first:
            # conv1_1: a fixed bank of smooth oriented filters (Gabor, 7x7) on luminance and
            # colour-opponent channels, like the first layer of a trained network.
            module.weight.copy_(gabor_bank(module.out_channels, RANDOM_FIRST_KERNEL))
            module.bias.zero_()
        if isinstance(module, nn.Conv2d):
            w = module.weight.clone() if first else torch.randn(module.weight.shape, generator=g)
            if not first:
                w = w - w.mean(dim=(2, 3), keepdim=True)  # zero-mean per input channel
            w = w / w.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
            module.weight.copy_(w)
            module.bias.zero_()
            pre = module(h)
            std = pre.transpose(0, 1).flatten(1).std(dim=1).clamp_min(1e-6)
            module.weight.div_(std.view(-1, 1, 1, 1))
            med = (pre.transpose(0, 1).flatten(1) / std.view(-1, 1)).median(dim=1).values
            module.bias.copy_(-med)
            first = False
        h = module(h)
    return {k: v.clone() for k, v in stack.state_dict().items()}


def gabor_bank(channels: int = 48, size: int = 7) -> torch.Tensor:
    """``(channels, 3, size, size)`` smooth oriented filters over luminance and two colour-opponent axes."""
    r = torch.arange(size, dtype=torch.float32) - size // 2
    yy, xx = torch.meshgrid(r, r, indexing="ij")
    lum = torch.tensor([0.299, 0.587, 0.114])
    rg = torch.tensor([0.5, -0.5, 0.0])
    by = torch.tensor([-0.25, -0.25, 0.5])
    filters = []

    def gabor(theta, wavelength, phase, sigma):
        u = xx * math.cos(theta) + yy * math.sin(theta)
        env = torch.exp(-(xx**2 + yy**2) / (2 * sigma**2))
        f = env * torch.cos(2 * math.pi * u / wavelength + phase)
        return f - f.mean() * (phase == 0)

    n_orient = 6
    for wavelength, sigma in ((3.0, 1.2), (6.0, 2.2)):
        for k in range(n_orient):
            for phase in (0.0, math.pi / 2):
                filters.append(gabor(math.pi * k / n_orient, wavelength, phase, sigma)[None] * lum.view(3, 1, 1))
    for axis in (rg, by):
        for k in range(4):
            for phase in (0.0, math.pi / 2):
                filters.append(gabor(math.pi * k / 4, 6.0, phase, 2.2)[None] * axis.view(3, 1, 1))
    for axis in (lum, rg, by, -rg, -by, -lum):
        for sigma in (1.0, 2.5):
            env = torch.exp(-(xx**2 + yy**2) / (2 * sigma**2))
            filters.append(env[None] * axis.view(3, 1, 1))
    bank = torch.stack(filters)
    if len(bank) < channels:
        raise ValueError(f"the filter bank has {len(bank)} filters; asked for {channels}")
    bank = bank[:channels]
    return bank / bank.flatten(1).norm(dim=1).view(-1, 1, 1, 1)

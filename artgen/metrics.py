"""Sample-quality metrics for generative models: KID and FID over network features.

* :func:`kid`: Kernel Inception Distance (Binkowski et al. 2018), the unbiased
  MMD^2 with the cubic polynomial kernel ``k(x, y) = (x.y / d + 1)^3`` averaged
  over random subsets.  Unbiased, so it is meaningful for small sets; subset
  sizes never exceed the number of images available.
* :func:`fid`: Fréchet distance between Gaussian fits of the features (biased
  for small sets; reported only with Inception features).

Features come from :func:`feature_network`:

* ``inception``: torchvision's Inception-v3 (ImageNet weights, 2048-d pool
  features), from a local weights file (``weights=``) or torchvision's
  download (cached under ``$TORCH_HOME``).  Never downloaded when
  ``$ARTGEN_OFFLINE`` is set.  Note: torchvision's Inception is not the
  TensorFlow network of published FID numbers, so values are comparable between
  artgen runs, not with papers.
* ``random`` (the fallback): a fixed random-weight convolutional network (seed
  0, Kaiming init, 4 stride-2 conv layers with ReLU, global average and max
  pooling of the last two layers: 768-d), on images resized to 64x64 RGB.
  Deterministic on every machine; random-feature KID tracks distribution
  differences but its scale differs from Inception KID: compare values only
  with the same feature network.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .errors import UsageError

log = logging.getLogger("artgen.metrics")


class RandomFeatures(nn.Module):
    """The deterministic fallback feature network (see the module docstring)."""

    def __init__(self, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        widths = [3, 64, 128, 192, 192]
        self.convs = nn.ModuleList()
        for c_in, c_out in zip(widths[:-1], widths[1:]):
            conv = nn.Conv2d(c_in, c_out, 3, stride=2, padding=1)
            with torch.no_grad():
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=g) * (2.0 / (c_in * 9)) ** 0.5)
                conv.bias.zero_()
            self.convs.append(conv)
        self.requires_grad_(False)
        self.dim = 2 * (widths[-1] + widths[-2])

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, 64, 64) in [0, 1] -> (B, 768)
        x = (x - 0.5) / 0.25
        pooled = []
        for i, conv in enumerate(self.convs):
            x = F.relu(conv(x))
            if i >= len(self.convs) - 2:
                pooled += [x.mean(dim=(2, 3)), x.amax(dim=(2, 3))]
        return torch.cat(pooled, dim=1)


def _inception(weights: str | os.PathLike | None, device: torch.device) -> nn.Module | None:
    """Inception-v3 with its classifier removed, or None when no weights can be had."""
    from torchvision.models import Inception_V3_Weights, inception_v3

    if weights is not None:
        from .checkpoint import load_state_into, load_weights_file

        model = inception_v3(weights=None, aux_logits=True, init_weights=False)
        load_state_into(model, load_weights_file(weights), what=f"Inception weights '{weights}'")
    else:
        if os.environ.get("ARTGEN_OFFLINE"):
            return None
        try:
            model = inception_v3(weights=Inception_V3_Weights.IMAGENET1K_V1)  # cached under $TORCH_HOME
        except Exception as exc:  # noqa: BLE001 - no network, broken cache: fall back, say why
            log.warning("could not load Inception-v3 weights (%s)", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            return None
    model.fc = nn.Identity()
    model.aux_logits = False
    model.AuxLogits = None
    return model.eval().requires_grad_(False).to(device)


def feature_network(kind: str = "auto", *, weights: str | os.PathLike | None = None, device: torch.device | str = "cpu") -> tuple[Callable[[torch.Tensor], torch.Tensor], str]:
    """``(features(images in [0, 1], (B, C, H, W)) -> (B, D), name)``.

    ``kind`` is ``inception``, ``random`` or ``auto`` (Inception when its
    weights are available, else the random-weight fallback, announced once).
    """
    device = torch.device(device)
    if kind not in ("auto", "inception", "random"):
        raise UsageError(f"feature network {kind!r}: expected auto, inception or random")
    net = None
    if kind in ("auto", "inception"):
        net = _inception(weights, device)
        if net is None and kind == "inception":
            raise UsageError("Inception-v3 weights are not available offline; pass --inception-weights FILE")
    if net is not None:
        mean = torch.tensor([0.485, 0.456, 0.406], device=device).view(1, 3, 1, 1)
        std = torch.tensor([0.229, 0.224, 0.225], device=device).view(1, 3, 1, 1)

        @torch.no_grad()
        def inception_features(x):
            x = _rgb(x.to(device).float())
            x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
            return net((x - mean) / std).float()

        return inception_features, "inception-v3"
    print("KID uses the fallback feature network (fixed random-weight CNN): Inception-v3 weights are unavailable; values are comparable only with other fallback KIDs")
    rnet = RandomFeatures().to(device).eval()

    @torch.no_grad()
    def random_features(x):
        x = _rgb(x.to(device).float())
        x = F.interpolate(x, size=(64, 64), mode="bilinear", align_corners=False, antialias=x.shape[-1] > 64)
        return rnet(x)

    return random_features, "random-cnn"


def _rgb(x: torch.Tensor) -> torch.Tensor:
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


@torch.no_grad()
def extract(features: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor, *, batch_size: int = 100) -> torch.Tensor:
    """Features of images (uint8, or floats in [0, 1]), batch by batch, as float64 on the CPU."""
    out = []
    for i in range(0, len(images), batch_size):
        x = images[i : i + batch_size]
        x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
        out.append(features(x).double().cpu())
    return torch.cat(out)


def kid(real: torch.Tensor, fake: torch.Tensor, *, subsets: int = 100, subset_size: int = 1000, seed: int = 0) -> tuple[float, float]:
    """KID between two feature sets ``(N, D)``: (mean, std) of the unbiased MMD^2 over ``subsets`` random subsets.

    ``subset_size`` is capped at the smaller set's size (at least 2 images each).
    """
    m = min(subset_size, len(real), len(fake))
    if m < 2:
        raise UsageError(f"KID needs at least 2 real and 2 generated images, got {len(real)} and {len(fake)}")
    d = real.shape[1]
    g = torch.Generator().manual_seed(seed)
    values = []
    for _ in range(subsets):
        x = real[torch.randperm(len(real), generator=g)[:m]].double()
        y = fake[torch.randperm(len(fake), generator=g)[:m]].double()
        kxx = (x @ x.T / d + 1) ** 3
        kyy = (y @ y.T / d + 1) ** 3
        kxy = (x @ y.T / d + 1) ** 3
        mmd = (kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1)) + (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1)) - 2 * kxy.mean()
        values.append(float(mmd))
    t = torch.tensor(values)
    return float(t.mean()), float(t.std()) if len(values) > 1 else 0.0


def fid(real: torch.Tensor, fake: torch.Tensor) -> float:
    """Fréchet distance ``|mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2)`` between Gaussian fits."""
    real, fake = real.double(), fake.double()
    mu1, mu2 = real.mean(0), fake.mean(0)
    s1, s2 = torch.cov(real.T), torch.cov(fake.T)
    evals, evecs = torch.linalg.eigh(s1)
    root1 = evecs @ torch.diag(evals.clamp_min(0).sqrt()) @ evecs.T
    middle = torch.linalg.eigvalsh(root1 @ s2 @ root1).clamp_min(0).sqrt().sum()
    return float((mu1 - mu2).pow(2).sum() + torch.trace(s1) + torch.trace(s2) - 2 * middle)

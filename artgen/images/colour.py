"""Colour conversions in one place: BT.601 luminance and the YIQ colour space (for colour-preserving style transfer)."""

from __future__ import annotations

import torch

LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601 weights of R, G, B


def luminance(x: torch.Tensor) -> torch.Tensor:
    """Grey from RGB along the channel axis: ``(..., 3, H, W) -> (..., 1, H, W)``."""
    weights = torch.tensor(LUMA, dtype=x.dtype, device=x.device).view(3, 1, 1)
    return (x * weights).sum(-3, keepdim=True)


_RGB_TO_YIQ = torch.tensor([LUMA, [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])


_YIQ_TO_RGB = torch.linalg.inv(_RGB_TO_YIQ)


def rgb_to_yiq(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB in [0, 1] -> YIQ (FCC/NTSC matrix; Y is BT.601 luminance in [0, 1], I and Q the chroma, about ±0.6 and ±0.52)."""
    return torch.einsum("ij,bjhw->bihw", _RGB_TO_YIQ.to(x), x)


def yiq_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) YIQ -> RGB, the exact inverse of :func:`rgb_to_yiq` (not clamped: out-of-gamut YIQ leaves [0, 1])."""
    return torch.einsum("ij,bjhw->bihw", _YIQ_TO_RGB.to(x), x)


def with_chroma(luma: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """RGB in [0, 1] from a luminance ``(B, 1, H, W)`` and the chroma (YIQ's I and Q) of ``content`` ``(B, 3, H, W)``."""
    return yiq_to_rgb(torch.cat([luma, rgb_to_yiq(content)[:, 1:]], dim=1)).clamp(0, 1)


def hsv_to_rgb(h: torch.Tensor, s: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """(m,) hue/saturation/value in [0, 1] -> (m, 3) RGB."""
    n = torch.tensor([5.0, 3.0, 1.0])
    k = torch.remainder(n[None, :] + h[:, None] * 6.0, 6.0)
    f = torch.minimum(torch.minimum(k, 4.0 - k), torch.ones(())).clamp(min=0.0)
    return v[:, None] - v[:, None] * s[:, None] * f

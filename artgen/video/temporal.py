"""The apply-time temporal filter: motion-compensated recursive smoothing of a stylised clip's flicker."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from artgen.errors import ArgumentError


def _global_shift(prev: torch.Tensor, cur: torch.Tensor, work_size: int = 256) -> tuple[float, float]:
    """(dy, dx) in pixels such that ``cur ≈ prev`` shifted by (dy, dx): phase correlation
    (Kuglin & Hines 1975) of the luminance of two (3, H, W) frames, computed on at most
    ``work_size`` px with a parabolic sub-pixel fit of the peak."""
    h, w = cur.shape[-2:]
    scale = max(1, math.ceil(max(h, w) / work_size))
    a = prev.mean(0, keepdim=True)[None]
    b = cur.mean(0, keepdim=True)[None]
    if scale > 1:
        a, b = F.avg_pool2d(a, scale, ceil_mode=True), F.avg_pool2d(b, scale, ceil_mode=True)
    a, b = a[0, 0] - a.mean(), b[0, 0] - b.mean()
    hh, ww = a.shape
    win = (
        torch.outer(torch.hann_window(hh, periodic=False), torch.hann_window(ww, periodic=False))
        if min(hh, ww) > 4
        else 1.0
    )
    fa, fb = torch.fft.rfft2(a * win), torch.fft.rfft2(b * win)
    cross = fb * fa.conj()
    corr = torch.fft.irfft2(cross / cross.abs().clamp_min(1e-9), s=(hh, ww))
    py, px = divmod(int(corr.argmax()), ww)

    def refine(c_minus: float, c0: float, c_plus: float) -> float:
        denom = c_minus - 2 * c0 + c_plus
        return 0.0 if denom >= 0 else max(-0.5, min(0.5, 0.5 * (c_minus - c_plus) / denom))

    fy = py + refine(float(corr[(py - 1) % hh, px]), float(corr[py, px]), float(corr[(py + 1) % hh, px]))
    fx = px + refine(float(corr[py, (px - 1) % ww]), float(corr[py, px]), float(corr[py, (px + 1) % ww]))
    dy = fy - hh if fy > hh / 2 else fy
    dx = fx - ww if fx > ww / 2 else fx
    return dy * scale, dx * scale


def _shift(x: torch.Tensor, dy: float, dx: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``x`` (C, H, W) moved by whole pixels (dy, dx), and a (1, H, W) mask of valid pixels."""
    dy, dx = int(round(dy)), int(round(dx))
    c, h, w = x.shape
    out = torch.zeros_like(x)
    mask = torch.zeros(1, h, w, dtype=x.dtype, device=x.device)
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    if abs(dy) < h and abs(dx) < w:
        out[:, yd, xd] = x[:, ys, xs]
        mask[:, yd, xd] = 1
    return out, mask


class TemporalFilter:
    """A light motion-compensated recursive filter for stylised frames (no optical-flow network).

    For each frame, the global translation from the previous input frame is found by phase
    correlation; the previous *output* is moved by it and blended into the new stylised
    frame where the (moved) previous input matches the new one::

        w = strength * exp(-(|blur(x_t) - blur(shift(x_{t-1}))| / sigma)^2)   per pixel
        y_t = (1 - w) * s_t + w * shift(y_{t-1})

    where ``s_t`` is the network's output. Static backgrounds and panning shots are
    smoothed over time; moving objects and cuts (large differences) take the new frame.
    ``strength`` in [0, 1) (0 = off); ``sigma`` in [0, 1] RGB units. Frames are (3, H, W) float
    in [0, 1] on any device. Recursive filtering of this kind is the "blind" temporal
    smoothing of Lai et al. 2018 without their learned network; the blend mask is the
    usual photometric occlusion test.

    After each call, ``last_shift`` holds the (dy, dx) in pixels found between the
    previous and the current input frame (``None`` for a first frame, after a size
    change, or with ``strength`` 0).

    Raises:
        ArgumentError: ``strength`` outside [0, 1) (named ``temporal_filter``).
    """

    def __init__(self, strength: float = 0.5, sigma: float = 0.08):
        if not (0.0 <= strength < 1.0):
            raise ArgumentError("temporal_filter", f"must be in [0, 1), got {strength}")
        self.strength = float(strength)
        self.sigma = float(sigma)
        self.prev_in: torch.Tensor | None = None
        self.prev_out: torch.Tensor | None = None
        self.last_shift: tuple[float, float] | None = None

    def __call__(self, content: torch.Tensor, styled: torch.Tensor) -> torch.Tensor:
        """Filter one frame: ``content`` (the input frame) and ``styled`` (its stylisation), both
        (3, H, W) in [0, 1]; returns the float32 (3, H, W) output in [0, 1]."""
        if self.strength <= 0:
            return styled
        content, styled = content.float(), styled.float()
        if self.prev_in is None or self.prev_in.shape != content.shape:
            out = styled
            self.last_shift = None
        else:
            dy, dx = _global_shift(self.prev_in, content)
            self.last_shift = (dy, dx)
            moved_in, mask = _shift(self.prev_in, dy, dx)
            moved_out, _ = _shift(self.prev_out, dy, dx)
            blur = lambda t: F.avg_pool2d(t[None], 3, 1, 1, count_include_pad=False)[0]
            diff = (blur(content) - blur(moved_in)).abs().mean(0, keepdim=True)
            w = self.strength * torch.exp(-(diff / self.sigma).pow(2)) * mask
            out = torch.lerp(styled, moved_out, w)
        self.prev_in, self.prev_out = content, out
        return out

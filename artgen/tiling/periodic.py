"""Making a picture periodic before a seamless result is made from it, and measuring seams.

A photo's opposite edges differ: wrapped around, they meet in a line that a circular network or
encoder reproduces (continuous, but visible). :func:`periodic_component` removes that line first
(Moisan 2011, "Periodic plus smooth image decomposition"): the picture ``u`` is split into
``p + s``, where ``s`` is the smooth image (its Laplacian is zero inside) that carries the jumps
between opposite edges, and ``p`` keeps every detail and wraps around like its interior. Only
the slow shading that ``s`` holds changes, most near the edges.

:func:`seam_ratio` is the measure used by the tests and benchmarks: the mean step across the
wrap-around edges over the mean step between neighbouring pixels beside them (about 1.0 for a
picture that tiles without a visible seam).
"""

from __future__ import annotations

import math

import torch


def periodic_component(x: torch.Tensor) -> torch.Tensor:
    """The periodic component of Moisan's periodic-plus-smooth decomposition of each channel.

    Args:
        x: ``(..., H, W)`` float pictures (any value range; H, W >= 1).
    Returns:
        ``(..., H, W)`` of ``x``'s dtype: ``x - s``, where the smooth ``s`` (zero mean) solves
        ``Laplacian(s) = boundary jumps`` on the torus. The result's mean equals ``x``'s; its
        step across the wrap-around edges is like its interior steps. Values may leave ``x``'s
        range by the size of the edge jumps; clamp afterwards where needed.
    """
    if x.shape[-1] < 2 and x.shape[-2] < 2:
        return x.clone()
    u = x.to(torch.float64)
    v = torch.zeros_like(u)
    jump_rows = u[..., -1, :] - u[..., 0, :]  # (..., W): last row to first, across the wrap
    jump_cols = u[..., :, -1] - u[..., :, 0]  # (..., H)
    v[..., 0, :] += jump_rows
    v[..., -1, :] -= jump_rows
    v[..., :, 0] += jump_cols
    v[..., :, -1] -= jump_cols
    h, w = u.shape[-2:]
    q = torch.arange(h, dtype=torch.float64, device=u.device).view(h, 1)
    r = torch.arange(w, dtype=torch.float64, device=u.device).view(1, w)
    denominator = 2 * torch.cos(2 * math.pi * q / h) + 2 * torch.cos(2 * math.pi * r / w) - 4  # (H, W), <= 0
    denominator[0, 0] = 1.0  # the mean: s has none
    s_hat = torch.fft.fft2(v) / denominator
    s_hat[..., 0, 0] = 0
    s = torch.fft.ifft2(s_hat).real
    return (u - s).to(x.dtype)


def seam_ratio(y: torch.Tensor, band: int = 8) -> float:
    """How visible the seam of a picture tiled with itself is: the larger over both axes of
    (mean |step| across the wrap-around edge) / (mean |step| between neighbouring pixels within
    ``band`` rows or columns of that edge, on both sides).

    The steps beside the seam are the reference, so a photo whose top is plain sky and bottom
    busy ground is judged by what is next to the seam, not by the average over the picture.

    Args:
        y: ``(..., H, W)`` with H, W >= 2.
        band: rows (columns) on each side of the seam whose steps are averaged.
    Returns:
        about 1.0 for a picture that tiles without a visible seam; 6.5 means the edges meet in a
        step 6.5 times the steps beside them.
    """
    out = []
    for dim in (-2, -1):
        z = y.movedim(dim, -1)  # the axis across the seam last
        k = max(1, min(band, z.shape[-1] // 2 - 1))
        steps = (z[..., 1:] - z[..., :-1]).abs()
        beside = torch.cat([steps[..., :k], steps[..., -k:]], dim=-1).mean()
        across = (z[..., 0] - z[..., -1]).abs().mean()
        out.append((across / beside.clamp_min(1e-12)).item())
    return max(out)


def make_periodic(x: torch.Tensor, band: float = 0.25) -> torch.Tensor:
    """``x`` made to wrap around without a seam, changed only near its edges.

    The smooth part ``s`` of :func:`periodic_component` is taken away in full at the edges and
    faded out (a raised cosine) over ``band`` of the height and width inwards, so the middle of
    the picture is the picture itself while its opposite edges meet like neighbouring pixels.

    Args:
        x: ``(..., H, W)`` float pictures in [0, 1].
        band: fraction of each side, in (0, 0.5], over which the correction fades out.
    Returns:
        ``(..., H, W)`` in [0, 1], ``x``'s dtype.
    Raises:
        ValueError: ``band`` outside (0, 0.5].
    """
    if not 0 < band <= 0.5:
        raise ValueError(f"band must be in (0, 0.5], got {band}")
    smooth = x.to(torch.float64) - periodic_component(x).to(torch.float64)
    h, w = x.shape[-2:]

    def ramp(n: int) -> torch.Tensor:  # (n,): 1 at both ends, 0 beyond band * n from them
        i = torch.arange(n, dtype=torch.float64, device=x.device)
        d = torch.minimum(i + 0.5, n - i - 0.5) / max(band * n, 1.0)  # distance to the nearer edge, in bands
        return torch.where(d < 1, 0.5 + 0.5 * torch.cos(math.pi * d.clamp(max=1)), torch.zeros_like(d))

    ey, ex = ramp(h).view(h, 1), ramp(w).view(1, w)
    weight = 1 - (1 - ey) * (1 - ex)  # (H, W)
    return (x.to(torch.float64) - weight * smooth).clamp(0, 1).to(x.dtype)


#: A picture whose :func:`seam_ratio` is at most this already tiles; :func:`make_tileable` leaves it as it is.
TILES_ALREADY = 1.25


def make_tileable(x: torch.Tensor) -> torch.Tensor:
    """``x`` unchanged when it already tiles (:func:`seam_ratio` at most :data:`TILES_ALREADY`, as a
    texture made seamless does), else :func:`make_periodic` of it.

    Args:
        x: ``(1, C, H, W)`` float picture in [0, 1].
    Returns:
        ``(1, C, H, W)`` in [0, 1], ``x``'s dtype.
    """
    if min(x.shape[-2:]) < 4 or seam_ratio(x) <= TILES_ALREADY:
        return x
    return make_periodic(x)

"""Contact sheets: tiling images into one grid, and showing transparency on a checkerboard."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from artgen.errors import UsageError
from artgen.images.reading import as_chw


def on_checkerboard(x: torch.Tensor, square: int = 8) -> torch.Tensor:
    """Composite RGBA images ``(N, 4, H, W)`` or ``(4, H, W)`` in [0, 1] over a light-grey checkerboard of ``square`` px: RGB of the same shape with 3 channels.

    The usual way to show transparency; images with 1 or 3 channels are returned unchanged.
    """
    if x.shape[-3] != 4:
        return x
    h, w = x.shape[-2:]
    ys = torch.arange(h, device=x.device).view(h, 1) // square
    xs = torch.arange(w, device=x.device).view(1, w) // square
    board = torch.where((ys + xs) % 2 == 0, 0.8, 0.6).to(x.dtype)  # (H, W)
    rgb, alpha = x[..., :3, :, :], x[..., 3:, :, :]
    return rgb * alpha + board * (1 - alpha)


def make_grid(
    images: torch.Tensor | Sequence[torch.Tensor],
    nrow: int | None = None,
    padding: int = 2,
    pad_value: float = 1.0,
) -> torch.Tensor:
    """Tile images (N,C,H,W) in [0, 1] into one (C, H', W') image.

    ``nrow`` is the number of images per row (default ceil(sqrt(N))), as in
    torchvision; the channel count is kept (grey stays grey). ``padding`` pixels of
    ``pad_value`` surround every image: ``H' = rows * (H + padding) + padding``, likewise W'.
    Returns float32 on the CPU; a list of (C,H,W) or (1,C,H,W) tensors is stacked first.

    Raises:
        UsageError: no images, or not (N,C,H,W) / (C,H,W).
    """
    if not isinstance(images, torch.Tensor):
        images = torch.stack([as_chw(t) for t in images])
    if images.dim() == 3:
        images = images.unsqueeze(0)
    if images.dim() != 4 or images.shape[0] == 0:
        raise UsageError(f"make_grid expects a non-empty (N,C,H,W) tensor, got {tuple(images.shape)}")
    images = images.detach().to("cpu", torch.float32)
    n, c, h, w = images.shape
    ncol = max(1, min(n, nrow if nrow is not None else math.ceil(math.sqrt(n))))
    nrows = math.ceil(n / ncol)
    grid = images.new_full((c, nrows * (h + padding) + padding, ncol * (w + padding) + padding), float(pad_value))
    for i in range(n):
        r, col = divmod(i, ncol)
        top, left = r * (h + padding) + padding, col * (w + padding) + padding
        grid[:, top : top + h, left : left + w] = images[i]
    return grid

"""Differentiable augmentation (DiffAugment, Zhao et al. 2020) for GANs trained on little data.

The same random transforms are applied to real and generated images every time
the discriminator sees them, in both the discriminator and the generator
updates.  Because they are differentiable, the generator's gradients pass
through them; because the discriminator never sees an un-augmented image, it
cannot memorise a 20-image collection, and the generator is not pushed to
reproduce the augmentations (they are applied to both sides).

Policies: ``color`` (brightness, saturation, contrast), ``translation`` (shift
by up to 1/8 of the side, zero padding) and ``cutout`` (a square of half the
side set to zero).  Images are ``(B, C, H, W)`` in [-1, 1]; randomness comes
from torch's global generator, which the training loop saves and restores, so
a resumed run draws the same augmentations.

Strength: with ``p < 1`` each transform is applied to each image with
probability ``p`` (StyleGAN2-ADA, Karras et al. 2020); :class:`AdaptiveStrength`
sets ``p`` from the discriminator's overfitting signal
``r_t = E[sign(D(real))]``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

POLICIES = ("color", "translation", "cutout")
#: :func:`warp`'s mask counts a pixel as inside when its bilinear weight from the
#: source is above this: 1 up to float rounding, so any tap from outside excludes it.
INSIDE_THRESHOLD = 0.999


def parse_policy(spec: str | Sequence[str] | None) -> tuple[str, ...]:
    """``"color,translation,cutout"`` / ``"none"`` / a list -> a tuple of known policy names.

    Names are lower-cased, duplicates dropped (first kept); ``"none"``, ``"off"``, ``""``
    and ``None`` give ``()``.

    Raises:
        ValueError: an unknown policy name (the message lists the known ones).
    """
    if spec is None:
        return ()
    items = (
        [s.strip().lower() for s in spec.split(",")]
        if isinstance(spec, str)
        else [str(s).strip().lower() for s in spec]
    )
    items = [s for s in items if s]
    if items in (["none"], ["off"], []):
        return ()
    unknown = [s for s in items if s not in POLICIES]
    if unknown:
        raise ValueError(
            f"unknown augmentation {', '.join(unknown)}; expected a comma-separated subset of {','.join(POLICIES)}, or none"
        )
    return tuple(dict.fromkeys(items))


def _rand(x: torch.Tensor, *shape: int) -> torch.Tensor:
    return torch.rand(*shape, dtype=x.dtype, device=x.device)


def rand_brightness(x: torch.Tensor) -> torch.Tensor:
    """Add one offset per image, uniform in [-0.5, 0.5) (DiffAugment): ``(B, C, H, W)`` in [-1, 1] -> same shape, not clamped."""
    return x + (_rand(x, x.size(0), 1, 1, 1) - 0.5)


def rand_saturation(x: torch.Tensor) -> torch.Tensor:
    """Scale each pixel's distance from its channel mean by a factor uniform in [0, 2) per image (DiffAugment); shape kept."""
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * (_rand(x, x.size(0), 1, 1, 1) * 2) + mean


def rand_contrast(x: torch.Tensor) -> torch.Tensor:
    """Scale each image's distance from its mean by a factor uniform in [0.5, 1.5) (DiffAugment); shape kept."""
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_rand(x, x.size(0), 1, 1, 1) + 0.5) + mean


def rand_translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    """Shift each image by up to ``ratio`` of its side in x and y, filling with zeros.

    ``(B, C, H, W) -> (B, C, H, W)``; whole-pixel shifts drawn uniformly from
    ``-round(H * ratio)..round(H * ratio)`` (likewise for W). ``ratio=0.125`` is DiffAugment's.
    """
    b, c, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ty = torch.randint(-sh, sh + 1, (b, 1, 1), device=x.device)
    tx = torch.randint(-sw, sw + 1, (b, 1, 1), device=x.device)
    rows = (torch.arange(h, device=x.device).view(1, h, 1) + ty + 1).clamp(0, h + 1)  # (B, H, 1)
    cols = (torch.arange(w, device=x.device).view(1, 1, w) + tx + 1).clamp(0, w + 1)  # (B, 1, W)
    padded = F.pad(x, [1, 1, 1, 1])  # (B, C, H+2, W+2), a zero border
    index = (rows * (w + 2) + cols).view(b, 1, h * w).expand(b, c, h * w)
    return padded.flatten(2).gather(2, index).view(b, c, h, w)


def rand_cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    """Zero one square of ``ratio`` times the side at a random place in each image.

    ``(B, C, H, W) -> (B, C, H, W)``; the square's centre is uniform over the image, so
    it may be cut by the border. ``ratio=0.5`` is DiffAugment's.
    """
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    oy = torch.randint(0, h + (1 - ch % 2), (b, 1, 1), device=x.device)
    ox = torch.randint(0, w + (1 - cw % 2), (b, 1, 1), device=x.device)
    ys = torch.arange(h, device=x.device).view(1, h, 1)
    xs = torch.arange(w, device=x.device).view(1, 1, w)
    inside = (
        (ys >= oy - ch // 2) & (ys < oy - ch // 2 + ch) & (xs >= ox - cw // 2) & (xs < ox - cw // 2 + cw)
    )  # (B, H, W)
    return x * (~inside).unsqueeze(1).to(x.dtype)


_FUNCS = {
    "color": (rand_brightness, rand_saturation, rand_contrast),
    "translation": (rand_translation,),
    "cutout": (rand_cutout,),
}


def diff_augment(x: torch.Tensor, policy: Sequence[str] | str = POLICIES, p: float = 1.0) -> torch.Tensor:
    """Apply the policies in order (colour, then translation, then cutout), each transform to each image with probability ``p``.

    ``x`` is ``(B, C, H, W)`` in [-1, 1]; with 4 channels (RGBA) the colour
    transforms leave the alpha channel alone.  ``p=1`` is DiffAugment as
    published; ``p=0`` returns ``x`` unchanged.  The result has ``x``'s shape and dtype
    and is not clamped (brightness can leave [-1, 1]).

    Raises:
        ValueError: ``policy`` is a string naming an unknown policy.
    """
    names = parse_policy(policy) if isinstance(policy, str) else tuple(policy)
    if p <= 0 or not names:
        return x
    for name in POLICIES:
        if name in names:
            for fn in _FUNCS[name]:
                if name == "color" and x.shape[1] == 4:
                    y = torch.cat([fn(x[:, :3]), x[:, 3:]], dim=1)
                else:
                    y = fn(x)
                if p < 1:
                    keep = torch.rand(x.shape[0], 1, 1, 1, device=x.device) >= p
                    y = torch.where(keep, x, y)
                x = y
    return x


# --- small camera motions (temporal stability of style networks) ---------------------------


def random_motion(
    batch: int,
    height: int,
    width: int,
    *,
    max_shift: float = 4.0,
    max_degrees: float = 2.0,
    max_zoom: float = 0.03,
    device=None,
) -> torch.Tensor:
    """Random small similarity transforms, one per image, as (B, 2, 3) ``affine_grid`` matrices.

    Each shifts by up to ``max_shift`` pixels in x and y, rotates by up to ``max_degrees``
    and zooms by up to ``max_zoom`` (a fraction), drawn uniformly from torch's global
    generator: the kind of motion between two neighbouring video frames.
    """
    u = torch.rand(batch, 4, device=device) * 2 - 1  # (B, 4) in [-1, 1)
    angle = u[:, 0] * math.radians(max_degrees)
    scale = 1 + u[:, 1] * max_zoom
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    aspect = height / width
    theta = torch.zeros(batch, 2, 3, device=device)
    theta[:, 0, 0], theta[:, 0, 1] = cos, -sin * aspect  # normalised coordinates: correct for the aspect ratio
    theta[:, 1, 0], theta[:, 1, 1] = sin / aspect, cos
    theta[:, 0, 2] = u[:, 2] * max_shift * 2 / width
    theta[:, 1, 2] = u[:, 3] * max_shift * 2 / height
    return theta


def warp(x: torch.Tensor, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Resample ``x`` (B, C, H, W) with the (B, 2, 3) transforms ``theta`` (bilinear).

    Returns the warped batch (mirrored at the borders, so it still looks like a photo) and a
    (B, 1, H, W) float mask that is 1 where every bilinear tap came from inside the source, 0 elsewhere.
    """
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)  # (B, H, W, 2)
    moved = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    ones = torch.ones_like(x[:, :1])
    mask = F.grid_sample(ones, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return moved, (mask > INSIDE_THRESHOLD).to(x.dtype)


class AdaptiveStrength:
    """Adaptive augmentation strength (StyleGAN2-ADA, Karras et al. 2020, section 3).

    Every ``interval`` steps the overfitting heuristic ``r_t = E[sign(D(real))]``
    (mean over the real images the discriminator saw since the last update, in
    [-1, 1]) is compared with ``target`` (0.6 in the paper): above it, the
    discriminator is too sure of the real images and ``p`` rises; below, ``p``
    falls.  ``p`` moves by ``batch * interval / speed_images`` per update, so it
    can go from 0 to 1 in ``speed_images`` real images (the paper uses 500k at
    GPU scale; CPU runs see far fewer images, hence a smaller default), and is
    kept in [0, ``max_p``].
    """

    def __init__(
        self, target: float = 0.6, *, p: float = 0.0, interval: int = 4, speed_images: int = 20_000, max_p: float = 1.0
    ):
        self.target, self.p, self.interval, self.speed_images, self.max_p = (
            target,
            float(p),
            interval,
            speed_images,
            max_p,
        )
        self.r_t = 0.0
        self._sum = 0.0
        self._count = 0
        self._steps = 0

    def observe(self, d_real: torch.Tensor, *, reduce=None) -> None:
        """Record one step's discriminator scores on real images ``(B,)``, raw logits; updates ``p`` every ``interval`` steps.

        The signs are summed on ``d_real``'s device and read back only once per
        interval.  ``reduce`` (e.g. :func:`artgen.distributed.all_reduce_mean`)
        averages that sum over processes, so every process keeps the same ``p``.
        """
        signs = torch.sign(d_real.detach().float()).sum()
        self._sum = self._sum + signs
        self._count += d_real.numel()
        self._steps += 1
        if self._steps >= self.interval and self._count:
            total = (
                reduce(self._sum.reshape(1))
                if reduce is not None and isinstance(self._sum, torch.Tensor)
                else self._sum
            )
            self.r_t = float(total.sum() if isinstance(total, torch.Tensor) else total) / self._count
            step = self._count / self.speed_images
            self.p = min(max(self.p + (step if self.r_t > self.target else -step), 0.0), self.max_p)
            self._sum, self._count, self._steps = 0.0, 0, 0

    def state_dict(self) -> dict:
        """``p``, ``r_t`` and the partial interval's sums as plain numbers (for ``training_state.pt``)."""
        return {"p": self.p, "r_t": self.r_t, "sum": float(self._sum), "count": self._count, "steps": self._steps}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`'s output; missing keys keep the current ``p``/``r_t`` and an empty interval."""
        self.p = float(state.get("p", self.p))
        self.r_t = float(state.get("r_t", self.r_t))
        self._sum, self._count, self._steps = (
            float(state.get("sum", 0.0)),
            int(state.get("count", 0)),
            int(state.get("steps", 0)),
        )

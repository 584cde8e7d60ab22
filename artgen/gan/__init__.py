"""The GAN head: its two-optimizer training step, data sampling, and a notebook API.

>>> import artgen
>>> gan = artgen.train_gan(data="my_art", size=64, steps=5000, out="runs/art")   # or dataset="art" (built in)
>>> images = gan.generate(16, seed=1)          # (16, C, 64, 64) floats in [0, 1]
>>> pictures = gan.generate(4, seed=1, pil=True)
>>> gan = artgen.GAN.load("runs/art")         # later, or on another machine

One job per module, every public name re-exported here: the rooms every head has,
:mod:`~artgen.gan.config` (settings and constants), :mod:`~artgen.gan.networks`,
:mod:`~artgen.gan.training`, :mod:`~artgen.gan.pipeline` (the :class:`GAN` API) and
:mod:`~artgen.gan.cli`, and the package's private helpers ``_data`` (sampling), ``_task`` (the
step), ``_evaluation`` and ``_projected`` (the discriminator on frozen pretrained features).

Training runs on the shared loop (:class:`artgen.train.Trainer`): this package only
supplies the :class:`GANTask` step (discriminator update, lazily-applied R1,
generator update, EMA) and :class:`SampledBatches`, a data source that samples
with replacement in an order fixed by (seed, epoch), so that a resumed run draws
exactly the batches an uninterrupted one would.
"""

from __future__ import annotations

from ._data import GANData, SampledBatches, load_gan_data
from ._evaluation import class_agreement, evaluate_gan
from ._task import GANTask
from .config import (
    ADA_TARGET,
    ART_IMAGES,
    AUGMENT_AUTO_LIMIT,
    BUILTIN_DATASETS,
    CLASS_SEED_STRIDE,
    CPU_BATCH_SIZE,
    EMA_WARMUP,
    EVAL_SEED_OFFSET,
    GPU_BATCH_SIZE,
    HEAD,
    KID_SUBSET_SIZE,
    MIN_STEPS_PER_EPOCH,
    MODE_SEEKING_EPS,
    SHAPES_IMAGES,
    TRUNCATION_MAX_REDRAWS,
    GANTrainConfig,
    check_train_args,
    parse_augment,
    resolve_batch_size,
)
from .pipeline import GAN, init_from_run, latents, slerp
from .training import train_gan

__all__ = [
    "HEAD",
    "BUILTIN_DATASETS",
    "AUGMENT_AUTO_LIMIT",
    "ADA_TARGET",
    "ART_IMAGES",
    "SHAPES_IMAGES",
    "MIN_STEPS_PER_EPOCH",
    "EMA_WARMUP",
    "MODE_SEEKING_EPS",
    "TRUNCATION_MAX_REDRAWS",
    "EVAL_SEED_OFFSET",
    "CLASS_SEED_STRIDE",
    "KID_SUBSET_SIZE",
    "GANTrainConfig",
    "parse_augment",
    "check_train_args",
    "CPU_BATCH_SIZE",
    "GPU_BATCH_SIZE",
    "resolve_batch_size",
    "SampledBatches",
    "GANData",
    "load_gan_data",
    "GANTask",
    "latents",
    "slerp",
    "GAN",
    "init_from_run",
    "train_gan",
    "evaluate_gan",
    "class_agreement",
]

"""Settings of GAN training (:class:`GANTrainConfig`), the head's named constants, and the checks run before any work."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from .. import losses
from ..augment import parse_policy
from ..errors import ArgumentError, UsageError
from ..runs.config import Settings, migrate_sections

HEAD = "gan"

#: The shape of the GAN's ``config.json``. 1 (no ``config_version`` key): runs saved before the
#: model and training dataclasses held the command line's defaults; :func:`migrate_config` reads them.
CONFIG_VERSION = 2

#: What a version-1 run meant by a missing key: the dataclass defaults of that time.
LEGACY_DEFAULTS = {
    "model": {"mbstd_group": 0, "latent_norm": False, "skip_z": False, "discriminator": "plain"},
    "train": {"diversity": 0.0},
}


def migrate_config(cfg: dict) -> dict:
    """A GAN run's ``config.json`` (as read) in the current shape (:data:`CONFIG_VERSION`).

    Version 1 (no ``config_version``): keys its sections lack take :data:`LEGACY_DEFAULTS`, the
    defaults they were saved under, so an old run rebuilds the model it trained. Returns a new dict.
    """
    return migrate_sections(cfg, CONFIG_VERSION, {1: LEGACY_DEFAULTS})


def read_config(run, *, what: str = "") -> dict:
    """A GAN run folder's ``config.json``, checked to be a GAN run and migrated (:func:`migrate_config`).

    Raises:
        CheckpointError: no folder, an unreadable config, or another head's run.
    """
    return migrate_config(run.load_head_config(HEAD, "GAN", what=what))


BUILTIN_DATASETS = ("art", "shapes", "mnist", "fashion-mnist")


#: ``augment="auto"`` turns DiffAugment on below this many training images. 5,000 is
#: the smallest CIFAR-10 split (10%) of Zhao et al. 2020 (DiffAugment), where
#: augmenting helped most; with more images artgen trains without it by default.
AUGMENT_AUTO_LIMIT = 5000


#: ``batch_size="auto"``: images per step on the CPU and on a GPU. On the CPU a step's time grows
#: with the batch, so at a fixed wall-clock a smaller batch takes more steps and gets further: on
#: 2,000 Twemoji at 32 px, 600 s on one thread, batch 16 made 6,693 steps and reached KID 0.104
#: (FID 189), batch 64 made 2,109 steps and reached KID 0.123 (FID 199) (benchmarks/gan_anchors.py).
#: GPUs keep DCGAN's 64 (their step time grows far less with the batch; not measured here).
CPU_BATCH_SIZE = 16
GPU_BATCH_SIZE = 64

ADA_TARGET = 0.6  # StyleGAN2-ADA's target for r_t = E[sign(D(real))], used whenever augmentation is on


ART_IMAGES = 2048  # size of the built-in "art" set


SHAPES_IMAGES = 20000  # images drawn from the built-in "shapes" set for GAN training


#: An epoch of :class:`SampledBatches` lasts at least this many steps, so that small
#: sets do not end an epoch (and log a History row) every step or two.
MIN_STEPS_PER_EPOCH = 100


#: EMA warm-up: the decay at step ``s`` is ``min(ema_decay, (1 + s) / (EMA_WARMUP + s))``,
#: the ``num_updates`` rule of TensorFlow's ``ExponentialMovingAverage``: 0.1 at step 0,
#: 0.9 at step 80, 0.999 (the default) only after about 9,000 steps, so early samples
#: follow the generator instead of staying near its random initial weights.
EMA_WARMUP = 10


#: Keeps the mode-seeking term finite when two samples coincide (MSGAN's ``eps``, Mao et al. 2019).
MODE_SEEKING_EPS = 1e-5


#: ``latents(truncation=t)`` redraws values outside [-t, t] at most this many rounds; a
#: value still outside after them is kept (for t >= 0.5 the chance is below 1e-200).
TRUNCATION_MAX_REDRAWS = 1000


#: :func:`evaluate_gan` draws its samples from seeds ``seed + EVAL_SEED_OFFSET + i``, far
#: from the small seeds of the sample grids and ``generate`` calls users look at.
EVAL_SEED_OFFSET = 10_000_000


#: :func:`class_agreement` draws class ``k`` from seeds ``seed + k * CLASS_SEED_STRIDE + i``:
#: each class its own seeds, as long as ``per_class`` stays below the stride.
CLASS_SEED_STRIDE = 100_000


#: KID's subset size (Binkowski et al. 2018; torch-fidelity's default), cut to the
#: number of images when there are fewer.
KID_SUBSET_SIZE = 1000


#: The settings that follow the discriminator when not given: today's convolutional D trains with the
#: non-saturating loss, lazy R1 and DCGAN's betas at the rates measured on the CPU; the projected D
#: (Sauer et al. 2021) with the hinge loss, no R1 (its spectral norm and frozen features keep it
#: smooth) and Adam betas (0, 0.99), as published.
RECIPES = {
    "plain": {"loss": "nonsaturating", "r1_gamma": 0.1, "lr_g": 5e-4, "lr_d": 1e-3, "beta1": 0.5, "beta2": 0.999},
    "projected": {"loss": "hinge", "r1_gamma": 0.0, "lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.0, "beta2": 0.99},
}


#: ``d_width`` of the projected discriminator when not given: the width of its per-level
#: discriminators' 64-px maps (the paper's table has 64). On 2,000 Twemoji at 64 px, five CPU minutes
#: per run (one thread, two runs at a time), 16 with two levels reached KID 0.083 in 620 steps, against
#: 0.099 (188 steps) for 32 with four levels and 0.120-0.137 for one or three levels.
PROJECTED_D_WIDTH = 16


@dataclass
class GANTrainConfig(Settings):
    """Training settings (stored under ``train`` in ``config.json``; ``--resume`` reads them back).

    Adam betas (0.5, 0.999) follow DCGAN (Radford et al. 2016); the discriminator learns
    at twice the generator's rate (two time-scale update rule, Heusel et al. 2017), both
    above DCGAN's 2e-4: measured at a fixed CPU wall-clock (see the README's benchmarks);
    ``r1_gamma``/``r1_every`` are StyleGAN2's lazy R1 (Karras et al. 2020);
    ``augment``/``augment_p``/``ada_target``/``ada_images`` are DiffAugment (Zhao et al.
    2020) with StyleGAN2-ADA's adaptive strength (Karras et al. 2020); ``freeze_d``
    freezes that many of D's first blocks (FreezeD, Mo et al. 2020).

    Raises:
        ArgumentError: ``loss``, ``steps``, ``batch_size``, ``diversity``, ``freeze_d``,
            ``augment``, ``augment_p``, ``ada_target`` or ``ada_images`` out of range.
        UsageError: ``r1_every < 1`` or ``crop`` not ``"center"``/``"random"``.
    """

    steps: int = 10000
    batch_size: int = 64
    lr_g: float = RECIPES["plain"]["lr_g"]
    lr_d: float = RECIPES["plain"]["lr_d"]
    beta1: float = RECIPES["plain"]["beta1"]
    beta2: float = RECIPES["plain"]["beta2"]
    loss: str = RECIPES["plain"]["loss"]
    r1_gamma: float = RECIPES["plain"]["r1_gamma"]
    r1_every: int = 16
    ema_decay: float = 0.999
    ema_rampup: float = 0.0  # > 0: the EMA's half-life is at most this fraction of the steps taken (StyleGAN2-ADA); 0: the EMA_WARMUP rule of runs saved before it existed
    diversity: float = 0.2  # weight of the mode-seeking term (MSGAN); 0: off
    augment: list[str] = field(default_factory=list)
    augment_p: float = 1.0  # fixed augmentation strength when ada_target is 0
    ada_target: float = 0.0  # > 0: adaptive strength (StyleGAN2-ADA) aiming r_t = E[sign(D(real))] at this value
    ada_images: int = 20000  # real images over which the adaptive strength can move from 0 to 1
    freeze_d: int = 0
    hflip: bool = False
    crop: str = "center"
    seed: int = 0
    sample_every: int = 500
    checkpoint_every: int = 1000
    kid_every: int = 0  # KID of the EMA samples against the training images every N steps; 0: as often as costs at most 5% of the time
    channels_last: bool = True
    # where the images came from (for --resume and `gan eval`)
    dataset: str | None = None
    data: str | None = None
    data_root: str | None = None
    init_from: str | None = None
    images: int | None = None

    def __post_init__(self):
        if self.loss not in losses.GAN_LOSSES:
            raise ArgumentError("loss", f"{self.loss!r}: expected one of {', '.join(losses.GAN_LOSSES)}")
        if self.steps < 1:
            raise ArgumentError("steps", f"must be at least 1, got {self.steps}")
        if self.batch_size < 1:
            raise ArgumentError("batch_size", f"must be at least 1, got {self.batch_size}")
        if self.r1_every < 1:
            raise UsageError("r1_every must be at least 1")
        for name in ("beta1", "beta2"):
            if not 0 <= getattr(self, name) < 1:
                raise ArgumentError(name, f"must be in [0, 1), got {getattr(self, name)}")
        if self.crop not in ("center", "random"):
            raise UsageError(f"crop must be 'center' or 'random', not {self.crop!r}")
        if not 0 <= self.ema_rampup <= 1:
            raise ArgumentError("ema_rampup", f"must be in [0, 1] (0: the older warm-up rule), got {self.ema_rampup}")
        if self.diversity < 0:
            raise ArgumentError("diversity", f"must be >= 0, got {self.diversity}")
        if self.freeze_d < 0:
            raise ArgumentError("freeze_d", f"must be >= 0, got {self.freeze_d}")
        self.augment = list(parse_augment(self.augment))
        if not 0 <= self.augment_p <= 1:
            raise ArgumentError("augment_p", f"must be in [0, 1], got {self.augment_p}")
        if not 0 <= self.ada_target < 1:
            raise ArgumentError(
                "ada_target", f"must be in [0, 1) (0 turns adaptive augmentation off), got {self.ada_target}"
            )
        if self.ada_images < 1:
            raise ArgumentError("ada_images", f"must be at least 1, got {self.ada_images}")
        if self.kid_every < 0:
            raise ArgumentError("kid_every", f"must be 0 (automatic) or a whole number of steps, got {self.kid_every}")


def parse_augment(spec) -> tuple[str, ...]:
    """The DiffAugment policy ``spec`` (a comma-separated string or a sequence) as a tuple of transform names.

    Raises:
        ArgumentError: an unknown transform, named after ``augment``.
    """
    try:
        return parse_policy(spec)
    except ValueError as exc:
        raise ArgumentError("augment", f"{exc}") from None


def resolve_batch_size(batch_size: int | str, device: torch.device) -> int:
    """``"auto"``: :data:`CPU_BATCH_SIZE` on the CPU, :data:`GPU_BATCH_SIZE` on CUDA or MPS; a number is kept.

    Raises:
        ArgumentError: a string other than ``"auto"`` (names ``batch_size``).
    """
    if isinstance(batch_size, str):
        if batch_size.strip().lower() != "auto":
            raise ArgumentError("batch_size", f"{batch_size!r}: expected a whole number of at least 1 or auto")
        return CPU_BATCH_SIZE if device.type == "cpu" else GPU_BATCH_SIZE
    return batch_size


def check_train_args(
    *, steps, batch_size, limit, loss, augment, freeze_d, crop, sample_every, checkpoint_every, lr_g, lr_d, r1_gamma
) -> None:
    """Every training setting checked before any data is read or the run folder touched."""
    if isinstance(batch_size, str):
        batch_size = resolve_batch_size(
            batch_size, torch.device("cpu")
        )  # "auto" is a valid choice; other words are refused
    for name, value in (
        ("steps", steps),
        ("batch_size", batch_size),
        ("limit", limit),
        ("sample_every", sample_every),
        ("checkpoint_every", checkpoint_every),
    ):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ArgumentError(name, f"must be a whole number of at least 1, got {value!r}")
    for name, value in (("lr_g", lr_g), ("lr_d", lr_d)):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise ArgumentError(name, f"must be a positive number, got {value!r}")
    if not (isinstance(r1_gamma, (int, float)) and math.isfinite(r1_gamma) and r1_gamma >= 0):
        raise ArgumentError("r1_gamma", f"must be 0 or a positive number, got {r1_gamma!r}")
    if loss not in losses.GAN_LOSSES:
        raise ArgumentError("loss", f"{loss!r}: expected one of {', '.join(losses.GAN_LOSSES)}")
    if not (isinstance(augment, str) and augment.strip().lower() == "auto"):
        parse_augment(augment)
    if freeze_d < 0:
        raise ArgumentError("freeze_d", f"must be >= 0, got {freeze_d}")
    if crop not in ("center", "random"):
        raise ArgumentError("crop", f"must be 'center' or 'random', not {crop!r}")

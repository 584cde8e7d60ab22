"""The GAN head: its two-optimizer training step, data sampling, and a notebook API.

>>> import artgen
>>> gan = artgen.train_gan(data="my_art", size=64, steps=5000, out="runs/art")   # or dataset="art" (built in)
>>> images = gan.generate(16, seed=1)          # (16, C, 64, 64) floats in [0, 1]
>>> pictures = gan.generate(4, seed=1, pil=True)
>>> gan = artgen.load_gan("runs/art")           # later, or on another machine

Training runs on the shared loop (:class:`artgen.train.Trainer`): this file only
supplies the :class:`GANTask` step (discriminator update, lazily-applied R1,
generator update, EMA) and :class:`SampledBatches`, a data source that samples
with replacement in an order fixed by (seed, epoch), so that a resumed run draws
exactly the batches an uninterrupted one would.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from .. import distributed, losses
from ..augment import AdaptiveStrength, diff_augment, parse_policy
from ..data import RANDOM_CROP_MARGIN, fit_images
from ..device import resolve_device
from ..errors import ArgumentError, UsageError
from ..models.gan import SIZES, Discriminator, GANConfig, Generator
from ..runs import from_pretrained, given_arguments, report_resume_changes, save_pretrained, start_run
from ..settings import Settings
from ..train import SEED_STREAM_OFFSET, BatchSource, CurvePlot, LambdaCallback, Task, Trainer, check_shardable, epoch_generator

HEAD = "gan"
BUILTIN_DATASETS = ("art", "shapes", "mnist", "fashion-mnist")
#: ``augment="auto"`` turns DiffAugment on below this many training images. 5,000 is
#: the smallest CIFAR-10 split (10%) of Zhao et al. 2020 (DiffAugment), where
#: augmenting helped most; with more images artgen trains without it by default.
AUGMENT_AUTO_LIMIT = 5000
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

log = logging.getLogger("artgen.gan")


# --- settings -----------------------------------------------------------------------


@dataclass
class GANTrainConfig(Settings):
    """Training settings (stored under ``train`` in ``config.json``; ``--resume`` reads them back).

    Learning rates and Adam betas (0.5, 0.999) follow DCGAN (Radford et al. 2016);
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
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    loss: str = "nonsaturating"
    r1_gamma: float = 0.1
    r1_every: int = 16
    ema_decay: float = 0.999
    diversity: float = 0.0  # weight of the mode-seeking term (MSGAN); 0: off, as in runs saved before it existed
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
        if self.crop not in ("center", "random"):
            raise UsageError(f"crop must be 'center' or 'random', not {self.crop!r}")
        if self.diversity < 0:
            raise ArgumentError("diversity", f"must be >= 0, got {self.diversity}")
        if self.freeze_d < 0:
            raise ArgumentError("freeze_d", f"must be >= 0, got {self.freeze_d}")
        self.augment = list(_parse_augment(self.augment))
        if not 0 <= self.augment_p <= 1:
            raise ArgumentError("augment_p", f"must be in [0, 1], got {self.augment_p}")
        if not 0 <= self.ada_target < 1:
            raise ArgumentError("ada_target", f"must be in [0, 1) (0 turns adaptive augmentation off), got {self.ada_target}")
        if self.ada_images < 1:
            raise ArgumentError("ada_images", f"must be at least 1, got {self.ada_images}")


def _parse_augment(spec) -> tuple[str, ...]:
    try:
        return parse_policy(spec)
    except ValueError as exc:
        raise ArgumentError("augment", f"{exc}") from None


# --- data ---------------------------------------------------------------------------


class SampledBatches(BatchSource):
    """Batches drawn with replacement from in-memory images, in an order fixed by (seed, epoch).

    ``images`` is ``(N, C, S, S)`` (uint8 or float in [0, 1]); with ``S`` larger
    than ``size`` each draw takes a random ``size`` crop, and with ``hflip`` a
    random half of the draws are mirrored.  Batches are ``(x, labels)`` with
    ``x`` in [-1, 1] on ``device`` and ``labels`` int64 (``-1`` when unlabelled).
    Any number of images works, fewer than the batch size included.  An "epoch"
    is ``max(ceil(N / batch_size), 100)`` steps: bookkeeping only.

    Raises:
        UsageError: ``images`` is empty.
        ArgumentError: ``batch_size < 1``.
        ValueError: ``size`` is larger than the stored images.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor | None = None, *, batch_size: int, size: int | None = None, hflip: bool = False, seed: int = 0, device=None, channels_last: bool = False):
        if len(images) == 0:
            raise UsageError("the dataset is empty")
        if batch_size < 1:
            raise ArgumentError("batch_size", f"must be at least 1, got {batch_size}")
        device = torch.device(device) if device is not None else torch.device("cpu")
        self.images = images.to(device)
        self.labels = (labels if labels is not None else torch.full((len(images),), -1, dtype=torch.int64)).to(device)
        self.size = size or images.shape[-1]
        if self.size > images.shape[-1]:
            raise ValueError("crop size larger than the stored images")
        self._batch_size = batch_size
        self.hflip = hflip
        self.seed = seed
        self.channels_last = channels_last
        self.n = len(images)
        self.rank, self.world_size = 0, 1

    @property
    def batch_size(self) -> int:
        """The global batch size."""
        return self._batch_size

    def shard(self, rank: int, world_size: int) -> None:
        """Under torchrun: every process draws the global batch and keeps its own slice.

        Raises:
            ArgumentError: ``batch_size`` does not divide evenly by ``world_size``.
        """
        check_shardable(self._batch_size, world_size)
        self.rank, self.world_size = rank, world_size

    def __len__(self) -> int:
        return max(math.ceil(self.n / self._batch_size), MIN_STEPS_PER_EPOCH)

    def epoch(self, epoch: int, start: int = 0):
        """Yield ``(x, labels)``: ``x`` float32 ``(batch_size // world_size, C, size, size)`` in [-1, 1], labels int64.

        Indices, crop offsets and flips for the whole epoch are drawn up front from
        ``(seed, epoch)``, so starting at ``start`` yields what an uninterrupted epoch would.
        """
        g = epoch_generator(self.seed, int(epoch) + SEED_STREAM_OFFSET)  # draws of their own, apart from TensorBatches'(seed, epoch)
        steps, bs = len(self), self._batch_size
        index = torch.randint(0, self.n, (steps, bs), generator=g)
        flips = torch.rand(steps, bs, generator=g) < 0.5
        margin = self.images.shape[-1] - self.size
        offsets = torch.randint(0, margin + 1, (steps, bs, 2), generator=g)
        per = bs // self.world_size
        keep = slice(self.rank * per, (self.rank + 1) * per)
        for i in range(start, steps):
            idx = index[i][keep].to(self.images.device)
            x = self.images.index_select(0, idx)
            if margin:
                x = torch.stack([img[:, t : t + self.size, l : l + self.size] for img, (t, l) in zip(x, offsets[i][keep].tolist())])
            if x.dtype == torch.uint8:
                x = x.float().div_(127.5).sub_(1.0)
            else:
                x = x.float().mul(2.0).sub_(1.0)
            if self.hflip:
                f = flips[i][keep].to(x.device)
                x = torch.where(f.view(-1, 1, 1, 1), x.flip(-1), x)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield x, self.labels.index_select(0, idx)


@dataclass
class GANData:
    """What :func:`load_gan_data` returns: uint8 images, optional int64 labels ``(N,)``, class names, and the source's name."""

    images: torch.Tensor  # (N, C, S, S) uint8, S >= size
    labels: torch.Tensor | None
    classes: list[str]
    name: str


def load_gan_data(
    *,
    data: str | os.PathLike | None = None,
    dataset: str | None = None,
    data_root: str | os.PathLike | None = None,
    size: int = 64,
    channels: int | None = None,
    labelled: bool = False,
    crop: str = "center",
    limit: int | None = None,
) -> GANData:
    """Images for GAN training or evaluation as uint8 ``(N, C, S, S)`` (S = size, or 12.5% more for random crops).

    ``data`` is a folder of images of any size and aspect ratio (resized, then
    centre- or randomly cropped; transparency composited on white, or kept as a
    4th channel with ``channels=4``; broken files skipped
    with a warning naming each); with ``labelled`` its subfolders are the
    classes.  ``dataset`` is ``art`` (built-in abstract paintings), ``shapes``
    (built-in, 10 classes), ``mnist`` or ``fashion-mnist``.  ``limit`` keeps the first
    ``limit`` images.

    Raises:
        UsageError: both ``data`` and ``dataset``; ``labelled`` with the unlabelled ``art`` set.
        ArgumentError: ``limit`` not a whole number >= 1; ``data`` missing or not a folder;
            an unknown ``dataset``.
        ArtgenError: the folder holds no readable image; MNIST files missing or damaged.
    """
    from ..data import ImageFolder, art_images, load_dataset, make_shapes

    if data is not None and dataset is not None:
        raise UsageError("give either {arg:data} or {arg:dataset}, not both")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ArgumentError("limit", f"must be a whole number of at least 1, got {limit!r}")
    stored = round(size * RANDOM_CROP_MARGIN) if crop == "random" else size
    if data is not None:
        folder = Path(data).expanduser()
        if not folder.exists():
            raise ArgumentError("data", f"'{folder}' does not exist")
        if not folder.is_dir():
            raise ArgumentError("data", f"'{folder}' is not a folder")
        ch = channels or 3
        ds = ImageFolder(folder, size=stored, channels=ch, labelled=labelled, crop="center", preload=True)
        x, y = ds.tensors()
        images = x.mul(255).round_().to(torch.uint8)
        labels, classes, name = (y, list(ds.classes), "folder") if labelled else (None, [], "folder")
    else:
        key = (dataset or "art").lower().replace("_", "-")
        if key not in BUILTIN_DATASETS:
            raise ArgumentError("dataset", f"{dataset!r}: expected one of {', '.join(BUILTIN_DATASETS)}")
        if key == "art":
            if labelled:
                raise UsageError("{arg:conditional=True} needs labels; the built-in 'art' set has none (use shapes, mnist, fashion-mnist or a folder with one subfolder per class)")
            ch = channels or 3
            n = min(limit, ART_IMAGES) if limit else ART_IMAGES
            x = fit_images(art_images(n, size=stored, seed=0), stored, ch)
            labels, classes = None, []
        elif key == "shapes":
            from ..data import SHAPES_CLASSES

            ch = channels or 1
            n = min(limit, SHAPES_IMAGES) if limit else SHAPES_IMAGES
            x, y = make_shapes(n, size=stored, seed=0, channels=ch)
            labels, classes = y, list(SHAPES_CLASSES)
        else:
            ch = channels or 1
            x, labels, classes = load_dataset(key, root=data_root, size=stored, channels=ch)
        images = x.clamp(0, 1).mul(255).round_().to(torch.uint8)
        name = key
        if not labelled:
            labels = None
    if limit:
        images = images[:limit]
        labels = labels[:limit] if labels is not None else None
    return GANData(images, labels, classes if labelled else [], name)


# --- the training step --------------------------------------------------------------


class GANTask(Task):
    """One GAN step: D update (with R1 every ``r1_every`` steps), G update, EMA.

    Both updates see DiffAugment-ed images (``augment``, at strength ``augment_p``
    or the adaptive one).  With ``diversity`` > 0 the generator also minimises
    the mode-seeking term of MSGAN (Mao et al. 2019),
    ``diversity / (mean|G(z1) - G(z2)| / mean|z1 - z2| + 1e-5)`` over pairs of
    the batch (same class for conditional GANs), which punishes a generator
    that ignores its latent code; under torchrun each process takes it over its
    own pairs, so a multi-process run matches a single-process one only
    approximately while it is on.  The generated batch is
    produced once and reused by both updates (as in DCGAN), and the
    discriminator's weights take no gradient during the generator update.

    Sources: the alternating D/G updates of pytorch/examples' DCGAN; lazy R1
    (Mescheder et al. 2018, applied every ``r1_every`` steps with the weight scaled by
    ``r1_every`` as in StyleGAN2, Karras et al. 2020); EMA generator (Karras et al.
    2018); DiffAugment (Zhao et al. 2020) on both updates, with StyleGAN2-ADA's
    adaptive strength (Karras et al. 2020) when ``ada_target > 0``.

    Raises:
        ArgumentError: ``freeze_d`` exceeds the discriminator's number of blocks.
    """

    def __init__(self, config: GANConfig, train: GANTrainConfig, device: torch.device, generator: Generator | None = None, discriminator: Discriminator | None = None):
        self.config = config
        self.train_cfg = train
        self.G = (generator or Generator(config)).to(device)
        self.D = (discriminator or Discriminator(config)).to(device)
        if train.channels_last:
            self.G.to(memory_format=torch.channels_last)
            self.D.to(memory_format=torch.channels_last)
        self.G_ema = copy.deepcopy(self.G).requires_grad_(False)
        if train.freeze_d > len(self.D.blocks):
            raise ArgumentError("freeze_d", f"{train.freeze_d}: the discriminator has only {len(self.D.blocks)} blocks at {config.size}px")
        for block in self.D.blocks[: train.freeze_d]:
            block.requires_grad_(False)
        self.d_params = [p for p in self.D.parameters() if p.requires_grad]
        betas = (train.beta1, train.beta2)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=train.lr_g, betas=betas)
        self.opt_d = torch.optim.Adam(self.d_params, lr=train.lr_d, betas=betas)
        self.modules = {"generator": self.G, "discriminator": self.D, "generator_ema": self.G_ema}
        self.optimizers = {"generator": self.opt_g, "discriminator": self.opt_d}
        self.augment = tuple(train.augment)
        self.ada = AdaptiveStrength(train.ada_target, speed_images=train.ada_images) if self.augment and train.ada_target > 0 else None
        self._ema_params = None
        # the generator update reads D without updating it: under torchrun it calls the
        # plain module, so DistributedDataParallel only synchronises D in the D update
        self.D_plain = self.D

    def distribute(self, wrap) -> None:
        """Wrap G and D for DDP (:meth:`Task.distribute`), keeping the plain D for the generator update."""
        plain = self.D
        super().distribute(wrap)
        self.D_plain = plain

    def train(self) -> None:
        """G and D in training mode; the EMA generator stays in eval mode."""
        self.G.train()
        self.D.train()
        self.G_ema.eval()

    @property
    def augment_p(self) -> float:
        """The augmentation strength in use: the adaptive one, or the fixed ``augment_p``."""
        return self.ada.p if self.ada is not None else self.train_cfg.augment_p

    def _aug(self, x):
        return diff_augment(x, self.augment, self.augment_p) if self.augment else x

    def extra_state(self) -> dict:
        """The adaptive augmentation's state (``{"ada": ...}``) when it is on, else ``{}``."""
        return {"ada": self.ada.state_dict()} if self.ada is not None else {}

    def load_extra_state(self, state: dict) -> None:
        """Restore the adaptive augmentation's state, if saved."""
        if self.ada is not None and "ada" in state:
            self.ada.load_state_dict(state["ada"])

    def train_step(self, batch, ctx):
        """One D update then one G update and the EMA update, for ``batch = (x, labels)``.

        ``x`` is ``(B, C, H, W)`` in [-1, 1], ``labels`` int64 ``(B,)`` (ignored unless
        conditional). Returns 0-d tensors ``loss`` (= ``d_loss + g_loss``), ``d_loss``,
        ``g_loss``, ``d_real``/``d_fake`` (mean raw logits), and ``ms_ratio``, ``aug_p``,
        ``r_t`` when the diversity term, augmentation, adaptive strength are on.
        """
        cfg, tc = self.config, self.train_cfg
        real, labels = batch
        labels = labels if cfg.conditional else None
        b = real.shape[0]
        half = b // 2 if tc.diversity > 0 else 0
        fake_labels = labels
        if half and labels is not None:  # pairs (i, i + half) share a class
            fake_labels = labels.clone()
            fake_labels[half : 2 * half] = labels[:half]
        # noise drawn for the global batch on every process, then sliced: a multi-process
        # run sees the same latents as one process at the same global batch
        z = ctx.local_slice(torch.randn(b * ctx.world_size, cfg.z_dim, device=real.device))
        do_r1 = tc.r1_gamma > 0 and ctx.step % tc.r1_every == 0
        out = {}

        # discriminator
        real_in = real.detach().requires_grad_(True) if do_r1 else real
        with ctx.autocast():
            fake = self.G(z, fake_labels)  # (B, C, H, W), kept for the G update
            d_real = self.D(self._aug(real_in), labels)  # (B,)
            d_fake = self.D(self._aug(fake.detach()), fake_labels)
        d_loss = losses.gan_d_loss(d_real, d_fake, tc.loss)
        total = d_loss
        if do_r1:
            r1 = losses.r1_penalty(d_real, real_in)
            total = d_loss + r1 * (tc.r1_gamma / 2 * tc.r1_every)  # lazy: weighted by how rarely it runs
        ctx.optimize(total, self.opt_d)
        if self.ada is not None:
            self.ada.observe(d_real, reduce=distributed.all_reduce_mean if ctx.world_size > 1 else None)

        # generator (the discriminator's weights take no gradient)
        for p in self.d_params:
            p.requires_grad_(False)
        try:
            with ctx.autocast():
                g_logits = self.D_plain(self._aug(fake), fake_labels)
            g_loss = losses.gan_g_loss(g_logits, tc.loss)
            total_g = g_loss
            if half:
                ratio = (fake[:half] - fake[half : 2 * half]).float().abs().mean() / (z[:half] - z[half : 2 * half]).abs().mean()
                total_g = g_loss + tc.diversity / (ratio + MODE_SEEKING_EPS)
                out["ms_ratio"] = ratio.detach()
            ctx.optimize(total_g, self.opt_g)
        finally:
            for p in self.d_params:
                p.requires_grad_(True)
        self.update_ema(ctx.step)
        out.update(
            loss=(d_loss + g_loss).detach(),
            d_loss=d_loss.detach(),
            g_loss=g_loss.detach(),
            d_real=d_real.detach().float().mean(),
            d_fake=d_fake.detach().float().mean(),
        )
        if self.augment:
            out["aug_p"] = torch.tensor(self.augment_p)
        if self.ada is not None:
            out["r_t"] = torch.tensor(self.ada.r_t)
        return out

    @torch.no_grad()
    def update_ema(self, step: int) -> None:
        """EMA of the generator's weights, with a warm-up so early samples are not stuck at the initial weights.

        ``G_ema <- decay * G_ema + (1 - decay) * G`` with ``decay = min(ema_decay, (1 + step) / (EMA_WARMUP + step))``
        (see :data:`EMA_WARMUP`); buffers are not averaged.
        """
        if self._ema_params is None:
            self._ema_params = (list(self.G_ema.parameters()), list(self.G.parameters()))
        decay = min(self.train_cfg.ema_decay, (1 + step) / (EMA_WARMUP + step))
        ema, live = self._ema_params
        for e, p in zip(ema, live):
            e.lerp_(p, 1.0 - decay)


# --- sampling helpers (inference) ---------------------------------------------------


def latents(seeds: Sequence[int], z_dim: int, *, truncation: float | None = None) -> torch.Tensor:
    """One latent per seed (so image i is reproducible from its seed alone), ``(N, z_dim)`` on the CPU.

    With ``truncation`` t, values outside [-t, t] are redrawn (BigGAN's truncation trick,
    Brock et al. 2019): less variety, cleaner images. Values are float32 standard normal.

    Raises:
        ArgumentError: ``truncation <= 0``.
    """
    out = []
    for seed in seeds:
        g = torch.Generator().manual_seed(int(seed))
        z = torch.randn(z_dim, generator=g)
        if truncation is not None:
            if truncation <= 0:
                raise ArgumentError("truncation", f"must be positive, got {truncation}")
            for _ in range(TRUNCATION_MAX_REDRAWS):
                bad = z.abs() > truncation
                if not bool(bad.any()):
                    break
                z[bad] = torch.randn(int(bad.sum()), generator=g)
        out.append(z)
    return torch.stack(out) if out else torch.empty(0, z_dim)


def slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Spherical interpolation between latent vectors (stays on the Gaussian shell; Shoemake 1985, as in White 2016).

    ``a``, ``b``: ``(..., z_dim)``; ``t`` in [0, 1] (0 gives ``a``, 1 gives ``b``). Returns ``(..., z_dim)``.
    """
    an, bn = a / a.norm(dim=-1, keepdim=True), b / b.norm(dim=-1, keepdim=True)
    omega = torch.acos((an * bn).sum(-1, keepdim=True).clamp(-1 + 1e-7, 1 - 1e-7))
    so = torch.sin(omega)
    return (torch.sin((1 - t) * omega) / so) * a + (torch.sin(t * omega) / so) * b


class GAN:
    """A trained (or training) GAN: its config, the generator, discriminator and EMA generator.

    Sampling always uses the EMA generator. Images come out as float32 ``(N, C, H, W)``
    in [0, 1] on the CPU.

    Raises:
        UsageError: an unknown or unavailable ``device``.
    """

    def __init__(self, config: GANConfig | None = None, *, device: str | torch.device = "auto", train_config: GANTrainConfig | None = None):
        self.config = config or GANConfig()
        self.train_config = train_config or GANTrainConfig()
        self.device = resolve_device(device) if not isinstance(device, torch.device) else device
        self.generator = Generator(self.config).to(self.device)
        self.discriminator = Discriminator(self.config).to(self.device)
        self.generator_ema = copy.deepcopy(self.generator).requires_grad_(False).eval()
        self.history = None

    def __repr__(self) -> str:
        return f"GAN({self.config}, device={self.device})"

    @property
    def classes(self) -> list[str]:
        """The class names (``"0"``, ``"1"``, ... when the config stores none); ``[]`` for an unconditional GAN."""
        c = self.config
        return list(c.classes) if c.classes else [str(i) for i in range(c.num_classes)]

    # -- loading -----------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | os.PathLike, *, device: str | torch.device = "auto") -> "GAN":
        """Rebuild a GAN from a run folder (``config.json`` + ``model.safetensors``).

        Raises:
            CheckpointError: no run folder, not a GAN run, a bad config section, or weights
                that do not match the config.
        """
        saved = from_pretrained(path, HEAD, "GAN")
        cfg = saved.config
        gan = cls(saved.settings(GANConfig, "model"), device=device, train_config=saved.run.load_settings(GANTrainConfig, "train", dict(cfg, train=cfg.get("train", {}))))
        saved.load_into(gan.modules(), lambda name: f"{name} in '{saved.run.path}'")
        return gan

    def modules(self) -> dict[str, nn.Module]:
        """``{"generator", "discriminator", "generator_ema"}``: the names used as weight-file prefixes."""
        return {"generator": self.generator, "discriminator": self.discriminator, "generator_ema": self.generator_ema}

    # -- sampling --------------------------------------------------------------------------
    def _labels(self, n: int, class_: int | str | None) -> torch.Tensor | None:
        c = self.config
        if not c.conditional:
            if class_ is not None:
                raise UsageError("{arg:class_} needs a class-conditional GAN (train with {arg:conditional=True})")
            return None
        if class_ is None:
            return torch.arange(n) % c.num_classes
        if isinstance(class_, str) and not class_.lstrip("-").isdigit():
            if class_ not in self.classes:
                raise ArgumentError("class_", f"{class_!r}: expected a class number 0..{c.num_classes - 1} or one of {', '.join(self.classes)}")
            class_ = self.classes.index(class_)
        k = int(class_)
        if not 0 <= k < c.num_classes:
            raise ArgumentError("class_", f"{k}: this GAN has classes 0..{c.num_classes - 1}")
        return torch.full((n,), k, dtype=torch.int64)

    @torch.no_grad()
    def generate_from(self, z: torch.Tensor, labels: torch.Tensor | None = None, *, batch_size: int = 256) -> torch.Tensor:
        """Images for given latents ``(N, z_dim)`` (and int64 labels ``(N,)``), as float32 ``(N, C, H, W)`` in [0, 1] on the CPU.

        Runs the EMA generator in ``batch_size`` chunks on the GAN's device.
        """
        g = self.generator_ema.eval()
        outs = []
        for i in range(0, len(z), batch_size):
            zb = z[i : i + batch_size].to(self.device)
            lb = labels[i : i + batch_size].to(self.device) if labels is not None else None
            outs.append(g(zb, lb).float().add(1).mul(0.5).clamp(0, 1).cpu())
        return torch.cat(outs) if outs else torch.empty(0, self.config.channels, self.config.size, self.config.size)

    @torch.no_grad()
    def generate(self, n: int = 16, *, seed: int = 0, class_: int | str | None = None, truncation: float | None = None, pil: bool = False):
        """``n`` images, image i drawn from seed ``seed + i``: a ``(n, C, H, W)`` tensor in [0, 1], or PIL images.

        For a conditional GAN ``class_`` picks the class (by number or name);
        without it the images cycle through the classes.

        Raises:
            ArgumentError: ``n < 1``, ``truncation <= 0``, or an unknown ``class_``.
            UsageError: ``class_`` for an unconditional GAN.
        """
        if n < 1:
            raise ArgumentError("n", f"must be at least 1, got {n}")
        z = latents(range(seed, seed + n), self.config.z_dim, truncation=truncation)
        x = self.generate_from(z, self._labels(n, class_))
        if pil:
            from ..images import to_pil

            return [to_pil(img) for img in x]
        return x

    @torch.no_grad()
    def interpolate(self, frames: int = 60, *, seed: int = 0, keyframes: int = 4, class_: int | str | None = None, truncation: float | None = None) -> torch.Tensor:
        """A looping latent walk through ``keyframes`` random points (slerp with eased timing): ``(frames, C, H, W)`` in [0, 1].

        Keyframe ``i`` is the latent of seed ``seed + i``; a conditional GAN uses ``class_`` (default class 0).

        Raises:
            ArgumentError: ``frames < 2``, ``keyframes < 2``, ``truncation <= 0`` or an unknown ``class_``.
            UsageError: ``class_`` for an unconditional GAN.
        """
        if frames < 2:
            raise ArgumentError("frames", f"must be at least 2, got {frames}")
        if keyframes < 2:
            raise ArgumentError("keyframes", f"must be at least 2 (a walk visits two or more points), got {keyframes}")
        keys = latents(range(seed, seed + keyframes), self.config.z_dim, truncation=truncation)
        zs = []
        for f in range(frames):
            pos = f * keyframes / frames
            i = int(pos)
            t = pos - i
            t = t * t * (3 - 2 * t)  # smoothstep: ease in and out of each key
            zs.append(slerp(keys[i % keyframes], keys[(i + 1) % keyframes], t))
        z = torch.stack(zs)
        labels = self._labels(frames, class_ if class_ is not None else (0 if self.config.conditional else None))
        return self.generate_from(z, labels)

    # -- saving ----------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write ``config.json`` and ``model.safetensors`` into the folder ``path`` (created); returns it.

        Existing files there are replaced (atomically); no training state is written.

        Raises:
            ArtgenError, UsageError: a file cannot be written (disk full, permissions).
        """
        return save_pretrained(path, self.run_config(), self.modules())

    def run_config(self, precision: str | None = None) -> dict:
        """What ``config.json`` holds for this GAN: the head, the model and training settings (and the precision)."""
        cfg = {"head": HEAD, "model": self.config.to_dict(), "train": self.train_config.to_dict()}
        if precision is not None:
            cfg["precision"] = precision
        return cfg


# --- training -----------------------------------------------------------------------------


def init_from_run(gan: GAN, path: str | os.PathLike) -> None:
    """Copy an earlier run's generator, discriminator and EMA generator into ``gan`` (fine-tuning).

    Raises:
        CheckpointError: ``path`` is not a GAN run folder, or its weights do not load.
        UsageError: its size, channels, classes or architecture differ from ``gan``'s (all listed).
    """
    saved = from_pretrained(path, HEAD, "GAN", what="{arg:init_from}")
    run = saved.run
    src = saved.settings(GANConfig, "model")
    dst = gan.config
    problems = []
    if src.size != dst.size:
        problems.append(f"it is {src.size}px and this run is {dst.size}px (pass {{arg:size={src.size}}})")
    if src.channels != dst.channels:
        problems.append(f"it has {src.channels} channel(s) and this run {dst.channels} (pass {{arg:channels={src.channels}}})")
    if src.num_classes != dst.num_classes:
        problems.append(f"it has {src.num_classes or 'no'} classes and this run {dst.num_classes or 'none'}")
    for key in ("z_dim", "g_width", "d_width", "max_width", "spectral_norm", "mbstd_group", "latent_norm"):
        if getattr(src, key) != getattr(dst, key):
            problems.append(f"its {key} is {getattr(src, key)} and this run's {getattr(dst, key)}")
    if problems:
        raise UsageError(f"{{arg:init_from}} '{run.path}' does not fit: " + "; ".join(problems))
    saved.load_into(gan.modules(), lambda name: f"{{arg:init_from}} '{run.path}' {name}")


class _SampleGrid:
    """Writes ``samples/step_NNNNNN.png`` from the EMA generator with fixed latents."""

    def __init__(self, gan: GAN, folder: Path, seed: int, n: int = 64):
        self.gan = gan
        self.folder = folder
        self.seed = seed
        self.z = latents(range(seed, seed + n), gan.config.z_dim)
        self.labels = gan._labels(n, None)

    @torch.no_grad()
    def __call__(self, trainer, step):
        from ..images import make_grid, on_checkerboard, save_image

        c = self.gan.config
        x = on_checkerboard(self.gan.generate_from(self.z, self.labels))
        nrow = c.num_classes if c.conditional and c.num_classes <= 16 else None
        meta = {"head": HEAD, "step": step, "seed": self.seed, "seeds": f"{self.seed}..{self.seed + len(self.z) - 1}", "size": c.size}
        save_image(make_grid(x, nrow=nrow), self.folder / f"step_{step:06d}.png", metadata=meta, overwrite=True)


def train_gan(
    *,
    out: str | os.PathLike | None = None,
    data: str | os.PathLike | None = None,
    dataset: str | None = None,
    data_root: str | os.PathLike | None = None,
    size: int = 64,
    channels: int | None = None,
    conditional: bool = False,
    steps: int | None = None,
    batch_size: int = 64,
    augment: str | Sequence[str] = "auto",
    augment_p: float = 1.0,
    ada_target: float | str = "auto",
    resume: bool = False,
    overwrite: bool = False,
    init_from: str | os.PathLike | None = None,
    freeze_d: int = 0,
    hflip: bool = False,
    crop: str = "center",
    limit: int | None = None,
    lr_g: float = 2e-4,
    lr_d: float = 2e-4,
    loss: str = "nonsaturating",
    r1_gamma: float = 0.1,
    r1_every: int = 16,
    ema_decay: float = 0.999,
    g_width: int | None = None,
    d_width: int | None = None,
    z_dim: int = 128,
    spectral_norm: bool = False,
    mbstd_group: int = 4,
    latent_norm: bool = True,
    diversity: float = 0.2,
    sample_every: int = 500,
    checkpoint_every: int = 1000,
    log_every: int = 50,
    device: str | torch.device = "auto",
    precision: str = "auto",
    seed: int = 0,
    progress: bool | None = None,
    callbacks: Sequence = (),
    channels_last: bool | None = None,
) -> GAN:
    """Train a GAN (the library form of ``artgen gan train``); returns the :class:`GAN`.

    With ``out`` the run folder gets ``config.json``, ``model.safetensors``,
    ``training_state.pt`` (for ``resume=True``), ``samples/step_*.png`` every
    ``sample_every`` steps and ``curves.png``.  ``resume=True`` reads every
    setting back from the folder (``steps`` may be raised to train longer).
    ``precision="auto"`` is bf16 on GPUs that support it (fp16 on older ones) and
    fp32 on the CPU.  ``augment="auto"`` turns on DiffAugment's ``color,translation,cutout``
    below :data:`AUGMENT_AUTO_LIMIT` images, and ``ada_target="auto"`` sets
    :data:`ADA_TARGET` whenever augmentation is on.  Recipe and sources: :class:`GANTask`.

    Raises:
        UsageError, ArgumentError: a bad argument (named), checked before the run folder is touched;
            ``out`` holds a run without ``resume``/``overwrite``, or is locked by another training.
        CheckpointError: on ``resume``, the folder's config or state cannot be read.
        NonFiniteLossError: a loss became NaN or infinite (names the step).
        TrainingInterrupted: stopped by Ctrl-C or SIGTERM, after saving a checkpoint.
    """
    given = given_arguments(train_gan, locals(), exclude=("out", "data", "dataset", "data_root", "limit", "resume", "overwrite", "init_from", "device", "progress", "callbacks", "log_every", "steps"))
    if resume and init_from:
        raise UsageError("{arg:resume=True} and {arg:init_from} cannot be combined")

    def check(dev: torch.device) -> None:  # every input, before the run folder is touched
        if resume:
            return
        if size not in SIZES:
            raise ArgumentError("size", f"{size}: expected one of {', '.join(map(str, SIZES))}")
        if channels not in (None, 1, 3, 4):
            raise ArgumentError("channels", f"must be 1, 3 or 4 (RGBA), got {channels}")
        if channels == 4 and data is None:
            raise ArgumentError("channels", "4 (RGBA) needs a data folder of transparent images; the built-in sets have no alpha")
        _check_train_args(steps=steps, batch_size=batch_size, limit=limit, loss=loss, augment=augment, freeze_d=freeze_d, crop=crop,
                          sample_every=sample_every, checkpoint_every=checkpoint_every, lr_g=lr_g, lr_d=lr_d, r1_gamma=r1_gamma)
        if data is not None and not Path(data).expanduser().is_dir():
            raise ArgumentError("data", f"'{data}' {'is not a folder' if Path(data).expanduser().exists() else 'does not exist'}")

    setup = start_run(out, resume=resume, overwrite=overwrite, device=device, precision=precision, seed=seed, check=check,
                      read_config=lambda run: run.load_head_config(HEAD, "GAN"))
    dev, run = setup.device, setup.run_dir
    if resume:
        saved = setup.saved
        config = run.load_settings(GANConfig, "model", saved)
        tc = run.load_settings(GANTrainConfig, "train", saved)
        if steps is not None and steps > tc.steps:
            tc.steps = steps  # train longer than first planned
        elif steps is not None and steps < tc.steps:
            given["steps"] = steps  # fewer steps than planned: the saved count stands (reported below)
        if "augment" in given and not (isinstance(augment, str) and augment.strip().lower() == "auto"):
            with contextlib.suppress(UsageError):  # compared as the policy list the run stores
                given["augment"] = list(_parse_augment(augment))
        report_resume_changes(given, _saved_arguments(config, tc, setup.precision.name))
        _resume_data(tc, data, dataset, data_root)
        gd = load_gan_data(data=tc.data, dataset=tc.dataset, data_root=tc.data_root, size=config.size, channels=config.channels, labelled=config.conditional, crop=tc.crop, limit=limit)
    else:
        gd = load_gan_data(data=data, dataset=dataset if data is None else None, data_root=data_root, size=size, channels=channels, labelled=conditional, crop=crop, limit=limit)
        if conditional and not gd.classes:
            raise UsageError("{arg:conditional=True} needs labelled data: one subfolder per class, or {arg:dataset=shapes|mnist|fashion-mnist}")
        n = len(gd.images)
        if isinstance(augment, str) and augment.strip().lower() == "auto":
            policy = ["color", "translation", "cutout"] if n < AUGMENT_AUTO_LIMIT else []
        else:
            policy = augment  # GANTrainConfig parses and checks it
        if isinstance(ada_target, str):
            if ada_target.strip().lower() != "auto":
                raise ArgumentError("ada_target", f"{ada_target!r}: expected a number in [0, 1) or auto")
            ada_target = ADA_TARGET if _parse_augment(policy) else 0.0
        defaults = GANConfig()
        config = GANConfig(
            size=size, channels=gd.images.shape[1], z_dim=z_dim, num_classes=len(gd.classes) if conditional else 0,
            g_width=g_width or defaults.g_width, d_width=d_width or defaults.d_width, spectral_norm=spectral_norm, mbstd_group=mbstd_group, latent_norm=latent_norm,
            classes=list(gd.classes) if conditional else None,
        )
        tc = GANTrainConfig(
            steps=10000 if steps is None else steps, batch_size=batch_size, lr_g=lr_g, lr_d=lr_d, loss=loss, r1_gamma=r1_gamma, r1_every=r1_every, ema_decay=ema_decay, diversity=diversity,
            augment=policy, augment_p=augment_p, ada_target=float(ada_target), freeze_d=freeze_d, hflip=hflip, crop=crop, seed=seed, sample_every=sample_every, checkpoint_every=checkpoint_every,
            channels_last=(dev.type != "mps") if channels_last is None else channels_last,
            dataset=gd.name if data is None else None, data=_absolute(data),
            data_root=_absolute(data_root), init_from=str(init_from) if init_from else None, images=n,
        )
    precision = setup.precision.name
    strength = (f" (adaptive strength, target r_t {tc.ada_target})" if tc.ada_target > 0 else f" (strength {tc.augment_p})") if tc.augment else ""
    log.info("GAN %dpx, %d channel(s), %s, %d training images, augmentation: %s%s", config.size, config.channels,
             f"{config.num_classes} classes" if config.conditional else "unconditional", len(gd.images), ",".join(tc.augment) or "none", strength)

    gan = GAN(config, device=dev, train_config=tc)
    task = GANTask(config, tc, dev, generator=gan.generator, discriminator=gan.discriminator)
    gan.generator_ema = task.G_ema
    if init_from and not resume:
        init_from_run(gan, init_from)  # in place: the task's modules and optimizers see the loaded weights
    source = SampledBatches(gd.images, gd.labels, batch_size=tc.batch_size, size=config.size, hflip=tc.hflip, seed=tc.seed, device=dev, channels_last=tc.channels_last)
    cbs = list(callbacks)
    if run is not None:
        cbs.append(LambdaCallback(_SampleGrid(gan, run / "samples", tc.seed), tc.sample_every))
        cbs.append(CurvePlot(run / "curves.png", title=f"GAN {config.size}px"))
    run_config = gan.run_config(precision)
    trainer = Trainer(
        task, source, max_steps=tc.steps, setup=setup, checkpoint_every=tc.checkpoint_every,
        callbacks=cbs, log_every=log_every, progress=progress, desc=f"gan {config.size}px", config=run_config,
    )
    gan.history = trainer.fit(resume=resume)
    return gan


def _saved_arguments(config: GANConfig, tc: GANTrainConfig, precision: str) -> dict:
    """A saved run's settings under :func:`train_gan`'s argument names (what a resume compares the given ones with)."""
    saved = {name: getattr(tc, name) for name in ("steps", "batch_size", "lr_g", "lr_d", "loss", "r1_gamma", "r1_every", "ema_decay", "diversity", "augment_p",
                                                  "freeze_d", "hflip", "crop", "seed", "sample_every", "checkpoint_every", "channels_last")}
    saved.update({name: getattr(config, name) for name in ("size", "channels", "z_dim", "g_width", "d_width", "spectral_norm", "mbstd_group", "latent_norm")})
    saved.update(conditional=config.conditional, augment=list(tc.augment), ada_target=tc.ada_target, precision=precision)
    return saved


def _absolute(path) -> str | None:
    """A stored data path: absolute, so that a run can be resumed from any folder."""
    return str(Path(path).expanduser().resolve()) if path is not None else None


def _resume_data(tc: GANTrainConfig, data, dataset, data_root) -> None:
    """On resume: a given ``data``/``data_root`` (a moved dataset) replaces the stored one; a stored folder that is gone is named."""
    if data is not None:
        folder = Path(data).expanduser()
        if not folder.is_dir():
            raise ArgumentError("data", f"'{data}' {'is not a folder' if folder.exists() else 'does not exist'}")
        if tc.data is None:
            raise UsageError(f"this run was trained on the built-in '{tc.dataset}' set, not a folder; resume it without {{arg:data}}")
        if _absolute(folder) != tc.data:
            log.info("resuming with the images in '%s' (the run was started on '%s')", folder, tc.data)
        tc.data = _absolute(folder)
    elif tc.data is not None and not Path(tc.data).is_dir():
        raise UsageError(f"this run's images were in '{tc.data}', which is not there any more; pass {{arg:data}} with their new place")
    if data_root is not None:
        tc.data_root = _absolute(data_root)
    if dataset is not None and dataset != (tc.dataset or "folder"):
        raise UsageError(f"this run was trained on {tc.dataset or tc.data!r}; {{arg:dataset={dataset}}} cannot change that on {{arg:resume=True}}")


def _check_train_args(*, steps, batch_size, limit, loss, augment, freeze_d, crop, sample_every, checkpoint_every, lr_g, lr_d, r1_gamma) -> None:
    """Every training setting checked before any data is read or the run folder touched."""
    for name, value in (("steps", steps), ("batch_size", batch_size), ("limit", limit), ("sample_every", sample_every), ("checkpoint_every", checkpoint_every)):
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
        _parse_augment(augment)
    if freeze_d < 0:
        raise ArgumentError("freeze_d", f"must be >= 0, got {freeze_d}")
    if crop not in ("center", "random"):
        raise ArgumentError("crop", f"must be 'center' or 'random', not {crop!r}")


def load_gan(path: str | os.PathLike, *, device: str | torch.device = "auto") -> GAN:
    """Load a GAN run folder for sampling (see :meth:`GAN.generate`); errors as :meth:`GAN.load`."""
    return GAN.load(path, device=device)


# --- evaluation ------------------------------------------------------------------------


def evaluate_gan(gan, real, *, num_samples=1000, features="auto", inception_weights=None, seed=0, classifier=None, device="cpu", real_labels=None, nearest_sheet=None, k=3):
    """Sample quality, diversity and memorisation of ``gan`` against ``real`` uint8 images ``(N, C, H, W)``; a dict.

    * With the standard TF-Inception features (see :mod:`artgen.metrics`):
      ``fid``, ``kid`` and ``kid_std``.  With the fallback features the same
      distances are ``fallback_fd``/``fallback_kd``/``fallback_kd_std``: never FID/KID.
    * Diversity: ``precision`` and ``recall`` (Kynkäänniemi et al. 2019, ``k``
      nearest neighbours; recall near 0 means collapse), or ``diversity_note``
      saying why they could not be computed.  For a conditional GAN with
      ``real_labels``: ``class_spread`` (mean over classes of the per-pixel
      standard deviation across that class's samples, in [0, 0.5]) and
      ``real_class_spread``, the same for the real images.
    * Memorisation: ``nn_distance_median`` (feature distance from each sample
      to its nearest training image) against ``real_nn_distance_median``
      (training images to their nearest other training image), and their ratio
      ``memorisation_ratio`` (well below 1: samples sit on training images).
      With ``nearest_sheet`` a PNG of the 16 closest samples, each beside its
      nearest training image, is written there.
    * With a ``classifier``: ``class_accuracy`` (conditional GANs).

    Samples come from seeds ``seed + EVAL_SEED_OFFSET + i``; KID uses subsets of
    :data:`KID_SUBSET_SIZE` (fewer when there are fewer images).

    Raises:
        ArgumentError: ``num_samples < 2``.
        UsageError: an unknown ``features`` choice, or Inception weights that are not available
            offline; ``classifier`` for an unconditional GAN or with another number of classes.
    """
    from .. import metrics

    if num_samples < 2:
        raise ArgumentError("num_samples", f"must be at least 2, got {num_samples}")
    feat, name = metrics.feature_network(features, weights=inception_weights, device=device)
    fake = gan.generate(num_samples, seed=seed + EVAL_SEED_OFFSET)  # (M, C, H, W) in [0, 1], classes cycling
    real_f = metrics.extract(feat, real)
    fake_f = metrics.extract(feat, fake)
    subset_size = min(KID_SUBSET_SIZE, len(real_f), len(fake_f))
    mean, std = metrics.kid(real_f, fake_f, subset_size=subset_size, seed=seed)
    out = {"features": name, "real_images": len(real), "generated_images": num_samples, "subset_size": subset_size}
    if metrics.is_standard(name):
        out.update(fid=metrics.fid(real_f, fake_f), kid=mean, kid_std=std)
    else:
        out.update(fallback_fd=metrics.fid(real_f, fake_f), fallback_kd=mean, fallback_kd_std=std)
    if min(len(real_f), len(fake_f)) > k:
        out["precision"], out["recall"] = metrics.precision_recall(real_f, fake_f, k=k)
    else:
        out["diversity_note"] = f"precision/recall need more than {k} real and {k} generated images"
    c = gan.config
    if c.conditional and real_labels is not None:
        gen_labels = gan._labels(num_samples, None)
        out["class_spread"] = metrics.pixel_spread(fake, gen_labels)
        out["real_class_spread"] = metrics.pixel_spread(real.float() / 255.0, real_labels)
    dist, index, real_nn = metrics.nearest_neighbours(fake_f, real_f)
    if len(real_f) > 1:
        out["nn_distance_median"] = float(dist.median())
        out["real_nn_distance_median"] = float(real_nn.median())
        out["memorisation_ratio"] = out["nn_distance_median"] / max(out["real_nn_distance_median"], 1e-12)
    if nearest_sheet is not None:
        from ..images import make_grid, on_checkerboard, save_image

        order = dist.argsort()[:16]
        pairs = on_checkerboard(torch.stack([t for i in order.tolist() for t in (fake[i], real[int(index[i])].float() / 255.0)]))
        meta = {"head": HEAD, "sheet": "generated sample | nearest training image (feature space), closest first", "features": name}
        save_image(make_grid(pairs, nrow=8), nearest_sheet, metadata=meta, overwrite=True)
        out["nearest_sheet"] = str(nearest_sheet)
    if classifier is not None:
        out["class_accuracy"] = class_agreement(gan, classifier, per_class=max(1, num_samples // max(gan.config.num_classes, 1)), seed=seed)
    return out


def class_agreement(gan, classifier, *, per_class: int = 100, seed: int = 0) -> float:
    """Fraction in [0, 1] of class-conditional samples that ``classifier`` assigns to the requested class.

    ``per_class`` samples per class, resized to the classifier's input (:func:`artgen.data.fit_images`).

    Raises:
        UsageError: the GAN is unconditional, or the class counts differ.
    """
    if not gan.config.conditional:
        raise UsageError("{arg:classifier} needs a class-conditional GAN (trained with {arg:conditional=True})")
    cc = classifier.config
    if cc.num_classes != gan.config.num_classes:
        raise UsageError(f"the classifier knows {cc.num_classes} classes, the GAN {gan.config.num_classes}")
    correct = total = 0
    for k in range(gan.config.num_classes):
        x = fit_images(gan.generate(per_class, seed=seed + k * CLASS_SEED_STRIDE, class_=k), cc.image_size, cc.in_channels)
        pred = classifier.predict(x).argmax(-1)
        correct += int((pred == k).sum())
        total += len(x)
    return correct / total


__all__ = ["GAN", "GANTask", "GANTrainConfig", "SampledBatches", "load_gan", "load_gan_data", "train_gan", "latents", "slerp", "init_from_run", "evaluate_gan", "class_agreement"]

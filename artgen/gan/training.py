"""Training a GAN from the command line or a notebook (:func:`train_gan`), with sample grids and resume."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from ..errors import ArgumentError, UsageError
from ..metrics import spatial_spread
from ..runs.setup import SavedRun, given_arguments, report_resume_changes, start_run
from ..train import Callback, CurvePlot, LambdaCallback, Trainer
from ._data import SampledBatches, load_gan_data
from ._task import GANTask
from .config import (
    ADA_TARGET,
    AUGMENT_AUTO_LIMIT,
    EVAL_SEED_OFFSET,
    HEAD,
    PROJECTED_D_WIDTH,
    RECIPES,
    GANTrainConfig,
    check_train_args,
    parse_augment,
    read_config,
    resolve_batch_size,
)
from .networks import ARCHITECTURE_FIELDS, SIZES, GANConfig
from .pipeline import GAN, check_fits_weights, init_from_run, latents

log = logging.getLogger("artgen.gan")

_MODEL, _TRAIN = GANConfig(), GANTrainConfig()  # the one source of every default below


# --- training -----------------------------------------------------------------------------


class _SampleGrid:
    """Writes ``samples/step_NNNNNN.png`` from the EMA generator with fixed latents."""

    def __init__(self, gan: GAN, folder: Path, seed: int, n: int = 64):
        self.gan = gan
        self.folder = folder
        self.seed = seed
        self.z = latents(range(seed, seed + n), gan.config.z_dim)
        self.labels = gan.labels(n, None)

    @torch.no_grad()
    def __call__(self, trainer, step):
        from ..images import make_grid, on_checkerboard, save_image

        c = self.gan.config
        x = on_checkerboard(self.gan.generate_from(self.z, self.labels))
        nrow = c.num_classes if c.conditional and c.num_classes <= 16 else None
        meta = {
            "head": HEAD,
            "step": step,
            "seed": self.seed,
            "seeds": f"{self.seed}..{self.seed + len(self.z) - 1}",
            "size": c.size,
        }
        save_image(make_grid(x, nrow=nrow), self.folder / f"step_{step:06d}.png", metadata=meta, overwrite=True)


#: Checked every :data:`FLAT_CHECK_EVERY` steps: a warning when the EMA samples' spatial spread
#: (:func:`artgen.metrics.spatial_spread`) falls below this fraction of the training images'. A
#: generator that collapses to flat colour fields stays there (on 128 px Twemoji at batch 8 with
#: Adam 5e-4 / 1e-3 the spread fell from 0.11-0.14 to 0.008-0.02 by step 300, against 0.26 for
#: the images, and never came back); healthy runs stay above half the images' spread. The first
#: check is at step :data:`FLAT_CHECK_EVERY`: before it a generator may still be drawing little
#: (30 steps into a 128 px run on noise images its samples scored 0.026 against the images' 0.289),
#: so shorter runs are not judged.
FLAT_SAMPLES_RATIO = 0.1
FLAT_CHECK_EVERY = 200


class _FlatSamplesWatch:
    """Logs a warning when the EMA generator's samples turn into flat colour fields (see :data:`FLAT_SAMPLES_RATIO`)."""

    def __init__(self, gan: GAN, images: torch.Tensor, seed: int, n: int = 16):
        self.gan = gan
        self.real = spatial_spread(images[:256].float() / 255)  # uint8 (N, C, S, S)
        self.z = latents(range(seed, seed + n), gan.config.z_dim)
        self.labels = gan.labels(n, None)
        self.flat = False

    @torch.no_grad()
    def __call__(self, trainer, step):
        if step < FLAT_CHECK_EVERY:  # too early to tell a collapse from a generator still learning
            return
        spread = spatial_spread(self.gan.generate_from(self.z, self.labels))
        flat = spread < FLAT_SAMPLES_RATIO * self.real  # never for a collection of flat images (real spread 0)
        if flat and not self.flat:
            log.warning(
                "step %d: the samples are flat colour fields (spatial spread %.3f, training images %.3f): the generator has "
                "collapsed and does not recover; train again with smaller --lr-g and --lr-d or a larger --batch-size",
                step,
                spread,
                self.real,
            )
        self.flat = flat


#: KID during training (:class:`_KIDWatch`): this many EMA samples against as many training images
#: (the subset size of the estimate), at most this share of the training time (measured as it goes).
KID_SAMPLES = 256
KID_TIME_SHARE = 0.05
#: The first KID is not taken before this step: a generator this young draws noise.
KID_FIRST_STEP = 200
#: Where the generator with the lowest KID so far is kept, as a run folder of its own (``GAN.load`` reads it).
BEST_FOLDER = "best"


class _KIDWatch(Callback):
    """Measures KID of :data:`KID_SAMPLES` EMA samples against the training images now and then, records it in
    ``history.evals`` (so ``curves.png`` draws it and a resume keeps it), and keeps the best generator in
    ``RUN/best/`` beside the last.

    ``every`` > 0 measures every ``every`` steps; 0 chooses the interval from the time a measurement takes,
    so that measuring costs at most :data:`KID_TIME_SHARE` of the training time. Features: the TF-Inception
    network when a local copy exists (never downloaded here), else the labelled fallback
    (:data:`artgen.metrics.FALLBACK`; its values compare only with each other). Measuring draws on
    random generators of its own, so training is the same with and without it (resume stays exact).
    """

    def __init__(self, gan: GAN, images: torch.Tensor, run, seed: int, every: int = 0):
        self.gan, self.run, self.every = gan, run, every
        n = min(KID_SAMPLES, len(images))
        pick = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:n]
        self.real = images[pick]  # uint8 (n, C, S, S)
        self.z = latents(range(seed + EVAL_SEED_OFFSET, seed + EVAL_SEED_OFFSET + n), gan.config.z_dim)
        self.labels = gan.labels(n, None)
        self.features = self.real_features = self.name = None
        self.spent = self.cost = 0.0
        self.t0 = self.best = None
        self.last = -1

    def on_train_begin(self, trainer):
        self.t0 = time.perf_counter()
        kids = [v for _, values in trainer.history.evals for k, v in values.items() if k.startswith("kid")]
        self.best = min(kids) if kids else None
        self.last = trainer.history.evals[-1][0] if trainer.history.evals else -1

    def on_step_end(self, trainer, step):
        if not trainer.is_main or step < KID_FIRST_STEP or step == self.last:
            return
        if self.every:
            due = step % self.every == 0
        else:  # the next measurement keeps the time spent measuring within KID_TIME_SHARE of the whole
            elapsed = time.perf_counter() - self.t0
            due = self.spent + (self.cost or 0.0) <= KID_TIME_SHARE * elapsed and elapsed > 0
        if due:
            self.measure(trainer, step)

    def on_train_end(self, trainer):
        if trainer.is_main and trainer.step >= KID_FIRST_STEP and trainer.step != self.last:
            self.measure(trainer, trainer.step)

    @torch.no_grad()
    def measure(self, trainer, step: int) -> float:
        from .. import metrics

        t = time.perf_counter()
        devices = [self.gan.device] if self.gan.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            if self.features is None:
                weights = metrics.find_inception_weights()
                self.features, self.name = metrics.feature_network(
                    "inception" if weights else "random", weights=weights, device=self.gan.device
                )
                self.real_features = metrics.extract(self.features, self.real, batch_size=64)
            fake = metrics.extract(self.features, self.gan.generate_from(self.z, self.labels), batch_size=64)
            value, _ = metrics.kid(self.real_features, fake, subsets=20, subset_size=len(fake))
        key = "kid" if metrics.is_standard(self.name) else "kid (fallback features)"
        trainer.history.evals.append((step, {key: value}))
        if self.run is not None and (self.best is None or value < self.best):
            self.best = value
            self.gan.save(
                self.run / BEST_FOLDER,
                extra={"best": {"step": step, "kid": value, "features": self.name, "samples": len(fake)}},
            )
        self.last = step
        self.cost = time.perf_counter() - t
        self.spent += self.cost
        return value


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
    batch_size: int | str = "auto",
    augment: str | Sequence[str] = "auto",
    augment_p: float = _TRAIN.augment_p,
    ada_target: float | str = "auto",
    resume: bool = False,
    overwrite: bool = False,
    init_from: str | os.PathLike | None = None,
    freeze_d: int = _TRAIN.freeze_d,
    hflip: bool = _TRAIN.hflip,
    crop: str = _TRAIN.crop,
    limit: int | None = None,
    discriminator: str = _MODEL.discriminator,
    lr_g: float | None = None,
    lr_d: float | None = None,
    loss: str | None = None,
    r1_gamma: float | None = None,
    beta1: float | None = None,
    beta2: float | None = None,
    r1_every: int = _TRAIN.r1_every,
    ema_decay: float = _TRAIN.ema_decay,
    ema_rampup: float = _TRAIN.ema_rampup,
    g_width: int = _MODEL.g_width,
    d_width: int | None = None,
    z_dim: int = _MODEL.z_dim,
    spectral_norm: bool = _MODEL.spectral_norm,
    mbstd_group: int = _MODEL.mbstd_group,
    latent_norm: bool = _MODEL.latent_norm,
    g_convs: int = _MODEL.g_convs,
    skip_z: bool = _MODEL.skip_z,
    pg_size: int = _MODEL.pg_size,
    pg_levels: int = _MODEL.pg_levels,
    pg_width: int = _MODEL.pg_width,
    diversity: float = _TRAIN.diversity,
    sample_every: int = _TRAIN.sample_every,
    checkpoint_every: int = _TRAIN.checkpoint_every,
    kid_every: int = _TRAIN.kid_every,
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
    ``sample_every`` steps and ``curves.png`` (with the KID measured now and then: every ``kid_every``
    steps, or with 0 as often as costs at most 5% of the time; the generator with the lowest KID is
    kept in ``best/``).  ``resume=True`` reads every
    setting back from the folder (``steps`` may be raised to train longer).
    ``precision="auto"`` is bf16 on GPUs that support it (fp16 on older ones) and on
    CPUs that multiply bfloat16 natively (AMX, AVX-512 BF16), else fp32.  ``augment="auto"`` turns on DiffAugment's ``color,translation,cutout``
    below :data:`AUGMENT_AUTO_LIMIT` images, and ``ada_target="auto"`` sets
    :data:`ADA_TARGET` whenever augmentation is on. ``batch_size="auto"`` is
    :data:`CPU_BATCH_SIZE` (16) on the CPU and :data:`GPU_BATCH_SIZE` (64) on a GPU.  ``skip_z=True``
    lets the latent code modulate every generator doubling (BigGAN's skip-z; see
    :mod:`artgen.gan.networks`); ``ema_rampup`` > 0 caps the EMA's half-life at that fraction of the
    steps so far (StyleGAN2-ADA; 0 keeps the :data:`EMA_WARMUP` rule).  Recipe and sources: :class:`GANTask`.

    ``discriminator="projected"`` trains against Projected GAN's discriminator on frozen
    EfficientNet-Lite0 features (:mod:`artgen.gan._projected`); ``pg_size``, ``pg_levels`` and
    ``pg_width`` shape it. ``loss``, ``r1_gamma``, ``lr_g``, ``lr_d``, ``beta1`` and ``beta2`` left at
    None take the discriminator's recipe (:data:`~artgen.gan.config.RECIPES`); ``d_width`` left
    at None is 32 for the plain D and 64 (the paper's) for the projected one. Every other default is
    the field's default in :class:`GANConfig` / :class:`GANTrainConfig`.

    Raises:
        UsageError, ArgumentError: a bad argument (named), checked before the run folder is touched;
            ``out`` holds a run without ``resume``/``overwrite``, or is locked by another training.
        CheckpointError: on ``resume``, the folder's config or state cannot be read.
        NonFiniteLossError: a loss became NaN or infinite (names the step).
        TrainingInterrupted: stopped by Ctrl-C or SIGTERM, after saving a checkpoint.
    """
    given = given_arguments(
        train_gan,
        locals(),
        exclude=(
            "out",
            "data",
            "dataset",
            "data_root",
            "limit",
            "resume",
            "overwrite",
            "init_from",
            "device",
            "progress",
            "callbacks",
            "log_every",
            "steps",
        ),
    )
    if resume and init_from:
        raise UsageError("{arg:resume=True} and {arg:init_from} cannot be combined")
    if discriminator not in RECIPES:
        raise ArgumentError("discriminator", f"{discriminator!r}: expected one of {', '.join(RECIPES)}")
    recipe = RECIPES[discriminator]
    lr_g = recipe["lr_g"] if lr_g is None else lr_g
    lr_d = recipe["lr_d"] if lr_d is None else lr_d
    loss = recipe["loss"] if loss is None else loss
    r1_gamma = recipe["r1_gamma"] if r1_gamma is None else r1_gamma
    beta1 = recipe["beta1"] if beta1 is None else beta1
    beta2 = recipe["beta2"] if beta2 is None else beta2
    d_width = d_width or (_MODEL.d_width if discriminator == "plain" else PROJECTED_D_WIDTH)

    def check(dev: torch.device) -> None:  # every input, before the run folder is touched
        if resume:
            return
        if size not in SIZES:
            raise ArgumentError("size", f"{size}: expected one of {', '.join(map(str, SIZES))}")
        if channels not in (None, 1, 3, 4):
            raise ArgumentError("channels", f"must be 1, 3 or 4 (RGBA), got {channels}")
        if channels == 4 and data is None:
            raise ArgumentError(
                "channels", "4 (RGBA) needs a data folder of transparent images; the built-in sets have no alpha"
            )
        check_train_args(
            steps=steps,
            batch_size=batch_size,
            limit=limit,
            loss=loss,
            augment=augment,
            freeze_d=freeze_d,
            crop=crop,
            sample_every=sample_every,
            checkpoint_every=checkpoint_every,
            lr_g=lr_g,
            lr_d=lr_d,
            r1_gamma=r1_gamma,
        )
        if data is not None and not Path(data).expanduser().is_dir():
            raise ArgumentError(
                "data", f"'{data}' {'is not a folder' if Path(data).expanduser().exists() else 'does not exist'}"
            )
        if freeze_d and not init_from:
            raise ArgumentError(
                "freeze_d",
                "is for fine-tuning: it keeps blocks of a trained discriminator fixed, so it needs {arg:init_from}",
            )
        GANTrainConfig(
            ema_decay=ema_decay, ema_rampup=ema_rampup, diversity=diversity, beta1=beta1, beta2=beta2
        )  # their range checks, before any file is written
        for name, value, low, high in (
            ("pg_size", pg_size, 0, 512),
            ("pg_levels", pg_levels, 1, 4),
            ("pg_width", pg_width, 1, 1024),
        ):
            if (
                isinstance(value, bool)
                or not isinstance(value, int)
                or not (low <= value <= high)
                or (name == "pg_size" and 0 < value < 16)
            ):
                raise ArgumentError(
                    name,
                    f"must be a whole number from {16 if name == 'pg_size' else low} to {high}{' (or 0: the images own side)' if name == 'pg_size' else ''}, got {value!r}",
                )
        if discriminator == "projected":
            from ._projected import feature_network

            feature_network()  # a missing package is named now, before the run folder is touched

    setup = start_run(
        out,
        resume=resume,
        overwrite=overwrite,
        device=device,
        precision=precision,
        seed=seed,
        check=check,
        cpu_bf16=True,
        read_config=read_config,
        inputs={"data": data, "data_root": data_root},
    )
    dev, run = setup.device, setup.run_dir
    if resume:
        saved = setup.saved
        config = run.load_settings(GANConfig, "model", saved)
        check_fits_weights(SavedRun(run, saved), config)
        tc = run.load_settings(GANTrainConfig, "train", saved)
        if steps is not None and steps > tc.steps:
            tc.steps = steps  # train longer than first planned
        elif steps is not None and steps < tc.steps:
            given["steps"] = steps  # fewer steps than planned: the saved count stands (reported below)
        if "augment" in given and not (isinstance(augment, str) and augment.strip().lower() == "auto"):
            with contextlib.suppress(UsageError):  # compared as the policy list the run stores
                given["augment"] = list(parse_augment(augment))
        report_resume_changes(given, _saved_arguments(config, tc, setup.precision.name))
        _resume_data(tc, data, dataset, data_root)
        gd = load_gan_data(
            data=tc.data,
            dataset=tc.dataset,
            data_root=tc.data_root,
            size=config.size,
            channels=config.channels,
            labelled=config.conditional,
            crop=tc.crop,
            limit=limit,
        )
    else:
        gd = load_gan_data(
            data=data,
            dataset=dataset if data is None else None,
            data_root=data_root,
            size=size,
            channels=channels,
            labelled=conditional,
            crop=crop,
            limit=limit,
        )
        if conditional and not gd.classes:
            raise UsageError(
                "{arg:conditional=True} needs labelled data: one subfolder per class, or {arg:dataset=shapes|mnist|fashion-mnist}"
            )
        n = len(gd.images)
        if isinstance(augment, str) and augment.strip().lower() == "auto":
            policy = ["color", "translation", "cutout"] if n < AUGMENT_AUTO_LIMIT else []
        else:
            policy = augment  # GANTrainConfig parses and checks it
        if isinstance(ada_target, str):
            if ada_target.strip().lower() != "auto":
                raise ArgumentError("ada_target", f"{ada_target!r}: expected a number in [0, 1) or auto")
            ada_target = ADA_TARGET if parse_augment(policy) else 0.0
        config = GANConfig(
            size=size,
            channels=gd.images.shape[1],
            z_dim=z_dim,
            num_classes=len(gd.classes) if conditional else 0,
            g_width=g_width,
            d_width=d_width,
            spectral_norm=spectral_norm,
            mbstd_group=mbstd_group,
            latent_norm=latent_norm,
            g_convs=g_convs,
            skip_z=skip_z,
            classes=list(gd.classes) if conditional else None,
            discriminator=discriminator,
            pg_size=pg_size,
            pg_levels=pg_levels,
            pg_width=pg_width,
        )
        tc = GANTrainConfig(
            steps=_TRAIN.steps if steps is None else steps,
            batch_size=resolve_batch_size(batch_size, dev),
            lr_g=lr_g,
            lr_d=lr_d,
            beta1=beta1,
            beta2=beta2,
            loss=loss,
            r1_gamma=r1_gamma,
            r1_every=r1_every,
            ema_decay=ema_decay,
            ema_rampup=ema_rampup,
            diversity=diversity,
            augment=policy,
            augment_p=augment_p,
            ada_target=float(ada_target),
            freeze_d=freeze_d,
            hflip=hflip,
            crop=crop,
            seed=seed,
            sample_every=sample_every,
            checkpoint_every=checkpoint_every,
            kid_every=kid_every,
            channels_last=(dev.type != "mps") if channels_last is None else channels_last,
            dataset=gd.name if data is None else None,
            data=_absolute(data),
            data_root=_absolute(data_root),
            init_from=str(init_from) if init_from else None,
            images=n,
        )
    precision = setup.precision.name
    strength = (
        (f" (adaptive strength, target r_t {tc.ada_target})" if tc.ada_target > 0 else f" (strength {tc.augment_p})")
        if tc.augment
        else ""
    )
    log.info(
        "GAN %dpx, %d channel(s), %s, %d training images, augmentation: %s%s",
        config.size,
        config.channels,
        f"{config.num_classes} classes" if config.conditional else "unconditional",
        len(gd.images),
        ",".join(tc.augment) or "none",
        strength,
    )

    gan = GAN(config, device=dev, train_config=tc)
    task = GANTask(config, tc, dev, generator=gan.generator, discriminator=gan.discriminator)
    gan.generator_ema = task.G_ema
    if init_from and not resume:
        init_from_run(gan, init_from)  # in place: the task's modules and optimizers see the loaded weights
    source = SampledBatches(
        gd.images,
        gd.labels,
        batch_size=tc.batch_size,
        size=config.size,
        hflip=tc.hflip,
        seed=tc.seed,
        device=dev,
        channels_last=tc.channels_last,
    )
    cbs = list(callbacks)
    cbs.append(LambdaCallback(_FlatSamplesWatch(gan, gd.images, tc.seed), FLAT_CHECK_EVERY))
    if run is not None:
        cbs.append(_KIDWatch(gan, gd.images, run, tc.seed, every=tc.kid_every))
        cbs.append(LambdaCallback(_SampleGrid(gan, run / "samples", tc.seed), tc.sample_every))
        cbs.append(CurvePlot(run / "curves.png", title=f"GAN {config.size}px"))
    run_config = gan.run_config(precision)
    trainer = Trainer(
        task,
        source,
        max_steps=tc.steps,
        setup=setup,
        checkpoint_every=tc.checkpoint_every,
        callbacks=cbs,
        log_every=log_every,
        progress=progress,
        desc=f"gan {config.size}px",
        config=run_config,
    )
    gan.history = trainer.fit(resume=resume)
    return gan


def _saved_arguments(config: GANConfig, tc: GANTrainConfig, precision: str) -> dict:
    """A saved run's settings under :func:`train_gan`'s argument names (what a resume compares the given ones with)."""
    saved = {
        name: getattr(tc, name)
        for name in (
            "steps",
            "batch_size",
            "lr_g",
            "lr_d",
            "beta1",
            "beta2",
            "loss",
            "r1_gamma",
            "r1_every",
            "ema_decay",
            "ema_rampup",
            "diversity",
            "augment_p",
            "freeze_d",
            "hflip",
            "crop",
            "seed",
            "sample_every",
            "checkpoint_every",
            "kid_every",
            "channels_last",
        )
    }
    saved.update({name: getattr(config, name) for name in ("size", "channels", *ARCHITECTURE_FIELDS)})
    saved.update(
        conditional=config.conditional, augment=list(tc.augment), ada_target=tc.ada_target, precision=precision
    )
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
            raise UsageError(
                f"this run was trained on the built-in '{tc.dataset}' set, not a folder; resume it without {{arg:data}}"
            )
        if _absolute(folder) != tc.data:
            log.info("resuming with the images in '%s' (the run was started on '%s')", folder, tc.data)
        tc.data = _absolute(folder)
    elif tc.data is not None and not Path(tc.data).is_dir():
        raise UsageError(
            f"this run's images were in '{tc.data}', which is not there any more; pass {{arg:data}} with their new place"
        )
    if data_root is not None:
        tc.data_root = _absolute(data_root)
    if dataset is not None and dataset != (tc.dataset or "folder"):
        raise UsageError(
            f"this run was trained on {tc.dataset or tc.data!r}; {{arg:dataset={dataset}}} cannot change that on {{arg:resume=True}}"
        )

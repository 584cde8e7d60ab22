"""The GAN's training step (:class:`GANTask`): discriminator update with lazy R1, generator update with the mode-seeking
term, EMA of the generator, adaptive augmentation."""

from __future__ import annotations

import copy

import torch

from .. import distributed, losses
from ..augment import AdaptiveStrength, diff_augment
from ..errors import ArgumentError
from ..train import Task
from .config import EMA_WARMUP, MODE_SEEKING_EPS, GANTrainConfig
from .networks import GANConfig, Generator, build_discriminator


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

    def __init__(
        self,
        config: GANConfig,
        train: GANTrainConfig,
        device: torch.device,
        generator: Generator | None = None,
        discriminator: torch.nn.Module | None = None,
    ):
        self.config = config
        self.train_cfg = train
        self.G = (generator or Generator(config)).to(device)
        self.D = (discriminator or build_discriminator(config)).to(device)
        if train.channels_last:
            self.G.to(memory_format=torch.channels_last)
            self.D.to(memory_format=torch.channels_last)
        self.G_ema = copy.deepcopy(self.G).requires_grad_(False)
        try:
            frozen = self.D.blocks_to_freeze(train.freeze_d)
        except ValueError as exc:
            raise ArgumentError("freeze_d", str(exc)) from None
        for block in frozen:
            block.requires_grad_(False)
        self.d_params = [p for p in self.D.parameters() if p.requires_grad]
        betas = (train.beta1, train.beta2)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=train.lr_g, betas=betas)
        self.opt_d = torch.optim.Adam(self.d_params, lr=train.lr_d, betas=betas)
        self.modules = {"generator": self.G, "discriminator": self.D, "generator_ema": self.G_ema}
        self.optimizers = {"generator": self.opt_g, "discriminator": self.opt_d}
        self.augment = tuple(train.augment)
        self.ada = (
            AdaptiveStrength(train.ada_target, speed_images=train.ada_images)
            if self.augment and train.ada_target > 0
            else None
        )
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
            per_image = (
                d_real if d_real.dim() == 1 else d_real.float().mean(dim=1)
            )  # a projected D scores each image at several places
            self.ada.observe(per_image, reduce=distributed.all_reduce_mean if ctx.world_size > 1 else None)

        # generator (the discriminator's weights take no gradient)
        for p in self.d_params:
            p.requires_grad_(False)
        try:
            with ctx.autocast():
                g_logits = self.D_plain(self._aug(fake), fake_labels)
            g_loss = losses.gan_g_loss(g_logits, tc.loss)
            total_g = g_loss
            if half:
                ratio = (fake[:half] - fake[half : 2 * half]).float().abs().mean() / (
                    z[:half] - z[half : 2 * half]
                ).abs().mean()
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

        ``G_ema <- decay * G_ema + (1 - decay) * G``. With ``ema_rampup`` r > 0 the average's
        half-life is at most r times the steps taken, ``decay = min(ema_decay, 0.5 ** (1 / (r * (step + 1))))``
        (StyleGAN2-ADA's ``ema_rampup``, Karras et al. 2020); with r = 0 (runs saved before it existed)
        ``decay = min(ema_decay, (1 + step) / (EMA_WARMUP + step))`` (see :data:`EMA_WARMUP`).
        Buffers are not averaged.
        """
        if self._ema_params is None:
            self._ema_params = (list(self.G_ema.parameters()), list(self.G.parameters()))
        rampup = self.train_cfg.ema_rampup
        warm = 0.5 ** (1.0 / (rampup * (step + 1))) if rampup > 0 else (1 + step) / (EMA_WARMUP + step)
        decay = min(self.train_cfg.ema_decay, warm)
        ema, live = self._ema_params
        for e, p in zip(ema, live):
            e.lerp_(p, 1.0 - decay)

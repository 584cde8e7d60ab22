"""A trained GAN for notebooks and the command line (:class:`GAN`): sampling, truncation, interpolation, saving and loading,
and fine-tuning from an earlier run (:func:`init_from_run`)."""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from ..device import resolve_device
from ..errors import ArgumentError, UsageError
from ..runs.setup import from_pretrained, save_pretrained
from .config import CONFIG_VERSION, HEAD, TRUNCATION_MAX_REDRAWS, GANTrainConfig, read_config
from .networks import ARCHITECTURE_FIELDS, GANConfig, Generator, build_discriminator


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

    def __init__(
        self,
        config: GANConfig | None = None,
        *,
        device: str | torch.device = "auto",
        train_config: GANTrainConfig | None = None,
    ):
        self.config = config or GANConfig()
        self.train_config = train_config or GANTrainConfig()
        self.device = resolve_device(device) if not isinstance(device, torch.device) else device
        self.generator = Generator(self.config).to(self.device)
        self.discriminator = build_discriminator(self.config).to(self.device)
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
    def load(cls, path: str | os.PathLike, *, device: str | torch.device = "auto", which: str = "auto") -> GAN:
        """Rebuild a GAN from a run folder (``config.json`` + ``model.safetensors``).

        ``which``: ``"last"`` (the run's latest weights), ``"best"`` (the generator with the lowest KID
        measured during training, kept in ``RUN/best/``) or ``"auto"`` (best when the run has one).

        Raises:
            CheckpointError: no run folder, not a GAN run, a bad config section, or weights
                that do not match the config.
            ArgumentError: an unknown ``which``, or ``"best"`` for a run that has none.
        """
        path = checkpoint_folder(path, which)
        saved = from_pretrained(path, read_config=read_config)
        cfg = saved.config
        check_fits_weights(saved, saved.settings(GANConfig, "model"))
        gan = cls(
            saved.settings(GANConfig, "model"),
            device=device,
            train_config=saved.run.load_settings(GANTrainConfig, "train", dict(cfg, train=cfg.get("train", {}))),
        )
        saved.load_into(gan.modules(), lambda name: f"{name} in '{saved.run.path}'")
        return gan

    def modules(self) -> dict[str, nn.Module]:
        """``{"generator", "discriminator", "generator_ema"}``: the names used as weight-file prefixes."""
        return {"generator": self.generator, "discriminator": self.discriminator, "generator_ema": self.generator_ema}

    # -- sampling --------------------------------------------------------------------------
    def labels(self, n: int, class_: int | str | None) -> torch.Tensor | None:
        """Class labels (n,) int64 for ``n`` samples: ``class_`` (a number or a class name) for all, or cycling
        through the classes when None; None for an unconditional GAN.

        Raises:
            UsageError: a class for an unconditional GAN. ArgumentError: an unknown class.
        """
        c = self.config
        if not c.conditional:
            if class_ is not None:
                raise UsageError("{arg:class_} needs a class-conditional GAN (train with {arg:conditional=True})")
            return None
        if class_ is None:
            return torch.arange(n) % c.num_classes
        if isinstance(class_, str) and not class_.lstrip("-").isdigit():
            if class_ not in self.classes:
                raise ArgumentError(
                    "class_",
                    f"{class_!r}: expected a class number 0..{c.num_classes - 1} or one of {', '.join(self.classes)}",
                )
            class_ = self.classes.index(class_)
        k = int(class_)
        if not 0 <= k < c.num_classes:
            raise ArgumentError("class_", f"{k}: this GAN has classes 0..{c.num_classes - 1}")
        return torch.full((n,), k, dtype=torch.int64)

    @torch.no_grad()
    def generate_from(
        self, z: torch.Tensor, labels: torch.Tensor | None = None, *, batch_size: int = 256, truncated: bool = False
    ) -> torch.Tensor:
        """Images for given latents ``(N, z_dim)`` (and int64 labels ``(N,)``), as float32 ``(N, C, H, W)`` in [0, 1] on the CPU.

        Runs the EMA generator in ``batch_size`` chunks on the GAN's device. ``truncated``: the latents
        come from :func:`latents` with a truncation, whose smaller scale the generator keeps (see
        :meth:`Generator.forward`'s ``keep_scale``), so truncation narrows the samples with latent
        normalisation too.
        """
        g = self.generator_ema.eval()
        outs = []
        for i in range(0, len(z), batch_size):
            zb = z[i : i + batch_size].to(self.device)
            lb = labels[i : i + batch_size].to(self.device) if labels is not None else None
            outs.append(g(zb, lb, keep_scale=truncated).float().add(1).mul(0.5).clamp(0, 1).cpu())
        return torch.cat(outs) if outs else torch.empty(0, self.config.channels, self.config.size, self.config.size)

    @torch.no_grad()
    def generate(
        self,
        n: int = 16,
        *,
        seed: int = 0,
        class_: int | str | None = None,
        truncation: float | None = None,
        pil: bool = False,
    ):
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
        x = self.generate_from(z, self.labels(n, class_), truncated=truncation is not None)
        if pil:
            from ..images import to_pil

            return [to_pil(img) for img in x]
        return x

    @torch.no_grad()
    def interpolate(
        self,
        frames: int = 60,
        *,
        seed: int = 0,
        keyframes: int = 4,
        class_: int | str | None = None,
        truncation: float | None = None,
    ) -> torch.Tensor:
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
        labels = self.labels(frames, class_ if class_ is not None else (0 if self.config.conditional else None))
        return self.generate_from(z, labels, truncated=truncation is not None)

    # -- saving ----------------------------------------------------------------------------
    def save(self, path: str | os.PathLike, *, extra: dict | None = None) -> Path:
        """Write ``config.json`` (plus the ``extra`` keys) and ``model.safetensors`` into the folder ``path`` (created); returns it.

        Existing files there are replaced (atomically); no training state is written.

        Raises:
            ArtgenError, UsageError: a file cannot be written (disk full, permissions).
        """
        return save_pretrained(path, {**self.run_config(), **(extra or {})}, self.modules())

    def run_config(self, precision: str | None = None) -> dict:
        """What ``config.json`` holds for this GAN: the head, the model and training settings (and the precision)."""
        cfg = {
            "head": HEAD,
            "config_version": CONFIG_VERSION,
            "model": self.config.to_dict(),
            "train": self.train_config.to_dict(),
        }
        if precision is not None:
            cfg["precision"] = precision
        return cfg


def check_fits_weights(saved, config: GANConfig) -> None:
    """Refuse a run folder whose ``config.json`` asks for other networks than its ``model.safetensors`` holds,
    before anything is built (a config edited to ask for huge layers costs no memory here).

    Raises:
        CheckpointError: one line naming both files and the first tensor that differs.
    """
    from ..encoders.efficientnet_lite import EfficientNetLite0
    from ..runs.weights import check_config_fits_weights

    def discriminator():
        if (
            config.discriminator == "projected"
        ):  # the frozen feature network is not in the weights: a blank one stands in
            from ._projected import ProjectedDiscriminator

            return ProjectedDiscriminator(config, features=EfficientNetLite0())
        return build_discriminator(config)

    check_config_fits_weights(
        saved.run.weights_path,
        {
            "generator": lambda: Generator(config),
            "discriminator": discriminator,
            "generator_ema": lambda: Generator(config),
        },
        config_path=saved.run.config_path,
    )


def checkpoint_folder(path: str | os.PathLike, which: str = "auto") -> Path:
    """The folder holding a run's ``which`` generator: ``path`` for ``"last"``, ``path/best`` for ``"best"``,
    and for ``"auto"`` the best when the run kept one (training keeps it once KID has been measured).

    Raises:
        ArgumentError: ``which`` is not best, last or auto, or ``"best"`` for a run without one.
    """
    path = Path(path)
    best = path / "best"
    if which not in ("auto", "best", "last"):
        raise ArgumentError("which", f"{which!r}: expected best, last or auto")
    if which == "best" and not (best / "config.json").is_file():
        raise ArgumentError(
            "which",
            f"best: '{path}' keeps no best generator (it is written once KID is first measured, from step 200); use {{arg:which=last}}",
        )
    if which == "best" or (
        which == "auto" and (best / "config.json").is_file() and (best / "model.safetensors").is_file()
    ):
        return best
    return path


def init_from_run(gan: GAN, path: str | os.PathLike) -> None:
    """Copy an earlier run's generator, discriminator and EMA generator into ``gan`` (fine-tuning).

    Raises:
        CheckpointError: ``path`` is not a GAN run folder, or its weights do not load.
        UsageError: its size, channels, classes or architecture differ from ``gan``'s (all listed).
    """
    saved = from_pretrained(path, read_config=lambda run: read_config(run, what="{arg:init_from}"))
    run = saved.run
    src = saved.settings(GANConfig, "model")
    dst = gan.config
    problems = []
    if src.size != dst.size:
        problems.append(f"it is {src.size}px and this run is {dst.size}px (pass {{arg:size={src.size}}})")
    if src.channels != dst.channels:
        problems.append(
            f"it has {src.channels} channel(s) and this run {dst.channels} (pass {{arg:channels={src.channels}}})"
        )
    if src.num_classes != dst.num_classes:
        problems.append(f"it has {src.num_classes or 'no'} classes and this run {dst.num_classes or 'none'}")
    for key in ARCHITECTURE_FIELDS:
        if getattr(src, key) != getattr(dst, key):
            problems.append(f"its {key} is {getattr(src, key)} and this run's {getattr(dst, key)}")
    if problems:
        raise UsageError(f"{{arg:init_from}} '{run.path}' does not fit: " + "; ".join(problems))
    check_fits_weights(saved, src)
    saved.load_into(gan.modules(), lambda name: f"{{arg:init_from}} '{run.path}' {name}")

"""Feed-forward style transfer: train one network per style, then stylise in one pass.

Training (Johnson et al. 2016) runs through the shared loop with the shared
perceptual losses: a frozen feature encoder (VGG19, or the offline random
fallback, from :mod:`artgen.models.encoders`) compares the network's output with
the content photo (content loss) and with the style image's Gram matrices
(style loss), plus total variation. In a notebook::

    import artgen
    model = artgen.train_fast_style("starry.png", data="photos/", out="runs/starry", steps=4000)
    model = artgen.FastStyle.load("runs/starry")
    model.stylize("photo.jpg").save("photo_starry.png")   # PIL in, PIL out
    model.stylize(tensor)                                 # (3, H, W) / (B, 3, H, W) in [0, 1] -> same shape
    model.stylize_files(["photos/"], "styled/")           # a folder in, a folder out
    model.export_onnx("starry.onnx")

Both loss terms are normalised by their targets (content by the mean square of
the photo's features, each style layer by the mean square of its target Gram
matrix, divided among the layers), so the default weights suit VGG19 and the
fallback encoder alike and a weight of 1 means "as important as the content".
"""

from __future__ import annotations

import concurrent.futures as futures
import logging
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .. import losses
from ..checkpoint import RunDir
from ..device import Precision, resolve_device
from ..errors import ArgumentError, ArtgenError, CheckpointError, ImageError, UsageError
from ..images import check_writable, load_tensor, rgb_to_yiq, save_image, to_pil, to_tensor, with_chroma
from ..models.encoders import FAST_STYLE_CONTENT_LAYERS, FAST_STYLE_STYLE_LAYERS
from ..models.style_net import ARCHS, StyleNet, StyleNetConfig
from ..runs import SavedRun, from_pretrained, report_resume_changes, save_pretrained, start_run
from ..settings import Settings
from ..train import SEED_STREAM_OFFSET, Callback, CurvePlot, LambdaCallback, Task, Trainer, show_progress

log = logging.getLogger("artgen")

HEAD = "fast_style"
BUILTIN_DATA = "builtin"
BUILTIN_COUNT = 64  # built-in content pictures (procedural paintings, artgen.data.art_images)


# --- settings --------------------------------------------------------------------------


@dataclass
class FastStyleOptions(Settings):
    """Every training setting; stored under ``"train"`` in the run's config.json."""

    styles: list[str] = field(default_factory=list)  # style image paths, or built-in names (artgen.styles)
    style_blend: list[float] | None = None  # one weight per style image (normalised); equal by default
    data: str | None = None  # content image folder; None or "builtin": built-in pictures (offline)
    size: int = 256  # training crops, pixels
    style_size: int | None = None  # style image long side (default: size)
    steps: int = 4000
    batch_size: int = 4
    lr: float = 1e-3
    arch: str = "standard"
    content_weight: float = 1.0
    style_weight: float = 5.0
    tv_weight: float = 1e-4
    content_layers: list[str] = field(default_factory=lambda: list(FAST_STYLE_CONTENT_LAYERS))
    style_layers: list[str] = field(default_factory=lambda: list(FAST_STYLE_STYLE_LAYERS))
    backbone: str = "auto"  # auto | vgg19-original | vgg19 | random
    weights: str | None = None  # local torchvision VGG19 state dict
    init_from: str | None = None  # another fast-style run to fine-tune
    preview_every: int | None = 200
    checkpoint_every: int | None = 500
    log_every: int = 20
    seed: int = 0
    precision: str = "fp32"
    stability_weight: float = 0.0  # temporal stability under small motions and noise (video); 0 = off
    stability_noise: float = 0.02  # std of the pixel noise added to the moved photo (image units)

    def __post_init__(self) -> None:
        """Check every value, so that no invalid options object exists.

        ``styles`` may be empty here (the defaults, or a run folder's stored
        settings read field by field); :func:`train_fast_style` requires at least one.

        Raises:
            ArgumentError: a value out of range or unknown, naming the field.
            UsageError: ``style_blend`` does not give one weight per style image.
        """
        if self.arch not in ARCHS:
            raise ArgumentError("arch", f"{self.arch!r}: expected one of {', '.join(ARCHS)}")
        for name in ("size", "steps", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ArgumentError(name, f"must be a positive integer, got {value}")
        if self.size < 16:
            raise ArgumentError("size", f"must be at least 16, got {self.size}")
        if self.style_size is not None and self.style_size < 16:
            raise ArgumentError("style_size", f"must be at least 16, got {self.style_size}")
        for name in ("content_weight", "style_weight", "tv_weight", "lr", "stability_weight", "stability_noise"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ArgumentError(name, f"must be a non-negative number, got {value}")
        if self.style_blend is not None and len(self.style_blend) != len(self.styles):
            raise UsageError(f"{len(self.style_blend)} {{arg:style_blend}} weights for {len(self.styles)} style images")
        for name in ("preview_every", "checkpoint_every"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ArgumentError(name, f"must be at least 1, got {value}")


# --- the training step -----------------------------------------------------------------


class FastStyleTask(Task):
    """One step: stylise a batch of photos, compare through the frozen encoder, one Adam update."""

    def __init__(self, net: StyleNet, optimizer: torch.optim.Optimizer, encoder, options: FastStyleOptions, target_grams: Mapping[str, torch.Tensor] | None):
        self.net = net
        self.optimizer = optimizer
        self.encoder = encoder
        self.options = options
        self.modules = {"net": net}
        self.optimizers = {"optimizer": optimizer}
        self.export = ["net"]
        self.content_layers = list(options.content_layers)
        self.style_layers = list(options.style_layers)
        self.layers = list(dict.fromkeys(self.style_layers + self.content_layers))
        self.target_grams: dict[str, torch.Tensor] = {}
        self.layer_weights: list[float] = []
        if target_grams is not None:
            self.set_targets(target_grams)

    def set_targets(self, grams: Mapping[str, torch.Tensor]) -> None:
        """Use ``grams`` (``{layer: (1, C, C)}`` Gram matrices, normalised by C*H*W) as the style targets.

        Raises:
            CheckpointError: a style layer of this task has no target (a damaged training state).
        """
        missing = [l for l in self.style_layers if l not in grams]
        if missing:
            raise CheckpointError(f"the saved style targets lack layer(s) {', '.join(missing)}")
        device = next(self.net.parameters()).device
        self.target_grams = {l: grams[l].detach().to(device, torch.float32) for l in self.style_layers}
        self.layer_weights = losses.energy_weights([self.target_grams[l] for l in self.style_layers])

    def objective(self, photos: torch.Tensor, ctx) -> dict[str, torch.Tensor]:
        """The perceptual loss of Johnson et al. 2016 for a batch of photos (B, 3, H, W) in [0, 1].

        ``content_weight * content + style_weight * style + tv_weight * tv`` (+ ``stability_weight *
        stability`` for video networks), each term from :mod:`artgen.losses`: the energy-normalised
        content loss at the content layers, the Gram style loss against the targets, total
        variation of the output. Returns ``{"loss", "content", "style", "tv"[, "stability"]}``, 0-dim
        tensors; only ``loss`` carries gradients.
        """
        opts = self.options
        with ctx.autocast():
            out = self.net(photos)  # (B, 3, H, W)
            feats = self.encoder(out, self.layers)
            with torch.no_grad():
                targets = self.encoder(photos, self.content_layers)
        content = losses.normalised_content_loss([feats[l] for l in self.content_layers], [targets[l] for l in self.content_layers])
        style = losses.style_loss([feats[l] for l in self.style_layers], [self.target_grams[l] for l in self.style_layers], self.layer_weights)
        tv = losses.tv_loss(out)
        loss = opts.content_weight * content + opts.style_weight * style + opts.tv_weight * tv
        values = {"loss": loss, "content": content.detach(), "style": style.detach(), "tv": tv.detach()}
        if opts.stability_weight > 0:
            stability = self.stability(photos, out, ctx)
            values["loss"] = loss + opts.stability_weight * stability
            values["stability"] = stability.detach()
        return values

    def stability(self, photos: torch.Tensor, out: torch.Tensor, ctx) -> torch.Tensor:
        """The video term: the network on a slightly moved, noisy photo vs its output moved alike."""
        from ..augment import random_motion, warp

        theta = random_motion(photos.shape[0], photos.shape[-2], photos.shape[-1], device=photos.device)  # (B, 2, 3)
        moved, mask = warp(photos, theta)
        noisy = (moved + self.options.stability_noise * torch.randn_like(moved)).clamp(0, 1)
        with ctx.autocast():
            out_moved = self.net(noisy)
        target, _ = warp(out.float(), theta)
        return losses.transform_consistency_loss(out_moved, target, mask)

    def train_step(self, batch, ctx):
        """One Adam step on a batch of photos ((B, 3, H, W) in [0, 1], or a tuple holding it); returns the loss terms."""
        photos = batch[0] if isinstance(batch, (tuple, list)) else batch  # (B, 3, H, W)
        values = self.objective(photos, ctx)
        ctx.optimize(values["loss"], self.optimizer)
        values["loss"] = values["loss"].detach()
        return values

    def extra_state(self) -> dict:
        """The style targets (``{"target_grams": {layer: (1, C, C) CPU tensor}}``), so a resume needs no style image."""
        return {"target_grams": {k: v.detach().cpu() for k, v in self.target_grams.items()}}

    def load_extra_state(self, state: dict) -> None:
        """Restore the style targets saved by :meth:`extra_state` (see :meth:`set_targets` for the errors)."""
        if state.get("target_grams"):
            self.set_targets(state["target_grams"])


# --- inputs ------------------------------------------------------------------------------


def _style_tensor(spec: str | os.PathLike | torch.Tensor, size: int) -> torch.Tensor:
    """A style image as (3, H, W) with long side ``size``: a file, a tensor, or a built-in name."""
    if isinstance(spec, torch.Tensor):
        return load_tensor(spec, size=size)
    path = Path(spec)
    if not path.exists():
        from ..styles import STYLES, style_image

        if str(spec) in STYLES:
            return to_tensor(style_image(str(spec), size=size))
        raise UsageError(f"style image '{spec}' does not exist (built-in styles: {', '.join(STYLES)})")
    return load_tensor(path, size=size)


def _content_source(options: FastStyleOptions, device: torch.device):
    """(batch source, fixed preview picture (1, 3, H, W), description) for the content photos."""
    from ..train import DatasetBatches, TensorBatches

    if options.data in (None, "", BUILTIN_DATA):
        from ..data import art_images

        pictures = art_images(BUILTIN_COUNT, size=options.size, seed=options.seed)
        data = TensorBatches(pictures, batch_size=options.batch_size, shuffle=True, seed=options.seed, device=device, drop_last=True)
        preview = art_images(1, size=options.size, seed=options.seed + SEED_STREAM_OFFSET)
        return data, preview, f"{BUILTIN_COUNT} built-in pictures"
    from ..data import ImageFolder, list_images

    root = Path(options.data)
    files = list_images(root)
    preload = len(files) <= 2000
    dataset = ImageFolder(root, size=options.size, channels=3, crop="random", hflip=True, preload=preload)
    data = DatasetBatches(
        dataset, batch_size=options.batch_size, shuffle=True, seed=options.seed, device=device, num_workers=0 if preload else min(4, os.cpu_count() or 1), drop_last=True
    )
    preview = load_tensor(dataset.files[0], size=options.size).unsqueeze(0)
    return data, preview, f"{len(dataset)} pictures in '{root}'"


def _resume_data(opts: FastStyleOptions, data) -> None:
    """On resume: a given ``data`` folder (the photos moved) replaces the stored one; a stored folder that is gone is named.

    Raises:
        ArgumentError: ``data`` is not a folder, or the run was trained on the built-in pictures.
        UsageError: the stored folder is gone and no new place was given.
    """
    builtin = opts.data in (None, "", BUILTIN_DATA)
    if data is not None and str(data) != BUILTIN_DATA:
        folder = Path(data).expanduser()
        if not folder.is_dir():
            raise ArgumentError("data", f"'{data}' {'is not a folder' if folder.exists() else 'does not exist'}")
        if builtin:
            raise ArgumentError("data", "cannot be given on resume: this run was trained on the built-in pictures")
        new = str(folder.resolve())
        if new != opts.data:
            log.info("resuming with the photos in '%s' (the run was started on '%s')", new, opts.data)
        opts.data = new
    elif not builtin and not Path(opts.data).is_dir():
        raise UsageError(f"this run's photos were in '{opts.data}', which is not there any more; pass {{arg:data}} with their new place")


def _build_net(arch_or_config: str | StyleNetConfig, device) -> StyleNet:
    cfg = arch_or_config if isinstance(arch_or_config, StyleNetConfig) else StyleNetConfig.for_arch(arch_or_config)
    return StyleNet(cfg).to(device)


def _read_run(path: str | os.PathLike, what: str) -> tuple[RunDir, dict]:
    """The run folder and its config, with one clear line when it is not a style network."""
    run = RunDir(path)
    if not run.path.exists():
        raise UsageError(f"{what} '{run.path}' does not exist")
    if not run.path.is_dir():
        raise CheckpointError(f"{what} '{run.path}' is not a style network (expected a folder with config.json and model.safetensors)")
    if not run.has_config():
        raise CheckpointError(f"{what} '{run.path}' is not a style network (no config.json); train one with 'artgen fast-style train'")
    cfg = run.load_config()
    if cfg.get("head") != HEAD:
        raise CheckpointError(f"{what} '{run.path}' is not a style network (it holds a {cfg.get('head', 'unknown')!r} run)")
    return run, cfg


def _open_run(path: str | os.PathLike, what: str) -> SavedRun:
    """:func:`artgen.runs.from_pretrained` with :func:`_read_run`'s messages."""
    return from_pretrained(path, read_config=lambda run: _read_run(run.path, what)[1])


def _load_net_weights(net: StyleNet, saved: SavedRun, what: str) -> None:
    saved.load_into({"net": net}, lambda _name: f"{what} '{saved.run.path}'")


# --- training ------------------------------------------------------------------------------


def train_fast_style(
    style=None,
    data: str | os.PathLike | None = None,
    out: str | os.PathLike | None = None,
    *,
    resume: bool = False,
    overwrite: bool = False,
    device: str | torch.device = "auto",
    progress: bool | None = None,
    callbacks: Sequence[Callback] = (),
    encoder=None,
    **options,
) -> "FastStyle":
    """Train a style network on photos for one style image (or a blend of several).

    ``style``: a path, a tensor (3, H, W) in [0, 1], a built-in style name
    ("swirls", "embers", "mosaic"), or a list of them. ``data``: a folder of content
    photos (None: the built-in pictures, offline). ``out``: the run folder
    (config.json, model.safetensors, training_state.pt, previews/, curves.png);
    None trains in memory. ``options`` are the fields of :class:`FastStyleOptions`
    (``size=256, steps=4000, batch_size=4, arch="standard", content_weight=1,
    style_weight=5, tv_weight=1e-4, backbone="auto", weights=None, init_from=None,
    preview_every=200, checkpoint_every=500, seed=0, precision="fp32"``).
    ``resume=True`` continues the run in ``out`` with its saved settings; ``data`` may then
    give the photos' new place if their folder moved (other settings are the saved ones).
    Returns the trained :class:`FastStyle`.
    """
    from ..models.encoders import build_encoder, style_grams

    unknown = set(options) - FastStyleOptions.field_names()
    if unknown:
        raise UsageError(f"unknown fast-style option(s): {', '.join(sorted(unknown))}; see artgen.heads.fast_style.FastStyleOptions")
    built: dict = {}

    def check(dev: torch.device) -> None:  # every input, before the run folder is touched
        if resume:
            return
        styles = style if isinstance(style, (list, tuple)) else ([style] if style is not None else [])
        if not styles:
            raise UsageError("give at least one style image ({arg:styles})")
        opts = FastStyleOptions(styles=[s if isinstance(s, torch.Tensor) else str(s) for s in styles], data=str(Path(data).expanduser().resolve()) if data is not None and str(data) != "builtin" else data, **options)
        built["style_tensors"] = [_style_tensor(s, opts.style_size or opts.size) for s in opts.styles]
        opts.styles = [("<tensor>" if isinstance(s, torch.Tensor) else s) for s in opts.styles]
        if opts.init_from:
            init_run = _open_run(opts.init_from, "{arg:init_from}")
            built["model_cfg"] = init_run.settings(StyleNetConfig, "model")
            built["init_run"] = init_run
            if "arch" in options and options["arch"] != built["model_cfg"].arch:
                raise ArgumentError("init_from", f"'{init_run.run.path}' is a {built['model_cfg'].arch!r} network; drop {{arg:arch}} or pass {{arg:arch={built['model_cfg'].arch}}}")
            opts.arch = built["model_cfg"].arch
        built["opts"] = opts

    if resume and out is None:
        raise UsageError("resume needs the run folder (out=...)")
    setup = start_run(out, resume=resume, overwrite=overwrite, device=device, precision=options.get("precision", "fp32"), seed=options.get("seed", 0), check=check,
                      read_config=lambda run: _read_run(run.path, "{arg:resume=True}")[1])
    dev, run = setup.device, setup.run_dir
    model_cfg: StyleNetConfig | None = built.get("model_cfg")
    style_tensors = built.get("style_tensors")
    init_run = built.get("init_run")
    if resume:
        opts = run.load_settings(FastStyleOptions, "train", setup.saved)
        model_cfg = run.load_settings(StyleNetConfig, "model", setup.saved)
        report_resume_changes(options, dict(opts.to_dict(), precision=setup.precision.name))
        _resume_data(opts, data)
    else:
        opts = built["opts"]
        opts.precision = setup.precision.name  # "auto" stored as what it chose
    if encoder is None:
        layers = list(dict.fromkeys(list(opts.style_layers) + list(opts.content_layers)))
        encoder = build_encoder(opts.backbone, layers, weights=opts.weights, device=dev)
    encoder = encoder.to(dev)
    net = _build_net(model_cfg or opts.arch, dev)
    if opts.init_from and not resume:
        _load_net_weights(net, init_run, "{arg:init_from}")  # init_run: read and checked by check()
    targets = style_grams(encoder, style_tensors, opts.style_layers, blend=opts.style_blend) if style_tensors is not None else None
    optimizer = torch.optim.Adam(net.parameters(), lr=opts.lr)
    task = FastStyleTask(net, optimizer, encoder, opts, targets)
    data_source, preview, described = _content_source(opts, dev)
    log.info("training a %s style network on %s with the %s encoder", net.config.arch, described, getattr(encoder, "name", "given"))

    cbs = list(callbacks)
    if run is not None:
        cbs.append(CurvePlot(run / "curves.png", title=f"fast style ({net.config.arch})"))
        if opts.preview_every:
            preview = preview.to(dev)

            def write_preview(trainer, step):
                with torch.no_grad():
                    img = net(preview)[0].float().cpu()
                meta = {"head": HEAD, "step": step, "arch": net.config.arch, "styles": opts.styles, "seed": opts.seed}
                save_image(img, run / "previews" / f"step_{step:06d}.png", metadata=meta, overwrite=True)

            cbs.append(LambdaCallback(write_preview, opts.preview_every))
    config = {"head": HEAD, "model": net.config.to_dict(), "train": opts.to_dict(), "encoder": {"name": getattr(encoder, "name", "custom"), "source": getattr(encoder, "source", "")}}
    trainer = Trainer(
        task,
        data_source,
        max_steps=opts.steps,
        setup=setup,
        checkpoint_every=opts.checkpoint_every,
        callbacks=cbs,
        log_every=opts.log_every,
        progress=progress,
        desc=f"fast-style {net.config.arch}",
        config=config,
    )
    history = trainer.fit(resume=resume)
    model = FastStyle(net, device=dev, info={"styles": opts.styles, "path": str(run.path) if run else None})
    model.history = history
    return model


# --- inference -------------------------------------------------------------------------------


def finish(styled: torch.Tensor, content: torch.Tensor, *, strength: float = 1.0, preserve_colors: bool = False) -> torch.Tensor:
    """Post-process a stylised batch: keep the photo's colours (YIQ chroma) and/or blend back towards it."""
    styled = styled.float().clamp(0, 1)
    content = content.float()
    if preserve_colors:
        styled = with_chroma(rgb_to_yiq(styled)[:, :1], content)
    if strength < 1.0:
        styled = torch.lerp(content, styled, float(strength))
    return styled


def check_strength(strength: float) -> float:
    """``strength`` as a float in [0, 1] (0 = the photo, 1 = fully stylised).

    Raises:
        ArgumentError: outside [0, 1] or NaN.
    """
    strength = float(strength)
    if not (0.0 <= strength <= 1.0) or math.isnan(strength):
        raise ArgumentError("strength", f"must be between 0.0 and 1.0, got {strength}")
    return strength


class FastStyle:
    """A trained style network ready to stylise PIL images, tensors, files and folders.

    ``FastStyle.load(path, device="auto", precision="fp32", channels_last=None, compile=False)``.
    On CUDA, ``precision="bf16"`` (or fp16), ``channels_last`` (on by default there)
    and ``compile=True`` are the fast settings; on the CPU fp32 is the fast one.
    """

    def __init__(self, net: StyleNet, *, device: str | torch.device = "auto", precision: str = "fp32", channels_last: bool | None = None, compile: bool = False, info: Mapping | None = None):
        self.device = resolve_device(device) if not isinstance(device, torch.device) else device
        self.precision = Precision.create(precision, self.device)
        self.net = net.to(self.device).eval()
        self.config = net.config
        self.channels_last = self.device.type == "cuda" if channels_last is None else bool(channels_last)
        if self.channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)
        self._forward: Callable[[torch.Tensor], torch.Tensor] = self.net
        if compile:
            self._forward = torch.compile(self.net)
        self.info = dict(info or {})
        self.history = None

    def __repr__(self) -> str:
        return f"FastStyle(arch={self.config.arch!r}, parameters={self.net.num_parameters():,}, device={self.device}, precision={self.precision.name})"

    # -- loading and saving ------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | os.PathLike, *, device: str | torch.device = "auto", precision: str = "fp32", channels_last: bool | None = None, compile: bool = False) -> "FastStyle":
        """A style network from a run folder written by :func:`train_fast_style` (or ``artgen fast-style train``)."""
        saved = _open_run(path, "model")
        net = StyleNet(saved.settings(StyleNetConfig, "model"))
        _load_net_weights(net, saved, "model")
        train = saved.config.get("train", {})
        return cls(net, device=device, precision=precision, channels_last=channels_last, compile=compile, info={"path": str(saved.run.path), "styles": train.get("styles", [])})

    def save(self, path: str | os.PathLike) -> Path:
        """Write config.json and model.safetensors (weights only) into the folder ``path``."""
        return save_pretrained(path, {"head": HEAD, "model": self.config.to_dict(), "train": {"styles": self.info.get("styles", [])}}, {"net": self.net})

    # -- stylising -----------------------------------------------------------------------------
    @torch.no_grad()
    def stylize_tensor(self, x: torch.Tensor, *, strength: float = 1.0, preserve_colors: bool = False, seamless: bool = False, tile: int | None = None) -> torch.Tensor:
        """``(B, 3, H, W)`` in [0, 1] -> the stylised batch, float32 on the model's device
        (on the CPU when tiled).

        ``tile``: core tile side in pixels for pictures in bounded memory (``None``: tiles
        of 1024 px for pictures over 2048 x 2048 pixels, else one pass; ``0``: never tile);
        see :func:`artgen.tiling.tiled_style_net`. ``seamless``: the output tiles the plane
        (circular padding; margins read around the edges).
        """
        from .. import tiling

        strength = check_strength(strength)
        core = tiling.net_tile(*x.shape[-2:], tile)
        if core is not None or seamless:
            return self._stylize_tiled(x, core, seamless, strength=strength, preserve_colors=preserve_colors)
        x = x.to(self.device, torch.float32, non_blocking=True)
        inp = x.contiguous(memory_format=torch.channels_last) if self.channels_last else x
        with self.precision.autocast():
            y = self._forward(inp)
        return finish(y, x, strength=strength, preserve_colors=preserve_colors)

    def _stylize_tiled(self, x: torch.Tensor, core: int | None, seamless: bool, **post) -> torch.Tensor:
        """Tiles (or, for ``seamless``, one wrap-around tile) per picture; the batch stays on the CPU."""
        from .. import tiling

        def forward(piece: torch.Tensor) -> torch.Tensor:
            piece = piece.to(self.device, torch.float32)
            with self.precision.autocast():
                return self._forward(piece.contiguous(memory_format=torch.channels_last) if self.channels_last else piece)

        x = x.detach().float().cpu()
        stride = self.config.stride
        outs = []
        self.net.set_padding_mode("circular" if seamless else "reflect")
        try:
            for picture in x.split(1):
                h, w = picture.shape[-2:]
                if seamless and core is None and h % stride == 0 and w % stride == 0:
                    y = forward(picture).float().cpu()  # the circular network alone is exactly periodic
                else:
                    y = tiling.tiled_style_net(forward, self.net, picture, tile=core, device=self.device, wrap=seamless)
                outs.append(finish(y, picture, **post))
        finally:
            self.net.set_padding_mode("reflect")
        return torch.cat(outs)

    @torch.no_grad()
    def stylize(self, image, *, max_size: int | None = None, strength: float = 1.0, preserve_colors: bool = False, seamless: bool = False, tile: int | None = None):
        """Stylise one image: a PIL image or a path gives a PIL image; a tensor
        ``(3, H, W)`` or ``(B, 3, H, W)`` in [0, 1] gives a tensor of the same shape (on the CPU).

        ``max_size`` shrinks the input so its long side is at most that many pixels;
        ``seamless`` and ``tile`` are :meth:`stylize_tensor`'s.
        """
        post = dict(strength=strength, preserve_colors=preserve_colors, seamless=seamless, tile=tile)
        if isinstance(image, torch.Tensor):
            t = image.detach().float()
            single = t.dim() == 3
            if single:
                t = t.unsqueeze(0)
            if t.dim() != 4 or t.shape[1] != 3:
                raise UsageError(f"expected an image tensor (3, H, W) or (B, 3, H, W), got {tuple(image.shape)}")
            if max_size is not None and max(t.shape[-2:]) > max_size:
                t = torch.stack([load_tensor(i, max_side=max_size) for i in t])
            out = self.stylize_tensor(t, **post).cpu()
            return out[0] if single else out
        t = load_tensor(image, mode="RGB", max_side=max_size).unsqueeze(0)
        return to_pil(self.stylize_tensor(t, **post)[0])

    def stylize_files(
        self,
        inputs: Sequence[str | os.PathLike] | str | os.PathLike,
        out: str | os.PathLike,
        *,
        max_size: int | None = 1024,
        strength: float = 1.0,
        preserve_colors: bool = False,
        overwrite: bool = False,
        metadata: bool | Mapping[str, Any] = True,
        progress: bool | None = None,
        prefetch: int = 4,
        seamless: bool = False,
        tile: int | None = None,
    ) -> dict[str, Any]:
        """Stylise image files; one file in with ``out`` a file name writes that file, otherwise
        ``out`` is a folder that receives one PNG per input (folders keep their sub-folders).

        Reading and decoding the next images and writing the finished ones run in
        background threads while the network works on the current one. ``seamless``
        and ``tile`` are :meth:`stylize_tensor`'s (large pictures go tile by tile). Unreadable
        files are skipped with a warning naming each one, and counted. Returns
        ``{"written": [...], "skipped": [(path, reason), ...], "outputs": [...]}``.
        """
        strength = check_strength(strength)
        jobs = plan_outputs(inputs, out)
        for _, dest in jobs:
            check_writable(dest, overwrite=overwrite)
        extra = dict(metadata) if isinstance(metadata, Mapping) else {}
        base_meta = {
            "head": HEAD,
            "model": self.info.get("path"),
            "styles": self.info.get("styles", []),
            "arch": self.config.arch,
            "strength": strength,
            "preserve_colors": preserve_colors,
            "max_size": max_size,
            "precision": self.precision.name,
            "seamless": seamless,
            **extra,
        }

        def read(path: Path) -> torch.Tensor:
            return load_tensor(path, mode="RGB", max_side=max_size)

        def write(img, dest: Path, src: Path) -> Path:
            meta = {**base_meta, "input": str(src)} if metadata is not False else None
            return save_image(img, dest, metadata=meta, overwrite=overwrite)

        from tqdm.auto import tqdm

        enabled = show_progress(progress)
        written: list[Path] = []
        skipped: list[tuple[Path, str]] = []
        with futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="artgen-read") as readers, futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="artgen-write") as writers:
            pending_reads: list[futures.Future] = []
            pending_writes: list[futures.Future] = []
            it = iter(jobs)

            def submit_next() -> None:
                job = next(it, None)
                if job is not None:
                    pending_reads.append((job, readers.submit(read, job[0])))

            for _ in range(max(1, prefetch)):
                submit_next()
            with tqdm(total=len(jobs), desc="fast-style", unit="img", disable=not enabled, dynamic_ncols=True) as bar:
                while pending_reads:
                    (src, dest), fut = pending_reads.pop(0)
                    submit_next()
                    try:
                        image = fut.result()
                    except ImageError as exc:
                        reason = getattr(exc, "reason", None) or str(exc)
                        log.warning("skipped '%s': %s", src, reason)
                        skipped.append((src, reason))
                        bar.update(1)
                        continue
                    styled = self.stylize_tensor(image.unsqueeze(0), strength=strength, preserve_colors=preserve_colors, seamless=seamless, tile=tile)[0].cpu()
                    pending_writes.append(writers.submit(write, styled, dest, src))
                    # keep the number of images waiting to be written bounded
                    while len(pending_writes) > prefetch:
                        written.append(pending_writes.pop(0).result())
                    bar.update(1)
                for fut in pending_writes:
                    written.append(fut.result())
        if skipped:
            log.warning("skipped %d of %d files (unreadable)", len(skipped), len(jobs))
        if not written and skipped:
            raise ArtgenError(f"none of the {len(jobs)} input images could be read")
        return {"written": written, "skipped": skipped, "outputs": [d for _, d in jobs]}

    def stylize_video(
        self,
        src: str | os.PathLike,
        dst: str | os.PathLike,
        *,
        max_size: int | None = None,
        strength: float = 1.0,
        preserve_colors: bool = False,
        temporal_filter: float = 0.0,
        overwrite: bool = False,
        progress: bool | None = None,
    ) -> dict[str, Any]:
        """Stylise every frame of a video (.mp4 .mov .m4v .mkv .webm .avi, or an animated .gif)
        into ``dst``, keeping timing, rotation and sound; see :func:`artgen.video.stylize_video`.
        ``temporal_filter`` in [0, 1) smooths flicker (:class:`artgen.video.TemporalFilter`)."""
        from ..video import stylize_video

        meta = {"head": HEAD, "model": self.info.get("path"), "styles": self.info.get("styles", []), "arch": self.config.arch, "strength": strength}
        return stylize_video(
            self, src, dst, max_size=max_size, strength=strength, preserve_colors=preserve_colors, temporal_filter=temporal_filter, overwrite=overwrite, progress=progress, metadata=meta
        )

    # -- export ----------------------------------------------------------------------------------
    def export_onnx(self, path: str | os.PathLike, *, check: bool = True, opset: int = 17, overwrite: bool = False, test_size: tuple[int, int] = (181, 243)) -> dict[str, Any]:
        """Write an ONNX model with dynamic batch, height and width (input ``image``,
        output ``stylized``, both (B, 3, H, W) in [0, 1]; sides of at least 16 px).

        With ``check`` and onnxruntime installed, the export is run on a test image of a
        different size than the one traced and compared with PyTorch; returns
        ``{"path", "checked", "max_abs_diff"}``.
        """
        import copy
        import warnings

        from ..fileio import atomic_path

        path = Path(path)
        if path.suffix.lower() != ".onnx":
            raise ArgumentError("onnx", f"'{path}': the file name must end in .onnx")
        if path.exists() and not overwrite:
            raise UsageError(f"output '{path}' exists; pass {{arg:overwrite=True}} to replace it")
        net = copy.deepcopy(self.net).float().cpu().eval().to(memory_format=torch.contiguous_format)
        example = torch.rand(1, 3, 64, 96, generator=torch.Generator().manual_seed(0))
        with atomic_path(path) as tmp, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                net,
                (example,),
                str(tmp),
                dynamo=False,
                input_names=["image"],
                output_names=["stylized"],
                dynamic_axes={"image": {0: "batch", 2: "height", 3: "width"}, "stylized": {0: "batch", 2: "height", 3: "width"}},
                opset_version=opset,
            )
        result: dict[str, Any] = {"path": path, "checked": False, "max_abs_diff": None}
        if check:
            try:
                import onnxruntime as ort
            except ImportError:
                log.info("onnxruntime is not installed; the export was not checked")
                return result
            test = torch.rand(1, 3, *test_size, generator=torch.Generator().manual_seed(1))
            session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            got = torch.from_numpy(session.run(None, {"image": test.numpy()})[0])
            with torch.no_grad():
                want = net(test)
            if got.shape != want.shape:
                raise ArtgenError(f"the ONNX export gives shape {tuple(got.shape)} for a {tuple(test.shape)} input, PyTorch {tuple(want.shape)}")
            diff = float((got - want).abs().max())
            result.update(checked=True, max_abs_diff=diff)
            if diff > 1e-3:
                raise ArtgenError(f"the ONNX export differs from PyTorch by up to {diff:.2e} on a test image")
        return result


def plan_outputs(inputs: Sequence[str | os.PathLike] | str | os.PathLike, out: str | os.PathLike) -> list[tuple[Path, Path]]:
    """(input file, output file) pairs. One file in and ``out`` with an image suffix: that file.
    Otherwise ``out`` is a folder: ``<stem>.png`` per file, folders keep their relative layout."""
    from ..data import list_images
    from ..images import WRITE_EXTENSIONS

    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    inputs = [Path(p).expanduser() for p in inputs]
    if not inputs:
        raise UsageError("give at least one input image or folder")
    for p in inputs:
        if not p.exists():
            raise UsageError(f"input '{p}' does not exist")
    out = Path(out).expanduser()
    if len(inputs) == 1 and inputs[0].is_file() and out.suffix.lower() in WRITE_EXTENSIONS and not out.is_dir():
        return [(inputs[0], out)]
    if out.exists() and not out.is_dir():
        raise UsageError(f"-o '{out}' is a file; with several inputs or a folder, -o must be a folder")
    jobs: list[tuple[Path, Path]] = []
    taken: set[Path] = set()
    for p in inputs:
        if p.is_dir():
            pairs = [(f, f.relative_to(p).with_suffix(".png")) for f in list_images(p)]
            if not pairs:
                raise UsageError(f"no images found in '{p}'")
        else:
            pairs = [(p, Path(p.stem + ".png"))]
        for src, rel in pairs:
            dest = out / rel
            k = 1
            while dest in taken:
                dest = out / rel.with_name(f"{rel.stem}_{k}.png")
                k += 1
            taken.add(dest)
            jobs.append((src, dest))
    return jobs

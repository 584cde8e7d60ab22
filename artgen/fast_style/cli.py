"""``artgen fast-style train|apply|export``: feed-forward style networks."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..encoders import BACKBONES
from .config import VIDEO_STABILITY_WEIGHT, VIDEO_STYLE_WEIGHT
from .networks import ARCHS


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number between 0.0 and 1.0, got {text!r}") from None
    if not (0.0 <= value <= 1.0):
        raise argparse.ArgumentTypeError(f"must be between 0.0 and 1.0, got {text}")
    return value


#: What ``--help`` says of each architecture in :data:`artgen.fast_style.networks.ARCHS`; one missing here is
#: listed by its name alone.
ARCH_NOTES = {
    "standard": "TransformerNet size, from random weights",
    "small": "fastest on CPUs, from random weights",
    "arbitrary": "Ghiasi et al.'s pretrained network with the style built in, fitted further",
}


def arch_help() -> str:
    """``--arch``'s help: every architecture in :data:`artgen.fast_style.networks.ARCHS`, with its note where it has
    one (``"standard (TransformerNet size, best quality) or small (fast on CPUs)"``)."""
    names = [f"{a} ({ARCH_NOTES[a]})" if a in ARCH_NOTES else a for a in ARCHS]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def add_parser(sub, name: str) -> None:
    """Register ``artgen fast-style train|apply|export`` and their flags on the sub-parsers ``sub`` under ``name``."""
    from ..flags import add_common, add_encoder_flags, add_field, add_run_flags, remember_defaults
    from .config import FastStyleConfig

    T = FastStyleConfig()  # every training default below is the dataclass's
    parser = sub.add_parser(
        name,
        help="feed-forward style networks: train one per style, stylise images and folders fast, export to ONNX",
        description="Feed-forward style transfer (Johnson et al.): train a network per style, then stylise in one "
        "pass.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION")

    train = actions.add_parser(
        "train",
        help="train a style network on a folder of photos",
        description="Train a style network for one style image (or a blend of several).",
    )
    train.add_argument(
        "--style",
        action="append",
        metavar="STYLE",
        help="style image (repeat to blend several); or a built-in style: swirls, embers, mosaic "
        "(not needed with --resume)",
    )
    add_field(train, T, "style_blend", "one weight per --style for a blend", shown="equal", metavar="W")
    train.add_argument(
        "--data",
        metavar="DIR",
        help="folder of content photos (default: the built-in pictures, offline); with --resume, the photos' new "
        "place if their folder moved",
    )
    train.add_argument(
        "--out",
        required=True,
        metavar="MODEL",
        help="run folder to write (config.json, model.safetensors, previews/, curves.png)",
    )
    add_field(train, T, "size", "training crop side in pixels")
    add_field(train, T, "style_size", "style image long side in pixels", shown="--size")
    add_field(train, T, "steps", "training steps")
    add_field(train, T, "batch_size", "photos per step")
    add_field(train, T, "lr", "Adam learning rate")
    add_field(train, T, "arch", arch_help(), default=None, shown=f"{T.arch}, or --init-from's", choices=list(ARCHS))
    add_field(train, T, "content_weight", "weight of the content loss")
    add_field(
        train,
        T,
        "style_weight",
        "weight of the Gram style loss; higher = more style",
        default=None,
        shown=f"{T.style_weight:g}, or {VIDEO_STYLE_WEIGHT:g} with --video",
    )
    add_field(train, T, "tv_weight", "weight of the total-variation smoothness loss")
    add_encoder_flags(train, T, BACKBONES)
    train.add_argument(
        "--video",
        action="store_true",
        help="train for video: stable under small motions and noise, less flicker "
        f"(--stability-weight {VIDEO_STABILITY_WEIGHT:g} --style-weight {VIDEO_STYLE_WEIGHT:g})",
    )
    add_field(
        train,
        T,
        "stability_weight",
        "weight of the motion/noise stability loss",
        default=None,
        shown=f"{T.stability_weight:g}, or the --video value",
        metavar="W",
    )
    train.add_argument(
        "--init-from",
        metavar="MODEL",
        help="start from an existing style network (fine-tune on a new style or new photos)",
    )
    add_run_flags(train, checkpoint_every=T.checkpoint_every)
    add_field(
        train,
        T,
        "preview_every",
        "write previews/step_N.png of a fixed content picture every N steps",
        metavar="N",
    )
    add_field(
        train,
        T,
        "precision",
        "auto: bf16 (encoder and network channels-last) on GPUs with bfloat16 and on CPUs with native bfloat16 "
        "(AMX, AVX-512 BF16), fp16 on older GPUs, else fp32",
        choices=["auto", "fp32", "bf16", "fp16"],
    )
    add_common(train, precision=False, seed_default=T.seed)
    train.set_defaults(func=run_train, argument_flags={"styles": "style"})
    remember_defaults(train)  # --resume compares only the flags typed with the saved settings

    apply = actions.add_parser(
        "apply",
        help="stylise images or folders with a trained network",
        description="Stylise images: a file in, a file out; several files or a folder in, a folder out.",
    )
    apply.add_argument("--model", required=True, metavar="MODEL", help="a style network run folder")
    apply.add_argument("inputs", nargs="+", metavar="INPUT", help="image files and/or folders")
    apply.add_argument("-o", "--output", required=True, metavar="OUT", help="output file (one input file) or folder")
    apply.add_argument(
        "--max-size",
        type=int,
        default=1024,
        help="shrink inputs so the long side is at most this (default: %(default)s; 0 = never)",
    )
    apply.add_argument(
        "--strength", type=_fraction, default=1.0, help="0 (the photo) .. 1 (fully stylised) (default: %(default)s)"
    )
    apply.add_argument(
        "--preserve-colors", action="store_true", help="keep the photo's colours, take only the stylised luminance"
    )
    apply.add_argument("--overwrite", action="store_true", help="replace existing output files")
    apply.add_argument("--no-metadata", action="store_true", help="do not store the settings in the PNG files")
    apply.add_argument(
        "--compile", action="store_true", help="torch.compile the network (worth it for many images on a GPU)"
    )
    apply.add_argument(
        "--temporal-filter",
        type=_fraction,
        default=0.0,
        metavar="S",
        help="video: motion-compensated smoothing of flicker, 0 (off) .. 0.9 (strong) (default: %(default)g)",
    )
    apply.add_argument(
        "--seamless", action="store_true", help="make each result tile the plane without a seam (circular padding)"
    )
    apply.add_argument(
        "--tile-size",
        type=int,
        default=None,
        metavar="N",
        help="stylise in N px tiles (instance-norm statistics from the whole picture), so memory follows the tile; "
        "default: 1024 px tiles for pictures over 2048x2048 pixels, else one pass; 0: never tile",
    )
    add_common(apply)
    apply.set_defaults(func=run_apply, argument_flags={"tile": "tile_size"})

    export = actions.add_parser("export", help="export a style network to ONNX (dynamic height and width)")
    export.add_argument("--model", required=True, metavar="MODEL", help="a style network run folder")
    export.add_argument("--onnx", required=True, metavar="OUT.onnx", help="the ONNX file to write")
    export.add_argument("--opset", type=int, default=17, help="ONNX opset (default: %(default)s)")
    export.add_argument("--overwrite", action="store_true", help="replace an existing file")
    export.add_argument("--no-check", action="store_true", help="skip the comparison with PyTorch under onnxruntime")
    export.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    export.add_argument("--quiet", action="store_true", help="print nothing on success")
    export.set_defaults(func=run_export)
    parser.set_defaults(func=lambda args: (parser.print_help(sys.stderr), 2)[1])


def run_train(args) -> int:
    """``artgen fast-style train``: train a feed-forward style network into ``--out``; returns 0.

    Raises:
        UsageError: ``--resume`` with ``--init-from``; ``--style-size`` below 16; no ``--style``; a
            missing style image, ``--data`` folder or ``--weights`` file; usage errors of the library (exit 2).
    """
    from ..errors import UsageError
    from . import train_fast_style

    if args.resume and args.init_from:
        raise UsageError("--resume and --init-from cannot be combined")
    if args.style_size is not None and args.style_size < 16:
        raise UsageError(f"--style-size must be at least 16, got {args.style_size}")
    if not args.resume:
        from ..data.style_images import STYLES

        if not args.style:
            raise UsageError("give at least one --style (an image, or a built-in style: swirls, embers, mosaic)")
        for style in args.style:
            if not Path(style).exists() and style not in STYLES:
                raise UsageError(f"--style '{style}' does not exist (built-in styles: {', '.join(STYLES)})")
        if args.data and not Path(args.data).is_dir() and args.data != "builtin":
            raise UsageError(f"--data '{args.data}' is not a folder")
        if args.weights and not Path(args.weights).is_file():
            raise UsageError(f"--weights '{args.weights}' does not exist")
    options = dict(
        size=args.size,
        style_size=args.style_size,
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        content_weight=args.content_weight,
        tv_weight=args.tv_weight,
        backbone=args.backbone,
        weights=args.weights,
        init_from=args.init_from,
        preview_every=args.preview_every or None,
        checkpoint_every=args.checkpoint_every or None,
        seed=args.seed,
        precision=args.precision,
        style_blend=args.style_blend,
    )
    if args.stability_weight is not None or args.video:
        options["stability_weight"] = (
            args.stability_weight if args.stability_weight is not None else VIDEO_STABILITY_WEIGHT
        )
    if args.style_weight is not None or args.video:
        options["style_weight"] = args.style_weight if args.style_weight is not None else VIDEO_STYLE_WEIGHT
    if args.arch is not None:
        options["arch"] = args.arch
    model = train_fast_style(
        None if args.resume else args.style,
        args.data,
        args.out,
        resume=args.resume,
        overwrite=args.overwrite,
        device=args.device,
        progress=False if args.quiet else None,
        **(_typed_options(args, options) if args.resume else options),
    )
    last = model.history.steps[-1][1] if model.history and model.history.steps else {}
    summary = ", ".join(f"{k} {v:.4g}" for k, v in last.items())
    from ..distributed import is_main

    if is_main():
        print(f"style network ({model.config.arch}) saved in '{args.out}'" + (f"; last {summary}" if summary else ""))
    return 0


def _typed_options(args, options: dict) -> dict:
    """On ``--resume``: the options whose flags were typed (compared with the saved settings and reported where they
    differ)."""
    from ..flags import typed_flags

    typed = typed_flags(args)
    if "video" in typed:
        typed.update(("stability_weight", "style_weight"))
    return {k: v for k, v in options.items() if k in typed}


def run_apply(args) -> int:
    """``artgen fast-style apply``: stylise images (or one video) with a trained network; returns 0.

    Raises:
        UsageError: a negative ``--max-size``; ``--tile-size`` in 1..15; a missing input; a mix of
            videos and pictures or an output that does not fit them; an existing output without ``--overwrite``.
        CheckpointError: the model folder cannot be loaded.
        VideoError: the video cannot be read.
    """
    from ..errors import UsageError
    from . import FastStyle
    from .pipeline import check_apply_options

    check_apply_options(max_size=args.max_size, tile=args.tile_size)  # the library's checks, shown with the flags
    for item in args.inputs:
        if not Path(item).exists():
            raise UsageError(f"input '{item}' does not exist")
    from ..tiling import AUTO_TILE, out_of_memory_hint

    video = _video_job(args)
    model = FastStyle.load(args.model, device=args.device, precision=args.precision, compile=args.compile)
    if video:
        return _apply_video(model, args)
    with out_of_memory_hint("--tile-size", args.tile_size or AUTO_TILE):
        result = model.stylize_files(
            args.inputs,
            args.output,
            max_size=args.max_size or None,
            strength=args.strength,
            preserve_colors=args.preserve_colors,
            overwrite=args.overwrite,
            metadata=False if args.no_metadata else {"seed": args.seed},
            progress=False if args.quiet else None,
            seamless=args.seamless,
            tile=args.tile_size,
        )
    if not args.quiet:
        n, s = len(result["written"]), len(result["skipped"])
        where = result["written"][0] if n == 1 and len(result["outputs"]) == 1 else args.output
        print(f"wrote {n} image(s) to '{where}'" + (f"; skipped {s} unreadable file(s)" if s else ""))
    return 0


def _video_job(args) -> bool:
    """Whether this apply is a video one (one video in, a video file out); usage errors for mixes."""
    from ..errors import UsageError
    from ..video import WRITE_VIDEO_EXTENSIONS, check_video_output, is_video_path, require_av

    out_suffix = Path(args.output).suffix.lower()
    videos = [
        i for i in args.inputs if Path(i).is_file() and is_video_path(i)
    ]  # by what the file holds (.3gp, .ts, .mts ...)
    wants_video = out_suffix in WRITE_VIDEO_EXTENSIONS and not Path(args.output).is_dir()
    only_gifs = all(Path(v).suffix.lower() == ".gif" for v in videos)
    if not videos or (only_gifs and not wants_video):  # pictures; a .gif to a picture: its first frame
        if args.temporal_filter:
            raise UsageError("--temporal-filter applies to video only (one video in, a video file for -o)")
        return False
    if len(args.inputs) != 1:
        raise UsageError(f"give one video at a time (got {len(args.inputs)} inputs with video '{videos[0]}')")
    if not wants_video:
        raise UsageError(
            f"'{videos[0]}' is a video: -o must be a video file ({', '.join(sorted(WRITE_VIDEO_EXTENSIONS))})"
        )
    if out_suffix != ".gif" or Path(videos[0]).suffix.lower() != ".gif":
        require_av()
    if args.max_size is not None and 0 < args.max_size < 16:
        raise UsageError(f"--max-size must be at least 16 for video, got {args.max_size}")
    check_video_output(args.output, overwrite=args.overwrite)
    return True


def _apply_video(model, args) -> int:
    result = model.stylize_video(
        args.inputs[0],
        args.output,
        max_size=args.max_size or None,
        strength=args.strength,
        preserve_colors=args.preserve_colors,
        temporal_filter=args.temporal_filter,
        overwrite=args.overwrite,
        progress=False if args.quiet else None,
    )
    if not args.quiet:
        w, h = result["size"]
        lost = f"; {result['error']}" if result["error"] else ""
        print(
            f"wrote {result['frames']} frames ({w}x{h}) to '{result['output']}' in {result['seconds']:.1f} s "
            f"({result['frames_per_second']:.1f} frames/s); sound: {result['audio']}{lost}"
        )
    return 0


def run_export(args) -> int:
    """``artgen fast-style export``: write an ONNX file (dynamic batch, height, width), checked with onnxruntime when
    installed; returns 0.

    Raises:
        UsageError: the output exists without ``--overwrite``.
        CheckpointError: the model folder cannot be loaded.
    """
    from . import FastStyle

    model = FastStyle.load(args.model, device="cpu")
    result = model.export_onnx(args.onnx, check=not args.no_check, opset=args.opset, overwrite=args.overwrite)
    if not args.quiet:
        if result["checked"]:
            print(
                f"wrote '{result['path']}' (dynamic batch, height, width); "
                f"onnxruntime matches PyTorch within {result['max_abs_diff']:.1e}"
            )
        elif args.no_check:
            print(f"wrote '{result['path']}' (dynamic batch, height, width); not checked (--no-check)")
        else:
            print(
                f"wrote '{result['path']}' (dynamic batch, height, width); not checked: onnxruntime is not installed"
            )
    return 0

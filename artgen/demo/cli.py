"""``artgen demo``: the main job on built-in defaults, offline."""

from __future__ import annotations


def add_parser(sub, name: str) -> None:
    """Register ``artgen demo`` and its flags on the sub-parsers ``sub`` under ``name``."""
    from ..flags import add_common

    parser = sub.add_parser(
        name,
        help="run every head on built-in data (offline, a few minutes on a CPU) and write a contact sheet",
        description="Stylise a built-in photo, train a small GAN and the dense classifier on built-in data, and draw "
        "a contact sheet.",
    )
    parser.add_argument(
        "--out", default="artgen-demo", help="folder for everything the demo writes (default: %(default)s)"
    )
    parser.add_argument("--quick", action="store_true", help="tiny settings (seconds; for checking an installation)")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier demo in --out")
    add_common(parser, precision=False)
    parser.set_defaults(func=run)


def run(args) -> int:
    """``artgen demo``: :func:`artgen.demo.run_demo` into ``--out``; prints the time taken (seconds) and the contact
    sheet's path; returns 0.

    Raises:
        UsageError: ``--out`` holds an earlier demo and ``--overwrite`` is not given.
    """
    import time

    from . import run_demo

    t0 = time.perf_counter()
    written = run_demo(
        args.out,
        device=args.device,
        seed=args.seed,
        quick=args.quick,
        overwrite=args.overwrite,
        progress=False if args.quiet else None,
    )
    print(f"demo finished in {time.perf_counter() - t0:.0f} s; contact sheet: {written['sheet']}")
    print(
        "the demo's GAN learns artgen's built-in shapes (no real collection ships with artgen); "
        "for a GAN on real pictures (2,000 Twemoji, RGBA) see samples/gan/ and "
        "`python scripts/make_samples.py --parts gan --emoji-dir DIR`"
    )
    return 0

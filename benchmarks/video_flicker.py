"""Flicker of stylised video over several clips and styles: plain networks against ``--video`` networks.

    nice -n 15 python -m benchmarks.video_flicker --threads 1 --out /tmp/flicker --record

For each style, two style networks (``--arch``, default ``small``) are trained with the same seed, steps
and photos: one plain and one as ``fast-style train --video`` trains it (``--stability-weight`` and
``--stable-style-weight`` default to ``--video``'s, ``artgen.fast_style.VIDEO_STABILITY_WEIGHT`` and
``VIDEO_STYLE_WEIGHT``).
The training photos are a small set of real photos shipped with scikit-image (``--train``, default
four: astronaut, motorcycle, retina, Hubble deep field); the styles are built-in names or
scikit-image pictures (default: ``ihc``, a stained-tissue texture, and the built-in ``swirls`` and
``mosaic``). Every network stylises every clip. The clips are 24 frames of 160x120 made from other
scikit-image photos, which no network saw in training, moved by a known motion (``CLIPS``):

* ``chelsea-pan4``: the cat, panning 4 px per frame to the right, no noise (a pan by the style
  network's stride, 4);
* ``chelsea-pan4-noisy``: the same with sensor noise (std 0.01);
* ``rocket-tilt``: the rocket, moving 3 px up and 1 px right per frame, noise 0.01;
* ``coffee-zoom``: the coffee cup, zooming in by 1% per frame about the centre, noise 0.01.

Flicker is the motion-compensated residual: mean |y_t - M(y_(t-1))| over the pixels the known
motion M maps from inside the previous frame (bilinear, so zooms keep a small floor, shown as the
input's own residual), in 1/255 units. Per style and clip the table gives the input's, the plain
network's and the ``--video`` network's residual, their ratio (plain over ``--video``: how many
times the stability term cuts the flicker), the residual with ``--filter`` (``apply
--temporal-filter``) on top of the ``--video`` network, and the mean relative change of each frame's
style loss (the training encoder and style targets) of the ``--video`` network against the plain
one. The last lines give the ratio's mean, minimum and maximum over every style and clip, and per
clip over the styles. Networks are kept in ``--out`` and reused by a later run with the same
settings; ``--record`` writes the rows to ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from benchmarks._results import add_record_flag, machine_info, record

#: clip name -> (scikit-image photo, long side the photo is brought to, per-frame motion
#: (dy, dx in px, zoom factor), noise std)
CLIPS = {
    "chelsea-pan4": ("chelsea", 320, (0.0, 4.0, 1.0), 0.0),
    "chelsea-pan4-noisy": ("chelsea", 320, (0.0, 4.0, 1.0), 0.01),
    "rocket-tilt": ("rocket", 420, (-3.0, 1.0, 1.0), 0.01),
    "coffee-zoom": ("coffee", 300, (0.0, 0.0, 1.01), 0.01),
}
TRAIN_PHOTOS = ("astronaut", "motorcycle_left", "retina", "hubble_deep_field")
FRAME_HW = (120, 160)
#: the interior residual leaves out this many pixels along every edge (where the padding's context moves)
BORDER = 16


def skimage_picture(name: str, long_side: int | None = None) -> torch.Tensor:
    """A picture shipped with scikit-image (``skimage.data``'s file ``name``.*) as (3, H, W) in [0, 1]."""
    import skimage.data
    from PIL import Image

    from artgen.images import to_tensor

    folder = Path(skimage.data.__file__).parent
    files = sorted(p for p in folder.glob(f"{name}.*") if p.suffix in (".png", ".jpg"))
    if not files:
        raise SystemExit(f"scikit-image has no picture {name!r} in {folder}")
    image = Image.open(files[0]).convert("RGB")
    if long_side:
        scale = long_side / max(image.size)
        image = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)
    return to_tensor(image)


def frame_coords(t: int, motion, hw, centre) -> torch.Tensor:
    """Source-pixel coordinates (h, w, 2) as (x, y) of frame ``t``'s pixel centres."""
    dy, dx, zoom = motion
    h, w = hw
    z = zoom**t
    cy, cx = centre[0] + dy * t, centre[1] + dx * t
    ys = (torch.arange(h, dtype=torch.float64) + 0.5 - h / 2) / z + cy
    xs = (torch.arange(w, dtype=torch.float64) + 0.5 - w / 2) / z + cx
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx, gy], -1)


def sample(image: torch.Tensor, coords: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``image`` (C, H, W) read bilinearly at pixel coordinates ``coords`` (h, w, 2); and the mask (h, w)
    of the coordinates whose every tap lies inside."""
    H, W = image.shape[-2:]
    grid = torch.stack([coords[..., 0] * 2 / W - 1, coords[..., 1] * 2 / H - 1], -1).float()[None]
    out = F.grid_sample(image[None].float(), grid, mode="bilinear", padding_mode="border", align_corners=False)[0]
    x, y = coords[..., 0], coords[..., 1]
    inside = (x >= 0.5 - 1e-6) & (x <= W - 0.5 + 1e-6) & (y >= 0.5 - 1e-6) & (y <= H - 0.5 + 1e-6)
    return out, inside


def make_clip(name: str, frames: int, hw=FRAME_HW) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """(frames (T, 3, h, w) in [0, 1], per frame t >= 1 the coordinates in frame t-1 of frame t's pixels)."""
    photo_name, long_side, motion, noise = CLIPS[name]
    photo = skimage_picture(photo_name, long_side)
    H, W = photo.shape[-2:]
    dy, dx, zoom = motion
    # the window's centre moves by (dy, dx) per frame; the middle of its path is the photo's centre
    if abs(dy) * (frames - 1) + hw[0] > H or abs(dx) * (frames - 1) + hw[1] > W:
        raise SystemExit(f"clip {name}: the photo at {long_side} px is too small for {frames} frames")
    centre = (H / 2 - dy * (frames - 1) / 2, W / 2 - dx * (frames - 1) / 2)
    g = torch.Generator().manual_seed(0)
    out, back = [], []
    for t in range(frames):
        coords = frame_coords(t, motion, hw, centre)
        f, inside = sample(photo, coords)
        if not bool(inside.all()):
            raise SystemExit(f"clip {name}: frame {t} reads outside the photo")
        out.append(f)
        if t:
            z_prev = zoom ** (t - 1)
            prev_centre = (centre[0] + dy * (t - 1), centre[1] + dx * (t - 1))
            # the source point a pixel of frame t shows, in frame t-1's pixel coordinates
            px = (coords[..., 0] - prev_centre[1]) * z_prev + hw[1] / 2
            py = (coords[..., 1] - prev_centre[0]) * z_prev + hw[0] / 2
            back.append(torch.stack([px, py], -1))
    x = torch.stack(out)
    if noise:
        x = x + noise * torch.randn(x.shape, generator=g)
    return x.clamp(0, 1), back


def residual(y: torch.Tensor, back: list[torch.Tensor], border: int = 0) -> float:
    """Mean |y_t - M(y_(t-1))| over the pixels whose source lies inside frame t-1, in 1/255 units;
    with ``border``, only over pixels at least that far from the edges of both frames."""
    total, count = 0.0, 0
    h, w = y.shape[-2:]
    for t in range(1, y.shape[0]):
        coords = back[t - 1]
        prev, inside = sample(y[t - 1], coords)
        if border:
            inside = inside & (coords[..., 0] >= border) & (coords[..., 0] <= w - border)
            inside = inside & (coords[..., 1] >= border) & (coords[..., 1] <= h - border)
            inside[:border], inside[-border:], inside[:, :border], inside[:, -border:] = False, False, False, False
        diff = (y[t] - prev).abs().mean(0)
        total += float(diff[inside].sum())
        count += int(inside.sum())
    return total / max(1, count) * 255


def flicker_figure(clips: dict[str, torch.Tensor], back: list[torch.Tensor], t: int) -> torch.Tensor:
    """One row per clip in ``clips`` (name -> (T, 3, h, w)): frame ``t`` and 4x |y_t - M(y_(t-1))| (black where the
    motion has no source); (3, rows * h, 2 * w) in [0, 1]."""
    rows = []
    for y in clips.values():
        prev, inside = sample(y[t - 1], back[t - 1])
        diff = ((y[t] - prev).abs() * 4).clamp(0, 1) * inside
        rows.append(torch.cat([y[t], diff], -1))
    return torch.cat(rows, -2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--styles", nargs="+", default=["ihc", "swirls", "mosaic"])
    parser.add_argument("--clips", nargs="+", default=list(CLIPS), choices=list(CLIPS))
    parser.add_argument("--train", nargs="+", default=list(TRAIN_PHOTOS), help="scikit-image photos to train on")
    parser.add_argument("--arch", default="small", help="style network architecture (fast-style train --arch)")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--stability-weight", type=float, default=None, help="default: --video's")
    parser.add_argument("--stable-style-weight", type=float, default=None, help="default: --video's")
    parser.add_argument("--stability-noise", type=float, default=None, help="default: the training default (0.02)")
    parser.add_argument("--filter", type=float, default=0.6, help="TemporalFilter strength on the --video network")
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="bench_flicker")
    add_record_flag(parser)
    args = parser.parse_args()
    os.environ.setdefault("ARTGEN_OFFLINE", "1")
    torch.set_num_threads(args.threads)
    info = machine_info(threads=args.threads)

    from artgen import losses
    from artgen.data.style_images import STYLES
    from artgen.encoders import FAST_STYLE_STYLE_LAYERS, build_encoder, style_grams
    from artgen.fast_style import FastStyle, train_fast_style
    from artgen.fast_style.config import VIDEO_STABILITY_WEIGHT, VIDEO_STYLE_WEIGHT
    from artgen.fast_style.training import style_tensor
    from artgen.images import save_image
    from artgen.video import TemporalFilter

    out = Path(args.out)
    photos = out / "train_photos"
    photos.mkdir(parents=True, exist_ok=True)
    for name in args.train:
        path = photos / f"{name}.png"
        if not path.exists():
            save_image(skimage_picture(name), path, overwrite=True)
    stable = {
        "stability_weight": args.stability_weight if args.stability_weight is not None else VIDEO_STABILITY_WEIGHT,
        "style_weight": args.stable_style_weight if args.stable_style_weight is not None else VIDEO_STYLE_WEIGHT,
    }
    if args.stability_noise is not None:
        stable["stability_noise"] = args.stability_noise
    # the record keeps the weights the networks trained with, not "--video's", whose values may change
    args.stability_weight, args.stable_style_weight = stable["stability_weight"], stable["style_weight"]
    tag = f"{args.steps}s_b{args.batch_size}_{args.size}px_{len(args.train)}ph" + (
        "" if args.arch == "small" else f"_{args.arch}"
    )
    short = {"stability_weight": "stab", "style_weight": "sw", "stability_noise": "noise"}
    stable_tag = "_".join(f"{short[k]}{v:g}" for k, v in stable.items())
    common = dict(
        arch=args.arch,
        size=args.size,
        steps=args.steps,
        batch_size=args.batch_size,
        preview_every=None,
        checkpoint_every=None,
        log_every=50,
        seed=0,
        progress=False,
    )

    def style_spec(name: str):
        return name if name in STYLES or Path(name).exists() else skimage_picture(name)

    def network(style: str, variant: str) -> FastStyle:
        run = out / (f"net_{Path(style).stem}_{tag}_" + ("plain" if variant == "plain" else stable_tag))
        if (run / "model.safetensors").exists():
            print(f"{style} {variant}: reusing {run}", flush=True)
            return FastStyle.load(run, device="cpu")
        t0 = time.process_time()
        extra = {} if variant == "plain" else stable
        train_fast_style(style_spec(style), photos, run, overwrite=True, **common, **extra)
        print(f"{style} {variant}: trained {args.steps} steps, {time.process_time() - t0:.0f} CPU s", flush=True)
        return FastStyle.load(run, device="cpu")

    encoder = build_encoder("auto", list(FAST_STYLE_STYLE_LAYERS), device="cpu")
    clips = {name: make_clip(name, args.frames) for name in args.clips}
    rows, ratios = [], {}
    header = (
        f"{'style':<8} {'clip':<19} {'input':>6} {'plain':>6} {'video':>6} {'ratio':>6} {'inner':>6} {'+filter':>7}"
        f" {'style chg':>9}"
    )
    for style in args.styles:
        nets = {v: network(style, v) for v in ("plain", "video")}
        spec = style_spec(style)
        grams = style_grams(encoder, [style_tensor(spec, args.size)], list(FAST_STYLE_STYLE_LAYERS))
        targets = [grams[layer] for layer in FAST_STYLE_STYLE_LAYERS]
        weights = losses.energy_weights(targets)

        def style_per_frame(y: torch.Tensor, targets=targets, weights=weights) -> torch.Tensor:
            with torch.no_grad():
                feats = [encoder(f[None], FAST_STYLE_STYLE_LAYERS) for f in y]
                return torch.stack(
                    [losses.style_loss([f[l] for l in FAST_STYLE_STYLE_LAYERS], targets, weights) for f in feats]
                )

        print("\n" + header, flush=True)
        for clip, (x, back) in clips.items():
            with torch.no_grad():
                ys = {v: torch.cat([n.stylize_tensor(f[None]) for f in x]) for v, n in nets.items()}
                filt = TemporalFilter(args.filter)
                filtered = torch.stack([filt(f, y) for f, y in zip(x, ys["video"])]) if args.filter else None
            res = {v: residual(y, back) for v, y in ys.items()}
            ratio = res["plain"] / res["video"]
            inner = {v: residual(y, back, BORDER) for v, y in ys.items()}
            ratios[(style, clip)] = ratio
            loss = {v: style_per_frame(y) for v, y in ys.items()}
            change = float(((loss["video"] - loss["plain"]) / loss["plain"]).mean())
            row = {
                "style": style,
                "clip": clip,
                "input residual": round(residual(x, back), 2),
                "plain residual": round(res["plain"], 2),
                "--video residual": round(res["video"], 2),
                "plain / --video": round(ratio, 2),
                f"plain / --video, {BORDER} px in": round(inner["plain"] / inner["video"], 2),
                f"--video + filter {args.filter:g}": round(residual(filtered, back), 2)
                if filtered is not None
                else None,
                "style loss change": f"{change * 100:+.1f}%",
            }
            rows.append(row)
            print(
                f"{style:<8} {clip:<19} {row['input residual']:6.2f} {res['plain']:6.2f} {res['video']:6.2f} "
                f"{ratio:5.2f}x {inner['plain'] / inner['video']:5.2f}x {row[f'--video + filter {args.filter:g}'] or 0:7.2f} "
                f"{change * 100:+8.1f}%",
                flush=True,
            )
            t = args.frames // 2
            for v, y in ys.items():
                save_image(y[t], out / "frames" / f"{Path(style).stem}_{clip}_{v}_{t:02d}.png", overwrite=True)
            shown = {"plain": ys["plain"], "--video": ys["video"]}
            if filtered is not None:
                shown["--video + filter"] = filtered
            figure = flicker_figure(shown, back, t)
            save_image(figure, out / "frames" / f"{Path(style).stem}_{clip}_flicker.png", overwrite=True)

    def spread(values: list[float]) -> str:
        return f"mean {sum(values) / len(values):.2f}x, min {min(values):.2f}x, max {max(values):.2f}x"

    every = list(ratios.values())
    summary = {"all": spread(every)}
    print(f"\nplain / --video residual over {len(args.styles)} styles x {len(clips)} clips: {summary['all']}")
    for clip in clips:
        summary[clip] = spread([r for (s, c), r in ratios.items() if c == clip])
        print(f"  {clip:<19} over the styles: {summary[clip]}")
    for style in args.styles:
        summary[style] = spread([r for (s, c), r in ratios.items() if s == style])
        print(f"  {style:<19} over the clips: {summary[style]}")
    record(args, "video_flicker", rows, info, spread=summary)


if __name__ == "__main__":
    main()

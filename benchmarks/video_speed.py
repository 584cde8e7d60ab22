"""Video stylising speed: artgen ``fast-style apply`` on a clip vs pytorch/examples' frame-by-frame loop.

    python -m benchmarks.video_speed                      # 480p, 720p, 1080p; CPU (2 threads) and CUDA when present
    python -m benchmarks.video_speed --frames 8 --sizes 480 720
    python -m benchmarks.video_speed --frames 4 --sizes 480 --cpu-only --record   # rows to benchmarks/results/

For each size a short H.264 clip (a pan over the bundled photo, with AAC sound) is
made with PyAV, then stylised end to end (decode, network, encode, sound copied):

* artgen ``small`` and ``standard`` through ``FastStyle.stylize_video`` (decoding,
  stylising and encoding overlap in threads);
* pytorch/examples' ``TransformerNet`` (see benchmarks/fast_style_speed.py) in the plain
  loop: decode a frame, stylise it (x*255 in, clamp out), encode it, one after the other,
  with the same PyAV decoder and encoder settings and no sound.

Frames per second over the whole clip (first frame included, after one warm-up frame
of each network at that size). Untrained weights: speed does not depend on their values.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from artgen.fast_style import FastStyle
from artgen.fast_style.networks import StyleNet, StyleNetConfig
from artgen.images import load_tensor
from benchmarks._results import add_record_flag, machine_info, record
from benchmarks.fast_style_speed import TransformerNet, transformer_net_stylize

SIZES = {480: (854, 480), 720: (1280, 720), 1080: (1920, 1080)}


def make_clip(path: Path, width: int, height: int, frames: int, fps: int = 30) -> Path:
    import av

    photo = load_tensor(
        Path(__file__).resolve().parents[1] / "artgen" / "assets" / "astronaut.jpg",
        size=(height + frames * 2, width + frames * 4),
    )
    photo = (photo.permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=fps, options={"preset": "veryfast"})
        v.width, v.height, v.pix_fmt = width, height, "yuv420p"
        a = out.add_stream("aac", rate=48000)
        a.layout = "stereo"
        for t in range(frames):
            frame = av.VideoFrame.from_ndarray(
                np.ascontiguousarray(photo[2 * t : 2 * t + height, 4 * t : 4 * t + width]), format="rgb24"
            )
            frame.pts = t
            for p in v.encode(frame):
                out.mux(p)
        for p in v.encode():
            out.mux(p)
        n = a.codec_context.frame_size or 1024
        for k in range(int(48000 * frames / fps / n)):
            af = av.AudioFrame.from_ndarray(np.zeros((2, n), np.float32), format="fltp", layout="stereo")
            af.sample_rate, af.pts = 48000, k * n
            for p in a.encode(af):
                out.mux(p)
        for p in a.encode():
            out.mux(p)
    return path


def baseline_loop(net, src: Path, dst: Path, device) -> int:
    """pytorch/examples-style: decode, stylise, encode, one frame after the other."""
    import av

    count = 0
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        vin = inp.streams.video[0]
        v = out.add_stream("libx264", rate=vin.average_rate, options={"crf": "18", "preset": "veryfast"})
        v.width, v.height, v.pix_fmt = vin.codec_context.width, vin.codec_context.height, "yuv420p"
        for frame in inp.decode(video=0):
            x = torch.from_numpy(frame.to_ndarray(format="rgb24")).permute(2, 0, 1)[None].float().div(255).to(device)
            with torch.no_grad():
                y = transformer_net_stylize(net, x)
            img = (y[0].permute(1, 2, 0) * 255).round().byte().cpu().numpy()
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts = frame.pts
            f.time_base = frame.time_base
            for p in v.encode(f):
                out.mux(p)
            count += 1
        for p in v.encode():
            out.mux(p)
    return count


def run(device: torch.device, args, tmp: Path) -> list[dict]:
    """Time the three contenders on a clip of each size; print the table and return one row per size."""
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    label = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"\n== {label}: frames per second over a {args.frames}-frame clip, decode + stylise + encode ==")
    print(f"  {'size':<16} {'artgen small':>13} {'artgen standard':>16} {'TransformerNet loop':>20}")
    kw = dict(precision="bf16", channels_last=True) if device.type == "cuda" else {}
    small = FastStyle(StyleNet(StyleNetConfig.for_arch("small")), device=device, **kw)
    standard = FastStyle(StyleNet(StyleNetConfig.for_arch("standard")), device=device, **kw)
    tnet = TransformerNet().to(device).eval()
    rows = []
    for res in args.sizes:
        w, h = SIZES[res]
        clip = tmp / f"clip_{res}.mp4"
        if not clip.exists():
            make_clip(clip, w, h, args.frames)
        warm = torch.rand(1, 3, h, w, device=device)
        row = []
        for model in (small, standard):
            model.stylize_tensor(warm)
            sync()
            t0 = time.perf_counter()
            result = model.stylize_video(clip, tmp / "out.mp4", overwrite=True, progress=False)
            sync()
            row.append(result["frames"] / (time.perf_counter() - t0))
        with torch.no_grad():
            transformer_net_stylize(tnet, warm)
        sync()
        t0 = time.perf_counter()
        n = baseline_loop(tnet, clip, tmp / "base.mp4", device)
        sync()
        row.append(n / (time.perf_counter() - t0))
        print(
            f"  {f'{res}p ({w}x{h})':<16} {row[0]:13.2f} {row[1]:16.2f} {row[2]:20.2f}   (small/TransformerNet {row[0] / row[2]:.1f}x, standard/TransformerNet {row[1] / row[2]:.2f}x)"
        )
        rows.append(
            {
                "device": label,
                "size": f"{res}p ({w}x{h})",
                "frames": args.frames,
                "artgen_small_fps": round(row[0], 2),
                "artgen_standard_fps": round(row[1], 2),
                "transformernet_loop_fps": round(row[2], 2),
                "small_over_transformernet": round(row[0] / row[2], 2),
                "standard_over_transformernet": round(row[1] / row[2], 2),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--sizes", type=int, nargs="+", default=[480, 720, 1080], choices=sorted(SIZES))
    parser.add_argument("--cpu-only", action="store_true")
    add_record_flag(parser)
    args = parser.parse_args(argv)
    os.environ.setdefault("ARTGEN_OFFLINE", "1")
    torch.set_num_threads(args.threads)
    gpu = not args.cpu_only and torch.cuda.is_available()
    info = machine_info(args.threads, "cuda" if gpu else "cpu", packages=("av",))
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs visible")
    with tempfile.TemporaryDirectory(prefix="artgen-video-bench-") as tmp:
        rows = run(torch.device("cpu"), args, Path(tmp))
        if not args.cpu_only:
            if gpu:
                rows += run(torch.device("cuda"), args, Path(tmp))
            else:
                print("\n== CUDA: no GPU on this machine; not measured ==")
    record(args, "video_speed", rows, info)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

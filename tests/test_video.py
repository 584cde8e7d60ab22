"""Video: stylising clips (timing, rotation, sound, GIF animation), bad inputs, the stability loss, the temporal filter."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import torch

from artgen import losses
from artgen.augment import random_motion, warp
from artgen.cli import main
from artgen.errors import UsageError, VideoError
from artgen.fast_style import FastStyle
from artgen.fast_style.networks import StyleNet, StyleNetConfig
from artgen.video import TemporalFilter, require_av, stylize_video

av = pytest.importorskip("av")


def make_clip(
    path,
    *,
    n=6,
    w=32,
    h=24,
    ms=100,
    rotation=0,
    audio="aac",
    pix_fmt="yuv420p",
    codec="libx264",
    durations=None,
    audio_ms=None,
    fmt=None,
    options=None,
):
    """A short test clip: a moving colour ramp, ``ms`` per frame (or ``durations``), mono sine sound
    as long as the picture (or ``audio_ms``); ``fmt``/``options``: the container, when not the suffix's."""
    out = av.open(str(path), "w", format=fmt, options=options or {})
    v = out.add_stream(codec, rate=Fraction(1000, ms))
    v.width, v.height, v.pix_fmt = w, h, pix_fmt
    v.time_base = v.codec_context.time_base = Fraction(1, 1000)
    if rotation:
        v.set_display_rotation(rotation)
    a = None
    if audio:
        a = out.add_stream(audio, rate=48000)
        a.layout = "mono"
    t = 0
    for i in range(n):
        img = np.zeros((h, w, 3), np.uint8)
        img[..., 0] = (np.arange(w) * 7 + i * 20) % 256
        img[..., 1] = (np.arange(h)[:, None] * 9) % 256
        img[..., 2] = 128
        frame = av.VideoFrame.from_ndarray(img, format="rgb24")
        frame.pts, frame.time_base = t, Fraction(1, 1000)
        t += durations[i] if durations else ms
        for p in v.encode(frame):
            out.mux(p)
    for p in v.encode():
        out.mux(p)
    if a is not None:
        size = a.codec_context.frame_size or 960
        for k in range(int(48 * (audio_ms or t) / size)):
            s = (0.2 * np.sin(2 * np.pi * 440 * (np.arange(size) + k * size) / 48000)).astype(np.float32)[None]
            af = av.AudioFrame.from_ndarray(s, format="flt" if "opus" in audio else "fltp", layout="mono")
            af.sample_rate, af.pts = 48000, k * size
            for p in a.encode(af):
                out.mux(p)
        for p in a.encode():
            out.mux(p)
    out.close()
    return path


def read_clip(path):
    """(frames as (H, W, 3) uint8 arrays, their times in s, rotation, audio codec, audio packet bytes)."""
    with av.open(str(path)) as c:
        frames = list(c.decode(video=0))
        images = [f.to_ndarray(format="rgb24") for f in frames]
        times = [float(f.pts * f.time_base) for f in frames]
        rotation = frames[0].rotation
    with av.open(str(path)) as c:
        audio = c.streams.audio[0].codec_context.name if c.streams.audio else None
        packets = [bytes(p) for p in c.demux(audio=0) if p.size] if audio else []
    return images, times, rotation, audio, packets


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return FastStyle(StyleNet(StyleNetConfig.for_arch("small")), device="cpu")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, model):
    return model.save(tmp_path_factory.mktemp("net") / "net")


def test_mp4_keeps_frames_timing_rotation_and_copies_the_sound(tmp_path, model):
    src = make_clip(tmp_path / "phone.mp4", rotation=-90)
    result = model.stylize_video(src, tmp_path / "out.mp4", progress=False)
    frames_in, times_in, rot_in, audio_in, packets_in = read_clip(src)
    frames, times, rot, audio, packets = read_clip(tmp_path / "out.mp4")
    assert result["frames"] == len(frames) == len(frames_in) == 6
    assert times == pytest.approx(times_in, abs=1e-3)
    assert rot == rot_in == -90
    assert audio == audio_in == "aac" and packets == packets_in  # copied bit for bit
    assert result["audio"] == "aac (copied)" and result["error"] is None
    # the pixels are the network's output (within the codec's error), not the input
    want = model.stylize_tensor(torch.from_numpy(np.stack(frames_in)).permute(0, 3, 1, 2).float() / 255)
    got = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float() / 255
    assert (got - want).abs().mean() < 0.05
    assert (got - torch.from_numpy(np.stack(frames_in)).permute(0, 3, 1, 2).float() / 255).abs().mean() > 0.1


@pytest.mark.parametrize(
    "suffix,audio_note", [(".webm", "aac re-encoded to libopus"), (".mov", "aac (copied)"), (".mkv", "aac (copied)")]
)
def test_other_containers(tmp_path, model, suffix, audio_note):
    src = make_clip(tmp_path / "clip.mp4", n=4)
    result = stylize_video(model, src, tmp_path / f"out{suffix}", progress=False)
    frames, times, _, audio, _ = read_clip(tmp_path / f"out{suffix}")
    assert len(frames) == 4 and result["audio"].startswith(audio_note)
    assert audio == ("opus" if suffix == ".webm" else "aac")
    # Matroska cannot store the AAC priming packet's negative time: it starts every stream 21 ms later
    assert [t - times[0] for t in times] == pytest.approx([0.0, 0.1, 0.2, 0.3], abs=2e-3) and times[0] < 0.03


def test_variable_frame_rate_odd_size_10_bit(tmp_path, model):
    durations = [40, 120, 40, 200, 40]
    src = make_clip(tmp_path / "vfr.mkv", n=5, w=33, h=25, pix_fmt="yuv444p10le", audio=None, durations=durations)
    with av.open(str(src)) as c:
        assert c.streams.video[0].codec_context.pix_fmt == "yuv444p10le"
    result = stylize_video(model, src, tmp_path / "out.mp4", progress=False)
    frames, times, _, audio, _ = read_clip(tmp_path / "out.mp4")
    assert times == pytest.approx(np.cumsum([0] + durations[:-1]) / 1000, abs=1e-3)
    assert frames[0].shape == (24, 32, 3) and result["size"] == (32, 24)  # H.264 needs even sides
    assert audio is None and result["audio"].startswith("none")
    assert result["error"] is None and result["frames"] == 5


def test_max_size_and_strength(tmp_path, model):
    src = make_clip(tmp_path / "clip.mp4", n=3, w=64, h=48, audio=None)
    result = stylize_video(model, src, tmp_path / "small.mp4", max_size=32, strength=0.0, progress=False)
    frames, _, _, _, _ = read_clip(tmp_path / "small.mp4")
    frames_in, _, _, _, _ = read_clip(src)
    assert frames[0].shape == (24, 32, 3) and result["size"] == (32, 24)
    # strength 0 gives the input back (shrunk): compare with a 2x2 average of the input
    small_in = torch.from_numpy(frames_in[0]).float().permute(2, 0, 1)[None]
    small_in = torch.nn.functional.avg_pool2d(small_in, 2)[0].permute(1, 2, 0)
    assert (torch.from_numpy(frames[0]).float() - small_in).abs().mean() < 12


def test_animated_gif_keeps_every_frame_its_delays_and_loop(tmp_path, model):
    from PIL import Image

    frames = [Image.fromarray(np.full((20, 28, 3), (40 * i, 200 - 30 * i, 90), np.uint8)) for i in range(5)]
    delays = [100, 200, 50, 300, 120]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=delays, loop=3, disposal=1)
    result = stylize_video(model, tmp_path / "anim.gif", tmp_path / "out.gif", progress=False)
    out = Image.open(tmp_path / "out.gif")
    got = []
    for i in range(out.n_frames):
        out.seek(i)
        got.append(out.info["duration"])
    assert out.n_frames == 5 == result["frames"]
    assert got == delays and out.info.get("loop") == 3
    # and the CLI: a .gif in, a .gif out goes through the video path; a .png out keeps the first frame
    assert (
        main(
            [
                "fast-style",
                "apply",
                "--model",
                str(model.save(tmp_path / "net")),
                str(tmp_path / "anim.gif"),
                "-o",
                str(tmp_path / "cli.gif"),
                "--quiet",
            ]
        )
        == 0
    )
    assert Image.open(tmp_path / "cli.gif").n_frames == 5


def test_gif_from_a_rotated_clip_is_upright(tmp_path, model):
    src = make_clip(tmp_path / "phone.mp4", n=3, w=32, h=24, rotation=-90, audio="aac")
    result = stylize_video(model, src, tmp_path / "out.gif", progress=False)
    from PIL import Image

    assert Image.open(tmp_path / "out.gif").size == (24, 32)  # portrait, as a player shows the clip
    assert "dropped" in result["audio"]


def test_truncated_stream_gives_what_decodes_and_says_so(tmp_path, model):
    src = make_clip(tmp_path / "long.mkv", n=30, w=32, h=24, audio="libopus")
    data = src.read_bytes()
    (tmp_path / "cut.mkv").write_bytes(data[: len(data) // 2])
    result = stylize_video(model, tmp_path / "cut.mkv", tmp_path / "out.mp4", progress=False)
    frames, times, _, _, _ = read_clip(tmp_path / "out.mp4")
    assert 0 < result["frames"] == len(frames) < 30
    assert "30 frames" in result["error"]


def test_bad_inputs_give_one_line_errors(tmp_path, model_dir, capsys):
    (tmp_path / "text.mp4").write_text("not a video\n")
    with pytest.raises(VideoError, match="text.mp4' is not a readable video"):
        stylize_video(
            FastStyle.load(model_dir, device="cpu"), tmp_path / "text.mp4", tmp_path / "o.mp4", progress=False
        )
    out = av.open(str(tmp_path / "sound.mp4"), "w")
    a = out.add_stream("aac", rate=48000)
    a.layout = "mono"
    for k in range(4):
        af = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        af.sample_rate, af.pts = 48000, 1024 * k
        for p in a.encode(af):
            out.mux(p)
    for p in a.encode():
        out.mux(p)
    out.close()
    clip = make_clip(tmp_path / "clip.mp4", n=2, audio=None)

    def run(*argv):
        capsys.readouterr()
        code = main(["fast-style", "apply", "--model", str(model_dir), *map(str, argv), "--quiet"])
        return code, capsys.readouterr().err.strip()

    code, err = run(tmp_path / "text.mp4", "-o", tmp_path / "o.mp4")
    assert code == 1 and "not a readable video" in err and len(err.splitlines()) == 1
    code, err = run(tmp_path / "sound.mp4", "-o", tmp_path / "o.mp4")
    assert code == 1 and "has no video stream" in err and len(err.splitlines()) == 1
    code, err = run(tmp_path / "missing.mp4", "-o", tmp_path / "o.mp4")
    assert code == 2 and "does not exist" in err
    code, err = run(clip, "-o", tmp_path / "o.png")
    assert code == 2 and "is a video" in err
    code, err = run(clip, "-o", tmp_path / "o.avi")
    assert code == 2 and "-o must be a video file" in err
    (tmp_path / "exists.mp4").write_bytes(b"keep me")
    code, err = run(clip, "-o", tmp_path / "exists.mp4")
    assert code == 2 and "--overwrite" in err and (tmp_path / "exists.mp4").read_bytes() == b"keep me"
    code, err = run(clip, "-o", tmp_path / "o.mp4", "--temporal-filter", "1.0")
    assert code == 2
    assert not (tmp_path / "o.mp4").exists()


def test_interrupting_leaves_no_output_and_no_temporary_file(tmp_path, model):
    src = make_clip(tmp_path / "clip.mp4", n=8)
    (tmp_path / "out.mp4").write_bytes(b"the old file")

    class Interrupting:
        def __init__(self):
            self.calls = 0

        def stylize_tensor(self, x, **kw):
            self.calls += 1
            if self.calls == 4:
                raise KeyboardInterrupt
            return model.stylize_tensor(x, **kw)

    with pytest.raises(KeyboardInterrupt):
        stylize_video(Interrupting(), src, tmp_path / "out.mp4", overwrite=True, progress=False)
    assert (tmp_path / "out.mp4").read_bytes() == b"the old file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "out.mp4"]


def test_missing_pyav_is_a_clear_usage_error(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "av", None)
    with pytest.raises(UsageError, match=r"pip install 'artgen\[video\]'"):
        require_av()


# --- the stability loss and the temporal filter --------------------------------------------


def test_transform_consistency_loss_values():
    a, b = torch.zeros(1, 3, 4, 4), torch.ones(1, 3, 4, 4)
    assert float(losses.transform_consistency_loss(a, a)) == 0.0
    assert float(losses.transform_consistency_loss(a, 2 * b)) == pytest.approx(4.0)
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., :2] = 1
    c = b.clone()
    c[..., 2:] = 5.0  # differences outside the mask do not count
    assert float(losses.transform_consistency_loss(a, c, mask)) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        losses.transform_consistency_loss(a, torch.zeros(1, 3, 4, 5))


def test_a_pointwise_network_is_stable_and_a_position_dependent_one_is_not():
    torch.manual_seed(0)
    x = torch.nn.functional.avg_pool2d(torch.rand(2, 3, 36, 44), 5, 1)  # (2, 3, 32, 40), smooth
    theta = random_motion(2, 32, 40, max_shift=3, max_degrees=2)
    moved, mask = warp(x, theta)
    assert 0.5 < float(mask.mean()) < 1.0
    pointwise = lambda t: t.pow(2)
    ramp = torch.linspace(0, 1, 40).view(1, 1, 1, 40)
    positional = lambda t: t + ramp
    small = float(losses.transform_consistency_loss(pointwise(moved), warp(pointwise(x), theta)[0], mask))
    large = float(losses.transform_consistency_loss(positional(moved), warp(positional(x), theta)[0], mask))
    assert small < 1e-3 and large > 10 * small
    # the identity transform moves nothing
    ident = torch.tensor([[[1.0, 0, 0], [0, 1.0, 0]]]).repeat(2, 1, 1)
    same, full = warp(x, ident)
    torch.testing.assert_close(same, x, atol=1e-5, rtol=0)
    assert float(full.min()) == 1.0


def test_training_with_the_stability_loss_and_the_cli_flag(tmp_path):
    import json

    from artgen.fast_style import train_fast_style

    tiny = dict(
        arch="small", size=32, batch_size=2, backbone="random", preview_every=None, checkpoint_every=None, log_every=1
    )
    model = train_fast_style("swirls", None, None, steps=3, progress=False, stability_weight=50.0, **tiny)
    values = model.history.steps[-1][1]
    assert "stability" in values and math.isfinite(float(values["stability"])) and float(values["stability"]) > 0
    args = [
        "fast-style",
        "train",
        "--style",
        "swirls",
        "--out",
        str(tmp_path / "run"),
        "--arch",
        "small",
        "--size",
        "32",
        "--steps",
        "1",
        "--batch-size",
        "1",
        "--backbone",
        "random",
        "--preview-every",
        "0",
        "--checkpoint-every",
        "0",
        "--video",
        "--quiet",
    ]
    assert main(args) == 0
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    from artgen.fast_style.config import VIDEO_STABILITY_WEIGHT, VIDEO_STYLE_WEIGHT

    assert saved["train"]["stability_weight"] == VIDEO_STABILITY_WEIGHT > 0
    assert saved["train"]["style_weight"] == VIDEO_STYLE_WEIGHT != 5.0  # the stable network needs more style pressure
    assert main(args[:-1] + ["--style-weight", "7", "--overwrite", "--quiet"]) == 0  # a typed weight wins
    assert json.loads((tmp_path / "run" / "config.json").read_text())["train"]["style_weight"] == 7.0
    assert main(args[:-2] + ["--stability-weight", "-1", "--overwrite", "--quiet"]) == 2


def test_a_video_network_holds_still_under_motions_it_never_saw():
    """``--video``'s weights on a tiny network: a held-out picture moved by fresh random motions gives an
    output closer to the moved output than the plain network's (5x to 14x closer over seeds 0-3)."""
    from artgen.fast_style import VIDEO_STABILITY_WEIGHT, VIDEO_STYLE_WEIGHT, train_fast_style

    tiny = dict(
        arch="small", size=32, batch_size=2, backbone="random", preview_every=None, checkpoint_every=None, seed=0
    )
    plain = train_fast_style("swirls", None, None, steps=40, progress=False, **tiny)
    video = train_fast_style(
        "swirls",
        None,
        None,
        steps=40,
        progress=False,
        stability_weight=VIDEO_STABILITY_WEIGHT,
        style_weight=VIDEO_STYLE_WEIGHT,
        **tiny,
    )
    torch.manual_seed(1)
    x = torch.nn.functional.interpolate(torch.rand(4, 3, 16, 16), size=64, mode="bilinear")  # (4, 3, 64, 64), smooth
    theta = random_motion(4, 64, 64)
    moved, mask = warp(x, theta)
    gaps = {}
    for name, model in (("plain", plain), ("video", video)):
        with torch.no_grad():
            gaps[name] = float(
                losses.transform_consistency_loss(
                    model.stylize_tensor(moved), warp(model.stylize_tensor(x), theta)[0], mask
                )
            )
    assert gaps["video"] < gaps["plain"] / 1.5, gaps


def _noisy_static_clip(frames=8, shift=(0, 0)):
    g = torch.Generator().manual_seed(0)
    scene = torch.nn.functional.avg_pool2d(torch.rand(1, 3, 80, 96, generator=g), 5, 1, 2)[0]
    clip = []
    for t in range(frames):
        view = torch.roll(scene, shifts=(shift[0] * t, shift[1] * t), dims=(1, 2))[:, 8:56, 8:72]
        clip.append((view + 0.03 * torch.randn(view.shape, generator=g)).clamp(0, 1))
    return torch.stack(clip)


def _pan_found(a, b):
    """The (dy, dx) the temporal filter finds between two frames (it filters the inputs themselves here)."""
    f = TemporalFilter()
    f(a, a)
    assert f.last_shift is None  # a first frame has nothing to compare with
    f(b, b)
    return f.last_shift


def test_global_shift_finds_a_pan():
    clip = _noisy_static_clip(3, shift=(2, -3))
    assert _pan_found(clip[0], clip[1]) == pytest.approx((2.0, -3.0), abs=0.25)
    big = torch.nn.functional.interpolate(
        clip, scale_factor=6, mode="bilinear"
    )  # (3, 3, 288, 384): worked on at half size
    assert _pan_found(big[0], big[1]) == pytest.approx((12.0, -18.0), abs=1.0)


@pytest.mark.parametrize("shift", [(0, 0), (1, 2)])
def test_temporal_filter_halves_flicker(shift):
    clip = _noisy_static_clip(10, shift=shift)
    g = torch.Generator().manual_seed(1)
    styled = (clip + 0.1 * torch.rand(clip.shape, generator=g)).clamp(0, 1)  # a network that flickers
    filt = TemporalFilter(0.7)
    out = torch.stack([filt(x, y) for x, y in zip(clip, styled)])
    dy, dx = shift

    def residual(y):
        return float((y[1:, :, dy:, dx:] - y[:-1, :, : y.shape[2] - dy, : y.shape[3] - dx]).abs().mean())

    assert residual(out) < 0.5 * residual(styled)
    assert (out[0] == styled[0]).all()  # the first frame is the network's
    with pytest.raises(UsageError):
        TemporalFilter(1.0)


def audio_seconds(path):
    """Seconds of sound in a file (decoded samples / rate); 0 without sound."""
    with av.open(str(path)) as c:
        if not c.streams.audio:
            return 0.0
        frames = list(c.decode(audio=0))
    return sum(f.samples for f in frames) / frames[0].sample_rate


VFR_MS = [40, 120, 40, 200, 40, 300, 100, 200, 270]


@pytest.mark.parametrize("suffix,codec,audio", [(".webm", "libvpx-vp9", "libopus"), (".mkv", "libx264", "aac")])
@pytest.mark.parametrize("out_suffix", [".mp4", ".webm"])
def test_complete_variable_rate_matroska_is_not_called_truncated_and_keeps_its_sound(
    tmp_path, model, suffix, codec, audio, out_suffix
):
    """Matroska/WebM store no frame count; the container's length includes the sound, which runs on after the picture."""
    src = make_clip(
        tmp_path / f"vfr{suffix}", n=len(VFR_MS), codec=codec, audio=audio, durations=VFR_MS, audio_ms=1500
    )
    _, times_in, _, _, _ = read_clip(src)
    result = stylize_video(model, src, tmp_path / f"out{out_suffix}", progress=False)
    assert result["error"] is None and result["frames"] == len(VFR_MS)
    _, times, _, _, _ = read_clip(tmp_path / f"out{out_suffix}")
    assert [t - times[0] for t in times] == pytest.approx(
        [t - times_in[0] for t in times_in], abs=2e-3
    )  # variable timing kept
    assert audio_seconds(tmp_path / f"out{out_suffix}") == pytest.approx(
        audio_seconds(src), abs=0.03
    )  # not cut at the last frame
    assert audio_seconds(src) > 1.45


def test_one_frame_clip_keeps_all_of_its_sound(tmp_path, model):
    src = make_clip(tmp_path / "still.webm", n=1, codec="libvpx-vp9", audio="libopus", audio_ms=2000)
    result = stylize_video(model, src, tmp_path / "out.mp4", progress=False)
    assert result["error"] is None and result["frames"] == 1
    assert (
        audio_seconds(tmp_path / "out.mp4") == pytest.approx(audio_seconds(src), abs=0.03) and audio_seconds(src) > 1.9
    )


def test_truncated_webm_is_still_reported(tmp_path, model):
    src = make_clip(tmp_path / "long.webm", n=30, codec="libvpx-vp9", audio="libopus")
    data = src.read_bytes()
    (tmp_path / "cut.webm").write_bytes(data[: len(data) // 2])
    result = stylize_video(model, tmp_path / "cut.webm", tmp_path / "out.mp4", progress=False)
    assert 0 < result["frames"] < 30 and "truncated" in result["error"]


CLIPS = {  # name: (container, muxer options)
    "phone.3gp": ("3gp", {}),
    "broadcast.ts": ("mpegts", {}),
    "camcorder.mts": ("mpegts", {"mpegts_m2ts_mode": "1"}),  # AVCHD: 192-byte packets
    "no_suffix": ("mp4", {}),
    "clip.dat": ("matroska", {}),
}


@pytest.mark.parametrize("name", sorted(CLIPS))
def test_clips_are_told_from_pictures_by_what_they_hold(tmp_path, model_dir, capsys, name):
    from artgen.video import is_video_path

    fmt, options = CLIPS[name]
    src = make_clip(tmp_path / name, n=4, audio=None, fmt=fmt, options=options)
    assert is_video_path(src)
    capsys.readouterr()
    assert (
        main(["fast-style", "apply", "--model", str(model_dir), str(src), "-o", str(tmp_path / "out.mp4"), "--quiet"])
        == 0
    )
    frames, _, _, _, _ = read_clip(tmp_path / "out.mp4")
    assert len(frames) == 4
    # a picture output names the clip a video, and does not call it damaged
    assert (
        main(["fast-style", "apply", "--model", str(model_dir), str(src), "-o", str(tmp_path / "out.png"), "--quiet"])
        == 2
    )
    err = capsys.readouterr().err
    assert "is a video" in err and "damaged" not in err


def test_pictures_under_video_names_are_pictures(tmp_path):
    from PIL import Image

    from artgen.video import is_video_path

    Image.new("RGB", (8, 8), (1, 2, 3)).save(tmp_path / "picture.ts", format="PNG")
    Image.new("RGB", (8, 8), (1, 2, 3)).save(tmp_path / "picture.bin", format="JPEG")
    assert not is_video_path(tmp_path / "picture.ts") and not is_video_path(tmp_path / "picture.bin")
    assert is_video_path(tmp_path / "not_yet_written.3gp")


def _transparent_gif(path, n=3):
    """Frames with a transparent border whose hidden palette colour is magenta, and an opaque moving square."""
    from PIL import Image

    frames = []
    for i in range(n):
        idx = np.zeros((20, 24), np.uint8)  # index 0: magenta, transparent
        idx[5:15, 4 + 2 * i : 14 + 2 * i] = 1 + i
        im = Image.fromarray(idx).convert("P")
        im.putpalette([255, 0, 255, 200, 40, 40, 40, 200, 40, 40, 40, 200] + [0] * (252 * 3))
        im.info["transparency"] = 0
        frames.append(im)
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0, transparency=0, disposal=2)
    return path


def test_transparent_gif_is_composited_like_a_still_and_keeps_its_transparency(tmp_path):
    from PIL import Image

    # a random network without the anti-aliasing blurs: it answers the hidden background's colour strongly
    # enough for the test to tell magenta from white (0.069 against 0.043 with the blurs)
    torch.manual_seed(0)
    model = FastStyle(StyleNet(StyleNetConfig(**{**StyleNetConfig.for_arch("small").to_dict(), "antialias": False})))
    src = _transparent_gif(tmp_path / "sprite.gif")
    first = Image.open(src).convert("RGBA")
    alpha_in = np.asarray(first)[..., 3]
    on_white = Image.alpha_composite(Image.new("RGBA", first.size, (255, 255, 255, 255)), first).convert("RGB")
    want = model.stylize_tensor(torch.from_numpy(np.array(on_white)).permute(2, 0, 1)[None].float() / 255)[0]
    magenta = model.stylize_tensor(
        torch.from_numpy(np.array(first.convert("RGB"))).permute(2, 0, 1)[None].float() / 255
    )[0]
    hidden = torch.from_numpy(alpha_in == 0)
    assert (want - magenta).abs().mean(0)[hidden].mean() > 0.05  # the test can tell the two backgrounds apart

    stylize_video(model, src, tmp_path / "out.gif", progress=False)
    out = Image.open(tmp_path / "out.gif")
    assert out.n_frames == 3
    for i in range(3):
        out.seek(i)
        alpha = np.asarray(out.convert("RGBA"))[..., 3]
        ref = Image.open(src)
        ref.seek(i)
        assert np.array_equal(alpha > 0, np.asarray(ref.convert("RGBA"))[..., 3] > 0), (
            i
        )  # transparency kept, frame by frame
    out.seek(0)
    got = torch.from_numpy(np.array(out.convert("RGB"))).permute(2, 0, 1).float() / 255
    shown = ~hidden
    assert (got - want).abs().mean(0)[
        shown
    ].mean() < 0.05  # the opaque part: the network's output on white, as for a still

    stylize_video(model, src, tmp_path / "out.mp4", progress=False)
    frames, _, _, _, _ = read_clip(tmp_path / "out.mp4")
    got = torch.from_numpy(frames[0]).permute(2, 0, 1).float() / 255
    assert (got - want).abs().mean(0)[hidden].mean() < (got - magenta).abs().mean(0)[hidden].mean() / 3
    assert (got - want).abs().mean() < 0.05

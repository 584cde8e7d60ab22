"""Feed-forward style networks: model shapes, training, resume, init-from, apply, ONNX, CLI (tiny, CPU)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from artgen.cli import main
from artgen.data import art_images
from artgen.errors import CheckpointError, UsageError
from artgen.fast_style.networks import StyleNet, StyleNetConfig, make_net, upsample2_conv3x3
from artgen.images import read_metadata, save_image, to_pil

TINY = dict(
    arch="small", size=32, batch_size=2, backbone="random", preview_every=None, checkpoint_every=None, log_every=1
)


@pytest.mark.parametrize("arch", ["standard", "small", "arbitrary"])
@pytest.mark.parametrize("shape", [(1, 3, 32, 32), (2, 3, 17, 23), (1, 3, 5, 9), (1, 3, 1, 1)])
def test_networks_keep_the_input_size(arch, shape):
    net = make_net(StyleNetConfig.for_arch(arch)).eval()
    with torch.no_grad():
        y = net(torch.rand(*shape))
    assert y.shape == shape
    assert torch.isfinite(y).all() and y.min() >= 0 and y.max() <= 1


def test_architectures_and_config_round_trip():
    standard = StyleNet(StyleNetConfig.for_arch("standard"))
    small = StyleNet(StyleNetConfig.for_arch("small"))
    assert 1.5e6 < standard.num_parameters() < 1.8e6  # TransformerNet is 1.68 M
    assert small.num_parameters() < standard.num_parameters() / 10
    assert not any(isinstance(m, torch.nn.ConvTranspose2d) for m in standard.modules())
    cfg = StyleNetConfig.from_dict(small.config.to_dict())
    assert cfg == small.config
    with pytest.raises(ValueError):
        StyleNetConfig.for_arch("huge")


@pytest.mark.parametrize("groups,cin,cout", [(1, 5, 7), (6, 6, 6)])
def test_low_resolution_upsample_conv_equals_upsample_then_conv(groups, cin, cout):
    x, w, b = torch.randn(2, cin, 5, 7), torch.randn(cout, cin // groups, 3, 3), torch.randn(cout)
    up = F.interpolate(x, scale_factor=2.0, mode="nearest")
    want = F.conv2d(F.pad(up, (1, 1, 1, 1), mode="reflect"), w, b, groups=groups)
    torch.testing.assert_close(upsample2_conv3x3(x, w, b, groups=groups), want, atol=1e-4, rtol=1e-4)


def test_short_training_lowers_the_style_loss(tmp_path):
    from artgen.fast_style import train_fast_style

    model = train_fast_style(
        "swirls", None, tmp_path / "run", steps=24, progress=False, **{**TINY, "preview_every": 12}
    )
    style = [values["style"] for _, values in model.history.steps]
    assert sum(style[-4:]) / 4 < 0.8 * sum(style[:4]) / 4
    run = tmp_path / "run"
    assert (run / "model.safetensors").is_file() and (run / "config.json").is_file()
    previews = sorted((run / "previews").glob("*.png"))
    assert [p.name for p in previews] == ["step_000012.png", "step_000024.png"]
    assert read_metadata(previews[0])["head"] == "fast_style"


def test_resume_continues_exactly_and_init_from_fine_tunes(tmp_path):
    from artgen.fast_style import FastStyle, train_fast_style
    from artgen.runs.folder import RunDir

    style = art_images(1, size=32, seed=5)[0]
    full = train_fast_style(style, None, tmp_path / "full", steps=6, progress=False, **TINY)

    from artgen.train import Callback

    class Stop(Callback):
        def on_step_end(self, trainer, step):
            if step == 3:
                trainer.request_stop("test")

    from artgen.errors import TrainingInterrupted

    with pytest.raises(TrainingInterrupted):
        train_fast_style(style, None, tmp_path / "part", steps=6, progress=False, callbacks=[Stop()], **TINY)
    resumed = train_fast_style(out=tmp_path / "part", resume=True, progress=False)
    for (k, a), b in zip(full.net.state_dict().items(), resumed.net.state_dict().values()):
        torch.testing.assert_close(a, b, msg=k)

    # fine-tune on another style: starts from the earlier weights, keeps its architecture
    tuned = train_fast_style(
        "mosaic",
        None,
        tmp_path / "tuned",
        steps=1,
        progress=False,
        init_from=str(tmp_path / "full"),
        **{k: v for k, v in TINY.items() if k != "arch"},
    )
    assert tuned.config.arch == "small"
    assert RunDir(tmp_path / "tuned").load_config()["train"]["init_from"] == str(tmp_path / "full")
    with pytest.raises(UsageError, match="init_from"):
        train_fast_style(
            "mosaic",
            None,
            tmp_path / "bad",
            steps=1,
            progress=False,
            init_from=str(tmp_path / "full"),
            **{**TINY, "arch": "standard"},
        )

    loaded = FastStyle.load(tmp_path / "full", device="cpu")
    x = torch.rand(3, 21, 30)
    torch.testing.assert_close(loaded.stylize(x), full.stylize(x))


@pytest.mark.parametrize("fast_bf16", [True, False])
def test_auto_precision_trains_in_bf16_channels_last_only_where_the_cpu_multiplies_bf16(
    tmp_path, monkeypatch, fast_bf16
):
    import artgen.device as D
    from artgen.fast_style import train_fast_style
    from artgen.runs.folder import RunDir
    from artgen.train import Callback

    monkeypatch.setattr(D, "cpu_has_fast_bf16", lambda: fast_bf16)
    seen = {}

    class Look(Callback):
        def on_step_end(self, trainer, step):
            seen["encoder"] = trainer.task.encoder.memory_format
            seen["net"] = next(p for p in trainer.task.net.parameters() if p.dim() == 4).is_contiguous(
                memory_format=torch.channels_last
            )

    model = train_fast_style(
        "swirls", None, tmp_path / "run", steps=2, progress=False, device="cpu", callbacks=[Look()], **TINY
    )
    saved = RunDir(tmp_path / "run").load_config()["train"]["precision"]
    assert saved == ("bf16" if fast_bf16 else "fp32")
    assert seen["encoder"] == (torch.channels_last if fast_bf16 else torch.contiguous_format)
    assert seen["net"] is fast_bf16
    x = torch.rand(3, 20, 28)
    y = model.stylize(x)  # the saved network applies in fp32 whatever it trained in
    assert y.shape == x.shape and y.dtype == torch.float32 and torch.isfinite(y).all()


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from artgen.fast_style import FastStyle

    path = tmp_path_factory.mktemp("model") / "m"
    model = FastStyle(StyleNet(StyleNetConfig.for_arch("small")), device="cpu", info={"styles": ["swirls"]})
    model.save(path)
    return path


def _photo_folder(root, n=3, size=24):
    root.mkdir()
    pictures = art_images(n, size=size, seed=3)
    for i in range(n):
        save_image(pictures[i], root / f"photo{i}.png")
    (root / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    return root


def test_apply_on_a_folder_skips_the_bad_file_and_writes_metadata(tmp_path, tiny_model, caplog):
    from artgen.fast_style import FastStyle

    photos = _photo_folder(tmp_path / "photos")
    model = FastStyle.load(tiny_model, device="cpu")
    with caplog.at_level("WARNING", logger="artgen"):
        result = model.stylize_files(photos, tmp_path / "out", strength=0.7, progress=False)
    assert sorted(p.name for p in result["written"]) == ["photo0.png", "photo1.png", "photo2.png"]
    assert [p.name for p, _ in result["skipped"]] == ["broken.jpg"]
    assert "broken.jpg" in caplog.text and "skipped 1 of 4" in caplog.text
    meta = read_metadata(tmp_path / "out" / "photo1.png")
    assert meta["head"] == "fast_style" and meta["strength"] == 0.7 and meta["input"].endswith("photo1.png")
    assert "artgen_version" in meta
    with pytest.raises(UsageError, match="exists"):
        model.stylize_files(photos / "photo0.png", tmp_path / "out" / "photo0.png", progress=False)


def test_library_stylize_pil_tensor_strength_and_colors(tiny_model):
    from PIL import Image

    from artgen.fast_style import FastStyle

    model = FastStyle.load(tiny_model, device="cpu")
    pil = Image.new("RGB", (37, 19), (200, 30, 60))
    out = model.stylize(pil)
    assert isinstance(out, Image.Image) and out.size == (37, 19)
    x = torch.rand(2, 3, 19, 37)
    torch.testing.assert_close(model.stylize(x, strength=0.0), x)
    kept = model.stylize(x, preserve_colors=True)
    from artgen.images import rgb_to_yiq

    # the photo's chroma is kept (up to clipping back into the RGB cube)
    assert (rgb_to_yiq(kept)[:, 1:] - rgb_to_yiq(x)[:, 1:]).abs().mean() < 0.02
    assert model.stylize(torch.rand(3, 80, 40), max_size=40).shape == (3, 40, 20)
    with pytest.raises(UsageError, match="strength"):
        model.stylize(x, strength=1.5)


def test_onnx_export_matches_pytorch(tmp_path, tiny_model):
    pytest.importorskip("onnxruntime")
    import numpy as np
    import onnxruntime as ort

    from artgen.fast_style import FastStyle

    model = FastStyle.load(tiny_model, device="cpu")
    result = model.export_onnx(tmp_path / "m.onnx")
    assert result["checked"] and result["max_abs_diff"] < 1e-4
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    x = torch.rand(2, 3, 45, 62)
    got = session.run(None, {"image": x.numpy()})[0]
    np.testing.assert_allclose(got, model.stylize(x).numpy(), atol=1e-4)


def test_cli_usage_errors_and_not_a_model(tmp_path, tiny_model, capsys):
    photos = _photo_folder(tmp_path / "photos", n=1)
    with pytest.raises(SystemExit) as exc:
        main(
            [
                "fast-style",
                "apply",
                "--model",
                str(tiny_model),
                str(photos),
                "-o",
                str(tmp_path / "o"),
                "--strength",
                "1.5",
            ]
        )
    assert exc.value.code == 2
    assert (
        main(
            [
                "fast-style",
                "apply",
                "--model",
                str(tiny_model),
                str(tmp_path / "missing.png"),
                "-o",
                str(tmp_path / "x.png"),
            ]
        )
        == 2
    )
    capsys.readouterr()
    assert main(["fast-style", "apply", "--model", str(photos), str(photos), "-o", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not a style network" in err[0]
    assert main(["fast-style", "train", "--style", str(tmp_path / "nope.png"), "--out", str(tmp_path / "r")]) == 2
    assert (
        main(["fast-style", "apply", "--model", str(tiny_model), str(photos), "-o", str(tmp_path / "o"), "--quiet"])
        == 0
    )
    assert len(list((tmp_path / "o").glob("*.png"))) == 1


def test_cli_train_apply_export_end_to_end(tmp_path, capsys):
    run = tmp_path / "run"
    photos = _photo_folder(tmp_path / "photos", n=2, size=40)
    code = main(
        [
            "fast-style",
            "train",
            "--style",
            "embers",
            "--data",
            str(photos),
            "--out",
            str(run),
            "--arch",
            "small",
            "--size",
            "32",
            "--steps",
            "2",
            "--batch-size",
            "1",
            "--backbone",
            "random",
            "--preview-every",
            "1",
            "--quiet",
        ]
    )
    assert code == 0
    assert (run / "previews" / "step_000002.png").is_file()
    assert (
        main(
            [
                "fast-style",
                "apply",
                "--model",
                str(run),
                str(photos / "photo0.png"),
                "-o",
                str(tmp_path / "one.png"),
                "--quiet",
            ]
        )
        == 0
    )
    meta = read_metadata(tmp_path / "one.png")
    assert meta["model"] == str(run)
    assert meta["encoder"]["name"] == "random"  # the encoder the network was trained with
    pytest.importorskip("onnxruntime")
    if True:
        assert main(["fast-style", "export", "--model", str(run), "--onnx", str(tmp_path / "m.onnx")]) == 0
        assert "matches PyTorch" in capsys.readouterr().out
    with pytest.raises(CheckpointError, match="not a style network"):
        from artgen.fast_style import FastStyle

        FastStyle.load(photos)


def test_resume_with_more_steps_continues_exactly(tmp_path):
    """Training in two sittings: a 2-step run resumed to 4 steps equals a straight 4-step run, bit for bit."""
    from artgen.fast_style import train_fast_style
    from artgen.runs.folder import RunDir

    style = art_images(1, size=32, seed=5)[0]
    straight = train_fast_style(style, None, tmp_path / "straight", steps=4, progress=False, **TINY)
    train_fast_style(style, None, tmp_path / "sittings", steps=2, progress=False, **TINY)
    longer = train_fast_style(out=tmp_path / "sittings", resume=True, steps=4, progress=False)
    for (key, a), b in zip(straight.net.state_dict().items(), longer.net.state_dict().values()):
        assert torch.equal(a, b), key
    assert [s for s, _ in longer.history.steps][-1] == 4
    assert RunDir(tmp_path / "sittings").load_config()["train"]["steps"] == 4


@pytest.mark.parametrize("call", ["stylize", "stylize_tensor", "stylize_files"])
@pytest.mark.parametrize(
    "kwargs,named", [({"tile": 5}, "tile"), ({"tile": 1}, "tile"), ({"max_size": -5}, "max_size")]
)
def test_library_refuses_what_the_command_line_refuses_in_its_own_words(tmp_path, call, kwargs, named):
    """tile=5 used to be accepted and took minutes; max_size=-5 was reported as max_side."""
    from artgen.errors import ArgumentError
    from artgen.fast_style import FastStyle
    from artgen.fast_style.networks import StyleNet, StyleNetConfig

    if call == "stylize_tensor" and "max_size" in kwargs:
        pytest.skip("stylize_tensor takes no max_size")
    model = FastStyle(StyleNet(StyleNetConfig.for_arch("small")), device="cpu")
    x = torch.rand(1, 3, 40, 40)
    photo = tmp_path / "p.png"
    to_pil(x[0]).save(photo)
    run = {
        "stylize": lambda: model.stylize(x[0], **kwargs),
        "stylize_tensor": lambda: model.stylize_tensor(x, **kwargs),
        "stylize_files": lambda: model.stylize_files([photo], tmp_path / "out.png", progress=False, **kwargs),
    }[call]
    with pytest.raises(ArgumentError) as info:
        run()
    message = str(info.value)
    assert message.startswith(f"{named} ") and "max_side" not in message
    if named == "tile":
        assert "at least 16" in message
    assert not (tmp_path / "out.png").exists()


def test_cli_shows_the_same_checks_with_its_flags(tmp_path, capsys):
    from artgen.cli import main
    from artgen.fast_style import FastStyle
    from artgen.fast_style.networks import StyleNet, StyleNetConfig

    model_dir = FastStyle(StyleNet(StyleNetConfig.for_arch("small")), device="cpu").save(tmp_path / "net")
    to_pil(torch.rand(3, 20, 20)).save(tmp_path / "p.png")
    for flag, value in (("--tile-size", "5"), ("--max-size", "-5")):
        capsys.readouterr()
        assert (
            main(
                [
                    "fast-style",
                    "apply",
                    "--model",
                    str(model_dir),
                    str(tmp_path / "p.png"),
                    "-o",
                    str(tmp_path / "o.png"),
                    flag,
                    value,
                    "--quiet",
                ]
            )
            == 2
        )
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"artgen: error: {flag} must be") and len(err.splitlines()) == 1


def _flat_photo(side: int = 128) -> torch.Tensor:
    """A nearly flat photo (1, 3, side, side): two gentle colour ramps and 1% noise, nothing periodic."""
    ramp = torch.linspace(0, 1, side)
    x = torch.stack(
        [
            0.4 + 0.2 * ramp[None, :].expand(side, side),
            0.5 + 0.1 * ramp[:, None].expand(side, side),
            torch.full((side, side), 0.45),
        ]
    )[None]
    return (x + 0.01 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)


def test_grid_measure_finds_the_pattern_of_a_network_without_antialiasing():
    from pathlib import Path

    from artgen.images import load_tensor
    from artgen.metrics import grid_artifacts

    # a crop of a picture from a small network trained without the blurs (embers, 600 steps at 128 px)
    gridded = load_tensor(Path(__file__).parent / "data" / "grid_pattern_small_net.png", mode="RGB")
    photo = load_tensor(Path(__file__).parents[1] / "samples" / "inputs" / "photo_astronaut.png", mode="RGB")
    assert grid_artifacts(gridded, 4) > 100
    assert grid_artifacts(photo, 4) < 15
    # the same pattern drawn in: a 4-pixel grid of 3% contrast on the photo is found; the photo shifted is not
    grid = torch.zeros(photo.shape[-2:])
    grid[::4, :] = grid[:, ::4] = 0.03
    assert grid_artifacts((photo + grid).clamp(0, 1), 4) > 100
    assert grid_artifacts(torch.roll(photo, (1, 2), (-2, -1)), 4) < 15
    with pytest.raises(ValueError, match="too small"):
        grid_artifacts(photo[..., :12, :12], 4)


def test_new_networks_blur_after_upsampling_and_older_runs_load_without(tmp_path):
    import json

    from artgen.fast_style import FastStyle, train_fast_style

    for arch in ("small", "standard", "arbitrary"):
        assert StyleNetConfig.for_arch(arch).antialias
    train_fast_style(art_images(1, size=32, seed=5)[0], None, tmp_path / "run", steps=1, progress=False, **TINY)
    cfg_path = tmp_path / "run" / "config.json"
    cfg = json.loads(cfg_path.read_text())
    assert cfg["model"]["antialias"] is True
    new = FastStyle.load(tmp_path / "run", device="cpu")
    # a run saved before the blurs existed (config_version 2, no "antialias"): built and applied without them
    del cfg["model"]["antialias"]
    cfg["config_version"] = 2
    cfg_path.write_text(json.dumps(cfg))
    old = FastStyle.load(tmp_path / "run", device="cpu")
    assert old.config.antialias is False
    x = torch.rand(1, 3, 40, 40)
    plain = StyleNet(StyleNetConfig(**{**new.config.to_dict(), "antialias": False}))
    plain.load_state_dict(new.net.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(old.stylize_tensor(x), plain.eval()(x))
        assert (old.stylize_tensor(x) - new.stylize_tensor(x)).abs().max() > 1e-3


@pytest.mark.long
@pytest.mark.parametrize("arch,steps", [("small", 24), ("arbitrary", 8)])
def test_a_trained_network_leaves_no_grid_of_its_stride(arch, steps):
    """Trained on a real style with the real VGG19, the blurs keep the stride's grid out; without them it shows."""
    from pathlib import Path

    from artgen.fast_style import networks, train_fast_style
    from artgen.images import load_tensor
    from artgen.metrics import grid_artifacts

    photo = load_tensor(Path(__file__).parents[1] / "samples" / "inputs" / "photo_astronaut.png", mode="RGB", size=256)
    scores = {}
    for antialias in (False, True):
        original = networks.StyleNetConfig.for_arch

        def for_arch(name, _orig=original, _aa=antialias):
            return networks.StyleNetConfig(**{**_orig(name).to_dict(), "antialias": _aa})

        networks.StyleNetConfig.for_arch = staticmethod(for_arch)
        try:
            model = train_fast_style(
                "embers",
                None,
                None,
                arch=arch,
                size=128,
                steps=steps,
                batch_size=4,
                backbone="auto",
                progress=False,
                preview_every=None,
                checkpoint_every=None,
                device="cpu",
            )
        finally:
            networks.StyleNetConfig.for_arch = original
        assert model.config.antialias is antialias
        scores[antialias] = max(
            grid_artifacts(model.stylize_tensor(picture), model.config.stride)
            for picture in (_flat_photo(256), photo[None])
        )
    assert scores[False] > 25, scores  # the pattern this test exists for
    assert scores[True] < 15, scores


def test_arbitrary_arch_starts_from_the_pretrained_network_and_resumes_exactly(tmp_path):
    from artgen.errors import TrainingInterrupted
    from artgen.fast_style import FastStyle, train_fast_style
    from artgen.style_transfer import ArbitraryStyle
    from artgen.train import Callback

    tiny = {**TINY, "arch": "arbitrary"}
    start = train_fast_style("swirls", None, tmp_path / "zero", steps=1, lr=0.0, progress=False, **tiny)
    pretrained = ArbitraryStyle("cpu")
    from artgen.data.style_images import style_image

    want = pretrained.mix([style_image("swirls", size=512)])
    torch.testing.assert_close(start.net.style, want)
    for name, value in pretrained.transformer.state_dict().items():
        torch.testing.assert_close(start.net.transformer.state_dict()[name], value.contiguous(), msg=name)
    # step 0 is the one-pass result, seen through the blurs: close to it, not equal
    photo = art_images(1, size=48, seed=9)
    with torch.no_grad():
        one_pass = pretrained.transformer(photo, want)
    ours = start.stylize_tensor(photo)
    assert torch.corrcoef(torch.stack([ours.flatten(), one_pass.flatten()]))[0, 1] > 0.75

    class Stop(Callback):
        def on_step_end(self, trainer, step):
            if step == 2:
                trainer.request_stop("test")

    full = train_fast_style("swirls", None, tmp_path / "full", steps=4, progress=False, **tiny)
    with pytest.raises(TrainingInterrupted):
        train_fast_style("swirls", None, tmp_path / "part", steps=4, progress=False, callbacks=[Stop()], **tiny)
    resumed = train_fast_style(out=tmp_path / "part", resume=True, progress=False)
    for (k, a), b in zip(full.net.state_dict().items(), resumed.net.state_dict().values()):
        torch.testing.assert_close(a, b, msg=k)
    assert (full.net.transformer.down[0].weight - start.net.transformer.down[0].weight).abs().max() > 0  # it trained
    loaded = FastStyle.load(tmp_path / "full", device="cpu")
    torch.testing.assert_close(loaded.stylize_tensor(photo), full.stylize_tensor(photo))

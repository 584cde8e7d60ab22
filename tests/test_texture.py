"""Texture synthesis, and --seamless / --tile-size through the command line (CPU, tiny)."""

import pytest
import torch
from PIL import Image

import artgen
from artgen import cli
from artgen import style_transfer as S
from artgen.encoders import build_random_encoder
from artgen.images import read_metadata, to_tensor
from artgen.style_transfer._texture import TextureConfig, parse_size, texture_tensor

LAYERS = ("relu1_1", "relu2_1", "relu3_1")
FAST = dict(backbone="random", progress=False, style_layers=LAYERS, levels=1, precision="fp32", device="cpu")


def _example(size=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    stripes = (torch.arange(size) // 4 % 2).float().view(1, size, 1).expand(1, size, size)
    return (
        0.2
        + 0.6 * stripes * torch.tensor([1.0, 0.5, 0.2]).view(3, 1, 1)
        + 0.05 * torch.rand(3, size, size, generator=g)
    ).clamp(0, 1)


def test_parse_size():
    assert parse_size("1024x768") == (768, 1024)
    assert parse_size("256") == (256, 256)
    with pytest.raises(artgen.UsageError):
        parse_size("big")


def test_texture_lowers_the_style_loss_and_matches_the_example_better_than_noise():
    example = _example()
    enc = build_random_encoder(LAYERS)
    img, settings = texture_tensor(
        example, TextureConfig(height=32, width=56, steps=20, example_size=48, **FAST), encoder=enc
    )
    assert img.shape == (1, 3, 32, 56) and img.min() >= 0 and img.max() <= 1
    obj = S.StyleObjective(
        enc,
        None,
        [example[None]],
        content_layers=(),
        style_layers=LAYERS,
        content_weight=0,
        style_weight=1,
        tv_weight=0,
    )
    noise = (0.5 + 0.25 * torch.randn(1, 3, 32, 56, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    assert obj(img)["style"].item() < 0.6 * obj(noise)["style"].item()
    assert settings["backbone_used"] == "random" and settings["height"] == 32 and settings["width"] == 56


def test_cli_seamless_texture_png_with_metadata(tmp_path, capsys):
    src = tmp_path / "ex.png"
    Image.fromarray((_example(48).permute(1, 2, 0).numpy() * 255).astype("uint8")).save(src)
    out = tmp_path / "tex.png"
    code = cli.main(
        [
            "texture",
            str(src),
            "-o",
            str(out),
            "--size",
            "50x36",
            "--seamless",
            "--steps",
            "6",
            "--levels",
            "1",
            "--backbone",
            "random",
            "--precision",
            "fp32",
            "--device",
            "cpu",
            "--quiet",
        ]
    )
    assert code == 0
    y = to_tensor(Image.open(out))[None]
    assert y.shape == (1, 3, 36, 50)
    meta = read_metadata(out)
    assert meta["command"] == "texture" and meta["seamless"] is True
    # across the wrap-around edge no bigger a step than between interior neighbours
    rows = (y[..., 1:, :] - y[..., :-1, :]).abs().mean(dim=(0, 1, 3))
    cols = (y[..., 1:] - y[..., :-1]).abs().mean(dim=(0, 1, 2))
    assert (y[..., 0, :] - y[..., -1, :]).abs().mean() <= rows.max()
    assert (y[..., 0] - y[..., -1]).abs().mean() <= cols.max()
    assert cli.main(["texture", str(src), "-o", str(out), "--size", "x", "--quiet"]) == 2
    assert cli.main(["texture", str(tmp_path / "missing.png"), "-o", str(tmp_path / "t2.png"), "--quiet"]) == 1


def test_stylize_seamless_runs_the_tiled_level_through_the_loop():
    content, style = _example(64, seed=1), _example(48, seed=2)
    opts = S.StyleConfig(size=64, steps=3, seamless=True, tile=32, content_layers=("relu3_1",), **FAST)
    out, settings = S.stylize_tensor(content, style, opts)
    assert out.shape == (1, 3, 64, 64) and torch.isfinite(out).all()
    assert settings["seamless"] is True and settings["tile"] == 32
    with pytest.raises(artgen.UsageError):
        S.StyleConfig(tile=8)


def test_cli_fast_style_apply_seamless_and_tiled(tmp_path):
    from artgen.fast_style import train_fast_style

    model = tmp_path / "m"
    train_fast_style(
        "swirls",
        None,
        model,
        steps=1,
        progress=False,
        arch="small",
        size=32,
        batch_size=1,
        backbone="random",
        preview_every=None,
        checkpoint_every=None,
    )
    photo = tmp_path / "p.png"
    Image.fromarray((_example(64, seed=3).permute(1, 2, 0).numpy() * 255).astype("uint8")).save(photo)
    base = ["fast-style", "apply", "--model", str(model), str(photo), "--device", "cpu", "--quiet"]
    assert cli.main(base + ["-o", str(tmp_path / "a.png"), "--tile-size", "0"]) == 0
    assert cli.main(base + ["-o", str(tmp_path / "b.png"), "--tile-size", "24"]) == 0
    assert cli.main(base + ["-o", str(tmp_path / "c.png"), "--seamless"]) == 0
    a, b, c = (to_tensor(Image.open(tmp_path / f"{n}.png")) for n in "abc")
    assert (a - b).abs().max().item() <= 1 / 255 + 1e-6  # tiles: the same picture, to the 8-bit step
    assert read_metadata(tmp_path / "c.png")["seamless"] is True
    assert (c[:, 0] - c[:, -1]).abs().mean() < (a[:, 0] - a[:, -1]).abs().mean()
    assert cli.main(base + ["-o", str(tmp_path / "d.png"), "--tile-size", "4"]) == 2


def test_pyramid_levels_leave_no_two_pixel_ripple(odd_even_ratio):
    # each level starts from the previous one enlarged; bicubic enlargement of the rough coarse
    # level left neighbouring-pixel differences about 1.9x larger at odd than at even boundaries
    example = torch.rand(
        3, 64, 64, generator=torch.Generator().manual_seed(0)
    )  # rough, no stripes to land on a parity
    img, _ = texture_tensor(
        example, TextureConfig(height=192, width=192, steps=30, example_size=64, **{**FAST, "levels": 2})
    )
    for ratio in odd_even_ratio(img):
        assert 0.85 < ratio < 1.15


def _grey_example(size=48, seed=0):
    """A grey texture (blobs of several sizes), as (1, H, W) in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(1, 1, size // 4, size // 4, generator=g)
    x = torch.nn.functional.interpolate(x, size=(size, size), mode="bicubic", align_corners=False)
    return (0.5 * x + 0.5 * torch.rand(1, 1, size, size, generator=g)).clamp(0, 1)[0]


def _colour_spread(img):
    """Largest channel difference of each pixel, in 8-bit levels, (H, W)."""
    levels = (img[0] * 255).round()
    return levels.amax(0) - levels.amin(0)


@pytest.mark.parametrize("stored", ["RGB", "L"])
def test_grey_example_gives_a_grey_texture_whatever_the_file_mode(tmp_path, stored):
    grey = _grey_example()
    path = tmp_path / f"grey_{stored}.png"
    pil = Image.fromarray((grey[0].numpy() * 255).round().astype("uint8"))
    (pil.convert("RGB") if stored == "RGB" else pil).save(path)
    assert Image.open(path).mode == stored
    img, _ = texture_tensor(str(path), TextureConfig(height=40, width=40, steps=8, example_size=48, **FAST))
    assert img.shape == (1, 3, 40, 40)
    assert _colour_spread(img).max().item() == 0  # R = G = B everywhere


def test_colour_example_still_gives_colour():
    img, _ = texture_tensor(_example(), TextureConfig(height=32, width=32, steps=4, example_size=48, **FAST))
    assert _colour_spread(img).mean().item() > 5


@pytest.mark.parametrize("stored", ["RGB", "L"])
def test_stylize_grey_content_and_style_give_grey_whatever_the_file_mode(tmp_path, stored):
    paths = []
    for name, seed in (("content", 1), ("style", 2)):
        pil = Image.fromarray((_grey_example(48, seed)[0].numpy() * 255).round().astype("uint8"))
        paths.append(tmp_path / f"{name}.png")
        (pil.convert("RGB") if stored == "RGB" else pil).save(paths[-1])
    opts = S.StyleConfig(size=48, steps=4, content_layers=("relu3_1",), **FAST)
    out, _ = S.stylize_tensor(str(paths[0]), str(paths[1]), opts)
    assert out.shape == (1, 3, 48, 48) and _colour_spread(out).max().item() == 0

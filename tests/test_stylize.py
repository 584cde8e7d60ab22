"""Style transfer by optimisation: objective, pyramid, colours, blends, metadata and bad inputs (CPU, tiny)."""

import json

import pytest
import torch
from PIL import Image

import artgen
from artgen import cli
from artgen import style_transfer as S
from artgen.encoders import build_random_encoder
from artgen.errors import UsageError
from artgen.images import read_metadata, rgb_to_yiq

# fp32: the same numbers on every CPU (the default, auto, is bf16 on CPUs with native bfloat16)
FAST = dict(
    backbone="random",
    progress=False,
    style_layers=("relu1_1", "relu2_1", "relu3_1"),
    content_layers=("relu3_1",),
    levels=1,
    precision="fp32",
)


def _content(size=64):
    y, x = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    img = torch.stack([0.2 + 0.6 * x, 0.3 + 0.4 * y, 0.5 * torch.ones_like(x)])
    img[:, size // 4 : size // 2, size // 4 : 3 * size // 4] = torch.tensor([0.9, 0.9, 0.2]).view(
        3, 1, 1
    )  # a yellow bar
    return img


def _style(size=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    stripes = (torch.arange(size) // 4 % 2).float().view(1, 1, size).expand(1, size, size)
    return (
        0.15
        + 0.7 * stripes * torch.tensor([0.2, 0.4, 1.0]).view(3, 1, 1)
        + 0.05 * torch.rand(3, size, size, generator=g)
    ).clamp(0, 1)


def test_style_loss_falls_and_content_structure_is_kept():
    content, style = _content(), _style()
    enc = build_random_encoder(FAST["style_layers"])
    opts = S.StyleConfig(size=64, steps=25, seed=0, **FAST)
    opts = S.resolve_options(opts, enc)
    before = S.StyleObjective(
        enc,
        content[None],
        [style[None]],
        content_layers=opts.content_layers,
        style_layers=opts.style_layers,
        content_weight=1,
        style_weight=opts.style_weight,
        tv_weight=opts.tv_weight,
    )
    start = before(content[None])["style"].item()
    out, settings = S.stylize_tensor(content, style, opts, encoder=enc)
    assert out.shape == (1, 3, 64, 64) and torch.isfinite(out).all()
    end = before(out)["style"].item()
    assert end < 0.5 * start
    # structure: the result still correlates with the content's luminance far better than the style does
    lum = lambda t: (t * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1).flatten()
    corr = lambda a, b: torch.corrcoef(torch.stack([a, b]))[0, 1].item()
    assert corr(lum(out), lum(content[None])) > 0.5
    assert settings["backbone_used"] == "random" and settings["seed"] == 0


def test_same_seed_same_result_and_adam_and_noise_init():
    content, style = _content(48), _style(48)
    a = artgen.stylize(content, style, size=48, steps=4, **FAST)
    b = artgen.stylize(content, style, size=48, steps=4, **FAST)
    assert isinstance(a, Image.Image) and a.size == (48, 48)
    assert a.tobytes() == b.tobytes()
    c = artgen.stylize(content, style, size=48, steps=4, optimizer="adam", init="noise", **FAST)
    assert c.size == (48, 48) and c.info["artgen"]["optimizer"] == "adam"


def test_pyramid_runs_most_steps_small():
    assert S.pyramid_sizes(512) == [128, 256, 512]
    assert S.pyramid_sizes(300) == [150, 300] and S.pyramid_sizes(1024) == [256, 512, 1024]
    # halving would start 384 px at 192 px (most steps there): one more level, evenly spaced from 128
    assert S.pyramid_sizes(384) == [128, 222, 384] and S.pyramid_sizes(200) == [128, 200]
    assert S.pyramid_sizes(384, levels=2) == [192, 384]
    assert S.pyramid_sizes(96) == [96]
    steps = S.split_steps(130, 3)
    assert sum(steps) == 130 and steps[0] > steps[1] > steps[2] >= 1


def test_preserve_colors_keeps_the_content_chroma():
    content, style = _content(), _style()
    out, _ = S.stylize_tensor(content, style, S.StyleConfig(size=64, steps=10, preserve_colors=True, **FAST))
    yiq_out, yiq_c = rgb_to_yiq(out), rgb_to_yiq(content[None])
    torch.testing.assert_close(yiq_out[:, 1:], yiq_c[:, 1:], atol=0.03, rtol=0)  # chroma (I, Q) is the content's
    plain, _ = S.stylize_tensor(content, style, S.StyleConfig(size=64, steps=10, **FAST))
    assert (rgb_to_yiq(plain)[:, 1:] - yiq_c[:, 1:]).abs().mean() > (yiq_out[:, 1:] - yiq_c[:, 1:]).abs().mean()


def test_blend_weights_move_the_result_towards_the_heavier_style():
    enc = build_random_encoder(FAST["style_layers"])
    content = _content(48)
    blue, red = _style(48), _style(48).flip(0)  # blue stripes vs red stripes
    opts = dict(size=48, steps=15, **FAST)
    mostly_blue, _ = S.stylize_tensor(content, [blue, red], S.StyleConfig(style_blend=[0.9, 0.1], **opts), encoder=enc)
    mostly_red, _ = S.stylize_tensor(content, [blue, red], S.StyleConfig(style_blend=[0.1, 0.9], **opts), encoder=enc)
    b_minus_r = lambda t: (t[:, 2] - t[:, 0]).mean().item()
    assert b_minus_r(mostly_blue) > b_minus_r(mostly_red)
    with pytest.raises(artgen.UsageError, match="style_blend has 1 values for 2 style images"):
        S.stylize_tensor(content, [blue, red], S.StyleConfig(style_blend=[1.0], **opts), encoder=enc)


def _write(path, tensor):
    Image.fromarray((tensor.permute(1, 2, 0).numpy() * 255).astype("uint8")).save(path)
    return str(path)


@pytest.fixture
def pair(tmp_path):
    return _write(tmp_path / "content.png", _content(64)), _write(tmp_path / "style.jpg", _style(80))


FLAGS = ["--size", "48", "--steps", "3", "--backbone", "random", "--quiet", "--levels", "1"]


def test_cli_writes_png_with_metadata_and_refuses_to_overwrite(tmp_path, pair, capsys):
    out = tmp_path / "new" / "folder" / "out.png"
    assert cli.main(["stylize", *pair, "-o", str(out), *FLAGS, "--seed", "3", "--save-every", "2"]) == 0
    meta = read_metadata(out)
    assert (
        meta["command"] == "stylize" and meta["seed"] == 3 and meta["steps"] == 3 and meta["backbone_used"] == "random"
    )
    assert meta["artgen_version"] == artgen.__version__ and meta["styles"] == [pair[1]]
    with Image.open(out) as im:
        assert im.size == (48, 48) and im.text["parameters"].startswith("artgen ")
        json.loads(im.text["artgen"])
    assert (tmp_path / "new" / "folder" / "out_step0002.png").exists()
    assert cli.main(["stylize", *pair, "-o", str(out), *FLAGS]) == 2
    assert "exists" in capsys.readouterr().err
    assert cli.main(["stylize", *pair, "-o", str(out), *FLAGS, "--overwrite", "--no-metadata"]) == 0
    assert read_metadata(out) == {}


def test_cli_local_weights_file(tmp_path, pair):
    from artgen.encoders import random_vgg19_state_dict

    weights = tmp_path / "vgg19.pth"
    torch.save(random_vgg19_state_dict(seed=0), weights)  # torchvision's layout, random values
    out = tmp_path / "out.png"
    args = [
        "stylize",
        *pair,
        "-o",
        str(out),
        "--size",
        "40",
        "--steps",
        "2",
        "--levels",
        "1",
        "--quiet",
        "--weights",
        str(weights),
    ]
    assert cli.main(args) == 0
    assert read_metadata(out)["backbone_used"] == "vgg19"


def test_cli_bad_inputs(tmp_path, pair, capsys):
    content, style = pair
    out = str(tmp_path / "o.png")
    assert cli.main(["stylize", str(tmp_path / "missing.png"), style, "-o", out, *FLAGS]) == 1
    assert "missing.png" in capsys.readouterr().err
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    assert cli.main(["stylize", content, str(corrupt), "-o", out, *FLAGS]) == 1
    err = capsys.readouterr().err
    assert "corrupt.png" in err and err.count("\n") == 1
    tiny = _write(tmp_path / "tiny.png", torch.rand(3, 20, 64))
    assert cli.main(["stylize", tiny, style, "-o", out, *FLAGS]) == 1
    assert "at least 32" in capsys.readouterr().err
    assert cli.main(["stylize", content, style, "-o", str(tmp_path / "o.xyz"), *FLAGS]) == 2
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert cli.main(["stylize", content, style, "-o", str(blocker / "sub" / "o.png"), *FLAGS]) == 1
    assert "file" in capsys.readouterr().err
    assert cli.main(["stylize", content, style, "-o", out, *FLAGS, "--style-weights", "1,2"]) == 2
    capsys.readouterr()
    assert cli.main(["stylize", content, style, "-o", out, *FLAGS, "--precision", "fp16", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "fp16" in err and err.count("\n") == 1  # refused before the encoder is built or announced


def test_odd_modes_and_huge_inputs_are_accepted(tmp_path):
    style = _style(64)
    rgba = Image.new("RGBA", (90, 70), (255, 0, 0, 128))
    grey = Image.new("L", (70, 90), 100)
    pal = Image.new("RGB", (64, 64), (0, 200, 0)).convert("P")
    for img in (rgba, grey, pal):
        out = artgen.stylize(img, style, size=40, steps=2, **FAST)
        assert max(out.size) == 40
    big = Image.new("RGB", (2000, 1500), (10, 20, 30))
    assert artgen.stylize(big, style, size=48, steps=1, **FAST).size == (48, 36)


def test_auto_precision_is_bf16_only_where_the_cpu_has_bfloat16_units():
    cpu = torch.device("cpu")
    assert S.stylize_precision("auto", cpu, bf16_supported=True) == "bf16"
    assert S.stylize_precision("auto", cpu, bf16_supported=False) == "fp32"
    assert S.stylize_precision("fp32", cpu) == "fp32" and S.stylize_precision("bf16", cpu) == "bf16"
    content, style = _content(48), _style(48)
    _, settings = S.stylize_tensor(content, style, S.StyleConfig(size=48, steps=2, **{**FAST, "precision": "auto"}))
    assert settings["precision"] == S.stylize_precision(
        "auto", cpu
    )  # the resolved precision is what the metadata records


def test_bf16_encoder_in_channels_last_still_stylises():
    content, style = _content(), _style()
    enc = build_random_encoder(FAST["style_layers"])
    opts = S.resolve_options(S.StyleConfig(size=64, steps=25, seed=0, **{**FAST, "precision": "bf16"}), enc)
    before = S.StyleObjective(
        enc,
        content[None],
        [style[None]],
        content_layers=opts.content_layers,
        style_layers=opts.style_layers,
        content_weight=1,
        style_weight=opts.style_weight,
        tv_weight=opts.tv_weight,
    )
    start = before(content[None])["style"].item()
    out, settings = S.stylize_tensor(content, style, opts, encoder=enc)
    assert settings["precision"] == "bf16"
    assert next(enc.parameters()).is_contiguous(memory_format=torch.channels_last)
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
    assert before(out)["style"].item() < 0.5 * start  # judged by the fp32 objective


# every layer down to relu5_1, as the defaults use: the encoder needs 16 px on each side there
DEEP = dict(FAST, style_layers=("relu1_1", "relu3_1", "relu5_1"), content_layers=("relu4_2",), levels=None)


@pytest.mark.parametrize(
    "content_hw,style_hw", [((40, 400), (64, 64)), ((400, 40), (64, 64)), ((64, 64), (40, 400)), ((64, 64), (400, 40))]
)
def test_extreme_aspect_ratios_give_a_result(content_hw, style_hw):
    """10:1 and 1:10 content and style: the 128 px pyramid level would hand the encoder 13 px."""
    content, style = torch.rand(3, *content_hw), torch.rand(3, *style_hw)
    out, _ = S.stylize_tensor(content, style, S.StyleConfig(size=256, steps=3, **DEEP))
    expected = S.fit_long_side(*content_hw, 256)
    assert tuple(out.shape[-2:]) == expected and torch.isfinite(out).all()


def test_too_thin_content_is_a_usage_error_naming_size(tmp_path, capsys):
    thin = _write(tmp_path / "thin.png", torch.rand(3, 40, 1200))
    style = _write(tmp_path / "s.png", _style(64))
    with pytest.raises(UsageError, match="at size=160 .* use size=480 or more") as info:
        S.stylize_tensor(str(thin), str(style), S.StyleConfig(size=160, steps=1, **DEEP))
    assert "--" not in str(info.value)  # a notebook reads the argument's name
    assert (
        cli.main(
            ["stylize", thin, style, "-o", str(tmp_path / "o.png"), "--size", "160", "--backbone", "random", "--quiet"]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "at --size 160 " in err and "use --size 480 or more" in err and "{arg" not in err


def test_grey_inputs_give_a_grey_result():
    g = torch.Generator().manual_seed(0)
    content = torch.rand(1, 48, 48, generator=g).expand(3, -1, -1)
    style = (torch.rand(1, 48, 48, generator=g) * 0.5).expand(3, -1, -1)
    out, _ = S.stylize_tensor(content, style, S.StyleConfig(size=48, steps=6, **FAST))
    spread = out.amax(dim=1) - out.amin(dim=1)
    assert spread.max().item() == 0.0
    coloured, _ = S.stylize_tensor(content, _style(48), S.StyleConfig(size=48, steps=6, **FAST))
    assert (coloured.amax(dim=1) - coloured.amin(dim=1)).max().item() > 0.05  # a coloured style still brings colour


def test_benchmark_layout_measure_sees_a_lost_subject_that_the_detail_measure_misses():
    from benchmarks.style_quality import content_detail, content_layout

    g = torch.Generator().manual_seed(0)
    n = 192
    yy, xx = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")

    def picture(cx, texture):  # a bright disc (the subject) on grey under 4-pixel texture
        disc = (((xx - cx) ** 2 + (yy - 96) ** 2) < 40 * 40).float()
        return (0.3 + 0.4 * disc + texture).clamp(0, 1).expand(1, 3, n, n)

    def texture():
        return (torch.rand(1, 1, n // 4, n // 4, generator=g) - 0.5).repeat_interleave(4, -1).repeat_interleave(
            4, -2
        ) * 0.3

    fine = texture()
    content = picture(60, fine)
    restyled = picture(60, texture())  # subject kept, fine texture replaced
    subject_moved = picture(132, fine)  # fine texture kept, subject gone from its place
    assert content_layout(content, content) > 0.999
    assert content_layout(restyled, content) > 0.9
    assert content_layout(subject_moved, content) < 0.2
    assert content_detail(subject_moved, content) > 0.6  # the fine-scale measure alone would pass it


def test_benchmark_subject_measure_sees_things_gone_that_the_layout_measure_keeps():
    from pathlib import Path

    from artgen.images import load_tensor, resize_tensor
    from benchmarks.style_quality import Reference, _gauss, content_layout

    photo = resize_tensor(
        load_tensor(Path(artgen.__file__).parent / "assets" / "astronaut.jpg", mode="RGB")[None], (128, 128)
    )
    g = torch.Generator().manual_seed(0)
    noise = (torch.rand(1, 1, 32, 32, generator=g) - 0.5).repeat_interleave(4, -1).repeat_interleave(4, -2) * 0.4
    tinted = (photo * torch.tensor([1.0, 0.8, 0.6]).view(1, 3, 1, 1) + 0.1).clamp(
        0, 1
    )  # every thing kept, colours changed
    blobs = (
        (_gauss(photo.mean(1, keepdim=True), 128 / 24) + noise).clamp(0, 1).expand(1, 3, 128, 128)
    )  # light and dark areas only
    ref = Reference()
    assert ref.subject(photo, photo) > 0.999
    assert content_layout(blobs, photo) > 0.8  # the coarse luminance measure passes the blobs
    assert ref.subject(tinted, photo) > ref.subject(blobs, photo) + 0.2

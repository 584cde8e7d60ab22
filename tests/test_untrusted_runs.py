"""Run folders from elsewhere are untrusted: a config.json edited (within its accepted ranges) to ask
for huge layers is refused against the weights file's header before any memory is allocated."""

import json
import os
import subprocess
import sys

import pytest
import torch
from PIL import Image

import artgen
from artgen.errors import CheckpointError
from artgen.fast_style import FastStyle
from artgen.fast_style.networks import StyleNet, StyleNetConfig
from artgen.gan.networks import Discriminator, GANConfig, Generator
from artgen.runs.weights import check_config_fits_weights, header_shapes, meta_shapes, save_weights

MEMORY_LIMIT = (
    3 * 2**30
)  # address space the CLI subprocesses may add after importing: far below what the edited configs ask for


def _edit(path, section, **values):
    cfg = json.loads((path / "config.json").read_text())
    cfg[section].update(values)
    (path / "config.json").write_text(json.dumps(cfg))


def _run_limited(*args, cwd):
    """``python -m artgen ARGS`` with its address space capped: an allocation of many GiB fails at once
    (a raw allocator error) instead of swapping the machine."""
    code = (
        "import resource, sys, runpy, torch, artgen.cli;"  # the limit counts from after the imports
        "vm = int([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmSize')][0]) * 1024;"
        f"resource.setrlimit(resource.RLIMIT_AS, (vm + {MEMORY_LIMIT}, vm + {MEMORY_LIMIT}));"
        "sys.argv = ['artgen'] + sys.argv[1:];"
        "runpy.run_module('artgen', run_name='__main__')"
    )
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    return subprocess.run(
        [sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env, timeout=300
    )


def test_classify_predict_refuses_a_config_edited_to_ask_for_12_gib(tmp_path):
    run = artgen.Classifier(device="cpu", seed=0).save(tmp_path / "run")
    _edit(run, "model", in_channels=3, image_size=1024, hidden=1024)  # each within range: 12 GiB of weights
    Image.new("RGB", (28, 28), (200, 10, 10)).save(tmp_path / "x.png")
    result = _run_limited("classify", "predict", "--checkpoint", run, tmp_path / "x.png", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "config.json" in lines[0] and "model.safetensors" in lines[0]
    assert "(1024, 3145728)" in lines[0] and "12.0 GiB" in lines[0]


def test_fast_style_apply_refuses_a_config_edited_to_ask_for_19_gib(tmp_path):
    net = StyleNet(StyleNetConfig.for_arch("small"))
    run = FastStyle(net, device="cpu").save(tmp_path / "net")
    _edit(run, "model", channels=[2048, 2048], num_res=64)  # each within range
    Image.new("RGB", (32, 32), (10, 200, 10)).save(tmp_path / "x.png")
    result = _run_limited(
        "fast-style", "apply", "--model", run, tmp_path / "x.png", "-o", tmp_path / "y.png", cwd=tmp_path
    )
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "config.json" in lines[0] and "net.stem" in lines[0] and "GiB" in lines[0]
    assert not (tmp_path / "y.png").exists()


def _never_built_for_real(monkeypatch, cls):
    """Make building ``cls`` anywhere but on the meta device an error."""
    original = cls.__init__

    def guarded(self, *args, **kwargs):
        if torch.empty(0).device.type != "meta":
            raise AssertionError(f"{cls.__name__} built from an unchecked config")
        original(self, *args, **kwargs)

    monkeypatch.setattr(cls, "__init__", guarded)


def test_library_loaders_check_before_building(tmp_path, monkeypatch):
    clf_run = artgen.Classifier(device="cpu", seed=0).save(tmp_path / "clf")
    _edit(clf_run, "model", hidden=129)
    net_run = FastStyle(StyleNet(StyleNetConfig.for_arch("small")), device="cpu").save(tmp_path / "net")
    _edit(net_run, "model", num_res=5)  # a block more than the file holds: a key the weights lack
    from artgen.classifier.networks import DenseClassifier

    _never_built_for_real(monkeypatch, DenseClassifier)
    _never_built_for_real(monkeypatch, StyleNet)
    with pytest.raises(CheckpointError, match=r"config\.json.*model\.hidden\.weight.*\(129, 784\).*\(128, 784\)"):
        artgen.Classifier.load(clf_run, device="cpu")
    with pytest.raises(CheckpointError, match=r"config\.json.*net\.res\.4\..*lacks"):
        FastStyle.load(net_run, device="cpu")
    from artgen.fast_style import train_fast_style

    with pytest.raises(CheckpointError, match=r"config\.json.*net\.res\.4\..*lacks"):
        train_fast_style("swirls", init_from=net_run, steps=1, backbone="random", device="cpu", progress=False)


def test_untouched_runs_still_load(tmp_path):
    clf = artgen.Classifier(device="cpu", seed=0)
    back = artgen.Classifier.load(clf.save(tmp_path / "clf"), device="cpu")
    x = torch.rand(2, 1, 28, 28)
    assert torch.equal(clf.predict(x), back.predict(x))
    net = StyleNet(StyleNetConfig.for_arch("small"))
    back_net = FastStyle.load(FastStyle(net, device="cpu").save(tmp_path / "net"), device="cpu")
    assert back_net.net.config == net.config


def test_gan_modules_are_checked_by_the_same_helper(tmp_path):
    small = GANConfig(size=32, g_width=8, d_width=8, max_width=16, z_dim=8)
    modules = {"generator": Generator(small), "discriminator": Discriminator(small), "generator_ema": Generator(small)}
    path = save_weights(tmp_path / "model.safetensors", modules)
    config = tmp_path / "config.json"

    def builders(c):
        return {
            "generator": lambda: Generator(c),
            "discriminator": lambda: Discriminator(c),
            "generator_ema": lambda: Generator(c),
        }

    check_config_fits_weights(path, builders(small), config_path=config)  # the saved config passes
    huge = GANConfig(size=256, g_width=4096, d_width=4096, max_width=4096, z_dim=8)  # each within range
    with pytest.raises(CheckpointError, match=r"config\.json.*generator\..*GiB"):
        check_config_fits_weights(path, builders(huge), config_path=config)


def test_header_shapes_read_no_tensors_and_meta_shapes_allocate_nothing(tmp_path):
    path = save_weights(tmp_path / "w.safetensors", {"net": torch.nn.Linear(3, 2)})
    assert header_shapes(path) == {"net.weight": ((2, 3), "F32"), "net.bias": ((2,), "F32")}
    shapes = meta_shapes(lambda: torch.nn.Linear(1 << 20, 1 << 16))  # 256 GiB if it were real
    assert shapes["weight"] == ((1 << 16, 1 << 20), 4 << 36)
    (tmp_path / "bad.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}garbage")
    with pytest.raises(CheckpointError, match="bad.safetensors"):
        header_shapes(tmp_path / "bad.safetensors")


@pytest.mark.parametrize("discriminator", ["plain", "projected"])
def test_gan_sample_refuses_a_config_edited_to_ask_for_gibs(tmp_path, discriminator):
    from artgen.gan import GAN

    small = GANConfig(size=32, g_width=8, d_width=8, max_width=16, z_dim=8, pg_width=8, discriminator=discriminator)
    run = GAN(small, device="cpu").save(tmp_path / "run")
    _edit(run, "model", size=256, g_width=4096, max_width=4096)  # each within range: many GiB of generator weights
    result = _run_limited(
        "gan", "sample", "--checkpoint", run, "-n", "2", "-o", tmp_path / "grid.png", "--device", "cpu", cwd=tmp_path
    )
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "config.json" in lines[0] and "model.safetensors" in lines[0] and "GiB" in lines[0], (
        result.stderr
    )
    assert not (tmp_path / "grid.png").exists()
    with pytest.raises(CheckpointError, match="does not match"):
        GAN.load(run, device="cpu")

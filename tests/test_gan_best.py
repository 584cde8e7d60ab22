"""KID measured during GAN training: the record in history and curves, the best generator kept beside the last,
``--which best|last``, resume keeping the record, and training unchanged by measuring."""

import json

import pytest
import torch
from PIL import Image

from artgen.cli import main
from artgen.errors import UsageError
from artgen.gan import GAN, train_gan
from artgen.gan import training as gan_training

TINY = dict(g_width=8, d_width=8, z_dim=8, size=32, batch_size=4, device="cpu", progress=False, sample_every=100)


@pytest.fixture
def data(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    g = torch.Generator().manual_seed(3)
    for i in range(6):
        arr = (torch.rand(32, 32, 3, generator=g) * 255).to(torch.uint8).numpy()
        Image.fromarray(arr).save(folder / f"{i}.png")
    return folder


@pytest.fixture(autouse=True)
def early_kid(monkeypatch):
    monkeypatch.setattr(gan_training, "KID_FIRST_STEP", 2)
    monkeypatch.setattr(gan_training, "KID_SAMPLES", 6)
    from artgen import metrics

    monkeypatch.setattr(
        metrics, "find_inception_weights", lambda: None
    )  # the fallback features: fast, and the same on every machine


def _weights(gan):
    return {f"{n}.{k}": v.clone() for n, m in gan.modules().items() for k, v in m.state_dict().items()}


def test_kid_is_recorded_plotted_and_the_best_generator_kept(tmp_path, data):
    gan = train_gan(out=tmp_path / "run", data=data, steps=4, kid_every=2, **TINY)
    steps = [s for s, _ in gan.history.evals]
    assert steps == [2, 4] and all(
        list(v) == ["kid (fallback features)"] for _, v in gan.history.evals
    )  # never called KID on other features
    best = json.loads((tmp_path / "run" / "best" / "config.json").read_text())["best"]
    kids = {s: v["kid (fallback features)"] for s, v in gan.history.evals}
    assert best["step"] == min(kids, key=kids.get) and best["kid"] == pytest.approx(min(kids.values()))
    state = torch.load(tmp_path / "run" / "training_state.pt", weights_only=True)
    assert [s for s, _ in state["history"]["evals"]] == [2, 4]
    assert GAN.load(tmp_path / "run", device="cpu", which="best").generate(2).shape == (2, 3, 32, 32)
    last = GAN.load(tmp_path / "run", device="cpu", which="last")
    assert all(torch.equal(v, _weights(last)[k]) for k, v in _weights(gan).items())
    grid = tmp_path / "g.png"
    assert (
        main(
            [
                "gan",
                "sample",
                "--checkpoint",
                str(tmp_path / "run"),
                "--which",
                "best",
                "-n",
                "4",
                "-o",
                str(grid),
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    assert Image.open(grid).size[0] > 32


def test_which_best_without_a_best_generator_names_the_way_out(tmp_path, data, capsys):
    train_gan(out=tmp_path / "run", data=data, steps=1, **TINY)  # stopped before the first KID
    assert not (tmp_path / "run" / "best").exists()
    with pytest.raises(UsageError, match="keeps no best generator.*which=last"):
        GAN.load(tmp_path / "run", device="cpu", which="best")
    assert GAN.load(tmp_path / "run", device="cpu").generate(1).shape == (1, 3, 32, 32)  # auto falls back to the last
    assert (
        main(
            [
                "gan",
                "sample",
                "--checkpoint",
                str(tmp_path / "run"),
                "--which",
                "best",
                "-o",
                str(tmp_path / "x.png"),
                "--device",
                "cpu",
            ]
        )
        == 2
    )
    assert "--which last" in capsys.readouterr().err


def test_resume_keeps_the_kid_record_and_measuring_does_not_change_training(tmp_path, data):
    measured = train_gan(out=tmp_path / "a", data=data, steps=4, kid_every=1, **TINY)
    unmeasured = train_gan(out=tmp_path / "b", data=data, steps=4, kid_every=1000, **TINY)
    assert len(measured.history.evals) == 3 and unmeasured.history.evals == [(4, unmeasured.history.evals[0][1])]
    a, b = _weights(measured), _weights(unmeasured)
    assert all(torch.equal(a[k], b[k]) for k in a)  # its own random generators: the run is the same
    train_gan(out=tmp_path / "c", data=data, steps=2, kid_every=1, **TINY)
    resumed = train_gan(out=tmp_path / "c", resume=True, steps=4)
    assert [s for s, _ in resumed.history.evals] == [2, 3, 4]
    kid = "kid (fallback features)"
    assert [v[kid] for _, v in resumed.history.evals] == pytest.approx([v[kid] for _, v in measured.history.evals])


@pytest.mark.parametrize(
    "latent_norm, skip_z, num_classes", [(True, True, 0), (True, True, 3), (True, False, 0), (False, False, 0)]
)
def test_truncation_narrows_the_samples_of_every_generator(latent_norm, skip_z, num_classes):
    """The spread of the samples falls with the truncation threshold, latent normalisation or not."""
    from artgen.gan.networks import GANConfig

    torch.manual_seed(0)
    gan = GAN(
        GANConfig(
            size=32, g_width=8, d_width=8, z_dim=16, latent_norm=latent_norm, skip_z=skip_z, num_classes=num_classes
        ),
        device="cpu",
    )
    for mod in gan.generator_ema.modules():  # random weights with some spread, as a trained generator has
        if isinstance(mod, torch.nn.Linear):
            torch.nn.init.normal_(mod.weight, std=0.3)
    spreads = [
        float(gan.generate(64, seed=1, class_=0 if num_classes else None, truncation=t).std(dim=0).mean())
        for t in (None, 1.0, 0.5, 0.2, 0.05)
    ]
    assert all(a > b for a, b in zip(spreads, spreads[1:])), spreads
    assert spreads[-1] < 0.5 * spreads[0]

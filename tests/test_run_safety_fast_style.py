"""``artgen fast-style``: resume and load refuse what does not fit, by name (the shared faults are in
``test_run_safety.py``): moved or missing photo folders on resume, a data flag on a built-in-pictures run,
an architecture the package does not know."""

import json

import pytest
import torch

from artgen.cli import main
from artgen.errors import CheckpointError, UsageError
from artgen.runs.folder import RunDir
from artgen.runs.weights import save_weights
from run_helpers import CPU, art_folder

#: A style network trained in a second: the small architecture at 32 px on the offline encoder, no previews.
TINY = dict(arch="small", size=32, batch_size=2, backbone="random", preview_every=None)


def test_fast_style_resume_accepts_moved_photos_and_names_a_missing_folder(tmp_path, monkeypatch, stop_at, capsys):
    from artgen.errors import TrainingInterrupted
    from artgen.fast_style import train_fast_style

    work = tmp_path / "work"
    art_folder(work / "photos")
    monkeypatch.chdir(work)
    with pytest.raises(TrainingInterrupted):
        train_fast_style(
            "swirls",
            "photos",
            "run",
            progress=False,
            callbacks=[stop_at(1)],
            device="cpu",
            steps=3,
            checkpoint_every=1,
            **TINY,
        )
    assert json.loads((work / "run" / "config.json").read_text())["train"]["data"] == str(work / "photos")
    (work / "photos").rename(tmp_path / "moved")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError, match="photos were in .*work/photos.* pass data with their new place"):
        train_fast_style(out="work/run", resume=True, progress=False, device="cpu")
    capsys.readouterr()
    assert main(["fast-style", "train", "--out", "work/run", "--resume", *CPU]) == 2
    assert "--data" in capsys.readouterr().err  # the CLI names the flag
    assert main(["fast-style", "train", "--out", "work/run", "--resume", "--data", "nowhere", *CPU]) == 2
    assert main(["fast-style", "train", "--out", "work/run", "--resume", "--data", "moved", *CPU]) == 0
    assert json.loads((work / "run" / "config.json").read_text())["train"]["data"] == str(tmp_path / "moved")
    assert torch.load(work / "run" / "training_state.pt", weights_only=True)["step"] == 3


def test_fast_style_resume_messages_name_the_data_flag(tmp_path, capsys):
    from artgen.fast_style import train_fast_style

    train_fast_style("swirls", None, tmp_path / "run", progress=False, device="cpu", steps=1, **TINY)
    art_folder(tmp_path / "photos")
    argv = ["fast-style", "train", "--out", str(tmp_path / "run"), "--resume", "--data", str(tmp_path / "photos")]
    assert main([*argv, *CPU]) == 2
    assert "--data cannot be given on resume: this run was trained on the built-in pictures" in capsys.readouterr().err


def test_style_config_naming_an_unknown_architecture_is_refused(tmp_path):
    from artgen.fast_style import FastStyle
    from artgen.fast_style.networks import StyleNet, StyleNetConfig

    run = RunDir(tmp_path / "m")
    net = StyleNet(StyleNetConfig.for_arch("small"))
    run.save_config({"head": "fast_style", "model": dict(net.config.to_dict(), arch="giant"), "train": {}})
    save_weights(run.weights_path, {"net": net})
    with pytest.raises(CheckpointError, match=r"config\.json': model: arch 'giant'"):
        FastStyle.load(run.path, device="cpu")

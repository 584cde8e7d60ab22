"""``artgen gan``: nothing the user has is lost and bad input is refused by name (the shared faults are in
``test_run_safety.py``): old sample grids, data inside the run folder, outputs checked before any is written,
moved data on resume, values checked in the words of the command line and of the library."""

import json
from pathlib import Path

import pytest
import torch

from artgen.cli import main
from artgen.errors import ArgumentError
from run_helpers import CPU, GAN_TINY, art_folder, same_files


def test_overwritten_run_keeps_no_old_sample_grids(tmp_path):
    data = art_folder(tmp_path / "art")
    run = tmp_path / "run"
    assert main(["gan", "train", "--data", str(data), "--out", str(run), *GAN_TINY, "--steps", "3"]) == 0
    assert (run / "samples" / "step_000003.png").is_file()
    assert main(["gan", "train", "--data", str(data), "--out", str(run), "--overwrite", *GAN_TINY]) == 0
    grids = sorted(p.name for p in (run / "samples").iterdir())
    assert grids == ["step_000001.png", "step_000002.png"]
    assert torch.load(run / "training_state.pt", weights_only=True)["step"] == 2


def test_overwrite_refuses_data_inside_the_run_folder(tmp_path, capsys):
    data = art_folder(tmp_path / "run" / "data")
    run = tmp_path / "run"
    assert main(["gan", "train", "--data", str(data), "--out", str(run), *GAN_TINY]) == 0
    before = same_files(run)
    capsys.readouterr()
    assert main(["gan", "train", "--data", str(data), "--out", str(run), "--overwrite", *GAN_TINY]) == 2
    err = capsys.readouterr().err
    assert "--data" in err and "inside the run folder" in err and len(err.strip().splitlines()) == 1
    assert same_files(run) == before


def test_gan_sample_checks_every_output_before_writing_any(gan_run, tmp_path):
    separate = tmp_path / "each"
    separate.mkdir()
    (separate / "000002.png").write_bytes(b"mine")
    grid = tmp_path / "grid.png"
    argv = ["gan", "sample", "--checkpoint", str(gan_run), "-n", "4", "-o", str(grid), "--separate", str(separate)]
    assert main([*argv, *CPU]) == 2
    assert sorted(p.name for p in separate.iterdir()) == ["000002.png"] and not grid.exists()
    assert (separate / "000002.png").read_bytes() == b"mine"


def test_gan_run_with_relative_data_resumes_from_elsewhere_and_accepts_moved_data(tmp_path, monkeypatch, capsys):
    work = tmp_path / "work"
    art_folder(work / "art")
    monkeypatch.chdir(work)
    assert main(["gan", "train", "--data", "art", "--out", "run", *GAN_TINY]) == 0
    stored = json.loads((work / "run" / "config.json").read_text())["train"]["data"]
    assert Path(stored).is_absolute() and Path(stored) == work / "art"
    monkeypatch.chdir(tmp_path)
    assert main(["gan", "train", "--out", "work/run", "--resume", *GAN_TINY, "--steps", "3"]) == 0
    (work / "art").rename(tmp_path / "moved")
    capsys.readouterr()
    assert main(["gan", "train", "--out", "work/run", "--resume", *GAN_TINY, "--steps", "4"]) == 2
    assert str(work / "art") in capsys.readouterr().err  # names the missing folder
    assert main(["gan", "train", "--out", "work/run", "--resume", "--data", "moved", *GAN_TINY, "--steps", "4"]) == 0
    assert json.loads((work / "run" / "config.json").read_text())["train"]["data"] == str(tmp_path / "moved")
    assert torch.load(work / "run" / "training_state.pt", weights_only=True)["step"] == 4


def test_interpolate_keyframes_and_eval_count_are_checked_in_each_words(gan_run, tmp_path, capsys):
    from artgen.gan import GAN, evaluate_gan

    gif = tmp_path / "w.gif"
    assert main(["gan", "interpolate", "--checkpoint", str(gan_run), "-o", str(gif), "--keyframes", "0", *CPU]) == 2
    assert "--keyframes must be at least 2" in capsys.readouterr().err
    gan = GAN.load(gan_run, device="cpu")
    with pytest.raises(ArgumentError, match="^num_samples must be at least 2"):
        evaluate_gan(gan, torch.zeros(4, 3, 32, 32, dtype=torch.uint8), num_samples=1)
    assert main(["gan", "eval", "--checkpoint", str(gan_run), "--num-samples", "1", "--features", "random", *CPU]) == 2
    err = capsys.readouterr().err
    assert "--num-samples must be at least 2" in err and "-n " not in err


def test_library_errors_speak_argument_names():
    from artgen.gan import train_gan

    with pytest.raises(ArgumentError, match="^batch_size must be a whole number of at least 1, got 0$"):
        train_gan(dataset="shapes", batch_size=0, device="cpu", progress=False)

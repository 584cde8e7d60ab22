"""``artgen gan``: train from a folder, resume, fine-tune, sample, interpolate, eval, bad data."""

import json
import logging

import numpy as np
import pytest
import torch
from PIL import Image

from artgen import metrics
from artgen.cli import main
from artgen.images import read_metadata

TINY = ["--size", "32", "--batch-size", "8", "--quiet", "--device", "cpu"]


def _folder(path, n=6, bad=False):
    path.mkdir()
    g = torch.Generator().manual_seed(0)
    for i in range(n):
        h, w = 24 + 4 * i, 40
        arr = (torch.rand(h, w, 3, generator=g) * 255).to(torch.uint8).numpy()
        Image.fromarray(arr).save(path / f"{i}.jpg")
    if bad:
        (path / "broken.png").write_bytes(b"not a png")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("gan")
    folder = _folder(root / "art", bad=True)
    run = root / "run"
    assert (
        main(["gan", "train", "--data", str(folder), "--out", str(run), "--steps", "3", "--sample-every", "2", *TINY])
        == 0
    )
    return root, folder, run


def test_train_writes_run_files_and_skips_bad_images(trained, capsys):
    root, folder, run = trained
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["head"] == "gan" and cfg["model"]["size"] == 32 and cfg["train"]["images"] == 6
    for name in (
        "model.safetensors",
        "training_state.pt",
        "curves.png",
        "samples/step_000002.png",
        "samples/step_000003.png",
    ):
        assert (run / name).is_file(), name
    assert read_metadata(run / "samples/step_000002.png")["seed"] == 0
    assert (cfg["train"]["lr_g"], cfg["train"]["lr_d"]) == (5e-4, 1e-3)  # the two time-scale defaults


@pytest.mark.parametrize(
    "flags, rates",
    [
        (["--lr", "3e-4"], (3e-4, 3e-4)),
        (["--lr-d", "2e-3"], (5e-4, 2e-3)),
        (["--lr-g", "1e-4", "--lr-d", "4e-4"], (1e-4, 4e-4)),
    ],
)
def test_learning_rate_flags_reach_the_run(trained, tmp_path, flags, rates):
    root, folder, run = trained
    assert (
        main(["gan", "train", "--data", str(folder), "--out", str(tmp_path / "r"), "--steps", "1", *flags, *TINY]) == 0
    )
    cfg = json.loads((tmp_path / "r" / "config.json").read_text())["train"]
    assert (cfg["lr_g"], cfg["lr_d"]) == rates


def test_resume_extends_and_fine_tune(trained, tmp_path):
    root, folder, run = trained
    assert main(["gan", "train", "--out", str(run), "--resume", "--steps", "4", *TINY]) == 0
    state = torch.load(run / "training_state.pt", weights_only=True)
    assert state["step"] == 4
    other = _folder(tmp_path / "mine", n=3)
    tune = ["gan", "train", "--data", str(other), "--init-from", str(run), "--steps", "1"]
    assert main([*tune, "--out", str(tmp_path / "tuned"), "--freeze-d", "1", *TINY]) == 0
    # a run already there is not overwritten by accident
    assert main(["gan", "train", "--data", str(other), "--out", str(tmp_path / "tuned"), "--steps", "1", *TINY]) == 2
    # mismatched resolution: a clear usage error
    assert main([*tune, "--out", str(tmp_path / "x"), "--size", "64", "--quiet", "--device", "cpu"]) == 2


def test_sample_grid_separate_and_interpolate(trained, tmp_path):
    _, _, run = trained
    grid, sep = tmp_path / "grid.png", tmp_path / "single"
    sample = ["gan", "sample", "--checkpoint", str(run), "--truncation", "0.7", "--device", "cpu"]
    assert main([*sample, "-n", "4", "--seed", "7", "-o", str(grid), "--separate", str(sep)]) == 0
    files = sorted(sep.glob("*.png"))
    assert len(files) == 4 and read_metadata(files[1])["seed"] == 8
    assert Image.open(grid).size[0] > 32
    # the same seed gives the same picture, alone or in a batch
    again = tmp_path / "again"
    assert main([*sample, "-n", "1", "--seed", "8", "-o", str(tmp_path / "g2.png"), "--separate", str(again)]) == 0
    a = torch.from_numpy(np.asarray(Image.open(files[1]), dtype=np.float32))
    b = torch.from_numpy(np.asarray(Image.open(next(again.glob("*.png"))), dtype=np.float32))
    assert (a - b).abs().max() <= 1
    # no silent overwrite
    assert main(["gan", "sample", "--checkpoint", str(run), "-n", "4", "-o", str(grid), "--device", "cpu"]) == 2

    gif = tmp_path / "walk.gif"
    assert (
        main(["gan", "interpolate", "--checkpoint", str(run), "-o", str(gif), "--frames", "9", "--device", "cpu"]) == 0
    )
    with Image.open(gif) as im:
        assert im.format == "GIF" and im.n_frames == 9


def test_eval_labels_the_fallback_and_reports_diversity_and_memorisation(trained, capsys, caplog, monkeypatch):
    _, folder, run = trained
    monkeypatch.setattr(metrics, "find_inception_weights", lambda: None)  # as on a machine with no Inception file
    with caplog.at_level(logging.WARNING, logger="artgen.metrics"):
        assert main(["gan", "eval", "--checkpoint", str(run), "--num-samples", "8", "--json", "--device", "cpu"]) == 0
    assert "NOT FID/KID" in caplog.text  # the library's notice, logged (the command line shows it on stderr)
    out = capsys.readouterr().out
    result = json.loads(out.strip().splitlines()[-1])
    assert result["features"] == "random-cnn" and result["subset_size"] == 6
    assert "fid" not in result and "kid" not in result and result["fallback_kd"] == result["fallback_kd"]
    assert "precision" not in result and "recall" not in result and result["memorisation_ratio"] > 0
    assert (
        "at least 50 real" in result["diversity_note"]
    )  # 6 real images: each 3-NN ball spans the set, precision/recall would mean nothing
    assert (
        0 <= result["colour_spread"] <= 0.87 and result["real_colour_spread"] > 0
    )  # RGB images: the palette's spread too
    assert Image.open(run / "nearest.png").size[0] > 4 * 32
    assert (
        main(
            ["gan", "eval", "--checkpoint", str(run), "--num-samples", "8", "--features", "random", "--device", "cpu"]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert (
        "fallback distances" in text
        and "FID" not in text.replace("NOT FID/KID", "")
        and "diversity: not measured" in text
        and "colour spread" in text
    )


def _junk(path):
    """A folder whose one picture cannot be read."""
    path.mkdir()
    (path / "a.png").write_bytes(b"nope")


@pytest.mark.parametrize(
    "make, flags, code, words",
    [
        (None, ["--data", "{tmp}/missing"], 2, "does not exist"),
        (lambda p: p.mkdir(), ["--data", "{tmp}/data"], 1, "no images found"),
        (_junk, ["--data", "{tmp}/data"], 1, "no usable images"),
        (_junk, ["--data", "{tmp}/data", "--conditional"], 1, "no class subfolders in"),
        (
            None,
            ["--dataset", "art", "--conditional"],
            2,
            "--conditional needs labels; the built-in 'art' set has none",
        ),
    ],
    ids=["missing", "empty", "unreadable", "unlabelled", "art-unlabelled"],
)
def test_bad_data_folders_give_the_foundation_messages(tmp_path, capsys, make, flags, code, words):
    if make is not None:
        make(tmp_path / "data")
    flags = [f.replace("{tmp}", str(tmp_path)) for f in flags]
    assert main(["gan", "train", *flags, "--out", str(tmp_path / "r"), *TINY]) == code
    assert words in capsys.readouterr().err


def test_kid_is_zero_for_identical_sets_and_grows_with_a_shift():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(200, 16, generator=g)
    b = torch.randn(200, 16, generator=g)
    same, _ = metrics.kid(a, b, subsets=20, subset_size=100)
    shifted, _ = metrics.kid(a, b + 1.0, subsets=20, subset_size=100)
    assert abs(same) < 0.05 and shifted > 10 * abs(same)
    assert metrics.fid(a, a) == pytest.approx(0.0, abs=1e-6)
    assert metrics.fid(a, b + 1.0) > 10


def test_conditional_training_on_shapes_and_classifier_agreement(tmp_path, capsys):
    import artgen

    run = tmp_path / "cond"
    assert (
        main(
            [
                "gan",
                "train",
                "--dataset",
                "shapes",
                "--conditional",
                "--limit",
                "40",
                "--out",
                str(run),
                "--steps",
                "1",
                *TINY,
            ]
        )
        == 0
    )
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["model"]["num_classes"] == 10 and cfg["model"]["channels"] == 1
    clf = artgen.Classifier(in_channels=1, image_size=28, num_classes=10, device="cpu")
    clf.save(tmp_path / "clf")
    assert (
        main(
            [
                "gan",
                "eval",
                "--checkpoint",
                str(run),
                "--classifier",
                str(tmp_path / "clf"),
                "--num-samples",
                "20",
                "--max-real",
                "20",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    assert "recognises the requested class" in capsys.readouterr().out
    sample = ["gan", "sample", "--checkpoint", str(run), "-n", "2", "--device", "cpu"]
    assert main([*sample, "--class", "ring", "-o", str(tmp_path / "r.png")]) == 0
    assert main([*sample, "--class", "12", "-o", str(tmp_path / "r2.png")]) == 2  # 10 classes: no class 12


def _sprites(path, n=6):
    """RGBA sprites: an opaque coloured disc on a fully transparent background."""
    path.mkdir()
    yy, xx = np.mgrid[:40, :40]
    for i in range(n):
        arr = np.zeros((40, 40, 4), np.uint8)
        disc = (yy - 20) ** 2 + (xx - 14 - 2 * i) ** 2 < 100
        arr[disc] = (40 * i, 200, 255 - 40 * i, 255)
        Image.fromarray(arr, "RGBA").save(path / f"{i}.png")
    return path


def test_rgba_training_keeps_transparency_and_adaptive_augmentation_resumes(tmp_path):
    from artgen.gan import load_gan_data

    folder = _sprites(tmp_path / "sprites")
    gd = load_gan_data(data=folder, size=32, channels=4)
    assert gd.images.shape == (6, 4, 32, 32) and int(gd.images[:, 3].min()) == 0 and int(gd.images[:, 3].max()) == 255
    run = tmp_path / "run"
    assert (
        main(
            [
                "gan",
                "train",
                "--data",
                str(folder),
                "--channels",
                "4",
                "--out",
                str(run),
                "--steps",
                "8",
                "--checkpoint-every",
                "4",
                *TINY,
            ]
        )
        == 0
    )
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["model"]["channels"] == 4 and cfg["train"]["ada_target"] == 0.6 and cfg["train"]["augment"]
    state = torch.load(run / "training_state.pt", weights_only=True)
    p = state["task"]["ada"]["p"]
    assert 0 < p <= 1  # 6 images: the discriminator is sure of them at once, so the strength rose
    assert main(["gan", "train", "--out", str(run), "--resume", "--steps", "12", *TINY]) == 0
    resumed = torch.load(run / "training_state.pt", weights_only=True)["task"]["ada"]
    assert resumed["p"] != p or resumed["r_t"] != state["task"]["ada"]["r_t"]
    sep, grid = tmp_path / "one", tmp_path / "grid.png"
    argv = ["gan", "sample", "--checkpoint", str(run), "-n", "2", "-o", str(grid), "--separate", str(sep)]
    assert main([*argv, "--device", "cpu"]) == 0
    # the grid shows alpha on a checkerboard
    assert Image.open(next(sep.glob("*.png"))).mode == "RGBA" and Image.open(grid).mode == "RGB"

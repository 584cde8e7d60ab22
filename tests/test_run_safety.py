"""Nothing the user has is lost; bad input is refused by name; the classifier's numbers are right.

One test (or more) per kind of fault: overwrite, concurrent runs, partial outputs, interrupted
starts, moved data, bad weights and configs, values checked up front, disk full, signals,
image formats, class mapping, empty splits, preprocessing, fine-tuning, Keras defaults.
"""

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from artgen.cli import main
from artgen.errors import ArgumentError, ArtgenError, CheckpointError, UsageError
from artgen.runs import folder as checkpoint
from artgen.runs.folder import RunDir
from artgen.runs.weights import save_weights

REPO = Path(__file__).resolve().parents[1]
CPU = ["--device", "cpu", "--quiet"]
QUICK_CLS = ["--dataset", "shapes", "--limit", "64", "--epochs", "1", "--hidden", "8", *CPU]
GAN_TINY = ["--size", "32", "--batch-size", "4", "--steps", "2", "--sample-every", "1", *CPU]


def _colour_folder(root: Path, classes: dict[str, tuple[int, int, int]], n: int = 3, size=(12, 12)) -> Path:
    for name, colour in classes.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.new("RGB", size, tuple(min(255, c + 3 * i) for c in colour)).save(root / name / f"{i}.png")
    return root


def _art_folder(root: Path, n: int = 4) -> Path:
    root.mkdir(parents=True)
    g = torch.Generator().manual_seed(0)
    for i in range(n):
        arr = (torch.rand(36, 40, 3, generator=g) * 255).to(torch.uint8).numpy()
        Image.fromarray(arr).save(root / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def classifier_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("cls") / "run"
    assert main(["classify", "train", "--out", str(run), *QUICK_CLS]) == 0
    return run


@pytest.fixture(scope="module")
def gan_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("gan")
    data = _art_folder(root / "art")
    run = root / "run"
    assert main(["gan", "train", "--data", str(data), "--out", str(run), *GAN_TINY]) == 0
    return run


def _same_files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --- 1. never destroy what the user has ------------------------------------------------------


def test_overwrite_with_bad_input_keeps_the_old_run(classifier_run, gan_run, tmp_path):
    """Every kind of bad input after --overwrite: the old run's files are byte-for-byte intact."""
    cls_before, gan_before = _same_files(classifier_run), _same_files(gan_run)
    assert (
        main(
            [
                "classify",
                "train",
                "--out",
                str(classifier_run),
                "--overwrite",
                "--dataset",
                "folder",
                "--data",
                str(tmp_path / "missing"),
                *CPU,
            ]
        )
        == 2
    )
    assert (
        main(["classify", "train", "--out", str(classifier_run), "--overwrite", "--precision", "fp16", *QUICK_CLS])
        == 2
    )
    assert (
        main(["gan", "train", "--out", str(gan_run), "--overwrite", "--data", str(tmp_path / "missing"), *GAN_TINY])
        == 2
    )
    assert (
        main(
            [
                "gan",
                "train",
                "--out",
                str(gan_run),
                "--overwrite",
                "--dataset",
                "shapes",
                "--precision",
                "fp16",
                *GAN_TINY,
            ]
        )
        == 2
    )
    assert (
        main(
            [
                "fast-style",
                "train",
                "--style",
                "swirls",
                "--out",
                str(classifier_run),
                "--overwrite",
                "--precision",
                "fp16",
                "--steps",
                "1",
                *CPU,
            ]
        )
        == 2
    )
    assert _same_files(classifier_run) == cls_before
    assert _same_files(gan_run) == gan_before


def test_overwritten_run_keeps_no_old_sample_grids(tmp_path):
    data = _art_folder(tmp_path / "art")
    run = tmp_path / "run"
    assert main(["gan", "train", "--data", str(data), "--out", str(run), *GAN_TINY, "--steps", "3"]) == 0
    assert (run / "samples" / "step_000003.png").is_file()
    assert main(["gan", "train", "--data", str(data), "--out", str(run), "--overwrite", *GAN_TINY]) == 0
    grids = sorted(p.name for p in (run / "samples").iterdir())
    assert grids == ["step_000001.png", "step_000002.png"]
    assert torch.load(run / "training_state.pt", weights_only=True)["step"] == 2


def _keepsakes(run: Path) -> dict[str, bytes]:
    """Files a user keeps in a run folder: a note, a favourite picture, a data folder, an empty folder, a hidden file."""
    files = {
        "notes.txt": b"lr 5e-4 looked best",
        "best/favourite.png": b"\x89PNG kept",
        "data/cat/0.png": b"mine",
        "samples/my_pick.png": b"picked",
        "samples/step_000002 copy.png": b"a copy",
        ".notes.abcdefgh.json": b"{}",
    }
    for name, data in files.items():
        (run / name).parent.mkdir(parents=True, exist_ok=True)
        (run / name).write_bytes(data)
    (run / "empty").mkdir()
    return files


def test_overwrite_replaces_only_artgens_files_in_every_head(tmp_path):
    """--overwrite replaces what artgen wrote and nothing a user put in the folder (GAN, classifier, fast style)."""
    data = _art_folder(tmp_path / "art")
    runs = {
        "gan": ["gan", "train", "--data", str(data), *GAN_TINY],
        "classify": ["classify", "train", *QUICK_CLS],
        "fast-style": [
            "fast-style",
            "train",
            "--style",
            "swirls",
            "--steps",
            "1",
            "--size",
            "32",
            "--preview-every",
            "1",
            *CPU,
        ],
    }
    for head, args in runs.items():
        run = tmp_path / f"run-{head}"
        assert main([*args, "--out", str(run)]) == 0, head
        kept = _keepsakes(run)
        assert main([*args, "--out", str(run), "--overwrite"]) == 0, head
        for name, data_bytes in kept.items():
            assert (run / name).read_bytes() == data_bytes, (head, name)
        assert (run / "empty").is_dir(), head
        assert (run / "config.json").is_file() and (run / "model.safetensors").is_file(), head


def test_overwrite_refuses_data_inside_the_run_folder(tmp_path, capsys):
    data = _art_folder(tmp_path / "run" / "data")
    run = tmp_path / "run"
    assert main(["gan", "train", "--data", str(data), "--out", str(run), *GAN_TINY]) == 0
    before = _same_files(run)
    capsys.readouterr()
    assert main(["gan", "train", "--data", str(data), "--out", str(run), "--overwrite", *GAN_TINY]) == 2
    err = capsys.readouterr().err
    assert "--data" in err and "inside the run folder" in err and len(err.strip().splitlines()) == 1
    assert _same_files(run) == before


def test_temp_files_of_the_user_are_not_cleaned_up(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / ".curves.tmp-abcd1234.png").write_bytes(b"left by a killed write")
    (run / ".holiday.tmp-abcd1234.png").write_bytes(b"the user's")
    (run / ".notes.abcdefgh.json").write_bytes(b"{}")
    assert RunDir(run).remove_temp_files() == 1
    assert sorted(p.name for p in run.iterdir()) == [".holiday.tmp-abcd1234.png", ".notes.abcdefgh.json"]


def test_a_second_training_into_the_same_folder_is_refused_naming_the_process(tmp_path):
    run = tmp_path / "run"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"from artgen.runs.folder import RunDir; RunDir({str(run)!r}).prepare(); print('locked', flush=True); import time; time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(UsageError, match=rf"in use by another training \(process {holder.pid} "):
            RunDir(run).prepare()
    finally:
        holder.kill()  # a crash: the lock file stays behind
        holder.wait()
    assert (run / checkpoint.LOCK_NAME).is_file()
    RunDir(run).prepare()  # the stale lock is taken over
    RunDir(run).unlock()


def test_gan_sample_checks_every_output_before_writing_any(gan_run, tmp_path):
    separate = tmp_path / "each"
    separate.mkdir()
    (separate / "000002.png").write_bytes(b"mine")
    grid = tmp_path / "grid.png"
    assert (
        main(
            [
                "gan",
                "sample",
                "--checkpoint",
                str(gan_run),
                "-n",
                "4",
                "-o",
                str(grid),
                "--separate",
                str(separate),
                *CPU,
            ]
        )
        == 2
    )
    assert sorted(p.name for p in separate.iterdir()) == ["000002.png"] and not grid.exists()
    assert (separate / "000002.png").read_bytes() == b"mine"


def test_predict_reports_every_file_and_names_the_bad_ones(classifier_run, tmp_path, capsys):
    good = tmp_path / "good.png"
    Image.new("L", (28, 28), 200).save(good)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a picture")
    missing = tmp_path / "missing.png"
    code = main(
        [
            "classify",
            "predict",
            "--checkpoint",
            str(classifier_run),
            str(broken),
            str(good),
            str(missing),
            "--device",
            "cpu",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 1
    assert f"{good}: " in out and str(broken) not in out
    assert str(broken) in err and str(missing) in err and "2 of 3" in err


def test_a_run_killed_before_its_first_checkpoint_can_be_restarted_and_says_so(tmp_path):
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    run.save_config({"head": "classifier"})  # killed between config and weights
    leftover = run.path / ".curves.tmp-ab12cd.png"
    old_style = run.path / ".curves.k2j4l5m6.png"
    leftover.write_bytes(b"x")
    old_style.write_bytes(b"x")
    with pytest.raises(UsageError, match="stopped before its first checkpoint.*start it again without resume=True"):
        run.prepare(resume=True)
    RunDir(run.path).prepare()  # no --overwrite needed: nothing trained is there
    assert not leftover.exists() and not old_style.exists()
    RunDir(run.path).unlock()


def test_gan_run_with_relative_data_resumes_from_elsewhere_and_accepts_moved_data(tmp_path, monkeypatch):
    work = tmp_path / "work"
    _art_folder(work / "art")
    monkeypatch.chdir(work)
    assert main(["gan", "train", "--data", "art", "--out", "run", *GAN_TINY]) == 0
    stored = json.loads((work / "run" / "config.json").read_text())["train"]["data"]
    assert Path(stored).is_absolute() and Path(stored) == work / "art"
    monkeypatch.chdir(tmp_path)
    assert main(["gan", "train", "--out", "work/run", "--resume", *GAN_TINY, "--steps", "3"]) == 0
    (work / "art").rename(tmp_path / "moved")
    assert (
        main(["gan", "train", "--out", "work/run", "--resume", *GAN_TINY, "--steps", "4"]) == 2
    )  # names the missing folder
    assert main(["gan", "train", "--out", "work/run", "--resume", "--data", "moved", *GAN_TINY, "--steps", "4"]) == 0
    assert json.loads((work / "run" / "config.json").read_text())["train"]["data"] == str(tmp_path / "moved")
    assert torch.load(work / "run" / "training_state.pt", weights_only=True)["step"] == 4


def test_fast_style_resume_accepts_moved_photos_and_names_a_missing_folder(tmp_path, monkeypatch):
    from artgen.errors import TrainingInterrupted
    from artgen.fast_style import train_fast_style
    from artgen.train import Callback

    class Stop(Callback):
        def on_step_end(self, trainer, step):
            if step == 1:
                trainer.request_stop("test")

    work = tmp_path / "work"
    _art_folder(work / "photos")
    monkeypatch.chdir(work)
    tiny = dict(
        arch="small", size=32, batch_size=2, backbone="random", preview_every=None, checkpoint_every=1, steps=3
    )
    with pytest.raises(TrainingInterrupted):
        train_fast_style("swirls", "photos", "run", progress=False, callbacks=[Stop()], device="cpu", **tiny)
    assert json.loads((work / "run" / "config.json").read_text())["train"]["data"] == str(work / "photos")
    (work / "photos").rename(tmp_path / "moved")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError, match="photos were in .*work/photos.* pass data with their new place"):
        train_fast_style(out="work/run", resume=True, progress=False, device="cpu")
    assert main(["fast-style", "train", "--out", "work/run", "--resume", *CPU]) == 2  # the CLI names the flag
    assert main(["fast-style", "train", "--out", "work/run", "--resume", "--data", "nowhere", *CPU]) == 2
    assert main(["fast-style", "train", "--out", "work/run", "--resume", "--data", "moved", *CPU]) == 0
    assert json.loads((work / "run" / "config.json").read_text())["train"]["data"] == str(tmp_path / "moved")
    assert torch.load(work / "run" / "training_state.pt", weights_only=True)["step"] == 3


def test_fast_style_resume_messages_name_the_data_flag(tmp_path, capsys):
    from artgen.fast_style import train_fast_style

    train_fast_style(
        "swirls",
        None,
        tmp_path / "run",
        progress=False,
        device="cpu",
        steps=1,
        arch="small",
        size=32,
        batch_size=2,
        backbone="random",
        preview_every=None,
    )
    _art_folder(tmp_path / "photos")
    assert (
        main(
            [
                "fast-style",
                "train",
                "--out",
                str(tmp_path / "run"),
                "--resume",
                "--data",
                str(tmp_path / "photos"),
                *CPU,
            ]
        )
        == 2
    )
    assert "--data cannot be given on resume: this run was trained on the built-in pictures" in capsys.readouterr().err


# --- 2. weights and configs that are wrong are refused ------------------------------------------


@pytest.mark.parametrize("damage", ["int", "complex", "nan", "inf"])
def test_damaged_weights_are_refused_naming_file_and_tensor(classifier_run, tmp_path, damage):
    import shutil

    from artgen.classifier import Classifier

    run = tmp_path / "run"
    shutil.copytree(classifier_run, run)
    tensors = load_file(str(run / "model.safetensors"))
    w = tensors["model.hidden.weight"]
    tensors["model.hidden.weight"] = {
        "int": w.to(torch.int32),
        "complex": w.to(torch.complex64),
        "nan": w.clone().index_fill_(0, torch.tensor([0]), float("nan")),
        "inf": w.clone().fill_(float("inf")),
    }[damage]
    save_file(tensors, str(run / "model.safetensors"))
    with pytest.raises(CheckpointError, match=r"model\.safetensors|classifier in") as info:
        Classifier.load(run, device="cpu")
    assert "hidden.weight" in str(info.value)


@pytest.mark.parametrize(
    "mutate, words",
    [
        (lambda raw: b"\xff\xfe" + raw, "not UTF-8"),
        (lambda raw: b"[1, 2]", "must hold a JSON object"),
        (
            lambda raw: json.dumps({k: v for k, v in json.loads(raw).items() if k != "model"}).encode(),
            "no 'model' section",
        ),
        (lambda raw: _edit(raw, "hidden", "128"), "model.hidden: expected a whole number, got str"),
        (lambda raw: _edit(raw, "hidden", -5), "hidden must be a whole number from 1 to 65536"),
        (lambda raw: _edit(raw, "hidden", 10**12), "hidden must be a whole number from 1 to 65536"),
        (lambda raw: _edit(raw, "image_size", 2.5), "model.image_size: expected a whole number"),
        (lambda raw: _edit(raw, "activation", "swish"), "activation 'swish'"),
    ],
)
def test_bad_classifier_configs_give_one_line_naming_file_and_field(classifier_run, tmp_path, mutate, words):
    import shutil

    from artgen.classifier import Classifier

    run = tmp_path / "run"
    shutil.copytree(classifier_run, run)
    cfg = run / "config.json"
    cfg.write_bytes(mutate(cfg.read_bytes()))
    start = time.perf_counter()
    with pytest.raises(CheckpointError) as info:
        Classifier.load(run, device="cpu")
    assert time.perf_counter() - start < 5  # nothing huge is allocated
    assert words in str(info.value) and "config.json" in str(info.value)
    assert main(["classify", "predict", "--checkpoint", str(run), str(cfg), "--device", "cpu"]) == 1


def _edit(raw: bytes, key: str, value) -> bytes:
    data = json.loads(raw)
    data["model"][key] = value
    return json.dumps(data).encode()


def test_unknown_keys_are_handled_alike_by_every_head(caplog):
    from artgen.classifier.networks import ClassifierConfig
    from artgen.fast_style import FastStyleConfig
    from artgen.fast_style.networks import StyleNetConfig
    from artgen.gan import GANTrainConfig
    from artgen.gan.networks import GANConfig
    from artgen.runs.config import load_settings

    for cls in (ClassifierConfig, GANConfig, GANTrainConfig, StyleNetConfig, FastStyleConfig):
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            obj = load_settings(cls, {"future_knob": 1}, source="run/config.json", section="model")
        assert isinstance(obj, cls)
        assert "'run/config.json': ignoring unknown model setting(s) 'future_knob'" in caplog.text


def test_style_config_naming_an_unknown_architecture_is_refused(tmp_path):
    from artgen.fast_style import FastStyle
    from artgen.fast_style.networks import StyleNet, StyleNetConfig

    run = RunDir(tmp_path / "m")
    net = StyleNet(StyleNetConfig.for_arch("small"))
    run.save_config({"head": "fast_style", "model": dict(net.config.to_dict(), arch="giant"), "train": {}})
    save_weights(run.weights_path, {"net": net})
    with pytest.raises(CheckpointError, match=r"config\.json': model: arch 'giant'"):
        FastStyle.load(run.path, device="cpu")


# --- 3. values checked before work starts, with the right words ----------------------------------


@pytest.mark.parametrize(
    "argv, flag",
    [
        (["classify", "train", "--out", "{tmp}/r", "--hidden", "0"], "--hidden"),
        (["classify", "train", "--out", "{tmp}/r", "--hidden", "-5"], "--hidden"),
        (["classify", "train", "--out", "{tmp}/r", "--limit", "-5"], "--limit"),
        (["classify", "train", "--out", "{tmp}/r", "--lr", "0"], "--lr"),
        (["gan", "train", "--out", "{tmp}/r", "--limit", "-5"], "--limit"),
        (["gan", "train", "--out", "{tmp}/r", "--batch-size", "0"], "--batch-size"),
        (["gan", "train", "--out", "{tmp}/r", "--lr", "-1"], "--lr"),
        (["gan", "train", "--out", "{tmp}/r", "--lr-d", "-1"], "--lr-d"),
        (["gan", "train", "--out", "{tmp}/r", "--lr-g", "0"], "--lr-g"),
    ],
)
def test_bad_values_are_refused_before_any_work_naming_the_flag(tmp_path, capsys, argv, flag):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    start = time.perf_counter()
    assert main([*argv, *CPU]) == 2
    assert time.perf_counter() - start < 3  # before any data is read
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"artgen: error: {flag} " in err
    assert not (tmp_path / "r").exists()


def test_interpolate_keyframes_and_eval_count_are_checked_in_each_words(gan_run, tmp_path, capsys):
    from artgen.gan import GAN, evaluate_gan

    assert (
        main(
            [
                "gan",
                "interpolate",
                "--checkpoint",
                str(gan_run),
                "-o",
                str(tmp_path / "w.gif"),
                "--keyframes",
                "0",
                *CPU,
            ]
        )
        == 2
    )
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


def _style_options(**kw):
    from artgen.style_transfer import StyleConfig

    return StyleConfig(**kw)


def _texture_options(**kw):
    from artgen.style_transfer.texture import TextureConfig

    return TextureConfig(**kw)


def _fast_options(**kw):
    from artgen.fast_style import FastStyleConfig

    return FastStyleConfig(**kw)


def _strength(value):
    from artgen.fast_style import check_strength

    return check_strength(value)


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda: _style_options(tile=5), "tile must be 0 (never tile) or at least"),
        (lambda: _style_options(style_scale=20), "style_scale must be between 0.05 and 8"),
        (lambda: _texture_options(steps=0), "steps must be at least 1"),
        (lambda: _fast_options(styles=["swirls"], style_size=4), "style_size must be at least 16"),
        (lambda: _fast_options(styles=["swirls"], batch_size=0), "batch_size must be a positive integer"),
        (lambda: _strength(2.0), "strength must be between 0.0 and 1.0"),
    ],
)
def test_style_heads_speak_argument_names_in_the_library(call, words):
    """Notebook users read the keyword's name, never a flag the library has not got."""
    with pytest.raises(ArgumentError) as info:
        call()
    assert str(info.value).startswith(words) and "--" not in str(info.value) and "{arg" not in str(info.value)


@pytest.mark.parametrize(
    "module, cls, train, words",
    [
        (
            "fast_style",
            "FastStyleConfig",
            {"styles": ["swirls"], "batch_size": 0},
            "train: batch_size must be a positive integer, got 0",
        ),
        (
            "fast_style",
            "FastStyleConfig",
            {"styles": ["swirls"], "style_blend": [1.0, 2.0]},
            "train: 2 style_blend weights for 1 style images",
        ),
        ("stylize", "StyleConfig", {"style_scale": 20.0}, "train: style_scale must be between 0.05 and 8, got 20.0"),
        ("texture", "TextureConfig", {"height": 8}, "train: size 512x8: the height must be at least 32"),
    ],
)
def test_stored_style_settings_out_of_range_name_the_file_and_field(tmp_path, module, cls, train, words):
    """Settings check themselves when built, so a run folder's values are checked on load too."""
    import dataclasses
    import importlib

    options_cls = getattr(
        importlib.import_module(
            {"stylize": "artgen.style_transfer", "texture": "artgen.style_transfer.texture"}.get(
                module, f"artgen.{module}"
            )
        ),
        cls,
    )
    run = RunDir(tmp_path / "run")
    run.save_config({"head": module, "train": train})
    with pytest.raises(CheckpointError) as info:
        run.load_settings(options_cls, "train")
    assert str(info.value) == f"'{run.config_path}': {words}"
    good = options_cls(**{k: v for k, v in train.items() if k == "styles"})
    with pytest.raises(UsageError) as info:  # dataclasses.replace builds a new object: checked again
        dataclasses.replace(good, **{k: v for k, v in train.items() if k != "styles"})
    assert "train: " + str(info.value) == words


@pytest.mark.parametrize(
    "argv, words",
    [
        (["stylize", "{img}", "{img}", "-o", "{tmp}/o.png", "--tile-size", "5"], "--tile-size must be 0 (never tile)"),
        (
            ["stylize", "{img}", "{img}", "{img}", "-o", "{tmp}/o.png", "--style-weights", "1,2,3"],
            "--style-weights has 3 values for 2 style images",
        ),
        (["texture", "{img}", "-o", "{tmp}/o.png", "--steps", "0"], "--steps must be at least 1"),
        (
            ["fast-style", "train", "--style", "swirls", "--out", "{tmp}/r", "--batch-size", "0"],
            "--batch-size must be a positive integer",
        ),
        (
            ["fast-style", "train", "--style", "swirls", "--style-blend", "1", "2", "--out", "{tmp}/r"],
            "2 --style-blend weights for 1 style images",
        ),
    ],
)
def test_style_heads_name_flags_on_the_command_line(argv, words, tmp_path, capsys):
    from artgen.images import save_image

    img = save_image(torch.rand(3, 32, 32), tmp_path / "i.png")
    argv = [a.replace("{img}", str(img)).replace("{tmp}", str(tmp_path)) for a in argv]
    assert main([*argv, *CPU]) == 2
    err = capsys.readouterr().err
    assert words in err and "{arg" not in err and err.count("\n") == 1


def test_disk_full_names_the_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    import shutil
    from collections import namedtuple

    run = RunDir(tmp_path / "run")
    run.save_state({"step": 1})

    def full(obj, f, *args, **kwargs):
        Path(f).write_bytes(b"half")
        raise RuntimeError(
            "[enforce fail at inline_container.cc:672] . PytorchStreamWriter failed writing file data/0: file write failed"
        )

    monkeypatch.setattr(torch, "save", full)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: namedtuple("U", "total used free")(100, 100, 0))
    with pytest.raises(ArtgenError, match=r"the disk is full: could not write '.*training_state\.pt'"):
        run.save_state({"step": 2})
    monkeypatch.undo()
    assert run.load_state()["step"] == 1
    assert [p.name for p in run.path.iterdir()] == ["training_state.pt"]

    import safetensors.torch
    from safetensors import SafetensorError

    def full_safetensors(tensors, filename, metadata=None):
        raise SafetensorError(
            'Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: "No space left on device" })'
        )

    monkeypatch.setattr(safetensors.torch, "save_file", full_safetensors)
    with pytest.raises(ArtgenError, match=r"the disk is full: could not write '.*model\.safetensors'"):
        save_weights(run.weights_path, {"model": torch.nn.Linear(2, 2)})


def test_out_under_a_file_is_one_line(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert main(["classify", "train", "--out", str(afile / "run"), *QUICK_CLS]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "a part of that path is a file" in err


def test_sigterm_during_start_up_says_interrupted_like_ctrl_c(tmp_path):
    code = (
        "import os, signal, time, artgen.classifier.cli as c\n"
        "def slow(args):\n"
        "    os.kill(os.getpid(), signal.SIGTERM); time.sleep(5); return 0\n"
        "c.run_train = slow\n"
        "from artgen.cli import main\n"
        f"raise SystemExit(main(['classify', 'train', '--out', {str(tmp_path / 'r')!r}]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
        timeout=60,
    )
    assert done.returncode == 130 and "artgen: interrupted (SIGTERM)" in done.stderr


def test_images_are_found_by_content_and_skipped_files_are_named(tmp_path, caplog):
    from artgen.data import ImageFolder

    root = tmp_path / "pics"
    root.mkdir()
    Image.new("RGB", (8, 8), (255, 0, 0)).save(root / "a.jfif", format="JPEG")
    Image.new("RGB", (8, 8), (0, 255, 0)).save(root / "noextension", format="PNG")
    (root / "notes.txt").write_text("not a picture")
    frames = [Image.new("RGB", (8, 8), c) for c in ((0, 0, 255), (255, 255, 0))]
    frames[0].save(root / "anim.gif", save_all=True, append_images=frames[1:])
    with caplog.at_level(logging.WARNING):
        ds = ImageFolder(root, size=8, channels=3)
    assert sorted(p.name for p in ds.files) == ["a.jfif", "anim.gif", "noextension"]
    assert ds.skipped == [(root / "notes.txt", "not an image file Pillow can read")]
    assert f"skipped '{root / 'notes.txt'}'" in caplog.text and "skipped 1 of 4 files" in caplog.text
    assert "anim.gif' is animated (2 frames): using its first frame only" in caplog.text


# --- 4. the classifier's numbers ---------------------------------------------------------------------


def test_test_split_missing_a_class_is_scored_by_class_name(tmp_path):
    from artgen.data import load_dataset_splits

    colours = {"blue": (0, 0, 250), "green": (0, 250, 0), "red": (250, 0, 0)}
    _colour_folder(tmp_path / "d" / "train", colours)
    _colour_folder(tmp_path / "d" / "test", {"green": colours["green"], "red": colours["red"]}, n=2)
    (tmp_path / "d" / "test" / "blue").mkdir()  # an empty class folder too
    (x, y), (xt, yt), classes = load_dataset_splits("folder", data=tmp_path / "d", size=8, channels=3)
    assert classes == ["blue", "green", "red"]
    assert yt.tolist() == [1, 1, 2, 2]  # green and red keep the training split's numbers
    _colour_folder(tmp_path / "d" / "test", {"purple": (128, 0, 128)}, n=1)
    with pytest.raises(UsageError, match="purple.*not among the training classes"):
        load_dataset_splits("folder", data=tmp_path / "d", size=8, channels=3)


def test_folder_test_accuracy_end_to_end(tmp_path, capsys):
    colours = {"blue": (0, 0, 250), "green": (0, 250, 0), "red": (250, 0, 0)}
    _colour_folder(tmp_path / "d" / "train", colours, n=6)
    _colour_folder(tmp_path / "d" / "test", {"green": colours["green"], "red": colours["red"]}, n=2)
    run = tmp_path / "run"
    assert (
        main(
            [
                "classify",
                "train",
                "--dataset",
                "folder",
                "--data",
                str(tmp_path / "d"),
                "--size",
                "8",
                "--channels",
                "3",
                "--epochs",
                "30",
                "--batch-size",
                "6",
                "--lr",
                "0.01",
                "--out",
                str(run),
                *CPU,
            ]
        )
        == 0
    )
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["history"]["accuracy"][-1] == 1.0
    assert metrics["test_accuracy"] == 1.0


def test_one_picture_per_class_trains_without_a_test_split(tmp_path, capsys):
    _colour_folder(tmp_path / "d", {"a": (0, 0, 0), "b": (255, 255, 255)}, n=1)
    run = tmp_path / "run"
    assert (
        main(
            [
                "classify",
                "train",
                "--dataset",
                "folder",
                "--data",
                str(tmp_path / "d"),
                "--size",
                "8",
                "--epochs",
                "2",
                "--out",
                str(run),
                *CPU,
            ]
        )
        == 0
    )
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test_images"] == 0 and metrics["test_accuracy"] is None
    assert (run / "model.safetensors").is_file()
    assert "no test images" in capsys.readouterr().out


def test_predict_preprocesses_like_training_on_non_square_pictures(tmp_path, capsys):
    from artgen.data import ImageFolder, square_image

    # 120x40 pictures whose centre square is light|dark for one class and dark|light for the
    # other, and whose whole width reads the other way round: squashing flips every answer
    root = tmp_path / "d"
    for name, bands in (("light_left", (0, 255, 0, 255)), ("dark_left", (255, 0, 255, 0))):
        (root / name).mkdir(parents=True)
        for i in range(4):
            img = Image.new("L", (120, 40))
            for (left, right), value in zip(((0, 40), (40, 60), (60, 80), (80, 120)), bands):
                img.paste(Image.new("L", (right - left, 40), abs(value - 5 * i)), (left, 0))
            img.save(root / name / f"{i}.png")
    ds = ImageFolder(root, size=8, channels=1, labelled=True)
    x, _ = ds.tensors()
    for i, path in enumerate(ds.files):
        assert torch.equal(square_image(path, size=8, channels=1), x[i])
    run = tmp_path / "run"
    assert (
        main(
            [
                "classify",
                "train",
                "--dataset",
                "folder",
                "--data",
                str(root),
                "--size",
                "8",
                "--epochs",
                "40",
                "--batch-size",
                "4",
                "--lr",
                "0.01",
                "--out",
                str(run),
                *CPU,
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert (
        main(["classify", "predict", "--checkpoint", str(run), *map(str, ds.files), "--json", "--device", "cpu"]) == 0
    )
    rows = json.loads(capsys.readouterr().out)
    assert [r["class"] for r in rows] == [p.parent.name for p in ds.files]


def test_init_from_a_classifier_with_other_classes_reinitialises_the_output(classifier_run, tmp_path, caplog):
    colours = {"blue": (0, 0, 250), "red": (250, 0, 0)}
    _colour_folder(tmp_path / "d", colours, n=4, size=(28, 28))
    run = tmp_path / "tuned"
    with caplog.at_level(logging.WARNING):
        assert (
            main(
                [
                    "classify",
                    "train",
                    "--dataset",
                    "folder",
                    "--data",
                    str(tmp_path / "d"),
                    "--hidden",
                    "8",
                    "--epochs",
                    "1",
                    "--init-from",
                    str(classifier_run),
                    "--out",
                    str(run),
                    *CPU,
                ]
            )
            == 0
        )
    assert "knows 10 classes" in caplog.text and "starting the output layer afresh" in caplog.text
    assert load_file(str(run / "model.safetensors"))["model.output.weight"].shape == (2, 8)
    assert (
        main(
            [
                "classify",
                "train",
                "--dataset",
                "folder",
                "--data",
                str(tmp_path / "d"),
                "--size",
                "16",
                "--hidden",
                "8",
                "--init-from",
                str(classifier_run),
                "--out",
                str(tmp_path / "x"),
                *CPU,
            ]
        )
        == 2
    )


def test_init_from_keeps_the_hidden_layer_exactly(classifier_run):
    from artgen.classifier import Classifier, init_from

    clf = Classifier(hidden=8, num_classes=3, classes=["a", "b", "c"], device="cpu")
    assert init_from(clf, classifier_run) is True
    source = load_file(str(classifier_run / "model.safetensors"))
    assert torch.equal(clf.model.hidden.weight, source["model.hidden.weight"])
    assert torch.count_nonzero(clf.model.output.bias) == 0


def test_keras_defaults_glorot_uniform_zero_bias_and_epsilon():
    from artgen.classifier import Classifier

    clf = Classifier(device="cpu", seed=0).compile()
    w1, w2 = clf.model.hidden.weight.detach(), clf.model.output.weight.detach()
    for w in (w1, w2):
        bound = (6 / (w.shape[0] + w.shape[1])) ** 0.5
        assert float(w.abs().max()) <= bound and float(w.abs().max()) > 0.95 * bound
    assert torch.count_nonzero(clf.model.hidden.bias) == 0 and torch.count_nonzero(clf.model.output.bias) == 0
    assert clf.optimizer.param_groups[0]["eps"] == 1e-7
    torch_init = Classifier(device="cpu", seed=0, init="pytorch")
    assert torch.count_nonzero(torch_init.model.hidden.bias) > 0
    assert float(torch_init.model.hidden.weight.detach().abs().max()) <= 1 / 784**0.5


def test_fast_path_equals_autograd_with_keras_defaults():
    from artgen.classifier import Classifier, ClassifyTask

    g = torch.Generator().manual_seed(1)
    x, y = torch.rand(64, 1, 28, 28, generator=g), torch.randint(0, 10, (64,), generator=g)
    weights = []
    for fast in (True, False):
        clf = Classifier(device="cpu", seed=3).compile("adam")
        original = ClassifyTask.analytic_ok
        if not fast:
            ClassifyTask.analytic_ok = lambda *args: False
        try:
            clf.fit(x, y, epochs=2, batch_size=16, progress=False)
        finally:
            ClassifyTask.analytic_ok = original
        weights.append({k: v.clone() for k, v in clf.model.state_dict().items()})
    for k in weights[
        0
    ]:  # atol: summation order differs with the thread count (one weight of 100,352 moved 7e-6 on one thread)
        torch.testing.assert_close(weights[0][k], weights[1][k], rtol=1e-5, atol=2e-5)

"""Nothing the user has is lost and bad input is refused by name, in every head: the run-folder machinery.

One test (or more) per kind of fault that every trainer shares: overwrite, concurrent runs, interrupted
starts, unknown config keys, values checked up front, disk full, signals, image formats. Each head's own
faults are in ``test_run_safety_<head>.py``.
"""

import importlib
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from PIL import Image

from artgen.cli import main
from artgen.errors import ArtgenError, UsageError
from artgen.runs import folder as checkpoint
from artgen.runs.folder import RunDir
from artgen.runs.weights import save_weights
from run_helpers import CPU, GAN_TINY, QUICK_CLS, REPO, art_folder, same_files

# --- 1. never destroy what the user has ------------------------------------------------------


@pytest.mark.parametrize(
    "run_of, argv",
    [
        ("classifier_run", ["classify", "train", "--dataset", "folder", "--data", "{tmp}/missing", *CPU]),
        ("classifier_run", ["classify", "train", "--precision", "fp16", *QUICK_CLS]),
        ("gan_run", ["gan", "train", "--data", "{tmp}/missing", *GAN_TINY]),
        ("gan_run", ["gan", "train", "--dataset", "shapes", "--precision", "fp16", *GAN_TINY]),
        ("classifier_run", ["fast-style", "train", "--style", "swirls", "--precision", "fp16", "--steps", "1", *CPU]),
    ],
    ids=["classify-missing-data", "classify-fp16", "gan-missing-data", "gan-fp16", "fast-style-fp16"],
)
def test_overwrite_with_bad_input_keeps_the_old_run(request, tmp_path, run_of, argv):
    """Every kind of bad input after --overwrite: refused, and both old runs' files are byte-for-byte intact."""
    runs = [request.getfixturevalue(name) for name in ("classifier_run", "gan_run")]
    before = [same_files(run) for run in runs]
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main([*argv, "--out", str(request.getfixturevalue(run_of)), "--overwrite"]) == 2
    assert [same_files(run) for run in runs] == before


def _keepsakes(run: Path) -> dict[str, bytes]:
    """Files a user keeps in a run folder: a note, a favourite picture, a data folder, an empty folder, a hidden
    file."""
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


@pytest.mark.parametrize(
    "argv",
    [
        ["gan", "train", "--data", "{tmp}/art", *GAN_TINY],
        ["classify", "train", *QUICK_CLS],
        ["fast-style", "train", "--style", "swirls", "--steps", "1", "--size", "32", "--preview-every", "1", *CPU],
    ],
    ids=["gan", "classify", "fast-style"],
)
def test_overwrite_replaces_only_artgens_files_in_every_head(tmp_path, argv):
    """--overwrite replaces what artgen wrote and nothing a user put in the folder (GAN, classifier, fast style)."""
    art_folder(tmp_path / "art")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    run = tmp_path / "run"
    assert main([*argv, "--out", str(run)]) == 0
    kept = _keepsakes(run)
    assert main([*argv, "--out", str(run), "--overwrite"]) == 0
    for name, data_bytes in kept.items():
        assert (run / name).read_bytes() == data_bytes, name
    assert (run / "empty").is_dir()
    assert (run / "config.json").is_file() and (run / "model.safetensors").is_file()


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
    hold = (
        "import time\n"
        "from artgen.runs.folder import RunDir\n"
        f"RunDir({str(run)!r}).prepare()\n"
        "print('locked', flush=True)\n"
        "time.sleep(60)\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", hold],
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


# --- 2. configs that are wrong are refused alike ---------------------------------------------


@pytest.mark.parametrize(
    "module, name",
    [
        ("artgen.classifier.networks", "ClassifierConfig"),
        ("artgen.gan.networks", "GANConfig"),
        ("artgen.gan", "GANTrainConfig"),
        ("artgen.fast_style.networks", "StyleNetConfig"),
        ("artgen.fast_style", "FastStyleConfig"),
    ],
)
def test_unknown_keys_are_handled_alike_by_every_head(caplog, module, name):
    from artgen.runs.config import load_settings

    cls = getattr(importlib.import_module(module), name)
    with caplog.at_level(logging.WARNING):
        obj = load_settings(cls, {"future_knob": 1}, source="run/config.json", section="model")
    assert isinstance(obj, cls)
    assert "'run/config.json': ignoring unknown model setting(s) 'future_knob'" in caplog.text


# --- 3. values checked before work starts, with the right words ----------------------------------


@pytest.mark.parametrize(
    "argv, words",
    [
        (["classify", "train", "--out", "{tmp}/r", "--hidden", "0"], "--hidden "),
        (["classify", "train", "--out", "{tmp}/r", "--hidden", "-5"], "--hidden "),
        (["classify", "train", "--out", "{tmp}/r", "--limit", "-5"], "--limit "),
        (["classify", "train", "--out", "{tmp}/r", "--lr", "0"], "--lr "),
        (["gan", "train", "--out", "{tmp}/r", "--limit", "-5"], "--limit "),
        (["gan", "train", "--out", "{tmp}/r", "--batch-size", "0"], "--batch-size "),
        (["gan", "train", "--out", "{tmp}/r", "--lr", "-1"], "--lr "),
        (["gan", "train", "--out", "{tmp}/r", "--lr-d", "-1"], "--lr-d "),
        (["gan", "train", "--out", "{tmp}/r", "--lr-g", "0"], "--lr-g "),
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
def test_bad_values_are_refused_before_any_work_naming_the_flag(tmp_path, capsys, argv, words):
    """Every head: exit 2 before any data is read or anything written, one line naming the flag (never ``{arg}``)."""
    from artgen.images import save_image

    img = save_image(torch.rand(3, 32, 32), tmp_path / "i.png")
    argv = [a.replace("{img}", str(img)).replace("{tmp}", str(tmp_path)) for a in argv]
    start = time.perf_counter()
    assert main([*argv, *CPU]) == 2
    assert time.perf_counter() - start < 3  # before any data is read
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"artgen: error: {words}") and "{arg" not in err
    assert not (tmp_path / "r").exists() and not (tmp_path / "o.png").exists()


def test_disk_full_names_the_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    import shutil
    from collections import namedtuple

    run = RunDir(tmp_path / "run")
    run.save_state({"step": 1})

    def full(obj, f, *args, **kwargs):
        Path(f).write_bytes(b"half")
        raise RuntimeError(
            "[enforce fail at inline_container.cc:672] . "
            "PytorchStreamWriter failed writing file data/0: file write failed"
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

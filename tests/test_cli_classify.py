"""`artgen classify` end to end on tiny data: files written, exit codes, one-line errors."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from PIL import Image

from artgen.cli import main
from artgen.data import make_shapes, write_idx_mnist


def _train(out, *flags: str) -> int:
    """``artgen classify train FLAGS --out OUT --quiet``; its exit code."""
    return main(["classify", "train", *flags, "--out", str(out), "--quiet"])


def run_cli(*args, cwd=None, timeout=120):
    env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, "-m", "artgen", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
    )


@pytest.mark.long
def test_train_eval_predict_on_builtin_shapes(tmp_path, capsys):
    out = tmp_path / "run"
    assert _train(out, "--dataset", "shapes", "--limit", "2000", "--epochs", "2") == 0
    for name in ("config.json", "model.safetensors", "training_state.pt", "metrics.json", "curves.png"):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) >= {"test_accuracy", "test_loss", "history"}
    assert len(metrics["history"]["loss"]) == 2
    assert metrics["test_accuracy"] > 0.3  # 10 classes: chance is 0.1
    capsys.readouterr()

    assert main(["classify", "eval", "--checkpoint", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["test_accuracy"] == pytest.approx(metrics["test_accuracy"])

    x, y = make_shapes(3, seed=7)
    files = []
    for i in range(3):
        path = tmp_path / f"img{i}.png"
        Image.fromarray((x[i, 0] * 255).byte().numpy(), "L").save(path)
        files.append(str(path))
    assert main(["classify", "predict", "--checkpoint", str(out), *files, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["image"] for r in rows] == files
    assert all(0.0 <= r["probability"] <= 1.0 and isinstance(r["class"], str) for r in rows)


@pytest.mark.long
def test_fine_tune_from_an_earlier_run(tmp_path):
    first = tmp_path / "a"
    assert _train(first, "--limit", "500", "--epochs", "1") == 0
    second = tmp_path / "b"
    assert _train(second, "--limit", "500", "--epochs", "1", "--init-from", str(first), "--lr", "1e-4") == 0
    a = json.loads((first / "metrics.json").read_text())
    b = json.loads((second / "metrics.json").read_text())
    # starting from trained weights, the second run's first epoch is already better than the first run's
    assert b["history"]["loss"][0] < a["history"]["loss"][0]


def test_mnist_from_local_idx_files(tmp_path):
    x, y = make_shapes(300, seed=3)
    write_idx_mnist(tmp_path / "data", (x[:, 0] * 255).byte(), y.byte(), train=True)
    write_idx_mnist(tmp_path / "data", (x[:100, 0] * 255).byte(), y[:100].byte(), train=False)
    out = tmp_path / "mnist-run"
    assert _train(out, "--dataset", "mnist", "--data-root", str(tmp_path / "data"), "--epochs", "1") == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["train_images"] == 300 and metrics["test_images"] == 100


def test_labelled_image_folder(tmp_path):
    root = tmp_path / "art"
    g = torch.Generator().manual_seed(0)
    for cls, colour in (("blue", (20, 40, 220)), ("red", (220, 30, 30))):
        (root / cls).mkdir(parents=True)
        for i in range(12):
            noise = (torch.rand(3, generator=g) * 30).int().tolist()
            Image.new("RGB", (40 + i, 30), tuple(c + n for c, n in zip(colour, noise))).save(root / cls / f"{i}.png")
    (root / ".ipynb_checkpoints").mkdir()
    out = tmp_path / "run"
    flags = ["--size", "16", "--channels", "3", "--epochs", "5", "--batch-size", "4"]
    assert _train(out, "--dataset", "folder", "--data", str(root), *flags) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["classes"] == ["blue", "red"]
    assert config["model"]["in_channels"] == 3 and config["model"]["image_size"] == 16
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test_images"] == 2 and metrics["test_accuracy"] == 1.0


def test_usage_errors_exit_2_with_one_line(tmp_path):
    result = run_cli("classify", "train", "--out", tmp_path / "r", "--device", "cuda:7")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "cuda:7" in lines[0] and "Traceback" not in result.stderr

    result = run_cli("classify", "train", "--out", tmp_path / "r", "--resume")
    assert result.returncode == 2 and "nothing to resume" in result.stderr

    result = run_cli("classify", "train")  # --out missing
    assert result.returncode == 2 and "--out" in result.stderr

    result = run_cli("classify", "predict", "--checkpoint", tmp_path / "r", tmp_path / "missing.png")
    assert result.returncode == 2 and "missing.png" in result.stderr and "does not exist" in result.stderr

    (tmp_path / "ok.png").write_bytes(b"")
    result = run_cli("classify", "predict", "--checkpoint", tmp_path / "nowhere", tmp_path / "ok.png")
    assert result.returncode == 1 and "nowhere" in result.stderr and "does not exist" in result.stderr


def test_runtime_errors_exit_1_and_debug_shows_traceback(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{not json")
    result = run_cli("classify", "eval", "--checkpoint", run)
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1 and "config.json" in result.stderr
    result = run_cli("classify", "eval", "--checkpoint", run, "--debug")
    assert result.returncode == 1 and "Traceback" in result.stderr


@pytest.mark.long
def test_sigterm_saves_a_checkpoint_and_exits_cleanly(tmp_path):
    out = tmp_path / "run"
    env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "artgen",
            "classify",
            "train",
            "--limit",
            "320",
            "--epochs",
            "100000",
            "--checkpoint-every",
            "20",
            "--out",
            str(out),
            "--quiet",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    deadline = time.time() + 90
    while not (out / "training_state.pt").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
    assert (out / "training_state.pt").exists(), proc.communicate()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "SIGTERM" in err and "--resume" in err and "Traceback" not in err
    from artgen.runs.folder import RunDir

    assert RunDir(out).load_state()["step"] > 0

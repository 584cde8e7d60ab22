"""Checkpoints: exact round trip, atomic writes, safe loading, clear mismatch errors."""

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import artgen
from artgen.errors import CheckpointError
from artgen.runs.folder import RunDir, atomic_path
from artgen.runs.weights import load_state_into, load_weights_file, save_weights


def test_classifier_save_load_round_trip_is_exact(tmp_path):
    clf = artgen.Classifier(device="cpu", seed=0)
    path = clf.save(tmp_path / "run")
    config = RunDir(path).load_config()
    assert config["head"] == "classifier" and config["artgen_version"] == artgen.__version__
    assert config["model"]["hidden"] == 128
    back = artgen.Classifier.load(path, device="cpu")
    for key, value in clf.model.state_dict().items():
        assert torch.equal(value, back.model.state_dict()[key])
    x = torch.rand(4, 1, 28, 28)
    assert torch.equal(clf.predict(x), back.predict(x))


# Loads artgen.runs.folder and artgen.images with the package root left unexecuted
# (the root imports every head), writes a config and a PNG, and reports what
# was imported and which version was stamped.
_BARE_PACKAGE_SCRIPT = """
import json, sys, types
from pathlib import Path
root = types.ModuleType("artgen")
root.__path__ = [sys.argv[1]]
sys.modules["artgen"] = root
import torch
from artgen import images
from artgen.runs import folder as checkpoint
out = Path(sys.argv[2])
checkpoint.RunDir(out).save_config({"head": "none"})
images.save_image(torch.zeros(3, 4, 4), out / "x.png", metadata={"seed": 1})
print(json.dumps({
    "modules": sorted(m for m in sys.modules if m.startswith("artgen")),
    "config_version": json.loads((out / "config.json").read_text())["artgen_version"],
    "png_version": images.read_metadata(out / "x.png")["artgen_version"],
}))
"""


def test_checkpoint_and_images_stamp_the_version_without_importing_the_heads(tmp_path):
    package = Path(artgen.__file__).parent
    env = dict(os.environ, PYTHONPATH=str(package.parent))
    proc = subprocess.run(
        [sys.executable, "-c", _BARE_PACKAGE_SCRIPT, str(package), str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not [
        m
        for m in got["modules"]
        if m.startswith(("artgen.gan", "artgen.classifier", "artgen.train", "artgen.encoders"))
    ], got["modules"]
    assert set(got["modules"]) <= {
        "artgen",
        "artgen.runs",
        "artgen.runs.folder",
        "artgen.runs.weights",
        "artgen.errors",
        "artgen.runs.atomic",
        "artgen.version",
        "artgen.images",
        "artgen.images.reading",
        "artgen.images.writing",
        "artgen.images.grids",
        "artgen.images.colour",
    }
    assert got["config_version"] == got["png_version"] == artgen.__version__


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize("suffix", [".pt", ".pth"])
def test_hostile_pickle_is_refused_and_runs_no_code(tmp_path, suffix):
    marker = tmp_path / "pwned"
    evil = tmp_path / f"weights{suffix}"
    with open(evil, "wb") as handle:
        pickle.dump({"weight": _Exploit(marker)}, handle)
    with pytest.raises(CheckpointError, match="refusing to load"):
        load_weights_file(evil)
    assert not marker.exists()
    # the same through a run folder's training state
    run = RunDir(tmp_path / "run")
    run.path.mkdir()
    run.state_path.write_bytes(evil.read_bytes())
    with pytest.raises(CheckpointError):
        run.load_state()
    assert not marker.exists()


def test_plain_state_dict_pt_loads(tmp_path):
    model = nn.Linear(3, 2)
    torch.save(model.state_dict(), tmp_path / "w.pth")
    loaded = load_weights_file(tmp_path / "w.pth")
    assert torch.equal(loaded["weight"], model.weight)


def test_mismatch_errors_list_keys_and_shapes():
    model = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1))
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state["extra.bias"] = torch.zeros(1)
    del state["1.bias"]
    state["0.weight"] = torch.zeros(5, 3)
    with pytest.raises(CheckpointError) as info:
        load_state_into(model, state)
    message = str(info.value)
    assert "missing keys: 1.bias" in message
    assert "unexpected keys: extra.bias" in message
    assert "0.weight (file (5, 3), model (2, 3))" in message


def test_interrupted_write_keeps_the_previous_file(tmp_path):
    target = tmp_path / "model.safetensors"
    save_weights(target, {"m": nn.Linear(2, 2)})
    before = target.read_bytes()
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half a checkp")
        raise RuntimeError("power cut")
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]


def test_interrupted_state_save_keeps_previous_state(tmp_path, monkeypatch):
    run = RunDir(tmp_path)
    run.save_state({"step": 1})

    def broken_save(obj, f, *a, **k):
        with open(f, "wb") as handle:
            handle.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(KeyboardInterrupt):
        run.save_state({"step": 2})
    monkeypatch.undo()
    assert run.load_state()["step"] == 1


def test_run_folder_refuses_to_clobber_or_resume_nothing(tmp_path):
    from artgen.errors import UsageError

    run = RunDir(tmp_path / "r")
    with pytest.raises(UsageError, match="nothing to resume"):
        run.prepare(resume=True)
    run.prepare()
    run.save_config({"head": "classifier"})
    save_weights(run.weights_path, {"model": nn.Linear(2, 2)})
    with pytest.raises(UsageError, match="already holds a run"):
        RunDir(tmp_path / "r").prepare()
    RunDir(tmp_path / "r").prepare(overwrite=True)
    assert run.weights_path.is_file()  # nothing is deleted before the new run has a checkpoint


def test_compiled_and_wrapped_modules_save_unprefixed_keys(tmp_path):
    model = nn.Linear(2, 2)

    class Wrapper(nn.Module):
        def __init__(self, inner):
            super().__init__()
            self._orig_mod = inner

    save_weights(tmp_path / "w.safetensors", {"model": Wrapper(model)})
    assert set(load_weights_file(tmp_path / "w.safetensors")) == {"model.weight", "model.bias"}

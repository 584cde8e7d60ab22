"""One start-up sequence (artgen.runs.setup.start_run): one process-group join, one auto-precision rule, resumes that report changed settings."""

from __future__ import annotations

import json
import logging

import pytest
import torch

from artgen import distributed
from artgen.cli import main
from artgen.device import auto_precision

CPU, CUDA, MPS = torch.device("cpu"), torch.device("cuda"), torch.device("mps")


@pytest.mark.parametrize(
    "device,kwargs,expected",
    [
        (CUDA, dict(bf16_supported=True), "bf16"),
        (CUDA, dict(bf16_supported=False), "fp16"),  # training: fp16 has loss scaling
        (CUDA, dict(bf16_supported=False, loss_scaling=False), "fp32"),  # style transfer's L-BFGS: no loss scaling
        (CUDA, dict(bf16_supported=True, loss_scaling=False), "bf16"),
        (CPU, dict(), "fp32"),
        (CPU, dict(bf16_supported=True), "fp32"),  # bf16 on a CPU only when asked for
        (CPU, dict(cpu_bf16=True, bf16_supported=True), "bf16"),
        (CPU, dict(cpu_bf16=True, bf16_supported=False), "fp32"),
        (MPS, dict(), "fp32"),
        (MPS, dict(cpu_bf16=True, bf16_supported=True, loss_scaling=False), "fp32"),
    ],
)
def test_one_auto_precision_rule(device, kwargs, expected):
    assert auto_precision(device, **kwargs) == expected


def test_stylize_auto_precision_is_the_same_rule_without_loss_scaling():
    from artgen.style_transfer import stylize_precision

    assert stylize_precision("auto", CPU) == auto_precision(CPU, loss_scaling=False, cpu_bf16=True)
    assert stylize_precision("auto", MPS) == "fp32"


@pytest.fixture
def init_calls(monkeypatch):
    calls = []
    real = distributed.init

    def counting(device):
        calls.append(device)
        return real(device)

    monkeypatch.setattr(distributed, "init", counting)
    return calls


def test_trainer_reuses_the_setup(tmp_path, init_calls):
    from artgen.runs.setup import start_run
    from artgen.train import Repeat, Task, Trainer

    class Count(Task):
        def __init__(self):
            self.w = torch.nn.Parameter(torch.zeros(()))
            self.modules = {"m": torch.nn.ParameterList([self.w])}
            self.optimizers = {}

        def train_step(self, batch, ctx):
            return {"loss": self.w.detach() + 1}

    setup = start_run(tmp_path / "run", device="cpu", precision="auto", seed=3)
    assert setup.precision.name == "fp32" and setup.seed == 3 and setup.saved is None
    trainer = Trainer(Count(), Repeat(2), max_steps=2, setup=setup, progress=False)
    assert trainer.dist is setup.dist and trainer.precision is setup.precision and trainer.run_dir is setup.run_dir
    trainer.fit()
    assert len(init_calls) == 1
    assert (tmp_path / "run" / "training_state.pt").is_file()


def test_each_head_joins_the_process_group_once(tmp_path, init_calls):
    from artgen.fast_style import train_fast_style
    from artgen.gan import train_gan

    train_gan(
        out=tmp_path / "gan", dataset="shapes", limit=16, size=32, steps=1, batch_size=8, device="cpu", progress=False
    )
    assert len(init_calls) == 1
    train_fast_style(
        "swirls",
        None,
        tmp_path / "fs",
        steps=1,
        progress=False,
        device="cpu",
        arch="small",
        size=32,
        batch_size=2,
        backbone="random",
        preview_every=None,
        checkpoint_every=None,
    )
    assert len(init_calls) == 2
    assert (
        main(
            [
                "classify",
                "train",
                *_classes(tmp_path / "pics"),
                "--epochs",
                "1",
                "--out",
                str(tmp_path / "clf"),
                "--quiet",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    assert len(init_calls) == 3


def _classes(root):
    """Two classes of six 8x8 pictures: a labelled folder that loads in milliseconds."""
    from PIL import Image

    g = torch.Generator().manual_seed(0)
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        for i in range(6):
            Image.fromarray((torch.rand(8, 8, generator=g) * 255).byte().numpy(), "L").save(root / name / f"{i}.png")
    return ["--dataset", "folder", "--data", str(root), "--size", "8"]


def _resume_warnings(caplog):
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and "resuming with the saved" in r.getMessage()
    ]


def test_gan_resume_reports_a_different_precision_and_batch_size_and_keeps_the_saved_ones(tmp_path, caplog):
    from artgen.gan import train_gan

    run = tmp_path / "run"
    train_gan(
        out=run,
        dataset="shapes",
        limit=16,
        size=32,
        steps=1,
        batch_size=8,
        device="cpu",
        precision="fp32",
        progress=False,
    )
    with caplog.at_level(logging.WARNING, logger="artgen"):
        gan = train_gan(out=run, resume=True, steps=2, batch_size=4, precision="bf16", device="cpu", progress=False)
    messages = _resume_warnings(caplog)
    assert any("batch_size=8" in m and "4" in m for m in messages), messages
    assert any("precision='fp32'" in m and "'bf16'" in m for m in messages), messages
    assert len(messages) == 2  # steps raised is training longer, not a change
    assert gan.train_config.batch_size == 8 and gan.train_config.steps == 2
    assert json.loads((run / "config.json").read_text())["precision"] == "fp32"
    assert torch.load(run / "training_state.pt", weights_only=True)["step"] == 2


def test_cli_resume_reports_only_the_flags_typed(tmp_path, caplog):
    run = tmp_path / "run"
    tiny = [*_classes(tmp_path / "pics"), "--epochs", "1", "--out", str(run), "--quiet", "--device", "cpu"]
    assert main(["classify", "train", "--batch-size", "16", *tiny]) == 0
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="artgen"):
        assert (
            main(["classify", "train", "--resume", *tiny]) == 0
        )  # --batch-size left at its default (32): nothing to report
    assert _resume_warnings(caplog) == []
    with caplog.at_level(logging.WARNING, logger="artgen"):
        assert main(["classify", "train", "--resume", "--batch-size", "8", "--seed", "5", *tiny]) == 0
    messages = _resume_warnings(caplog)
    assert any("batch_size=16" in m and "8" in m for m in messages), messages
    assert any("seed=0" in m and "5" in m for m in messages), messages
    train = json.loads((run / "config.json").read_text())["train"]
    assert train["batch_size"] == 16 and train["seed"] == 0 and train["precision"] == "fp32"


def test_fast_style_cli_resume_reports_typed_options(tmp_path, caplog):
    from artgen.errors import TrainingInterrupted
    from artgen.fast_style import train_fast_style
    from artgen.train import Callback

    class Stop(Callback):
        def on_step_end(self, trainer, step):
            trainer.request_stop("test")

    run = tmp_path / "run"
    with pytest.raises(TrainingInterrupted):
        train_fast_style(
            "swirls",
            None,
            run,
            steps=2,
            progress=False,
            device="cpu",
            callbacks=[Stop()],
            arch="small",
            size=32,
            batch_size=2,
            backbone="random",
            preview_every=None,
            checkpoint_every=None,
        )
    with caplog.at_level(logging.WARNING, logger="artgen"):
        assert (
            main(
                [
                    "fast-style",
                    "train",
                    "--out",
                    str(run),
                    "--resume",
                    "--batch-size",
                    "3",
                    "--quiet",
                    "--device",
                    "cpu",
                ]
            )
            == 0
        )
    messages = _resume_warnings(caplog)
    assert len(messages) == 1 and "batch_size=2" in messages[0] and "3" in messages[0], messages
    assert json.loads((run / "config.json").read_text())["train"]["batch_size"] == 2


def test_save_pretrained_and_from_pretrained_round_trip(tmp_path):
    from artgen.errors import CheckpointError
    from artgen.runs.setup import from_pretrained, save_pretrained

    torch.manual_seed(1)
    a, b = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    path = save_pretrained(tmp_path / "m", {"head": "toy", "model": {"width": 2}}, {"net": a})
    assert (path / "config.json").is_file() and (path / "model.safetensors").is_file()
    saved = from_pretrained(path, "toy", "toy model")
    assert saved.config["model"] == {"width": 2} and "artgen_version" in saved.config
    saved.load_into({"net": b}, lambda name: f"{name} in '{path}'")
    torch.testing.assert_close(a.weight, b.weight)
    with pytest.raises(CheckpointError, match="holds a 'toy' run, not a GAN"):
        from_pretrained(path, "gan", "GAN")
    with pytest.raises(CheckpointError, match="other in"):
        saved.load_into({"other": torch.nn.Linear(3, 2)}, lambda name: f"{name} in '{path}'")

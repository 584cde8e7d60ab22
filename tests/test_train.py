"""The shared training loop: learning, resume, signals, NaN guard, optimizers, seeding."""

import os
import signal

import pytest
import torch
from torch import nn

import artgen
from artgen import losses
from artgen.errors import NonFiniteLossError, TrainingInterrupted, UsageError
from artgen.optim import make_optimizer
from artgen.runs.folder import RunDir
from artgen.train import Callback, Repeat, Task, TensorBatches, Trainer


def toy_data(n=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, 4, 4, generator=g)
    y = (x.flatten(1)[:, :8].sum(1) > x.flatten(1)[:, 8:].sum(1)).long()
    return x, y


def make_clf(seed=0, optimizer="adam"):
    clf = artgen.Classifier(in_channels=1, image_size=4, hidden=16, num_classes=2, device="cpu", seed=seed)
    clf.compile(optimizer, loss="cross_entropy", metrics=["accuracy"], lr=0.05 if optimizer == "sgd" else 0.01)
    return clf


def weights(clf):
    return {k: v.clone() for k, v in clf.model.state_dict().items()}


def test_loop_learns_a_toy_problem_and_returns_keras_history():
    x, y = toy_data()
    clf = make_clf()
    history = clf.fit(x, y, epochs=8, batch_size=32, validation_data=toy_data(128, seed=1), progress=False)
    assert history.epoch == list(range(1, 9))
    assert len(history["loss"]) == 8 and len(history["val_accuracy"]) == 8
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert history["val_accuracy"][-1] > 0.85
    probs = clf.predict(x[:5])
    assert probs.shape == (5, 2) and torch.allclose(probs.sum(1), torch.ones(5), atol=1e-5)


def test_same_seed_same_weights_and_losses():
    x, y = toy_data()
    runs = []
    for _ in range(2):
        clf = make_clf(seed=3)
        h = clf.fit(x, y, epochs=2, batch_size=16, progress=False, seed=3)
        runs.append((weights(clf), h["loss"]))
    assert runs[0][1] == runs[1][1]
    for k in runs[0][0]:
        assert torch.equal(runs[0][0][k], runs[1][0][k])
    other = make_clf(seed=4)
    assert not torch.equal(other.model.hidden.weight, make_clf(seed=3).model.hidden.weight)


class StopAt(Callback):
    def __init__(self, step, how="request"):
        self.step = step
        self.how = how

    def on_step_end(self, trainer, step):
        if step == self.step:
            if self.how == "sigterm":
                os.kill(os.getpid(), signal.SIGTERM)
            else:
                trainer.request_stop("test")


def test_library_fit_prepares_and_locks_its_run_folder_as_the_command_line_does(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    x, y = toy_data(64)
    run = tmp_path / "run"
    make_clf(seed=1).fit(x, y, epochs=1, batch_size=32, run_dir=run, progress=False)
    before = (run / "model.safetensors").read_bytes()
    with pytest.raises(UsageError, match="already holds a run"):
        make_clf(seed=2).fit(x, y, epochs=1, batch_size=32, run_dir=run, progress=False)
    assert (run / "model.safetensors").read_bytes() == before  # the refused call changed nothing
    make_clf(seed=2).fit(x, y, epochs=1, batch_size=32, run_dir=run, overwrite=True, progress=False)
    assert (run / "model.safetensors").read_bytes() != before

    busy = tmp_path / "busy"
    code = f"from artgen.runs.folder import RunDir; RunDir({str(busy)!r}).prepare(); print('locked', flush=True); import time; time.sleep(60)"
    holder = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1])),
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(UsageError, match="in use by another training"):
            make_clf().fit(x, y, epochs=1, batch_size=32, run_dir=busy, progress=False)
    finally:
        holder.kill()
        holder.wait()
    assert not (busy / "model.safetensors").exists()


@pytest.mark.parametrize("how", ["request", "sigterm"])
def test_interrupt_then_resume_reaches_the_uninterrupted_weights(tmp_path, how):
    x, y = toy_data(200)
    full = make_clf(seed=1)
    full.fit(x, y, epochs=3, batch_size=32, progress=False, seed=1)

    first = make_clf(seed=1)
    with pytest.raises(TrainingInterrupted) as info:
        first.fit(
            x,
            y,
            epochs=3,
            batch_size=32,
            run_dir=tmp_path / "run",
            progress=False,
            seed=1,
            callbacks=[StopAt(10, how)],
        )
    assert "step 10" in str(info.value) and "continue with resume=True" in str(info.value)
    state = RunDir(tmp_path / "run").load_state()
    assert state["step"] == 10

    resumed = make_clf(seed=99)  # different init: everything must come from the checkpoint
    history = resumed.fit(x, y, epochs=3, batch_size=32, run_dir=tmp_path / "run", resume=True, progress=False, seed=1)
    for key, value in weights(full).items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key
    assert len(history["loss"]) == 3
    assert (tmp_path / "run" / "model.safetensors").is_file()
    assert (tmp_path / "run" / "curves.png").is_file()


def test_sigterm_handler_is_restored_after_training():
    before = signal.getsignal(signal.SIGTERM)
    x, y = toy_data(64)
    make_clf().fit(x, y, epochs=1, batch_size=32, progress=False)
    assert signal.getsignal(signal.SIGTERM) is before


class NanTask(Task):
    def __init__(self, bad_step):
        self.w = nn.Linear(2, 1)
        self.modules = {"w": self.w}
        self.optimizers = {"opt": torch.optim.SGD(self.w.parameters(), lr=0.1)}
        self.bad_step = bad_step

    def train_step(self, batch, ctx):
        loss = self.w(torch.ones(1, 2)).sum() ** 2
        if ctx.step + 1 == self.bad_step:
            loss = loss * float("nan")
        ctx.optimize(loss, self.optimizers["opt"])
        return {"loss": loss.detach()}


def test_nan_loss_stops_with_the_step_number(tmp_path):
    trainer = Trainer(
        NanTask(bad_step=37),
        Repeat(100),
        epochs=1,
        device="cpu",
        progress=False,
        run_dir=RunDir(tmp_path / "r"),
        checkpoint_every=20,
        log_every=50,
    )
    with pytest.raises(NonFiniteLossError) as info:
        trainer.fit()
    message = str(info.value)
    assert "step 37" in message and "nan" in message
    assert "step 20" in message  # the last good checkpoint is named
    assert RunDir(tmp_path / "r").load_state()["step"] == 20


def test_plain_sgd_is_the_documents_update_rule():
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    before = [p.detach().clone() for p in model.parameters()]
    opt = make_optimizer("sgd", model.parameters(), lr=0.1)
    x = torch.randn(5, 3)
    y = torch.randn(5, 1)
    loss = losses.mse(model(x), y)
    grads = torch.autograd.grad(loss, list(model.parameters()))
    opt.zero_grad()
    losses.mse(model(x), y).backward()
    opt.step()
    for p, w0, g in zip(model.parameters(), before, grads):
        assert torch.allclose(p, w0 - 0.1 * g)


def test_adam_matches_torch_adam_and_round_trips_state():
    torch.manual_seed(0)
    a, b = nn.Linear(6, 4), nn.Linear(6, 4)
    b.load_state_dict(a.state_dict())
    opt_a = torch.optim.Adam(a.parameters(), lr=1e-2, foreach=False)
    opt_b = make_optimizer("adam", b.parameters(), lr=1e-2)
    assert isinstance(opt_b, torch.optim.Adam)
    for _step in range(5):
        x = torch.randn(8, 6)
        for model, opt in ((a, opt_a), (b, opt_b)):
            opt.zero_grad()
            model(x).pow(2).mean().backward()
            opt.step()
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.allclose(pa, pb, atol=1e-6)
    fresh = make_optimizer("adam", b.parameters(), lr=1e-2)
    fresh.load_state_dict(opt_b.state_dict())
    assert fresh.state_dict()["state"][0]["step"] == 5


def test_tensor_batches_order_depends_only_on_seed_and_epoch():
    x = torch.arange(10).float().unsqueeze(1)
    src = TensorBatches(x, batch_size=3, seed=5)
    assert len(src) == 4
    full = [b[0] for b in src.epoch(2)]
    tail = [b[0] for b in src.epoch(2, start=2)]
    assert all(torch.equal(p, q) for p, q in zip(full[2:], tail))
    assert sorted(torch.cat(full).flatten().tolist()) == list(range(10))
    assert not torch.equal(torch.cat(full), torch.cat([b[0] for b in src.epoch(3)]))


def test_gan_style_two_optimizer_step_runs_on_the_loop():
    """Two modules and two optimizers stepped inside one train_step, as the GAN head does."""

    class TwoOpt(Task):
        def __init__(self):
            self.g, self.d = nn.Linear(2, 2), nn.Linear(2, 1)
            self.modules = {"g": self.g, "d": self.d}
            self.optimizers = {
                "g": torch.optim.Adam(self.g.parameters(), 1e-2),
                "d": torch.optim.Adam(self.d.parameters(), 1e-2),
            }

        def train_step(self, real, ctx):
            (real,) = real
            z = torch.randn(len(real), 2)
            d_loss = losses.gan_d_loss(self.d(real), self.d(self.g(z).detach()))
            ctx.optimize(d_loss, self.optimizers["d"])
            g_loss = losses.gan_g_loss(self.d(self.g(z)))
            ctx.optimize(g_loss, self.optimizers["g"])
            return {"loss": d_loss.detach() + g_loss.detach(), "d_loss": d_loss.detach(), "g_loss": g_loss.detach()}

    task = TwoOpt()
    g0, d0 = task.g.weight.clone(), task.d.weight.clone()
    history = Trainer(
        task, TensorBatches(torch.randn(64, 2) + 3, batch_size=16), max_steps=10, device="cpu", progress=False
    ).fit()
    assert not torch.equal(g0, task.g.weight) and not torch.equal(d0, task.d.weight)
    assert set(history.steps[-1][1]) == {"loss", "d_loss", "g_loss"}


def test_image_optimisation_with_lbfgs_closure_runs_on_the_loop():
    class FitImage(Task):
        def __init__(self):
            self.image = nn.Parameter(torch.zeros(1, 3, 8, 8))
            holder = nn.Module()
            holder.image = self.image
            self.modules = {"image": holder}
            self.optimizers = {"lbfgs": torch.optim.LBFGS([self.image], lr=1, max_iter=1)}
            self.target = torch.rand(1, 3, 8, 8)

        def train_step(self, _, ctx):
            def closure():
                self.optimizers["lbfgs"].zero_grad()
                loss = losses.mse(self.image, self.target) + 0.01 * losses.tv_loss(self.image)
                loss.backward()
                return loss

            return {"loss": self.optimizers["lbfgs"].step(closure).detach()}

    task = FitImage()
    history = Trainer(task, Repeat(20), epochs=1, device="cpu", progress=False, log_every=5).fit()
    assert history["loss"][0] < 0.05


def test_precision_and_device_errors():
    from artgen.device import Precision, resolve_device

    with pytest.raises(UsageError, match="fp16"):
        Precision.create("fp16", torch.device("cpu"))
    with pytest.raises(UsageError, match="precision"):
        Precision.create("fp8", torch.device("cpu"))
    if not torch.cuda.is_available():
        with pytest.raises(UsageError, match="CUDA is not available"):
            resolve_device("cuda:0")
    with pytest.raises(UsageError):
        resolve_device("tpu")
    assert resolve_device("cpu").type == "cpu"


def test_bf16_autocast_trains_on_cpu():
    x, y = toy_data(128)
    clf = make_clf()
    history = clf.fit(x, y, epochs=3, batch_size=32, precision="bf16", progress=False)
    assert history["loss"][-1] < history["loss"][0]


def test_adam_runs_step_hooks():
    model = nn.Linear(3, 2)
    opt = make_optimizer("adam", model.parameters(), lr=1e-2)
    calls = []
    opt.register_step_pre_hook(lambda o, args, kwargs: calls.append("pre"))
    opt.register_step_post_hook(lambda o, args, kwargs: calls.append("post"))
    model(torch.randn(4, 3)).sum().backward()
    before = model.weight.detach().clone()
    opt.step()
    assert calls == ["pre", "post"]
    assert not torch.equal(before, model.weight)


def test_adam_moments_never_turn_denormal():
    """Weights whose gradient stops (a rarely inked pixel): their first moment decays by 0.9 a step.

    Without denormal flushing (none here: outside the loop, on any thread) it would pass
    below float32's smallest normal number (1.18e-38) after ~740 steps; the optimizer zeroes it first.
    """
    from artgen.optim import MOMENT_FLOOR_EVERY

    w = nn.Parameter(torch.zeros(1000))
    opt = make_optimizer("adam", [w], lr=1e-3)
    w.grad = torch.full_like(w, 1e-3)
    opt.step()
    w.grad = torch.zeros_like(w)
    tiny = torch.finfo(torch.float32).tiny
    seen_small = False
    for step in range(2, 1000):
        opt.step()
        m = opt.state[w]["exp_avg"]
        assert not bool(((m != 0) & (m.abs() < tiny)).any()), f"denormal first moment at step {step}"
        seen_small = seen_small or bool((m.abs() < 1e-30).any())
    assert seen_small and bool((opt.state[w]["exp_avg"] == 0).all())  # it did get small, and was zeroed
    reference = torch.optim.Adam([nn.Parameter(torch.zeros(3))], lr=1e-3)  # the plain optimizer does go denormal
    p = reference.param_groups[0]["params"][0]
    p.grad = torch.full_like(p, 1e-3)
    reference.step()
    p.grad = torch.zeros_like(p)
    torch.set_flush_denormal(False)
    for _ in range(MOMENT_FLOOR_EVERY * 8):
        reference.step()
    m = reference.state[p]["exp_avg"]
    assert bool(((m != 0) & (m.abs() < tiny)).any())


@pytest.mark.parametrize("world_size", [1, 2, 4])
def test_tensor_batches_gathered_in_blocks_follow_the_epoch_order(world_size):
    """Shuffled rows are gathered several batches at a time; every process still gets its slice of each batch."""
    n, bs = 203, 8
    x, y = torch.arange(n, dtype=torch.float64).unsqueeze(1), torch.arange(n)
    (whole,) = TensorBatches(y, batch_size=n, seed=7).epoch(1)  # the epoch's order, in one batch
    order = whole[0]
    assert sorted(order.tolist()) == list(range(n)) and order.tolist() != list(range(n))
    per_rank = []
    for rank in range(world_size):
        src = TensorBatches(
            x, y, batch_size=bs, seed=7, gather_bytes=3 * 8 * 8
        )  # 3 rows of one float64 and one int64: tiny blocks
        if world_size > 1:
            src.shard(rank, world_size)
        per_rank.append(list(src.epoch(1, start=3)))
    assert len(per_rank[0]) == (n // bs if world_size > 1 else -(-n // bs)) - 3
    for k in range(len(per_rank[0])):
        i = k + 3
        xs = torch.cat([per_rank[r][k][0] for r in range(world_size)]).squeeze(1).long()
        ys = torch.cat([per_rank[r][k][1] for r in range(world_size)])
        assert torch.equal(xs, order[i * bs : (i + 1) * bs])
        assert torch.equal(ys, xs)


def test_per_sample_values_are_averaged_per_step():
    """A train_step may return a 1-D tensor (one value per sample); the step's value is its mean."""

    class Counting(Task):
        def __init__(self):
            self.w = nn.Parameter(torch.zeros(1))
            self.modules = {"m": nn.ParameterList([self.w])}
            self.optimizers = {"o": torch.optim.SGD([self.w], lr=0.0)}

        def train_step(self, batch, ctx):
            (x,) = batch
            return {"loss": self.w.sum() + 1.0, "hit": x[:, 0] > 4}

    x = torch.arange(10, dtype=torch.float32).unsqueeze(1)  # batches in order: [0..3], [4..7], [8, 9]
    history = Trainer(
        Counting(), TensorBatches(x, batch_size=4, shuffle=False), epochs=1, device="cpu", progress=False, log_every=2
    ).fit()
    assert history["hit"] == [pytest.approx((0 + 3 / 4 + 1) / 3)]
    assert history.steps[0][1]["hit"] == pytest.approx(3 / 8)


def test_flush_denormal_flushes_on_the_calling_thread():
    from artgen.device import set_flush_denormal

    tiny = torch.full((64,), 1e-39)  # denormal in float32; small enough to be computed on this thread
    assert (tiny * 1.0).min().item() > 0
    if not set_flush_denormal(True):
        pytest.skip("this CPU cannot flush denormals")
    try:
        product = tiny * 1.0
    finally:
        set_flush_denormal(False)
    assert torch.count_nonzero(product).item() == 0  # inspected with denormals back on
    assert (tiny * 1.0).min().item() > 0


@pytest.mark.parametrize("mode", [True, False])
def test_training_leaves_the_flush_denormal_mode_as_it_found_it(mode):
    from artgen.device import flush_denormal_enabled

    if not torch.set_flush_denormal(mode) and mode:
        pytest.skip("this CPU cannot flush denormals")
    try:
        assert flush_denormal_enabled() is mode
        x, y = toy_data(64)
        make_clf().fit(x, y, epochs=1, batch_size=32, progress=False)  # flushes while it trains
        assert flush_denormal_enabled() is mode
    finally:
        torch.set_flush_denormal(False)


def test_constant_cache_is_bounded():
    from artgen.device import CONSTANT_CACHE_SIZE, constant

    like = torch.zeros(())
    first = constant(0.5, like)
    assert constant(0.5, like) is first and first.item() == 0.5  # reused while recent
    for i in range(CONSTANT_CACHE_SIZE):
        constant(1000.0 + i, like)
    assert constant(0.5, like) is not first  # dropped once CONSTANT_CACHE_SIZE newer values came


def test_cudnn_benchmark_is_scoped():
    from artgen.device import cudnn_benchmark

    before = torch.backends.cudnn.benchmark
    try:
        torch.backends.cudnn.benchmark = False
        with cudnn_benchmark(torch.device("cuda")):  # only the flag is touched: no GPU needed
            assert torch.backends.cudnn.benchmark is True
        assert torch.backends.cudnn.benchmark is False
        with pytest.raises(KeyError), cudnn_benchmark(torch.device("cuda")):
            raise KeyError("fails inside")
        assert torch.backends.cudnn.benchmark is False
        with cudnn_benchmark(torch.device("cpu")):
            assert torch.backends.cudnn.benchmark is False
    finally:
        torch.backends.cudnn.benchmark = before


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh"])
def test_classifier_fast_path_trains_like_autograd(activation):
    """The dense classifier's hand-derived backward reaches the weights autograd reaches."""
    from artgen.classifier import ClassifyTask
    from artgen.classifier.networks import ClassifierConfig, DenseClassifier

    x, y = toy_data(96)
    y = y + (x.flatten(1)[:, 0] > 0.5).long()  # three classes
    runs = []
    for analytic in (True, False):
        torch.manual_seed(0)
        model = DenseClassifier(
            ClassifierConfig(in_channels=1, image_size=4, hidden=12, num_classes=3, activation=activation)
        )
        calls = []
        fast = model.cross_entropy_backward
        model.cross_entropy_backward = lambda *a, calls=calls, fast=fast: calls.append(1) or fast(*a)
        task = ClassifyTask(model, make_optimizer("adam", model.parameters(), lr=0.01), losses.cross_entropy)
        task.analytic_backward = analytic
        history = Trainer(
            task, TensorBatches(x, y, batch_size=16, seed=1), epochs=3, device="cpu", progress=False
        ).fit()
        assert bool(calls) == analytic  # the closed-form backward runs only when asked for
        runs.append((model, history))
    (fast_model, fast_history), (slow_model, slow_history) = runs
    for a, b in zip(fast_model.parameters(), slow_model.parameters()):
        assert torch.allclose(a, b, atol=1e-5)
    assert fast_history["loss"] == pytest.approx(slow_history["loss"], rel=1e-5)
    assert fast_history["accuracy"] == pytest.approx(slow_history["accuracy"])


def test_classifier_fast_path_is_skipped_where_it_does_not_apply():
    from artgen.classifier import ClassifyTask
    from artgen.classifier.networks import DenseClassifier
    from artgen.device import Precision
    from artgen.train import StepContext

    model = DenseClassifier()
    task = ClassifyTask(model, make_optimizer("adam", model.parameters()), losses.cross_entropy)
    cpu = torch.device("cpu")
    fp32, bf16 = StepContext(cpu, Precision.create("fp32", cpu)), StepContext(cpu, Precision.create("bf16", cpu))
    x, y = torch.rand(4, 1, 28, 28), torch.tensor([1, 2, 3, 4])
    assert task.analytic_ok(x, y, fp32)
    assert not task.analytic_ok(x, y, bf16)
    assert not task.analytic_ok(x, torch.nn.functional.one_hot(y, 10).float(), fp32)  # soft targets
    assert not task.analytic_ok(x.double(), y, fp32)
    task.loss_fn = losses.mse
    assert not task.analytic_ok(x, y, fp32)


def test_curves_are_redrawn_at_checkpoints_at_most_every_min_interval_and_always_at_the_end(monkeypatch):
    """Redrawing costs ~0.3 s; a run checkpointing every few steps used to spend most of its time on it."""
    from types import SimpleNamespace

    from artgen.train import callbacks

    drawn = []
    history = SimpleNamespace(epoch=[1], steps=[(1, {})], plot=lambda path, title=None: drawn.append(path))
    trainer = SimpleNamespace(history=history)
    clock = [100.0]
    monkeypatch.setattr(callbacks.time, "monotonic", lambda: clock[0])
    plot = callbacks.CurvePlot("curves.png", min_interval=30.0)
    for _ in range(3):  # three checkpoints within a second: the first draws
        plot.on_checkpoint(trainer, 5)
        clock[0] += 0.2
    assert len(drawn) == 1
    clock[0] += 30
    plot.on_checkpoint(trainer, 10)
    assert len(drawn) == 2
    plot.on_train_end(trainer)  # the end always draws, however recent the last drawing
    assert len(drawn) == 3

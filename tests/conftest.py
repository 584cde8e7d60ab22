import os

import pytest
import torch

os.environ.setdefault("ARTGEN_OFFLINE", "1")
torch.set_num_threads(min(2, torch.get_num_threads()))


def _odd_even_ratio(x: torch.Tensor) -> tuple[float, float]:
    """Mean |difference| across odd over even column (then row) boundaries: 1 without a 2-pixel ripple."""
    cols = (x[..., 1:] - x[..., :-1]).abs().mean(dim=tuple(range(x.dim() - 1)))
    rows = (x[..., 1:, :] - x[..., :-1, :]).abs().transpose(-1, -2).mean(dim=tuple(range(x.dim() - 1)))
    return (cols[1::2].mean() / cols[0::2].mean()).item(), (rows[1::2].mean() / rows[0::2].mean()).item()


@pytest.fixture
def odd_even_ratio():
    """The function measuring a picture's 2-pixel ripple (columns, rows); see ``_odd_even_ratio``."""
    return _odd_even_ratio


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield


def pytest_collection_modifyitems(config, items):
    skip_gpu = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords and not torch.cuda.is_available():
            item.add_marker(skip_gpu)


@pytest.fixture
def stop_at():
    """``stop_at(step)``: a training callback that asks the loop to stop after ``step`` (saving a checkpoint, as
    Ctrl-C does)."""
    from artgen.train import Callback

    class StopAt(Callback):
        def __init__(self, step: int):
            self.at = step

        def on_step_end(self, trainer, step):
            if step == self.at:
                trainer.request_stop("test")

    return StopAt


@pytest.fixture
def random_fast_style():
    """``random_fast_style(arch="small", seed=0)``: a :class:`artgen.FastStyle` on the CPU with seeded random weights
    and non-trivial instance-norm scales and shifts (tiling and seamless tests need a network whose output depends
    on them)."""
    from artgen.fast_style import FastStyle
    from artgen.fast_style.networks import StyleNet, StyleNetConfig

    def make(arch: str = "small", seed: int = 0) -> FastStyle:
        torch.manual_seed(seed)
        net = StyleNet(StyleNetConfig.for_arch(arch))
        for m in net.modules():
            if isinstance(m, torch.nn.InstanceNorm2d):
                m.weight.data.uniform_(0.5, 1.5)
                m.bias.data.uniform_(-0.5, 0.5)
        return FastStyle(net, device="cpu")

    return make


@pytest.fixture(scope="session")
def classifier_run(tmp_path_factory):
    """A classifier run folder from ``run_helpers.QUICK_CLS`` (10 shapes classes, 8 hidden units); tests only read
    it."""
    from artgen.cli import main
    from run_helpers import QUICK_CLS

    run = tmp_path_factory.mktemp("cls") / "run"
    assert main(["classify", "train", "--out", str(run), *QUICK_CLS]) == 0
    return run


@pytest.fixture(scope="session")
def gan_run(tmp_path_factory):
    """A GAN run folder from ``run_helpers.GAN_TINY`` on four 40x36 noise pictures; tests only read it."""
    from artgen.cli import main
    from run_helpers import GAN_TINY, art_folder

    root = tmp_path_factory.mktemp("gan")
    run = root / "run"
    assert main(["gan", "train", "--data", str(art_folder(root / "art")), "--out", str(run), *GAN_TINY]) == 0
    return run

"""The notebook API as a Jupyter user sees it: one figure per plot, progress bars without warnings."""

import json
import os
import subprocess
import sys
import warnings

import pytest
import torch

pytest.importorskip("IPython")
pytest.importorskip("matplotlib_inline")

# An IPython shell with Jupyter's inline backend runs two cells; every picture it would show
# (figures flushed at the end of the cell, and the cell's value) is counted.
_CELLS = r"""
import json, matplotlib
matplotlib.use("Agg")
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
shell.enable_gui = lambda gui=None: None
shown = []
shell.display_pub.publish = lambda data, *a, **k: shown.append("image/png" in data)
shell.displayhook.write_format_data = lambda data, md=None: shown.append("image/png" in data)
assert shell.run_cell(MAGIC).success
assert shell.run_cell("from artgen.train import History\nh = History(history={'loss': [3.0, 2.0, 1.5], 'accuracy': [0.2, 0.5, 0.7]}, epoch=[1, 2, 3])").success
shown.clear()
assert shell.run_cell("h.plot()").success
print(json.dumps({"pictures": sum(shown)}))
"""


@pytest.mark.parametrize("magic", ["%matplotlib inline", "pass"], ids=["inline backend", "fresh kernel"])
def test_history_plot_shows_one_figure_in_jupyter(magic):
    """With the inline backend loaded, or in a fresh kernel that never imported pyplot: one PNG, not two, not text."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cells = _CELLS.replace("MAGIC", repr(magic))
    done = subprocess.run([sys.executable, "-c", cells], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    last = done.stdout.strip().splitlines()[-1]  # the shell prints an "Out[n]:" prompt before it
    assert json.loads(last[last.index("{") :]) == {"pictures": 1}


def test_history_plot_registers_no_pyplot_figure(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    from artgen.train import History

    before = set(plt.get_fignums())
    h = History(history={"loss": [3.0, 2.0]}, epoch=[1, 2])
    fig = h.plot()
    assert isinstance(fig, Figure) and set(plt.get_fignums()) == before
    h.plot(tmp_path / "curves.png")
    assert (tmp_path / "curves.png").is_file() and set(plt.get_fignums()) == before


class _FakeKernelShell:
    config = {"IPKernelApp": {}}


@pytest.fixture
def kernel_without_widgets(monkeypatch):
    """Looks like a Jupyter kernel to tqdm and artgen, with ipywidgets not installed."""
    import types

    fake = types.ModuleType("IPython")
    fake.get_ipython = lambda: _FakeKernelShell()
    monkeypatch.setitem(sys.modules, "IPython", fake)
    monkeypatch.setitem(
        sys.modules, "ipykernel.zmqshell", types.ModuleType("ipykernel.zmqshell")
    )  # what tqdm looks for
    monkeypatch.setitem(sys.modules, "ipywidgets", None)
    for name in ("tqdm.auto", "tqdm.autonotebook"):  # imported afresh, as in a new kernel
        monkeypatch.delitem(sys.modules, name, raising=False)


def test_progress_bars_fall_back_to_text_without_a_warning(kernel_without_widgets, tmp_path):
    from tqdm.std import tqdm as text_bar

    from artgen.fast_style import FastStyle
    from artgen.fast_style.networks import StyleNet, StyleNetConfig
    from artgen.images import to_pil
    from artgen.progress import in_notebook, progress_bar

    assert in_notebook()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # (tqdm catches its own warning when raised as an error: record it instead)
        with progress_bar(total=2, disable=True) as bar:
            assert type(bar) is text_bar
        model = FastStyle(StyleNet(StyleNetConfig.for_arch("small")), device="cpu")
        to_pil(torch.rand(3, 24, 24)).save(tmp_path / "p.png")
        model.stylize_files([tmp_path / "p.png"], tmp_path / "o.png", progress=True)
    assert (tmp_path / "o.png").is_file()
    assert not [w for w in caught if "IProgress" in str(w.message)]


def test_notebook_extra_installs_ipywidgets():
    from pathlib import Path

    import tomllib

    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    assert any(dep.startswith("ipywidgets") for dep in project["project"]["optional-dependencies"]["notebook"])

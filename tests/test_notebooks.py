"""Every notebook in notebooks/ runs top to bottom (small settings through environment variables)."""

import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))

# small settings for each notebook, read by its parameter cell
SMALL = {
    "ARTGEN_NB_LIMIT": "3000",
    "ARTGEN_NB_EPOCHS": "2",
    "ARTGEN_NB_SMALL": "1",
}


@pytest.mark.long
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path, monkeypatch):
    for key, value in SMALL.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "2"))
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=240, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    errors = [
        o
        for cell in nb.cells
        if cell.cell_type == "code"
        for o in cell.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    assert not errors


def test_notebooks_define_no_models_losses_or_loops():
    """The notebooks use the library: no classes of their own, no training functions, no backward passes or
    optimizer steps, and artgen reached only through ``import artgen`` (read from the code, not its text)."""
    import ast

    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        tree = ast.parse("\n".join(c.source for c in nb.cells if c.cell_type == "code"))
        for node in ast.walk(tree):
            assert not isinstance(node, ast.ClassDef), f"{path.name} defines class {node.name}"
            if isinstance(node, ast.FunctionDef):
                assert not node.name.startswith(("train", "fit")), f"{path.name} defines {node.name}()"
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                assert node.func.attr not in ("backward", "step", "zero_grad"), (
                    f"{path.name} calls .{node.func.attr}()"
                )
            if isinstance(node, ast.ImportFrom):
                assert not (node.module or "").startswith("artgen"), f"{path.name}: from {node.module} import"
            if isinstance(node, ast.Import):
                assert all(a.name == "artgen" or not a.name.startswith("artgen") for a in node.names), path.name

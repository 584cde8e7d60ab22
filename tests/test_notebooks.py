"""Every notebook in notebooks/ runs top to bottom (small settings through environment variables), and its
committed outputs (``python notebooks/execute.py`` writes them, to show results on GitHub) are small and clean."""

import base64
import os
import re
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
    committed = path.read_bytes()
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
    assert path.read_bytes() == committed, f"running {path.name} changed the committed file"


MAX_PNG_BYTES = 150 * 1024
MACHINE_PATH = re.compile(r"/tmp/|/home/|/work/|/root/|/Users/|[A-Za-z]:\\")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_outputs_are_small_and_clean(path):
    """A notebook committed with outputs (``python notebooks/execute.py``) ran every code cell once, in order,
    without an error, and shows at least one picture, each a PNG under 150 KB and not also a JPEG; no progress
    bar's carriage-return updates and no path of the machine that ran it. A notebook without outputs passes."""
    nb = nbformat.read(path, as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    if not any(cell.outputs for cell in code):
        return
    assert [cell.execution_count for cell in code] == list(range(1, len(code) + 1)), (
        f"{path.name}: run it top to bottom with python notebooks/execute.py {path.stem}"
    )
    pngs = []
    for number, cell in enumerate(code, 1):
        for out in cell.outputs:
            where = f"{path.name}, code cell {number}"
            assert out.output_type != "error", f"{where}: {out.get('ename')}"
            data = out.get("data", {})
            texts = [out.get("text", "")] + [v for k, v in data.items() if k.startswith("text/")]
            for text in texts:
                assert "\r" not in text, f"{where}: progress-bar updates (carriage returns) in the output"
                found = MACHINE_PATH.search(text)
                assert not found, f"{where}: the output shows a path of the machine that ran it ({found.group(0)})"
            if "image/png" in data:
                assert "image/jpeg" not in data, f"{where}: the picture is stored twice (PNG and JPEG)"
                pngs.append(len(base64.b64decode(data["image/png"])))
    assert pngs, f"{path.name} shows no picture"
    assert max(pngs) <= MAX_PNG_BYTES, f"{path.name}: a {max(pngs) // 1024} KB PNG (at most 150 KB)"

"""Run the notebooks top to bottom and store their outputs, kept small enough to commit and read on GitHub.

    python notebooks/execute.py                        # every notebook, at its own settings
    python notebooks/execute.py 03_your_own_art        # one notebook
    ARTGEN_NB_SMALL=1 python notebooks/execute.py      # the test suite's small settings (see tests/test_notebooks.py)

Each notebook runs in a fresh temporary folder with matplotlib's inline backend. Its outputs are then
tidied: a progress bar's carriage-return updates collapse to the bar's last state, a picture shown both
as PNG and JPEG keeps only the PNG, a PNG over ``--max-png-kb`` (150 KB) is stored at a smaller scale
until it fits (said on the console), widget outputs and per-cell timing metadata go. The run stops
with an error, and writes nothing, when a cell fails or an output shows a path of this machine.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
WIDGET = "application/vnd.jupyter.widget-view+json"
#: text that gives away the machine the notebook ran on
MACHINE_PATH = re.compile(r"(/tmp/|/home/|/work/|/root/|/Users/|[A-Za-z]:\\)")


def collapse_carriage_returns(text: str) -> str:
    """Each line as a terminal would leave it: the part after its last carriage return."""
    return "\n".join(line.rsplit("\r", 1)[-1].rstrip() for line in text.split("\n"))


def tidy(nb, max_png_kb: float = 150) -> list[str]:
    """Tidy ``nb``'s outputs in place; return the problems left (oversized pictures, machine paths, errors)."""
    problems = []
    nb.metadata.pop("widgets", None)
    for index, cell in enumerate(nb.cells):
        cell.metadata.pop("execution", None)
        if cell.cell_type != "code":
            continue
        outputs = []
        for out in cell.outputs:
            previous = outputs[-1] if outputs else None
            if out.output_type == "stream" and previous is not None and previous.get("name") == out.name:
                previous.text += out.text
                continue
            outputs.append(out)
        for out in outputs:
            if out.output_type == "stream":
                out.text = collapse_carriage_returns(out.text)
            if "data" in out:
                out.data.pop(WIDGET, None)
                if "image/png" in out.data:
                    out.data.pop("image/jpeg", None)
                    kb = len(base64.b64decode(out.data["image/png"])) / 1024
                    if kb > max_png_kb:
                        out.data["image/png"] = shrink_png(out.data["image/png"], max_png_kb)
                        print(f"cell {index}: a {kb:.0f} KB PNG stored at a smaller scale", file=sys.stderr)
            if out.output_type == "error":
                problems.append(f"cell {index}: {out.ename}: {out.evalue}")
        cell.outputs = [o for o in outputs if not (o.output_type == "stream" and not o.text.strip())]
        cell.outputs = [o for o in cell.outputs if not ("data" in o and not o.data)]
        problems += check_outputs(cell, index, max_png_kb)
    return problems


def shrink_png(data: str, max_png_kb: float) -> str:
    """A base64 PNG scaled down by 3/4 at a time until it holds at most ``max_png_kb`` KB (base64 in and out)."""
    import io

    from PIL import Image

    raw = base64.b64decode(data)
    image = Image.open(io.BytesIO(raw))
    while len(raw) > max_png_kb * 1024 and min(image.size) > 16:
        image = image.resize((image.width * 3 // 4, image.height * 3 // 4), Image.LANCZOS)
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", optimize=True)
        raw = buffer.getvalue()
    return base64.b64encode(raw).decode("ascii")


def check_outputs(cell, index: int, max_png_kb: float = 150) -> list[str]:
    """What in one code cell's outputs should not be committed."""
    problems = []
    for out in cell.outputs:
        texts = [out.get("text", "")] + [v for k, v in out.get("data", {}).items() if k.startswith("text/")]
        for text in texts:
            found = MACHINE_PATH.search(text if isinstance(text, str) else "".join(text))
            if found:
                problems.append(f"cell {index}: output shows a path of this machine ({found.group(0)}...)")
        png = out.get("data", {}).get("image/png")
        if png is not None:
            kb = len(base64.b64decode(png)) / 1024
            if kb > max_png_kb:
                problems.append(f"cell {index}: a {kb:.0f} KB PNG (at most {max_png_kb:.0f} KB)")
    return problems


def run(path: Path, timeout: int, max_png_kb: float) -> list[str]:
    import nbclient
    import nbformat

    nb = nbformat.read(path, as_version=4)
    os.environ.pop("MPLBACKEND", None)  # the kernel's inline backend, so that figures become outputs
    with tempfile.TemporaryDirectory() as tmp:
        client = nbclient.NotebookClient(
            nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": tmp}}
        )
        client.execute()
    problems = tidy(nb, max_png_kb)
    if problems:
        return [f"{path.name}: {p}" for p in dict.fromkeys(problems)]
    nbformat.write(nb, path)
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KB)")
    return []


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("names", nargs="*", help="notebook names without .ipynb (default: all)")
    ap.add_argument("--timeout", type=int, default=3600, help="seconds one cell may take (default: 3600)")
    ap.add_argument("--max-png-kb", type=float, default=150, help="largest PNG an output may hold (default: 150)")
    args = ap.parse_args(argv)
    paths = [HERE / f"{n}.ipynb" for n in args.names] or sorted(HERE.glob("*.ipynb"))
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        print(f"no such notebook: {', '.join(missing)}", file=sys.stderr)
        return 2
    problems = []
    for path in paths:
        problems += run(path, args.timeout, args.max_png_kb)
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())

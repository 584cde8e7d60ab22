"""Flags and small picture folders the run-safety tests of every head share (``tests/test_run_safety*.py``).

The trained runs themselves are the session fixtures ``classifier_run`` and ``gan_run`` in ``conftest.py``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
CPU = ["--device", "cpu", "--quiet"]
#: ``classify train`` on 64 built-in shapes, one epoch, 8 hidden units: about a second on a CPU.
QUICK_CLS = ["--dataset", "shapes", "--limit", "64", "--epochs", "1", "--hidden", "8", *CPU]
#: ``gan train`` at 32 px, batch 4, two steps, a sample grid after each step.
GAN_TINY = ["--size", "32", "--batch-size", "4", "--steps", "2", "--sample-every", "1", *CPU]


def colour_folder(root: Path, classes: dict[str, tuple[int, int, int]], n: int = 3, size=(12, 12)) -> Path:
    """A labelled folder: ``n`` plain RGB pictures of ``size`` per class, each a shade (+3 per picture) of its
    colour."""
    for name, colour in classes.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.new("RGB", size, tuple(min(255, c + 3 * i) for c in colour)).save(root / name / f"{i}.png")
    return root


def art_folder(root: Path, n: int = 4) -> Path:
    """A new folder of ``n`` seeded random-noise RGB pictures, 40x36 pixels."""
    root.mkdir(parents=True)
    g = torch.Generator().manual_seed(0)
    for i in range(n):
        arr = (torch.rand(36, 40, 3, generator=g) * 255).to(torch.uint8).numpy()
        Image.fromarray(arr).save(root / f"{i}.png")
    return root


def same_files(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` by relative path, with its bytes (to compare a folder before and after)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}

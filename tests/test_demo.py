"""The quickstart's main command, `artgen demo`, end to end with tiny settings."""

import os
import subprocess
import sys

import pytest
from PIL import Image

from artgen.images import read_metadata


@pytest.mark.long
def test_demo_quick_writes_every_output_and_a_contact_sheet(tmp_path):
    out = tmp_path / "demo"
    env = dict(os.environ, OMP_NUM_THREADS="2")
    result = subprocess.run(
        [sys.executable, "-m", "artgen", "demo", "--quick", "--out", str(out), "--quiet"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for name in (
        "photo.png",
        "style_swirls.png",
        "stylized.png",
        "gan_samples.png",
        "classifier_predictions.png",
        "contact_sheet.png",
    ):
        assert (out / name).is_file(), name
    assert (out / "gan-run" / "model.safetensors").is_file()
    assert (out / "classifier-run" / "curves.png").is_file()
    sheet = Image.open(out / "contact_sheet.png")
    assert sheet.width > 800 and sheet.height > 400
    assert read_metadata(out / "stylized.png")["seed"] == 0
    assert "contact sheet" in result.stdout

    again = subprocess.run(
        [sys.executable, "-m", "artgen", "demo", "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert again.returncode == 2 and "--overwrite" in again.stderr

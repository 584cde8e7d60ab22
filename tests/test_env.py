"""artgen.env: one meaning of ARTGEN_OFFLINE for every module that may download."""

import pytest
import torch

from artgen import metrics
from artgen.env import offline


@pytest.mark.parametrize(
    "value, expected",
    [
        (None, False),
        ("", False),
        ("0", False),
        ("false", False),
        (" No ", False),
        ("FALSE", False),
        ("1", True),
        ("true", True),
        ("yes", True),
    ],
)
def test_offline_reads_the_variable(monkeypatch, value, expected):
    if value is None:
        monkeypatch.delenv("ARTGEN_OFFLINE", raising=False)
    else:
        monkeypatch.setenv("ARTGEN_OFFLINE", value)
    assert offline() is expected


@pytest.mark.parametrize("value, attempts", [("0", 1), ("no", 1), ("1", 0)])
def test_inception_download_follows_the_same_meaning(monkeypatch, tmp_path, value, attempts):
    """ARTGEN_OFFLINE=0 means online for the metrics as for the encoders: a download is attempted (and fails here)."""
    monkeypatch.setenv("ARTGEN_OFFLINE", value)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr(metrics, "find_inception_weights", lambda: None)
    calls = []

    def no_network(url, dst, *args, **kwargs):
        calls.append(url)
        raise OSError("no network in the tests")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    _, name = metrics.feature_network("auto")
    assert name == metrics.FALLBACK
    assert len(calls) == attempts

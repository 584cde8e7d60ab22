"""``artgen stylize`` and ``artgen texture``, with the value checks all three style heads share (fast-style's
too): the library speaks keyword names, settings stored in a run folder are checked on load and name the file
and field. The command line's flag names are checked with every head's in ``test_run_safety.py``."""

import dataclasses

import pytest

from artgen.errors import ArgumentError, CheckpointError, UsageError
from artgen.fast_style import FastStyleConfig, check_strength
from artgen.runs.folder import RunDir
from artgen.style_transfer import StyleConfig
from artgen.style_transfer._texture import TextureConfig


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda: StyleConfig(tile=5), "tile must be 0 (never tile) or at least"),
        (lambda: StyleConfig(style_scale=20), "style_scale must be between 0.05 and 8"),
        (lambda: TextureConfig(steps=0), "steps must be at least 1"),
        (lambda: FastStyleConfig(styles=["swirls"], style_size=4), "style_size must be at least 16"),
        (lambda: FastStyleConfig(styles=["swirls"], batch_size=0), "batch_size must be a positive integer"),
        (lambda: check_strength(2.0), "strength must be between 0.0 and 1.0"),
    ],
)
def test_style_heads_speak_argument_names_in_the_library(call, words):
    """Notebook users read the keyword's name, never a flag the library has not got."""
    with pytest.raises(ArgumentError) as info:
        call()
    assert str(info.value).startswith(words) and "--" not in str(info.value) and "{arg" not in str(info.value)


@pytest.mark.parametrize(
    "head, config_cls, train, words",
    [
        (
            "fast_style",
            FastStyleConfig,
            {"styles": ["swirls"], "batch_size": 0},
            "train: batch_size must be a positive integer, got 0",
        ),
        (
            "fast_style",
            FastStyleConfig,
            {"styles": ["swirls"], "style_blend": [1.0, 2.0]},
            "train: 2 style_blend weights for 1 style images",
        ),
        ("stylize", StyleConfig, {"style_scale": 20.0}, "train: style_scale must be between 0.05 and 8, got 20.0"),
        ("texture", TextureConfig, {"height": 8}, "train: size 512x8: the height must be at least 32"),
    ],
)
def test_stored_style_settings_out_of_range_name_the_file_and_field(tmp_path, head, config_cls, train, words):
    """Settings check themselves when built, so a run folder's values are checked on load too."""
    run = RunDir(tmp_path / "run")
    run.save_config({"head": head, "train": train})
    with pytest.raises(CheckpointError) as info:
        run.load_settings(config_cls, "train")
    assert str(info.value) == f"'{run.config_path}': {words}"
    good = config_cls(**{k: v for k, v in train.items() if k == "styles"})
    with pytest.raises(UsageError) as info:  # dataclasses.replace builds a new object: checked again
        dataclasses.replace(good, **{k: v for k, v in train.items() if k != "styles"})
    assert "train: " + str(info.value) == words

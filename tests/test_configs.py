"""Each head's config dataclass is the one source of its defaults: the command line parses to exactly what
the dataclass holds by default, and runs saved in an older ``config.json`` shape load and resume through
the head's one migration."""

from __future__ import annotations

import argparse
import dataclasses
import json

import pytest
import torch

from artgen.cli import build_parser


def _parsed(*argv):
    return build_parser().parse_args(list(argv))


def test_classifier_cli_defaults_are_the_dataclasses():
    from artgen.classifier import ClassifierTrainConfig
    from artgen.classifier.cli import train_settings
    from artgen.classifier.config import MODEL_FIELDS
    from artgen.classifier.networks import ClassifierConfig, DenseClassifier

    settings = train_settings(_parsed("classify", "train", "--out", "run"))
    model = {k: settings.pop(k) for k in MODEL_FIELDS}
    assert ClassifierTrainConfig(**settings) == ClassifierTrainConfig()
    assert ClassifierConfig(**model) == ClassifierConfig()
    torch.manual_seed(0)
    a = DenseClassifier(ClassifierConfig(**model)).state_dict()
    torch.manual_seed(0)
    b = DenseClassifier(ClassifierConfig()).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_fast_style_cli_defaults_are_the_dataclasses():
    from artgen.fast_style import FastStyleConfig

    args = _parsed("fast-style", "train", "--out", "run", "--style", "swirls")
    defaults = FastStyleConfig()
    for f in dataclasses.fields(FastStyleConfig):
        if hasattr(args, f.name) and getattr(args, f.name) is not None:
            assert getattr(args, f.name) == getattr(defaults, f.name), f.name
    # flags left at None (so that --video and --init-from can choose) fall back to the dataclass
    assert args.arch is None and args.style_weight is None and args.stability_weight is None


def test_stylize_cli_defaults_are_the_dataclasses():
    from artgen.style_transfer import ArbitraryStyleConfig, StyleConfig

    args = _parsed("stylize", "photo.png", "style.png", "-o", "out.png")
    for config in (StyleConfig(), ArbitraryStyleConfig()):
        for f in dataclasses.fields(config):
            value = getattr(args, f.name, None)
            if value is not None and not isinstance(value, bool):
                assert value == getattr(config, f.name), (type(config).__name__, f.name)
    assert args.preserve_colors is StyleConfig().preserve_colors and args.seamless is StyleConfig().seamless
    assert (args.tile_size, args.style_weights) == (StyleConfig().tile, StyleConfig().style_blend)


def test_texture_cli_defaults_are_the_dataclass():
    from artgen.style_transfer._texture import TextureConfig, parse_size

    args = _parsed("texture", "bark.png", "-o", "out.png")
    defaults = TextureConfig()
    assert parse_size(args.size) == (defaults.height, defaults.width)
    for f in dataclasses.fields(TextureConfig):
        if hasattr(args, f.name) and f.name not in ("progress", "device"):
            assert getattr(args, f.name) == getattr(defaults, f.name), f.name
    assert (args.tile_size, args.style_weights, args.device) == (defaults.tile, defaults.style_blend, defaults.device)


def _actions(*command: str) -> dict:
    """The flags of ``artgen COMMAND...`` by dest."""
    parser = build_parser()
    for name in command:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = sub.choices[name]
    return {a.dest: a for a in parser._actions}


def test_a_field_flag_takes_its_type_default_and_help_from_the_dataclass():
    from artgen.flags import add_field

    @dataclasses.dataclass
    class Knobs:
        steps: int = 10
        lr: float = 1e-4
        tile: int | None = None
        seamless: bool = False
        blend: list[float] | None = None

    parser = argparse.ArgumentParser()
    add_field(parser, Knobs, "steps", "training steps")
    add_field(parser, Knobs(lr=2e-4), "lr", "rate (default: {default} here)")
    add_field(parser, Knobs, "tile", "tiles", flag="--tile-size", shown="1024; 0: never")
    add_field(parser, Knobs, "seamless", "no seam")
    add_field(parser, Knobs, "blend", "weights", default=[1.0])
    helps = {a.dest: a.help for a in parser._actions}
    assert helps["steps"] == "training steps (default: 10)" and helps["lr"] == "rate (default: 0.0002 here)"
    assert helps["tile_size"] == "tiles (default: 1024; 0: never)" and helps["seamless"] == "no seam"
    assert helps["blend"] == "weights"  # a None field shows no default
    args = parser.parse_args([])
    assert (args.steps, args.lr, args.tile_size, args.seamless, args.blend) == (10, 2e-4, None, False, [1.0])
    args = parser.parse_args(["--steps", "3", "--lr", "0.5", "--tile-size", "64", "--seamless", "--blend", "1", "2"])
    assert (args.steps, args.lr, args.tile_size, args.seamless, args.blend) == (3, 0.5, 64, True, [1.0, 2.0])
    assert type(args.steps) is int and type(args.tile_size) is int
    with pytest.raises(TypeError, match="Knobs has no field 'stepz'"):
        add_field(parser, Knobs, "stepz", "typo")


def test_fast_style_arch_flag_offers_every_architecture():
    from artgen.fast_style.networks import ARCHS

    arch = _actions("fast-style", "train")["arch"]
    assert list(arch.choices) == list(ARCHS) and all(name in arch.help for name in ARCHS)


def test_the_old_names_are_gone():
    import artgen
    from artgen import fast_style
    from artgen import style_transfer as stylize
    from artgen.style_transfer import texture

    for module, name in ((artgen, "load_gan"), (stylize, "StyleOptions"), (fast_style, "FastStyleOptions")):
        assert not hasattr(module, name), name
    assert not hasattr(texture, "TextureOptions")


def _old_shape(run_path, drop: dict[str, tuple[str, ...]]):
    """Rewrite a run's config.json as an earlier artgen wrote it: no config_version, and ``drop``'s keys absent."""
    path = run_path / "config.json"
    cfg = json.loads(path.read_text())
    del cfg["config_version"]
    for section, keys in drop.items():
        for key in keys:
            cfg[section].pop(key, None)
    path.write_text(json.dumps(cfg))


def test_a_classifier_run_of_the_older_shape_loads_and_resumes(tmp_path):
    from artgen.classifier import CONFIG_VERSION, Classifier, migrate_config, train_classifier

    out = tmp_path / "old"
    train_classifier(out=out, dataset="shapes", limit=32, epochs=1, hidden=8, device="cpu", progress=False)
    saved = json.loads((out / "config.json").read_text())
    assert saved["config_version"] == CONFIG_VERSION
    _old_shape(out, {"train": ("epsilon", "optimizer", "loss", "metrics", "checkpoint_every"), "model": ("init",)})
    migrated = migrate_config(json.loads((out / "config.json").read_text()))
    assert migrated["train"]["epsilon"] == 1e-8 and migrated["model"]["init"] == "pytorch"
    clf = Classifier.load(out, device="cpu")
    assert clf.epsilon == 1e-8 and clf.config.init == "pytorch"
    resumed = train_classifier(out=out, resume=True, epochs=2, device="cpu", progress=False)  # epochs: saved wins
    assert resumed.epsilon == 1e-8 and len(resumed.metrics["epochs"]) == 1


def test_a_fast_style_run_of_the_older_shape_resumes_in_the_precision_it_trained_in(tmp_path, stop_at):
    from artgen.data import art_images
    from artgen.errors import TrainingInterrupted
    from artgen.fast_style import CONFIG_VERSION, FastStyle, migrate_config, train_fast_style

    tiny = dict(arch="small", size=32, batch_size=2, backbone="random", preview_every=None, log_every=1)
    out = tmp_path / "old"
    with pytest.raises(TrainingInterrupted):
        train_fast_style(
            art_images(1, size=32, seed=5)[0], None, out, steps=3, progress=False, callbacks=[stop_at(1)], **tiny
        )
    assert json.loads((out / "config.json").read_text())["config_version"] == CONFIG_VERSION
    _old_shape(out, {"train": ("precision", "stability_weight", "stability_noise")})
    assert migrate_config(json.loads((out / "config.json").read_text()))["train"]["precision"] == "fp32"
    assert FastStyle.load(out, device="cpu").config.arch == "small"
    resumed = train_fast_style(out=out, resume=True, progress=False, device="cpu")
    assert resumed.history.steps[-1][0] == 3
    assert json.loads((out / "config.json").read_text())["train"]["precision"] == "fp32"


def _all_actions(parser, path="artgen"):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _all_actions(sub, f"{path} {name}")
        else:
            yield path, parser, action


def test_every_shown_default_is_the_flags_own_default():
    """A "(default: X)" in any command's help names the value the flag really defaults to: it is derived
    (from the config field or the argument's own default), never written a second time by hand."""
    import re

    from artgen.cli import build_parser

    wrong, checked = [], 0
    for path, parser, action in _all_actions(build_parser()):
        if not action.help or action.default in (None, argparse.SUPPRESS) or isinstance(action.default, bool):
            continue
        rendered = parser._get_formatter()._expand_help(action)
        match = re.search(r"\(default: ([^;,): ]+)", rendered)
        if match is None:
            continue
        shown, default = match.group(1), action.default
        if isinstance(default, (int, float)):
            same = float(shown) == float(default)
        elif isinstance(default, (list, tuple)):
            same = shown == str(default[0])
        else:
            same = shown.lstrip("./") == str(default).lstrip("./")
        checked += 1
        if not same:
            wrong.append(f"{path} {action.option_strings or action.dest}: shows {shown}, defaults to {default!r}")
    assert checked > 80 and not wrong, wrong

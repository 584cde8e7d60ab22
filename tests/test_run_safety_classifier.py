"""``artgen classify``: bad weights and configs are refused by name, and the classifier's numbers are right
(the shared faults are in ``test_run_safety.py``): damaged tensors, config fields out of range, unreadable
files to predict, class mapping, empty test splits, preprocessing, fine-tuning, Keras defaults."""

import json
import logging
import time

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from artgen.cli import main
from artgen.errors import CheckpointError, UsageError
from run_helpers import CPU, colour_folder


def _train_on_folder(data, run, *flags: str) -> int:
    """``artgen classify train --dataset folder --data DATA --out RUN FLAGS`` on the CPU; its exit code."""
    return main(["classify", "train", "--dataset", "folder", "--data", str(data), *flags, "--out", str(run), *CPU])


def test_predict_reports_every_file_and_names_the_bad_ones(classifier_run, tmp_path, capsys):
    good = tmp_path / "good.png"
    Image.new("L", (28, 28), 200).save(good)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a picture")
    missing = tmp_path / "missing.png"
    argv = ["classify", "predict", "--checkpoint", str(classifier_run), str(broken), str(good), str(missing)]
    code = main([*argv, "--device", "cpu"])
    out, err = capsys.readouterr()
    assert code == 1
    assert f"{good}: " in out and str(broken) not in out
    assert str(broken) in err and str(missing) in err and "2 of 3" in err


@pytest.mark.parametrize("damage", ["int", "complex", "nan", "inf"])
def test_damaged_weights_are_refused_naming_file_and_tensor(classifier_run, tmp_path, damage):
    import shutil

    from artgen.classifier import Classifier

    run = tmp_path / "run"
    shutil.copytree(classifier_run, run)
    tensors = load_file(str(run / "model.safetensors"))
    w = tensors["model.hidden.weight"]
    tensors["model.hidden.weight"] = {
        "int": w.to(torch.int32),
        "complex": w.to(torch.complex64),
        "nan": w.clone().index_fill_(0, torch.tensor([0]), float("nan")),
        "inf": w.clone().fill_(float("inf")),
    }[damage]
    save_file(tensors, str(run / "model.safetensors"))
    with pytest.raises(CheckpointError, match=r"model\.safetensors|classifier in") as info:
        Classifier.load(run, device="cpu")
    assert "hidden.weight" in str(info.value)


@pytest.mark.parametrize(
    "mutate, words",
    [
        (lambda raw: b"\xff\xfe" + raw, "not UTF-8"),
        (lambda raw: b"[1, 2]", "must hold a JSON object"),
        (
            lambda raw: json.dumps({k: v for k, v in json.loads(raw).items() if k != "model"}).encode(),
            "no 'model' section",
        ),
        (lambda raw: _edit(raw, "hidden", "128"), "model.hidden: expected a whole number, got str"),
        (lambda raw: _edit(raw, "hidden", -5), "hidden must be a whole number from 1 to 65536"),
        (lambda raw: _edit(raw, "hidden", 10**12), "hidden must be a whole number from 1 to 65536"),
        (lambda raw: _edit(raw, "image_size", 2.5), "model.image_size: expected a whole number"),
        (lambda raw: _edit(raw, "activation", "swish"), "activation 'swish'"),
    ],
)
def test_bad_classifier_configs_give_one_line_naming_file_and_field(classifier_run, tmp_path, mutate, words):
    import shutil

    from artgen.classifier import Classifier

    run = tmp_path / "run"
    shutil.copytree(classifier_run, run)
    cfg = run / "config.json"
    cfg.write_bytes(mutate(cfg.read_bytes()))
    start = time.perf_counter()
    with pytest.raises(CheckpointError) as info:
        Classifier.load(run, device="cpu")
    assert time.perf_counter() - start < 5  # nothing huge is allocated
    assert words in str(info.value) and "config.json" in str(info.value)
    assert main(["classify", "predict", "--checkpoint", str(run), str(cfg), "--device", "cpu"]) == 1


def _edit(raw: bytes, key: str, value) -> bytes:
    data = json.loads(raw)
    data["model"][key] = value
    return json.dumps(data).encode()


def test_test_split_missing_a_class_is_scored_by_class_name(tmp_path):
    from artgen.data import load_dataset_splits

    colours = {"blue": (0, 0, 250), "green": (0, 250, 0), "red": (250, 0, 0)}
    colour_folder(tmp_path / "d" / "train", colours)
    colour_folder(tmp_path / "d" / "test", {"green": colours["green"], "red": colours["red"]}, n=2)
    (tmp_path / "d" / "test" / "blue").mkdir()  # an empty class folder too
    (x, y), (xt, yt), classes = load_dataset_splits("folder", data=tmp_path / "d", size=8, channels=3)
    assert classes == ["blue", "green", "red"]
    assert yt.tolist() == [1, 1, 2, 2]  # green and red keep the training split's numbers
    colour_folder(tmp_path / "d" / "test", {"purple": (128, 0, 128)}, n=1)
    with pytest.raises(UsageError, match="purple.*not among the training classes"):
        load_dataset_splits("folder", data=tmp_path / "d", size=8, channels=3)


def test_folder_test_accuracy_end_to_end(tmp_path, capsys):
    colours = {"blue": (0, 0, 250), "green": (0, 250, 0), "red": (250, 0, 0)}
    colour_folder(tmp_path / "d" / "train", colours, n=6)
    colour_folder(tmp_path / "d" / "test", {"green": colours["green"], "red": colours["red"]}, n=2)
    run = tmp_path / "run"
    flags = ["--size", "8", "--channels", "3", "--epochs", "30", "--batch-size", "6", "--lr", "0.01"]
    assert _train_on_folder(tmp_path / "d", run, *flags) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["history"]["accuracy"][-1] == 1.0
    assert metrics["test_accuracy"] == 1.0


def test_one_picture_per_class_trains_without_a_test_split(tmp_path, capsys):
    colour_folder(tmp_path / "d", {"a": (0, 0, 0), "b": (255, 255, 255)}, n=1)
    run = tmp_path / "run"
    assert _train_on_folder(tmp_path / "d", run, "--size", "8", "--epochs", "2") == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test_images"] == 0 and metrics["test_accuracy"] is None
    assert (run / "model.safetensors").is_file()
    assert "no test images" in capsys.readouterr().out


def test_predict_preprocesses_like_training_on_non_square_pictures(tmp_path, capsys):
    from artgen.data import ImageFolder, square_image

    # 120x40 pictures whose centre square is light|dark for one class and dark|light for the
    # other, and whose whole width reads the other way round: squashing flips every answer
    root = tmp_path / "d"
    for name, bands in (("light_left", (0, 255, 0, 255)), ("dark_left", (255, 0, 255, 0))):
        (root / name).mkdir(parents=True)
        for i in range(4):
            img = Image.new("L", (120, 40))
            for (left, right), value in zip(((0, 40), (40, 60), (60, 80), (80, 120)), bands):
                img.paste(Image.new("L", (right - left, 40), abs(value - 5 * i)), (left, 0))
            img.save(root / name / f"{i}.png")
    ds = ImageFolder(root, size=8, channels=1, labelled=True)
    x, _ = ds.tensors()
    for i, path in enumerate(ds.files):
        assert torch.equal(square_image(path, size=8, channels=1), x[i])
    run = tmp_path / "run"
    assert _train_on_folder(root, run, "--size", "8", "--epochs", "40", "--batch-size", "4", "--lr", "0.01") == 0
    capsys.readouterr()
    assert (
        main(["classify", "predict", "--checkpoint", str(run), *map(str, ds.files), "--json", "--device", "cpu"]) == 0
    )
    rows = json.loads(capsys.readouterr().out)
    assert [r["class"] for r in rows] == [p.parent.name for p in ds.files]


def test_init_from_a_classifier_with_other_classes_reinitialises_the_output(classifier_run, tmp_path, caplog):
    colours = {"blue": (0, 0, 250), "red": (250, 0, 0)}
    colour_folder(tmp_path / "d", colours, n=4, size=(28, 28))
    tune = ["--hidden", "8", "--init-from", str(classifier_run)]
    with caplog.at_level(logging.WARNING):
        assert _train_on_folder(tmp_path / "d", tmp_path / "tuned", *tune, "--epochs", "1") == 0
    assert "knows 10 classes" in caplog.text and "starting the output layer afresh" in caplog.text
    assert load_file(str(tmp_path / "tuned" / "model.safetensors"))["model.output.weight"].shape == (2, 8)
    assert _train_on_folder(tmp_path / "d", tmp_path / "x", *tune, "--size", "16") == 2  # 16x16 inputs: no fit


def test_init_from_keeps_the_hidden_layer_exactly(classifier_run):
    from artgen.classifier import Classifier, init_from

    clf = Classifier(hidden=8, num_classes=3, classes=["a", "b", "c"], device="cpu")
    assert init_from(clf, classifier_run) is True
    source = load_file(str(classifier_run / "model.safetensors"))
    assert torch.equal(clf.model.hidden.weight, source["model.hidden.weight"])
    assert torch.count_nonzero(clf.model.output.bias) == 0


def test_keras_defaults_glorot_uniform_zero_bias_and_epsilon():
    from artgen.classifier import Classifier

    clf = Classifier(device="cpu", seed=0).compile()
    w1, w2 = clf.model.hidden.weight.detach(), clf.model.output.weight.detach()
    for w in (w1, w2):
        bound = (6 / (w.shape[0] + w.shape[1])) ** 0.5
        assert float(w.abs().max()) <= bound and float(w.abs().max()) > 0.95 * bound
    assert torch.count_nonzero(clf.model.hidden.bias) == 0 and torch.count_nonzero(clf.model.output.bias) == 0
    assert clf.optimizer.param_groups[0]["eps"] == 1e-7
    torch_init = Classifier(device="cpu", seed=0, init="pytorch")
    assert torch.count_nonzero(torch_init.model.hidden.bias) > 0
    assert float(torch_init.model.hidden.weight.detach().abs().max()) <= 1 / 784**0.5


def test_fast_path_equals_autograd_with_keras_defaults():
    from artgen.classifier import Classifier, ClassifyTask

    g = torch.Generator().manual_seed(1)
    x, y = torch.rand(64, 1, 28, 28, generator=g), torch.randint(0, 10, (64,), generator=g)
    weights = []
    for fast in (True, False):
        clf = Classifier(device="cpu", seed=3).compile("adam")
        original = ClassifyTask.analytic_ok
        if not fast:
            ClassifyTask.analytic_ok = lambda *args: False
        try:
            clf.fit(x, y, epochs=2, batch_size=16, progress=False)
        finally:
            ClassifyTask.analytic_ok = original
        weights.append({k: v.clone() for k, v in clf.model.state_dict().items()})
    # atol: summation order differs with the thread count (one weight of 100,352 moved 7e-6 on one thread)
    for k in weights[0]:
        torch.testing.assert_close(weights[0][k], weights[1][k], rtol=1e-5, atol=2e-5)

"""Tests for artgen.data: image folders with broken files, shapes, MNIST files, dispatch."""

from __future__ import annotations

import gzip
import logging
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import torch
from PIL import Image

from artgen import data
from artgen.errors import ArtgenError, UsageError


def _img(path: Path, colour=(200, 30, 30), size=(16, 12)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return path


def _junk_folder(root: Path) -> None:
    """Things every real folder has and that are never images or classes."""
    (root / ".DS_Store").parent.mkdir(parents=True, exist_ok=True)
    (root / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    _img(root / ".ipynb_checkpoints" / "a-checkpoint.png")
    _img(root / "__MACOSX" / "._a.png")
    (root / "notes.txt").write_text("my art notes")


def test_is_hidden():
    assert data.is_hidden(".DS_Store")
    assert data.is_hidden("art/.ipynb_checkpoints/x.png")
    assert data.is_hidden("art/__MACOSX/x.png")
    assert data.is_hidden("art/._x.png")
    assert not data.is_hidden("art/cats/x.png")
    assert not data.is_hidden("../art/x.png")


def test_list_images(tmp_path):
    _img(tmp_path / "b.png")
    _img(tmp_path / "a.jpg")
    _img(tmp_path / "sub" / "c.PNG")
    _junk_folder(tmp_path)
    assert data.list_images(tmp_path) == [tmp_path / "a.jpg", tmp_path / "b.png", tmp_path / "sub" / "c.PNG"]
    assert data.list_images(tmp_path, recursive=False) == [tmp_path / "a.jpg", tmp_path / "b.png"]
    with pytest.raises(UsageError, match="does not exist"):
        data.list_images(tmp_path / "missing")
    with pytest.raises(UsageError, match="not a folder"):
        data.list_images(tmp_path / "b.png")


def test_image_folder_skips_bad_files_with_one_warning_each(tmp_path, caplog, monkeypatch):
    root = tmp_path / "art"
    for i in range(3):
        _img(root / f"good{i}.png", colour=(i * 80, 10, 10))
    _img(root / "nested" / "good3.jpg")
    good_jpeg = tmp_path / "full.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (30, 30, 3), dtype=np.uint8)).save(good_jpeg)
    raw = good_jpeg.read_bytes()
    (root / "truncated.jpg").write_bytes(raw[: len(raw) // 2])
    (root / "empty.png").write_bytes(b"")
    (root / "text.png").write_text("not an image")
    _img(root / "huge.png", size=(40, 40))  # 1600 pixels, over the limit set below
    _junk_folder(root)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)

    with caplog.at_level(logging.WARNING, logger="artgen.data"):
        ds = data.ImageFolder(root, size=8)
    messages = [r.getMessage() for r in caplog.records if r.name == "artgen.data"]
    for bad in ("truncated.jpg", "empty.png", "text.png", "huge.png"):
        assert sum(bad in m for m in messages) == 1, (bad, messages)
    assert messages[-1] == f"skipped 5 of 9 files in {root}"  # notes.txt is named and counted too
    assert sum("notes.txt': not an image file" in m for m in messages) == 1
    assert not any("checkpoint" in m or "MACOSX" in m for m in messages)
    reasons = {path.name: reason for path, reason in ds.skipped}
    assert "truncated" in reasons["truncated.jpg"] and "0 bytes" in reasons["empty.png"]
    assert "too large" in reasons["huge.png"] and "not a recognised" in reasons["text.png"]
    assert len(ds) == 4 and sorted(p.name for p in ds.files) == ["good0.png", "good1.png", "good2.png", "good3.jpg"]
    x, y = ds[0]
    assert x.shape == (3, 8, 8) and x.dtype == torch.float32 and y == -1
    xs, ys = ds.tensors()
    assert xs.shape == (4, 3, 8, 8) and xs.min() >= 0 and xs.max() <= 1 and (ys == -1).all()


def test_image_folder_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no pictures yet")
    with pytest.raises(ArtgenError, match="no images found in '.*empty'"):
        data.ImageFolder(empty, size=8)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "a.png").write_bytes(b"")
    (broken / "b.jpg").write_text("nope")
    with pytest.raises(ArtgenError, match=r"no usable images in '.*broken' \(2 files skipped\)"):
        data.ImageFolder(broken, size=8)
    flat = tmp_path / "flat"
    _img(flat / "a.png")
    _junk_folder(flat)  # hidden folders never count as classes
    with pytest.raises(ArtgenError, match="one subfolder per class"):
        data.ImageFolder(flat, size=8, labelled=True)
    with pytest.raises(UsageError):
        data.ImageFolder(tmp_path / "missing", size=8)


def test_labelled_image_folder(tmp_path, caplog):
    root = tmp_path / "styles"
    for name, colour, count in (("waves", (0, 0, 255), 2), ("fire", (255, 0, 0), 3)):
        for i in range(count):
            _img(root / name / f"{i}.png", colour=colour, size=(20 + 4 * i, 12))
    _img(root / "stray.png")
    (root / "empty_class").mkdir()
    _junk_folder(root)
    with caplog.at_level(logging.WARNING, logger="artgen.data"):
        ds = data.ImageFolder(root, size=6, channels=1, labelled=True)
    assert ds.classes == ["fire", "waves"]
    assert any("stray" in r.getMessage() or "directly in" in r.getMessage() for r in caplog.records)
    x, y = ds.tensors()
    assert x.shape == (5, 1, 6, 6) and y.tolist() == [0, 0, 0, 1, 1]
    assert x[3:].mean() < x[:3].mean()  # blue is darker than red in grey


def test_random_crop_flip_and_lazy_loading(tmp_path):
    root = tmp_path / "pics"
    root.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)).save(root / f"{i}.png")
    eager = data.ImageFolder(root, size=16)
    lazy = data.ImageFolder(root, size=16, preload=False)
    assert torch.equal(eager.tensors()[0], lazy.tensors()[0])
    assert torch.allclose(eager[1][0], lazy[1][0])
    rand = data.ImageFolder(root, size=16, crop="random", hflip=True)
    torch.manual_seed(0)
    a = torch.stack([rand[0][0] for _ in range(6)])
    assert a.shape == (6, 3, 16, 16) and not all(torch.equal(a[0], a[i]) for i in range(6))
    assert rand.tensors()[0].shape == (3, 3, 16, 16)
    lazy_rand = data.ImageFolder(root, size=16, crop="random", preload=False)
    assert lazy_rand[2][0].shape == (3, 16, 16)


# --------------------------------------------------------------------------- shapes


def test_make_shapes_deterministic_balanced_distinct():
    x, y = data.make_shapes(500, seed=3)
    x2, y2 = data.make_shapes(500, seed=3)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    x3, _ = data.make_shapes(500, seed=4)
    assert not torch.equal(x, x3)
    assert x.shape == (500, 1, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert x.min() >= 0.0 and x.max() <= 1.0
    assert torch.bincount(y, minlength=10).tolist() == [50] * 10
    means = torch.stack([x[y == k].mean(0).flatten() for k in range(10)])
    dist = torch.cdist(means, means) + torch.eye(10) * 1e9
    assert dist.min() > 1.0  # every class looks different on average
    assert len(data.SHAPES_CLASSES) == 10


def test_make_shapes_colour_and_split():
    x, y = data.make_shapes(40, size=32, channels=3, seed=0)
    assert x.shape == (40, 3, 32, 32)
    assert (x[:, 0] - x[:, 1]).abs().mean() > 0.05  # actually coloured
    grey, labels = data.make_shapes(40, size=32, channels=1, seed=0)
    assert torch.equal(labels, y)
    tr, _ = data.load_shapes(True, n_train=20, n_test=10)
    te, _ = data.load_shapes(False, n_train=20, n_test=10)
    assert tr.shape[0] == 20 and te.shape[0] == 10
    assert torch.equal(tr, data.make_shapes(20, seed=0)[0])
    assert torch.equal(te, data.make_shapes(10, seed=1)[0])


def test_art_images():
    a = data.art_images(12, size=24, seed=5)
    assert a.shape == (12, 3, 24, 24) and a.min() >= 0 and a.max() <= 1
    assert torch.equal(a, data.art_images(12, size=24, seed=5))
    assert not torch.equal(a, data.art_images(12, size=24, seed=6))
    assert a.std(dim=(2, 3)).mean() > 0.03  # structured, not flat colour


# --------------------------------------------------------------------------- MNIST


def _digits(n: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 28, 28), generator=g, dtype=torch.uint8), torch.randint(
        0, 10, (n,), generator=g, dtype=torch.uint8
    )


@pytest.mark.parametrize("fashion", [False, True])
def test_load_mnist_reads_idx_files_exactly(tmp_path, fashion):
    xtr, ytr = _digits(7, 0)
    xte, yte = _digits(5, 1)
    raw = data.write_idx_mnist(tmp_path, xtr, ytr, train=True, fashion=fashion)
    data.write_idx_mnist(tmp_path, xte, yte, train=False, fashion=fashion)
    assert raw == tmp_path / ("FashionMNIST" if fashion else "MNIST") / "raw"
    assert (raw / "train-images-idx3-ubyte").read_bytes()[:4] == b"\x00\x00\x08\x03"  # 2051
    for train, (xs, ys) in ((True, (xtr, ytr)), (False, (xte, yte))):
        x, y = data.load_mnist(tmp_path, train=train, fashion=fashion)
        assert x.shape == (len(ys), 1, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.int64
        assert torch.equal((x[:, 0] * 255).round().to(torch.uint8), xs)
        assert torch.equal(y, ys.long())


def test_load_mnist_one_split_and_gz(tmp_path):
    xtr, ytr = _digits(4, 2)
    raw = data.write_idx_mnist(tmp_path, xtr, ytr, train=True)  # no test split at all
    x, y = data.load_mnist(tmp_path, train=True)
    assert torch.equal(y, ytr.long())
    for f in raw.iterdir():  # as downloaded by hand: only .gz files
        with gzip.open(f.with_name(f.name + ".gz"), "wb") as out:
            out.write(f.read_bytes())
        f.unlink()
    x2, _ = data.load_mnist(tmp_path, train=True)
    assert torch.equal(x, x2)


def test_load_mnist_missing_and_download_failure(tmp_path, monkeypatch):
    with pytest.raises(ArtgenError, match=r"MNIST not found under '.*'; pass download=True \(needs network\)"):
        data.load_mnist(tmp_path)
    from torchvision import datasets

    def offline(self):
        raise URLError("no network")

    monkeypatch.setattr(datasets.MNIST, "download", offline)
    monkeypatch.setattr(datasets.FashionMNIST, "download", offline)
    with pytest.raises(ArtgenError, match="could not download Fashion-MNIST into '.*'"):
        data.load_mnist(tmp_path, fashion=True, download=True)


def test_load_dataset_dispatch(tmp_path, monkeypatch):
    with pytest.raises(UsageError, match="shapes, mnist, fashion-mnist, folder"):
        data.load_dataset("imagenet")
    monkeypatch.setenv("ARTGEN_DATA", str(tmp_path / "store"))
    assert data.default_data_root() == tmp_path / "store"
    xs, ys = _digits(3, 3)
    data.write_idx_mnist(tmp_path / "store", xs, ys, train=False)
    x, y, classes = data.load_dataset("mnist", train=False, size=32, channels=3)
    assert x.shape == (3, 3, 32, 32) and classes == [str(i) for i in range(10)]
    x, y, classes = data.load_dataset("shapes", size=16)  # the fixed 60,000-image training split (about 0.6 s)
    assert x.shape == (60000, 1, 16, 16) and classes == data.SHAPES_CLASSES
    assert y.dtype == torch.int64 and torch.bincount(y).tolist() == [6000] * 10
    root = tmp_path / "folder"
    _img(root / "train" / "a" / "1.png")
    _img(root / "train" / "b" / "1.png")
    _img(root / "test" / "a" / "2.png")
    x, y, classes = data.load_dataset("folder", data=root, size=8, channels=3)
    assert x.shape == (2, 3, 8, 8) and classes == ["a", "b"]
    x, y, classes = data.load_dataset("folder", data=root, train=False, size=8)
    assert x.shape == (1, 1, 8, 8) and classes == ["a"]
    with pytest.raises(UsageError, match="needs data"):
        data.load_dataset("folder")

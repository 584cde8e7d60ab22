"""Tests for artgen.images: robust loading of awkward files, atomic saving, metadata."""

from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from artgen import images
from artgen.errors import ArtgenError, ImageError, UsageError

RED, BLUE, WHITE = (255, 0, 0), (0, 0, 255), (255, 255, 255)


def _close(a, b, tol=3):
    return all(abs(int(x) - int(y)) <= tol for x, y in zip(a, b))


def _png16_rgb(path: Path, arr: np.ndarray) -> None:
    """Write a 16-bit-per-channel RGB PNG by hand (Pillow cannot write one)."""
    h, w, _ = arr.shape
    raw = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in arr)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    )


# --------------------------------------------------------------------------- reading


def test_exif_rotated_jpeg_is_turned_upright(tmp_path):
    img = Image.new("RGB", (40, 20), RED)
    img.paste(BLUE, (20, 0, 40, 20))  # left red, right blue
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    path = tmp_path / "phone.jpg"
    img.save(path, exif=exif, quality=95)
    out = images.open_image(path)
    assert out.mode == "RGB" and out.size == (20, 40)
    assert _close(out.getpixel((10, 5)), RED, 40)  # the left side is now on top
    assert _close(out.getpixel((10, 35)), BLUE, 40)


def test_palette_png_with_transparency_goes_onto_white(tmp_path):
    img = Image.new("P", (4, 4), 0)
    img.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    img.putpixel((1, 1), 1)
    path = tmp_path / "pal.png"
    img.save(path, transparency=0)
    out = images.open_image(path)
    assert out.mode == "RGB"
    assert out.getpixel((0, 0)) == WHITE
    assert out.getpixel((1, 1)) == RED


def test_rgba_transparent_pixel_becomes_white(tmp_path):
    img = Image.new("RGBA", (3, 1), (0, 0, 0, 0))
    img.putpixel((1, 0), (255, 0, 0, 255))
    img.putpixel((2, 0), (0, 0, 0, 128))
    path = tmp_path / "rgba.png"
    img.save(path)
    out = images.open_image(path)
    assert out.getpixel((0, 0)) == WHITE
    assert out.getpixel((1, 0)) == RED
    assert _close(out.getpixel((2, 0)), (127, 127, 127), 2)  # half black over white


def test_la_image(tmp_path):
    img = Image.new("LA", (2, 1), (0, 0))
    img.putpixel((1, 0), (100, 255))
    path = tmp_path / "la.png"
    img.save(path)
    assert images.open_image(path, mode="L").getpixel((0, 0)) == 255
    assert images.open_image(path, mode="L").getpixel((1, 0)) == 100
    assert images.open_image(path).getpixel((1, 0)) == (100, 100, 100)


def test_cmyk_jpeg_colour_is_right(tmp_path):
    path = tmp_path / "print.jpg"
    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(path, quality=95)  # pure red ink
    assert Image.open(path).mode == "CMYK"
    out = images.open_image(path)
    assert out.mode == "RGB" and _close(out.getpixel((4, 4)), RED, 30)


def test_16bit_grey_png_is_scaled_not_clipped(tmp_path):
    path = tmp_path / "scan16.png"
    Image.fromarray(np.array([[0, 32768, 65535, 257]], dtype=np.uint16)).save(path)
    assert Image.open(path).mode.startswith("I")
    grey = np.asarray(images.open_image(path, mode="L"))
    assert grey.tolist() == [[0, 128, 255, 1]]
    rgb = np.asarray(images.open_image(path))
    assert rgb.shape == (1, 4, 3) and rgb[0, 1].tolist() == [128, 128, 128]


def test_16bit_rgb_png(tmp_path):
    path = tmp_path / "rgb16.png"
    _png16_rgb(path, np.array([[[65535, 32768, 0], [0, 0, 65535]]], dtype=np.uint16))
    out = images.open_image(path)
    assert out.mode == "RGB"
    assert out.getpixel((0, 0)) == (255, 128, 0)
    assert out.getpixel((1, 0)) == (0, 0, 255)


def test_32bit_int_and_float_images_are_scaled():
    as_i = Image.fromarray(np.array([[0, 32768, 65535]], dtype=np.int32))
    assert as_i.mode == "I"
    assert np.asarray(images.open_image(as_i, mode="L")).tolist() == [[0, 128, 255]]
    unit = Image.fromarray(np.array([[0.0, 0.5, 1.0]], dtype=np.float32))
    assert unit.mode == "F"
    assert np.asarray(images.open_image(unit, mode="L")).tolist() == [[0, 128, 255]]
    wide = Image.fromarray(np.array([[0.0, 100.0, 255.0]], dtype=np.float32))
    assert np.asarray(images.open_image(wide, mode="L")).tolist() == [[0, 100, 255]]


def test_grey_image_to_rgb_and_l(tmp_path):
    path = tmp_path / "grey.png"
    Image.new("L", (5, 3), 77).save(path)
    assert images.open_image(path).getpixel((0, 0)) == (77, 77, 77)
    grey = images.open_image(path, mode="L")
    assert grey.mode == "L" and grey.size == (5, 3)
    with pytest.raises(UsageError):
        images.open_image(path, mode="CMYK")


def test_animated_gif_gives_first_frame(tmp_path):
    path = tmp_path / "anim.gif"
    frames = [Image.new("RGB", (6, 6), RED), Image.new("RGB", (6, 6), BLUE)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100)
    assert Image.open(path).n_frames == 2
    assert images.open_image(path).getpixel((3, 3)) == RED


def _jpeg(path: Path) -> Path:
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(path, quality=90)
    return path


def test_truncated_jpeg_names_the_file(tmp_path):
    path = _jpeg(tmp_path / "half.jpg")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError) as info:
        images.open_image(path)
    msg = str(info.value)
    assert str(path) in msg and "truncated" in msg and "\n" not in msg


def test_empty_text_and_missing_files(tmp_path):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(ImageError, match="empty.png.*0 bytes"):
        images.open_image(empty)
    text = tmp_path / "notes.png"
    text.write_text("this is not a picture")
    with pytest.raises(ImageError, match="notes.png.*not a recognised image"):
        images.open_image(text)
    with pytest.raises(ImageError, match=r"cannot read image '.*nope.png': no such file"):
        images.open_image(tmp_path / "nope.png")


def test_image_over_pixel_limit(tmp_path, monkeypatch):
    warn_size, error_size = tmp_path / "big.png", tmp_path / "huge.png"
    Image.new("RGB", (12, 12)).save(warn_size)  # 144 > 100: Pillow only warns
    Image.new("RGB", (20, 20)).save(error_size)  # 400 > 2 * 100: Pillow raises
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    for path, n in ((warn_size, 144), (error_size, 400)):
        with pytest.raises(ImageError) as info:
            images.open_image(path)
        assert str(path) in str(info.value) and f"too large ({n} pixels > 100" in str(info.value)


# --------------------------------------------------------------------------- tensors


def test_to_tensor_and_to_pil_round_trip():
    g = torch.Generator().manual_seed(0)
    t = torch.randint(0, 256, (3, 5, 7), generator=g).float() / 255
    pil = images.to_pil(t)
    assert pil.mode == "RGB" and pil.size == (7, 5)
    back = images.to_tensor(pil)
    assert back.dtype == torch.float32 and torch.allclose(back, t, atol=1e-6)
    grey = images.to_pil(torch.full((1, 1, 2, 2), 2.0))  # batch of one, clamped
    assert grey.mode == "L" and grey.getpixel((0, 0)) == 255
    assert images.to_tensor(grey).shape == (1, 2, 2)
    with pytest.raises(UsageError):
        images.to_pil(torch.zeros(2, 4, 4))


def test_load_tensor_sizes(tmp_path):
    path = tmp_path / "wide.png"
    Image.new("RGB", (40, 20), RED).save(path)
    assert images.load_tensor(path).shape == (3, 20, 40)
    assert images.load_tensor(path, size=10).shape == (3, 5, 10)  # long side
    assert images.load_tensor(path, size=(8, 6)).shape == (3, 8, 6)  # exact (H, W)
    assert images.load_tensor(path, max_side=100).shape == (3, 20, 40)  # never enlarges
    assert images.load_tensor(path, max_side=20).shape == (3, 10, 20)
    assert images.load_tensor(path, mode="L").shape == (1, 20, 40)
    t = torch.rand(1, 3, 6, 4)
    assert torch.equal(images.load_tensor(t), t[0])
    assert images.load_tensor(t, size=12).shape == (3, 12, 8)
    assert images.load_tensor(Image.new("L", (3, 3))).shape == (3, 3, 3)


def test_resize_crop():
    img = Image.new("RGB", (60, 30))
    assert images.resize_crop(img, 16).size == (16, 16)
    a = images.resize_crop(
        Image.fromarray(np.arange(60 * 30, dtype=np.uint8).reshape(30, 60) % 251),
        10,
        crop="random",
        generator=torch.Generator().manual_seed(1),
    )
    b = images.resize_crop(
        Image.fromarray(np.arange(60 * 30, dtype=np.uint8).reshape(30, 60) % 251),
        10,
        crop="random",
        generator=torch.Generator().manual_seed(1),
    )
    assert a.size == (10, 10) and a.tobytes() == b.tobytes()
    with pytest.raises(UsageError):
        images.resize_crop(img, 16, crop="corner")


def test_make_grid_keeps_channels():
    grid = images.make_grid(torch.zeros(5, 1, 4, 4))
    assert grid.shape == (1, 2 * 6 + 2, 3 * 6 + 2)  # 3 per row, 2 rows, padding 2
    assert grid[0, 0, 0] == 1.0 and grid[0, 2, 2] == 0.0
    assert images.make_grid(torch.zeros(4, 3, 4, 4), nrow=4, padding=0).shape == (3, 4, 16)


# --------------------------------------------------------------------------- writing


def test_save_image_refuses_overwrite_and_creates_folders(tmp_path):
    out = tmp_path / "deep" / "er" / "x.png"
    assert images.save_image(torch.zeros(3, 4, 4), out) == out
    with pytest.raises(UsageError, match=r"output '.*x.png' exists; pass overwrite=True to replace it"):
        images.save_image(torch.ones(3, 4, 4), out)
    assert Image.open(out).getpixel((0, 0)) == (0, 0, 0)
    images.save_image(torch.ones(1, 3, 4, 4), out, overwrite=True)
    assert Image.open(out).getpixel((0, 0)) == WHITE
    assert sorted(os.listdir(out.parent)) == ["x.png"]


def test_save_image_is_atomic(tmp_path, monkeypatch):
    out = tmp_path / "out.png"
    images.save_image(Image.new("RGB", (4, 4), RED), out)
    before = out.read_bytes()

    def broken_save(self, fp, *args, **kwargs):
        fp.write(b"\x89PNG half written")
        raise OSError("No space left on device")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(ArtgenError, match="out.png.*No space left"):
        images.save_image(Image.new("RGB", (4, 4), BLUE), out, overwrite=True)
    assert out.read_bytes() == before
    assert os.listdir(tmp_path) == ["out.png"]  # no temp file left behind


def test_save_image_unwritable_location(tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(ArtgenError, match="file.txt"):
        images.save_image(torch.zeros(3, 2, 2), blocker / "out.png")
    with pytest.raises(UsageError, match="unknown image extension"):
        images.save_image(torch.zeros(3, 2, 2), tmp_path / "out.xyz")


def test_png_metadata_round_trip(tmp_path):
    out = tmp_path / "art.png"
    meta = {"steps": 300, "size": 512, "command": "stylize", "seed": 0, "style": "waves.jpg"}
    images.save_image(torch.rand(3, 8, 8), out, metadata=meta)
    got = images.read_metadata(out)
    assert got["artgen_version"]  # added by save_image
    assert {k: got[k] for k in meta} == meta
    text = Image.open(out).text
    assert json.loads(text["artgen"]) == got
    line = text["parameters"]
    assert line.startswith("artgen ") and "\n" not in line
    assert "stylize: steps=300, size=512, seed=0, style=waves.jpg" in line
    plain = tmp_path / "plain.png"
    images.save_image(torch.rand(3, 8, 8), plain)
    assert images.read_metadata(plain) == {}


def test_save_jpeg_and_other_formats(tmp_path):
    rgba = Image.new("RGBA", (8, 8), (255, 0, 0, 255))
    out = images.save_image(rgba, tmp_path / "a.jpg", metadata={"seed": 1})
    back = Image.open(out)
    assert back.format == "JPEG" and back.mode == "RGB" and _close(back.getpixel((4, 4)), RED, 10)
    for suffix in (".webp", ".bmp", ".gif", ".tif"):
        p = images.save_image(torch.rand(1, 8, 8), tmp_path / f"g{suffix}")
        assert images.open_image(p).size == (8, 8)


def test_check_writable(tmp_path):
    target = tmp_path / "new" / "out.png"
    assert images.check_writable(target) == target and target.parent.is_dir()
    assert os.listdir(target.parent) == []  # the probe file is gone
    target.write_bytes(b"x")
    with pytest.raises(UsageError, match="exists; pass overwrite=True"):
        images.check_writable(target)
    assert images.check_writable(target, overwrite=True) == target
    with pytest.raises(UsageError, match="extension"):
        images.check_writable(tmp_path / "out.txt")
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    with pytest.raises(ArtgenError, match="blocker"):
        images.check_writable(blocker / "sub" / "out.png")


def test_save_gif_keeps_every_frame(tmp_path):
    red, blue = Image.new("RGB", (8, 8), RED), Image.new("RGB", (8, 8), BLUE)
    frames = [red, red, red, blue, blue, red]  # identical neighbours must survive
    out = images.save_gif(frames, tmp_path / "anim.gif", fps=20, metadata={"command": "gan"})
    gif = Image.open(out)
    assert gif.n_frames == len(frames)
    assert gif.info["duration"] == 50 and gif.info["loop"] == 0
    colours = []
    for i in range(gif.n_frames):
        gif.seek(i)
        colours.append(gif.convert("RGB").getpixel((4, 4)))
    assert colours == [RED, RED, RED, BLUE, BLUE, RED]
    assert images.read_metadata(out)["command"] == "gan"
    with pytest.raises(UsageError, match="exists"):
        images.save_gif(frames, out)
    t = torch.rand(3, 3, 5, 5)
    out2 = images.save_gif(t, tmp_path / "t.gif", loop=None)
    gif2 = Image.open(out2)
    assert gif2.n_frames == 3 and gif2.info["version"] == b"GIF89a" and "loop" not in gif2.info


def test_rgba_is_kept_on_request_and_shown_on_a_checkerboard():
    half = Image.new("RGBA", (4, 2), (255, 0, 0, 0))
    half.paste((0, 0, 255, 255), (0, 0, 2, 2))  # left half opaque blue, right half transparent
    img = images.open_image(half, mode="RGBA")
    t = images.to_tensor(img)
    assert img.mode == "RGBA" and t.shape == (4, 2, 4) and t[3, 0, 0] == 1 and t[3, 0, 3] == 0
    shown = images.on_checkerboard(t, square=1)
    assert shown.shape == (3, 2, 4) and torch.allclose(shown[:, 0, 0], torch.tensor([0.0, 0.0, 1.0]))
    assert shown[0, 0, 2] == shown[1, 0, 2] != shown[0, 0, 3]  # grey squares alternate where it is transparent
    assert images.open_image(Image.new("RGB", (2, 2)), mode="RGBA").getextrema()[3] == (255, 255)  # no alpha: opaque


def test_resize_spectral_is_exact_for_band_limited_pictures_and_leaves_no_ripple(odd_even_ratio):
    from artgen.images import resize_spectral

    h, w = 40, 30

    def wave(y, x):  # periodic over (h, w) and band-limited
        return 0.5 + 0.2 * torch.sin(2 * torch.pi * 3 * y / h + 0.3) + 0.1 * torch.cos(2 * torch.pi * 4 * x / w)

    def grid(n_h, n_w):  # pixel centres of an (n_h, n_w) picture, in input pixels
        return torch.meshgrid((torch.arange(n_h) + 0.5) * h / n_h, (torch.arange(n_w) + 0.5) * w / n_w, indexing="ij")

    x = wave(*grid(h, w))[None, None]
    for hw in [(80, 60), (67, 45), (24, 18)]:
        assert torch.allclose(resize_spectral(x, hw, periodic=True)[0, 0], wave(*grid(*hw)), atol=1e-5)
    # mirrored (not periodic): a smooth picture lands on the same pixel-centre grid as F.interpolate
    y = resize_spectral(x, (80, 60))
    assert y.shape == (1, 1, 80, 60) and (y[0, 0, 6:-6, 6:-6] - wave(*grid(80, 60))[6:-6, 6:-6]).abs().max() < 0.01
    assert torch.equal(resize_spectral(x, (h, w)), x)
    assert (resize_spectral(torch.full((2, 3, 9, 7), 0.3), (18, 15)) - 0.3).abs().max() < 1e-6
    # rough pictures: bicubic enlargement leaves a 2-pixel ripple (about 1.7); Fourier resampling none
    noise = torch.rand(1, 3, 96, 96, generator=torch.Generator().manual_seed(0))
    bicubic = torch.nn.functional.interpolate(noise, size=(192, 192), mode="bicubic", align_corners=False)
    assert min(odd_even_ratio(bicubic)) > 1.5
    for periodic in (False, True):
        assert all(abs(r - 1) < 0.05 for r in odd_even_ratio(resize_spectral(noise, (192, 192), periodic=periodic)))

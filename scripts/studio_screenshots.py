"""Screenshots of artgen studio's tabs for the docs, taken with headless Chromium.

    python scripts/studio_screenshots.py --out docs/images/studio

Serves the studio on a free local port with a temporary working folder (a small GAN run and a small
style network trained first, so each tab shows a result), then saves one PNG per tab and view:
stylise, texture, gan-sample, gan-walk, gan-train, fast-style-train, fast-style-apply and outputs.
Needs the studio extra and Debian's chromium (``apt-get install -y chromium``); a few CPU minutes.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import tempfile
import time
from pathlib import Path

from artgen.studio import Studio, launch


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _inputs(folder: Path) -> dict:
    """The built-in photo and the built-in "swirls" style, saved in ``folder``."""
    from artgen.data.style_images import style_image
    from artgen.demo import builtin_photo
    from artgen.images import save_image

    return {
        "photo": save_image(builtin_photo(), folder / "photo.png", overwrite=True),
        "style": save_image(style_image("swirls", 256), folder / "style.png", overwrite=True),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", default="docs/images/studio", help="folder for the PNGs (default: docs/images/studio)"
    )
    parser.add_argument(
        "--chromium", default=shutil.which("chromium") or "/usr/bin/chromium", help="the Chromium to drive"
    )
    parser.add_argument(
        "--style-steps", type=int, default=150, help="steps of the style network trained first (default: 150)"
    )
    parser.add_argument(
        "--skip-texture",
        action="store_true",
        help="leave texture.png as it is (its 256 px texture is the slowest step on a busy CPU)",
    )
    parser.add_argument(
        "--timeout", type=float, default=900, help="seconds to wait for each result on the page (default: 900)"
    )
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    from artgen import train_fast_style, train_gan

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "artgen-studio"
        files = Path(tmp) / "files"
        files.mkdir()
        inputs = _inputs(files)
        data = work / "data" / "shapes"
        data.mkdir(parents=True)
        from artgen.data import make_shapes
        from artgen.images import save_image

        shapes, _ = make_shapes(64, size=32, seed=0, channels=3)
        for i, img in enumerate(shapes):
            save_image(img, data / f"{i:03d}.png")
        train_gan(  # long enough for two KID measurements (the first comes at step 200), for the curve
            out=work / "runs" / "shapes",
            data=data,
            size=32,
            steps=240,
            device="cpu",
            progress=False,
            g_width=16,
            d_width=16,
            kid_every=100,
            sample_every=40,
        )
        train_fast_style(
            str(inputs["style"]),
            None,
            work / "runs" / "swirls",
            arch="small",
            size=96,
            steps=args.style_steps,
            batch_size=2,
            preview_every=20,
            device="cpu",
            progress=False,
        )
        studio = Studio(work, device="cpu")
        port = _free_port()
        app = launch(studio, port=port, block=False)
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(
                    executable_path=args.chromium, args=["--no-sandbox", "--disable-dev-shm-usage"]
                )
                page = browser.new_page(viewport={"width": 1360, "height": 1100})
                page.set_default_timeout(args.timeout * 1000)
                page.goto(f"http://127.0.0.1:{port}/")
                page.get_by_text("artgen studio").first.wait_for()
                # Stylise
                page.locator("#stylize-photo input[type=file]").set_input_files(str(inputs["photo"]))
                page.locator("#stylize-styles input[type=file]").set_input_files([str(inputs["style"])])
                page.locator("#stylize-run").click()
                page.locator("#stylize-result img").first.wait_for()
                time.sleep(1)
                page.screenshot(path=str(out / "stylise.png"), full_page=True)
                # Texture
                if not args.skip_texture:
                    page.get_by_role("tab", name="Texture").click()
                    page.locator("#texture-samples input[type=file]").set_input_files([str(inputs["style"])])
                    box = page.locator("#texture-size textarea, #texture-size input").first
                    box.fill("256")
                    page.locator("#texture-steps input[type=number]").fill("60")
                    page.locator("#texture-run").click()
                    page.locator("#texture-preview img").first.wait_for()
                    time.sleep(1)
                    page.screenshot(path=str(out / "texture.png"), full_page=True)
                # GAN: sample
                page.get_by_role("tab", name="GAN").click()
                page.locator("#gan-sample").click()
                page.locator("#gan-grid img").first.wait_for()
                time.sleep(1)
                page.screenshot(path=str(out / "gan-sample.png"), full_page=True)
                # GAN: an interpolation GIF between two seeds
                page.get_by_role("tab", name="Interpolate", exact=True).click()
                page.locator("#gan-seed-b input[type=number]").fill("5")
                page.locator("#gan-walk").click()
                page.locator("#gan-gif img").first.wait_for()
                time.sleep(1)
                page.screenshot(path=str(out / "gan-walk.png"), full_page=True)
                # GAN: a training job (the small run resumed), its samples and KID curve, cancelled
                page.get_by_role("tab", name="Train", exact=True).click()
                page.locator("#gan-out textarea").fill("runs/shapes")
                page.locator("#gan-steps input[type=number]").fill("2000")
                page.locator("#gan-resume input").check()
                page.locator("#gan-train").click()
                job = page.locator("#gan-job textarea")
                while "running" not in job.input_value():
                    time.sleep(0.5)
                page.locator("#gan-kid img").first.wait_for()
                time.sleep(8)
                page.screenshot(path=str(out / "gan-train.png"), full_page=True)
                page.locator("#gan-cancel").click()
                while "cancelled" not in job.input_value() and "failed" not in job.input_value():
                    time.sleep(0.5)
                # Fast style networks: a training job (the small network resumed) with its live preview
                page.get_by_role("tab", name="Fast style networks").click()
                page.get_by_role("tab", name="Train a network").click()
                page.locator("#fast-style input[type=file]").set_input_files(str(inputs["style"]))
                page.locator("#fast-out textarea").fill("runs/swirls")
                page.locator("#fast-steps input[type=number]").fill("4000")
                page.locator("#fast-resume input").check()
                page.locator("#fast-train-run").click()
                job = page.locator("#fast-job textarea")
                while "running" not in job.input_value():
                    time.sleep(0.5)
                page.locator("#fast-live img").first.wait_for()
                time.sleep(6)
                page.screenshot(path=str(out / "fast-style-train.png"), full_page=True)
                page.locator("#fast-cancel").click()
                while "cancelled" not in job.input_value() and "failed" not in job.input_value():
                    time.sleep(0.5)
                # Fast style networks: the network applied to the built-in photo
                page.get_by_role("tab", name="Apply a network").click()
                network = page.locator("#fast-network input").first
                network.fill("runs/swirls")
                network.press("Enter")
                page.locator("#fast-picture input[type=file]").set_input_files(str(inputs["photo"]))
                page.locator("#fast-picture img").first.wait_for()
                page.locator("#fast-max-size input[type=number]").fill("512")
                page.locator("#fast-apply-run").click()
                page.locator("#fast-result img").first.wait_for()
                time.sleep(1)
                page.screenshot(path=str(out / "fast-style-apply.png"), full_page=True)
                # Runs and outputs: the gallery, the stylised photo's settings read back
                page.get_by_role("tab", name="Runs and outputs").click()
                page.locator("#outputs-gallery button img").first.wait_for()
                page.locator("#outputs-gallery button img").last.click()
                page.locator("#outputs-settings").get_by_text("command").first.wait_for()
                time.sleep(1)
                page.screenshot(path=str(out / "outputs.png"), full_page=True)
                browser.close()
        finally:
            app.close()
    for png in sorted(out.glob("*.png")):
        print(f"wrote {png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

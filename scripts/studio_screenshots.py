"""Screenshots of artgen studio's tabs for the docs, taken with headless Chromium.

    python scripts/studio_screenshots.py --out docs/images/studio

Serves the studio on a free local port with a temporary working folder (a tiny GAN run, a stylised
built-in photo and a texture made first, so each tab shows a result), then saves one PNG per tab.
Needs the studio extra and Debian's chromium (``apt-get install -y chromium``); about two CPU minutes.
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
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    from artgen import train_gan

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
        train_gan(
            out=work / "runs" / "shapes",
            data=data,
            size=32,
            steps=60,
            device="cpu",
            progress=False,
            g_width=16,
            d_width=16,
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
                page.set_default_timeout(300_000)
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
                # GAN: a training job, cancelled
                page.get_by_role("tab", name="Train").click()
                data_box = page.locator("#gan-data input").first
                data_box.fill("data/shapes")
                data_box.press("Enter")
                page.locator("#gan-out textarea").fill("runs/shapes-2")
                page.locator("#gan-size input").first.fill("32")
                page.locator("#gan-size input").first.press("Enter")
                page.locator("#gan-train").click()
                job = page.locator("#gan-job textarea")
                while "running" not in job.input_value():
                    time.sleep(0.5)
                time.sleep(8)
                page.screenshot(path=str(out / "gan-train.png"), full_page=True)
                page.locator("#gan-cancel").click()
                while "cancelled" not in job.input_value() and "failed" not in job.input_value():
                    time.sleep(0.5)
                browser.close()
        finally:
            app.close()
    for png in sorted(out.glob("*.png")):
        print(f"wrote {png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

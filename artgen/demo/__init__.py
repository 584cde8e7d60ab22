"""``artgen demo``: every head on built-in data, offline, in a few minutes on a laptop CPU.

It stylises the built-in photo with a built-in painting-like style, trains a small
class-conditional GAN briefly on the built-in shapes and samples a grid, trains the founding
document's classifier on the built-in "shapes" set and shows its predictions, and
puts everything on one contact sheet.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import torch

from ..errors import UsageError

log = logging.getLogger("artgen.demo")

SHEET = "contact_sheet.png"
#: GAN sample row ``r`` of the sheet draws from seeds ``seed + r * ROW_SEED_STRIDE + k`` (one
#: per class ``k``): the rows never share a seed while there are fewer than 100 classes.
ROW_SEED_STRIDE = 100


@dataclass
class DemoConfig:
    """Sizes and budgets; ``quick`` shrinks them for tests."""

    style_size: int = 256
    style_steps: int | None = None  # None: the stylize default for the backbone
    gan_size: int = 32
    gan_steps: int = 1200
    gan_batch: int = 32
    classifier_images: int = 20000
    classifier_epochs: int = 3

    @classmethod
    def quick(cls) -> DemoConfig:
        """Tiny sizes and budgets (64 px style, 20 GAN steps, 1,000 classifier images): seconds, for tests and install checks."""
        return cls(
            style_size=64,
            style_steps=12,
            gan_size=32,
            gan_steps=20,
            gan_batch=8,
            classifier_images=1000,
            classifier_epochs=1,
        )


def builtin_photo():
    """The built-in photo (NASA, public domain; see artgen/assets/SOURCES.md) as a PIL image."""
    from ..images import open_image

    with resources.as_file(resources.files("artgen") / "assets" / "astronaut.jpg") as path:
        return open_image(path)


def run_demo(
    out: str | Path = "artgen-demo",
    *,
    device: str = "auto",
    seed: int = 0,
    quick: bool = False,
    overwrite: bool = False,
    progress: bool | None = None,
) -> dict[str, Path]:
    """Run the whole demo into ``out``; returns the paths written (``"sheet"`` is the contact sheet).

    Writes PNGs (photo, style, stylised result, GAN samples, classifier predictions, the
    contact sheet) and two run folders (``gan-run``, ``classifier-run``), replacing earlier ones.

    Raises:
        UsageError: ``out`` already holds a demo and ``overwrite`` is false; an unavailable ``device``.
    """
    from .. import plots
    from ..classifier import Classifier
    from ..data import load_dataset
    from ..data.style_images import style_image
    from ..gan import train_gan
    from ..images import make_grid, save_image, to_pil
    from ..style_transfer import stylize

    out = Path(out)
    settings = DemoConfig.quick() if quick else DemoConfig()
    if (out / SHEET).exists() and not overwrite:
        raise UsageError(
            f"'{out}' already holds a demo; pass {{arg:overwrite=True}} to replace it or choose another {{arg:out}}"
        )
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    timings: dict[str, float] = {}

    # 1. style transfer: built-in photo + built-in painting-like style
    t0 = time.perf_counter()
    log.info("1/3 style transfer: the built-in photo painted in the built-in 'swirls' style")
    photo = builtin_photo()
    style = style_image("swirls", 256, seed=seed)
    written["photo"] = save_image(
        photo, out / "photo.png", metadata={"command": "demo", "source": "artgen/assets/astronaut.jpg"}, overwrite=True
    )
    written["style"] = save_image(
        style,
        out / "style_swirls.png",
        metadata={"command": "style_image", "name": "swirls", "size": 256, "seed": seed},
        overwrite=True,
    )
    result = stylize(
        photo, style, size=settings.style_size, steps=settings.style_steps, seed=seed, device=device, progress=progress
    )
    written["stylized"] = save_image(
        result, out / "stylized.png", metadata=result.info.get("artgen", {}), overwrite=True
    )
    timings["style transfer"] = time.perf_counter() - t0

    # 2. a small class-conditional GAN on the built-in shapes (it learns visibly within a minute on a CPU)
    t0 = time.perf_counter()
    log.info(
        "2/3 GAN: %d steps, class-conditional, on the built-in shapes at %d px", settings.gan_steps, settings.gan_size
    )
    gan = train_gan(
        out=out / "gan-run",
        dataset="shapes",
        conditional=True,
        size=settings.gan_size,
        steps=settings.gan_steps,
        batch_size=settings.gan_batch,
        sample_every=max(settings.gan_steps // 4, 1),
        checkpoint_every=settings.gan_steps,
        device=device,
        seed=seed,
        progress=progress,
        overwrite=True,
    )
    classes = gan.config.classes or [str(k) for k in range(gan.config.num_classes)]
    # six rows, one column per class
    samples = torch.cat(
        [gan.generate(len(classes), seed=seed + ROW_SEED_STRIDE * row, class_=None) for row in range(6)]
    )
    grid = make_grid(samples, nrow=len(classes))
    meta = {
        "command": "gan sample",
        "checkpoint": str(out / "gan-run"),
        "n": len(samples),
        "seed": seed,
        "columns": classes,
    }
    written["gan_grid"] = save_image(grid, out / "gan_samples.png", metadata=meta, overwrite=True)
    timings["GAN"] = time.perf_counter() - t0

    # 3. the founding document's classifier on the built-in shapes
    t0 = time.perf_counter()
    log.info(
        "3/3 classifier: Flatten -> Dense(128, ReLU) -> Dense(10) on %d built-in shapes, %d epoch(s)",
        settings.classifier_images,
        settings.classifier_epochs,
    )
    x, y, classes = load_dataset("shapes", train=True)
    xt, yt, _ = load_dataset("shapes", train=False)
    x, y = x[: settings.classifier_images], y[: settings.classifier_images]
    clf = Classifier(device=device, seed=seed, classes=list(classes))
    clf.compile("adam", "cross_entropy", ["accuracy"])
    clf.fit(
        x,
        y,
        epochs=settings.classifier_epochs,
        batch_size=32,
        validation_data=(xt, yt),
        run_dir=out / "classifier-run",
        overwrite=True,
        progress=progress,
    )
    result_eval = clf.evaluate(xt, yt)
    probs = clf.predict(xt[:24])
    conf, pred = probs.max(dim=1)
    written["predictions"] = plots.plot_predictions(
        xt[:24], pred, conf, yt[:24], classes, out / "classifier_predictions.png"
    )
    timings["classifier"] = time.perf_counter() - t0

    # contact sheet
    from PIL import Image

    panels = [
        ("built-in photo", photo),
        ("built-in style: swirls", style),
        (f"stylized ({result.info.get('artgen', {}).get('backbone_used', '?')} encoder)", result),
        (f"GAN after {settings.gan_steps} steps: a class per column", to_pil(grid)),
        (f"classifier: {result_eval['accuracy']:.1%} test accuracy", Image.open(written["predictions"])),
        ("classifier training curves", Image.open(out / "classifier-run" / "curves.png")),
    ]
    written["sheet"] = plots.contact_sheet(panels, out / SHEET, title="artgen demo")
    for name, seconds in timings.items():
        log.info("%-15s %6.1f s", name, seconds)
    return written

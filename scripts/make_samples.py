"""Regenerate samples/: inputs and outputs of every artgen head, offline, from built-in data.

    python scripts/make_samples.py [--out samples] [--parts stylize,fast_style,gan,classifier,sheet] [--quick]

Writes
  inputs/       the built-in photo and the built-in style images
  stylize/      the photo painted in each style, a 70/30 blend, colours preserved, and real photos
                painted with real textures (scikit-image's data folder)
  fast_style/   a small feed-forward network trained for one style, applied to the photo
  gan/          samples of an RGBA GAN trained on 2,000 real Twemoji (with --emoji-dir: the npm package
                emoji-datasource-twitter, graphics CC-BY 4.0; else the built-in art set), of a
                class-conditional GAN on the built-in shapes (one column per class), and a latent walk (GIF)
  classifier/   the dense classifier's predictions on the built-in shapes and its curves
  contact_sheet.png   all of it at a glance, drawn from the files above

About 25 minutes on a 2-core CPU (seconds with --quick); each part can be rerun alone with
--parts. Every PNG carries its settings in its metadata. Sources: samples/SOURCES.md.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

import artgen
from artgen import plots
from artgen.data import art_images, load_dataset
from artgen.data.style_images import STYLES, style_image
from artgen.demo import builtin_photo
from artgen.images import make_grid, save_gif, save_image

PARTS = ("stylize", "fast_style", "gan", "classifier", "sheet")


def inputs(out: Path):
    photo = builtin_photo()
    styles = {name: style_image(name, 256, seed=0) for name in STYLES}
    save_image(
        photo,
        out / "inputs" / "photo_astronaut.png",
        metadata={"source": "artgen/assets/astronaut.jpg (NASA, public domain)"},
        overwrite=True,
    )
    for name, img in styles.items():
        save_image(
            img,
            out / "inputs" / f"style_{name}.png",
            metadata={"command": "style_image", "name": name, "size": 256, "seed": 0},
            overwrite=True,
        )
    return photo, styles


def stylize_part(out: Path, photo, styles, quick: bool, device: str) -> None:
    size, steps = (64, 10) if quick else (384, None)
    for name in STYLES:
        img = artgen.stylize(photo, styles[name], size=size, steps=steps, seed=0, device=device)
        save_image(img, out / "stylize" / f"astronaut_{name}.png", metadata=img.info["artgen"], overwrite=True)
    blend = artgen.stylize(
        photo,
        [styles["swirls"], styles["mosaic"]],
        style_blend=[0.7, 0.3],
        size=size,
        steps=steps,
        seed=0,
        device=device,
    )
    save_image(
        blend, out / "stylize" / "astronaut_blend_swirls70_mosaic30.png", metadata=blend.info["artgen"], overwrite=True
    )
    kept = artgen.stylize(photo, styles["swirls"], preserve_colors=True, size=size, steps=steps, seed=0, device=device)
    save_image(
        kept, out / "stylize" / "astronaut_swirls_colors_kept.png", metadata=kept.info["artgen"], overwrite=True
    )


#: Real photos and textures shipped inside installed packages: (name, distribution, path in it).
REAL_PAIRS = [
    (("cat", "scikit-image", "skimage/data/chelsea.png"), ("ihc", "scikit-image", "skimage/data/ihc.png")),
    (
        ("astronaut", "scikit-image", "skimage/data/astronaut.png"),
        ("hubble", "scikit-image", "skimage/data/hubble_deep_field.jpg"),
    ),
    (("coffee", "scikit-image", "skimage/data/coffee.png"), ("gravel", "scikit-image", "skimage/data/gravel.png")),
    (("rocket", "scikit-image", "skimage/data/rocket.jpg"), ("retina", "scikit-image", "skimage/data/retina.jpg")),
]


def real_pairs_part(out: Path, quick: bool, device: str) -> None:
    """The default ``stylize`` on real public photos and textures (scikit-image's data folder)."""
    from importlib import metadata

    size, steps = (64, 10) if quick else (384, None)
    for (cname, cdist, cpath), (sname, sdist, spath) in REAL_PAIRS:
        content = Path(str(metadata.distribution(cdist).locate_file(cpath)))
        style = Path(str(metadata.distribution(sdist).locate_file(spath)))
        for name, path, dist in ((cname, content, cdist), (sname, style, sdist)):
            img = Image.open(path).convert("RGB")
            img.thumbnail((256, 256))
            save_image(
                img, out / "inputs" / f"real_{name}.png", metadata={"source": f"{dist}: {path.name}"}, overwrite=True
            )
        img = artgen.stylize(str(content), str(style), size=size, steps=steps, seed=0, device=device)
        save_image(img, out / "stylize" / f"real_{cname}_{sname}.png", metadata=img.info["artgen"], overwrite=True)


def fast_style_part(out: Path, photo, work: Path, quick: bool, device: str) -> None:
    steps, size = (6, 64) if quick else (400, 128)
    net = artgen.train_fast_style(
        "embers",
        data=None,
        out=work / "fast",
        size=size,
        steps=steps,
        batch_size=4,
        preview_every=10_000,
        checkpoint_every=10_000,
        device=device,
    )
    img = net.stylize(photo, max_size=128 if quick else 384)
    meta = {
        "command": "fast-style train + apply",
        "style": "embers",
        "arch": net.config.arch,
        "size": size,
        "steps": steps,
        "batch_size": 4,
        "seed": 0,
    }
    save_image(img, out / "fast_style" / "astronaut_embers_net.png", metadata=meta, overwrite=True)


def emoji_folder(emoji_dir: Path, work: Path, n: int = 2000) -> Path:
    """``n`` Twemoji PNGs (64x64 RGBA) picked with seed 0 from emoji-datasource-twitter's ``img/twitter/64``, copied into ``work``."""
    files = sorted(Path(emoji_dir).glob("*.png"))
    if not files:
        raise SystemExit(
            f"--emoji-dir '{emoji_dir}' holds no PNGs: pass the img/twitter/64 folder of the npm package emoji-datasource-twitter"
        )
    folder = work / "emoji"
    folder.mkdir(parents=True, exist_ok=True)
    for i in torch.randperm(len(files), generator=torch.Generator().manual_seed(0))[:n].tolist():
        shutil.copy(files[i], folder / files[i].name)
    return folder


def gan_part(out: Path, work: Path, quick: bool, device: str, emoji_dir: str | None = None) -> None:
    from artgen.images import on_checkerboard

    steps = 20 if quick else 3000
    if emoji_dir:
        folder = emoji_folder(Path(emoji_dir), work, 64 if quick else 2000)
        gan = artgen.train_gan(
            data=folder,
            channels=4,
            size=32,
            steps=steps,
            batch_size=32,
            out=work / "gan-emoji",
            sample_every=10_000,
            checkpoint_every=10_000,
            device=device,
        )
        meta = {
            "command": "gan sample",
            "data": "Twemoji via emoji-datasource-twitter (CC-BY 4.0)",
            "channels": 4,
            "steps": steps,
            "seed": 0,
        }
        save_image(
            make_grid(on_checkerboard(gan.generate(64, seed=0)), nrow=8),
            out / "gan" / "emoji_32px.png",
            metadata=meta,
            overwrite=True,
        )
        from artgen.gan import load_gan_data

        real = load_gan_data(data=folder, size=32, channels=4).images[:64].float() / 255
        save_image(
            make_grid(on_checkerboard(real), nrow=8),
            out / "gan" / "emoji_32px_real.png",
            metadata={"data": meta["data"], "images": 64},
            overwrite=True,
        )
        save_gif(
            on_checkerboard(gan.interpolate(12 if quick else 48, seed=3)),
            out / "gan" / "emoji_walk.gif",
            fps=12,
            overwrite=True,
            metadata={"command": "gan interpolate", "seed": 3},
        )
    else:
        gan = artgen.train_gan(
            dataset="art",
            size=32,
            steps=steps,
            batch_size=32,
            out=work / "gan-art",
            sample_every=10_000,
            checkpoint_every=10_000,
            device=device,
        )
        save_image(
            make_grid(gan.generate(64, seed=0), nrow=8),
            out / "gan" / "art_32px.png",
            metadata={"command": "gan sample", "dataset": "art", "steps": steps, "seed": 0},
            overwrite=True,
        )
        save_image(
            make_grid(art_images(64, size=32, seed=0), nrow=8),
            out / "gan" / "art_32px_real.png",
            metadata={"command": "art_images", "seed": 0},
            overwrite=True,
        )
        save_gif(
            gan.interpolate(12 if quick else 48, seed=3),
            out / "gan" / "art_walk.gif",
            fps=12,
            overwrite=True,
            metadata={"command": "gan interpolate", "seed": 3},
        )
    steps = 20 if quick else 1500
    cond = artgen.train_gan(
        dataset="shapes",
        conditional=True,
        size=32,
        steps=steps,
        batch_size=32,
        out=work / "gan-shapes",
        sample_every=10_000,
        checkpoint_every=10_000,
        device=device,
    )
    # 8 rows, one column per class
    grid = torch.stack(
        [torch.stack([cond.generate(1, seed=100 * i + k, class_=k)[0] for k in range(10)]) for i in range(8)]
    ).flatten(0, 1)
    save_image(
        make_grid(grid, nrow=10),
        out / "gan" / "shapes_conditional_32px.png",
        metadata={"command": "gan sample", "dataset": "shapes", "conditional": True, "steps": steps},
        overwrite=True,
    )


def classifier_part(out: Path, quick: bool, device: str) -> None:
    x, y, classes = load_dataset("shapes", train=True)
    xt, yt, _ = load_dataset("shapes", train=False)
    n = 2000 if quick else 60000
    clf = artgen.Classifier(device=device, seed=0, classes=list(classes))
    clf.compile("adam", "cross_entropy", ["accuracy"])
    history = clf.fit(x[:n], y[:n], epochs=1 if quick else 10, batch_size=32, validation_data=(xt, yt))
    probs = clf.predict(xt[:32])
    conf, pred = probs.max(dim=1)
    plots.plot_predictions(xt[:32], pred, conf, yt[:32], classes, out / "classifier" / "predictions.png")
    history.plot(
        out / "classifier" / "curves.png",
        title=f"dense classifier on shapes: {clf.evaluate(xt, yt)['accuracy']:.2%} test accuracy",
    )


def sheet_part(out: Path) -> None:
    files = [
        ("built-in photo", "inputs/photo_astronaut.png"),
        ("style: swirls", "inputs/style_swirls.png"),
        ("optimisation (original VGG19)", "stylize/astronaut_swirls.png"),
        ("real photo + real texture", "stylize/real_cat_ihc.png"),
        ("70% swirls + 30% mosaic", "stylize/astronaut_blend_swirls70_mosaic30.png"),
        ("colours kept", "stylize/astronaut_swirls_colors_kept.png"),
        ("fast network (embers), one pass", "fast_style/astronaut_embers_net.png"),
        ("GAN on 2,000 Twemoji (RGBA)", "gan/emoji_32px.png"),
        ("conditional GAN: a class per column", "gan/shapes_conditional_32px.png"),
        ("classifier predictions", "classifier/predictions.png"),
    ]
    panels = [(caption, Image.open(out / name)) for caption, name in files if (out / name).exists()]
    plots.contact_sheet(panels, out / "contact_sheet.png", title="artgen samples")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="samples")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}")
    parser.add_argument("--quick", action="store_true", help="tiny settings, to check the script")
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--emoji-dir",
        default=None,
        help="img/twitter/64 of the npm package emoji-datasource-twitter: the GAN gallery's real collection",
    )
    args = parser.parse_args()
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown part(s) {sorted(unknown)}; choose from {','.join(PARTS)}")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    out = Path(args.out)
    work = Path(tempfile.mkdtemp(prefix="artgen-samples-"))
    t0 = time.perf_counter()
    photo, styles = inputs(out)
    if "stylize" in parts:
        stylize_part(out, photo, styles, args.quick, args.device)
        real_pairs_part(out, args.quick, args.device)
    if "fast_style" in parts:
        fast_style_part(out, photo, work, args.quick, args.device)
    if "gan" in parts:
        gan_part(out, work, args.quick, args.device, args.emoji_dir)
    if "classifier" in parts:
        classifier_part(out, args.quick, args.device)
    if "sheet" in parts:
        sheet_part(out)
    shutil.rmtree(work, ignore_errors=True)
    print(f"samples ({', '.join(parts)}) written to '{out}' in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()

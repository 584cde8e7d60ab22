"""Regenerate samples/stylize/: photos repainted with artgen's built-in procedural styles.

    python scripts/make_style_samples.py PHOTO [PHOTO ...] [--size 384] [--backbone auto]

The sample photos used for samples/stylize (see SOURCES.md) are scikit-image's bundled
public-domain images (astronaut.png, chelsea.png); any photos work.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from artgen.heads.stylize import StyleOptions, stylize_tensor
from artgen.images import load_tensor, make_grid, save_image
from artgen.styles import style_image

PAIRS = {0: ["swirls", "mosaic"], 1: ["embers", "swirls"]}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("photos", nargs="+")
    p.add_argument("--size", type=int, default=384)
    p.add_argument("--backbone", default="auto")
    p.add_argument("--out", default="samples/stylize")
    args = p.parse_args()
    out = Path(args.out)
    for i, photo in enumerate(args.photos):
        name = Path(photo).stem
        for style in PAIRS.get(i, ["swirls"]):
            st = style_image(style, 256)
            save_image(st, out / f"style_{style}.png", overwrite=True, metadata={"command": "style_image", "name": style, "size": 256, "seed": 0})
            for preserve in (False,) if style != "swirls" or i else (False, True):
                opts = StyleOptions(size=args.size, backbone=args.backbone, preserve_colors=preserve)
                img, settings = stylize_tensor(photo, st, opts)
                suffix = "_colors" if preserve else ""
                settings.update(command="stylize", content=Path(photo).name, styles=[f"builtin:{style}"])
                save_image(img[0], out / f"{name}_{style}{suffix}.png", overwrite=True, metadata=settings)
                print("wrote", out / f"{name}_{style}{suffix}.png")


if __name__ == "__main__":
    main()

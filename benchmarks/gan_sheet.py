"""One picture of several GAN recipes' samples side by side, from the grids ``gan_anchors.py`` saved.

Each input is a grid of ``--tile``-px samples with 1 px padding (``make_grid(..., padding=1)``, as
``gan_anchors.py`` writes them); the top-left ``--rows`` x ``--rows`` samples of each are placed in
columns under their labels, so recipes trained in separate processes can be looked at together.

    python -m benchmarks.gan_sheet --tile 64 --out docs/images/gan_anchors/emoji_64px_2000_recipes.png \
        real=real.png plain=emoji_64px_2000_artgen-plain_seed0.png projected=emoji_64px_2000_artgen-projected_seed0.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageDraw


def crop_tiles(grid: Image.Image, tile: int, rows: int) -> Image.Image:
    """The top-left ``rows`` x ``rows`` samples of a padded grid (1 px padding) as one picture."""
    side = 1 + rows * (tile + 1)
    return grid.convert("RGB").crop((0, 0, side, side))


def sheet(
    columns: list[tuple[str, Image.Image]], tile: int, rows: int, gap: int = 8, label_h: int = 16
) -> Image.Image:
    """Columns of cropped grids under their labels, on white."""
    side = 1 + rows * (tile + 1)
    out = Image.new("RGB", (len(columns) * (side + gap) - gap, side + label_h), "white")
    draw = ImageDraw.Draw(out)
    for i, (label, grid) in enumerate(columns):
        x = i * (side + gap)
        draw.text((x + 2, 2), label, fill="black")
        out.paste(crop_tiles(grid, tile, rows), (x, label_h))
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("columns", nargs="+", metavar="LABEL=PNG", help="a label and the grid to take its samples from")
    p.add_argument("--tile", type=int, default=64, help="side of one sample in the grids, px (default: 64)")
    p.add_argument("--rows", type=int, default=4, help="rows (and columns) of samples kept per grid (default: 4)")
    p.add_argument("--out", required=True, help="the PNG to write")
    args = p.parse_args(argv)
    cols = []
    for item in args.columns:
        label, _, path = item.partition("=")
        if not path:
            raise SystemExit(f"{item!r}: expected LABEL=PNG")
        cols.append((label, Image.open(path)))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    sheet(cols, args.tile, args.rows).save(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""Large pictures in bounded memory: tiles with overlap, for style transfer by optimisation
and for the feed-forward style networks, and wrap-around (seamless) variants of both.

Two users, one idea: a convolutional network's output at a pixel depends only on the
input within its receptive field. A tile whose *core* is surrounded by a *margin* at
least as wide as that radius therefore gives, on its core, exactly what the whole
picture would give. Tiles are cut on a grid aligned to the network's stride so that
pooling and strided convolutions see the same pixel phases as on the whole picture.

* :class:`TiledStyleObjective` -- the Gatys et al. (2016) objective of
  :class:`artgen.style_transfer.StyleObjective`, evaluated tile by tile. Gram matrices
  are sums over positions, so the image's Gram matrix is accumulated over tile cores
  (pass 1, no graph); the style loss and its derivative with respect to each Gram
  matrix follow from :func:`artgen.losses.style_loss_from_grams`; pass 2 back-propagates
  ``<dL/dG, G_tile>`` plus each tile's share of the content loss through one tile at a
  time. The gradient equals the untiled one (up to float rounding) and peak memory
  follows the tile, not the picture.
* :func:`tiled_style_net` -- a feed-forward style network (Johnson et al. 2016) over
  overlapping tiles. Instance normalisation (Ulyanov et al. 2016) normalises with the
  statistics of the whole picture, so they are measured once -- on the picture itself, or
  for a larger one on a mosaic of full-resolution crops of it (:func:`stats_picture`) --
  and held fixed for every tile (:func:`frozen_instance_norm`); tiles are cross-faded
  over their overlap.

One job per module, re-exported here: :mod:`~artgen.tiling.grid`,
:mod:`~artgen.tiling.optimisation`, :mod:`~artgen.tiling.networks`, :mod:`~artgen.tiling.periodic`
(a picture made to wrap around before a seamless result is made from it, and the seam measure).

``wrap=True`` reads every tile's margin modulo the picture's height and width: the
picture is treated as one period of a plane it tiles, which makes the result seamless.
"""

from __future__ import annotations

from .grid import (
    AUTO_TILE,
    ENCODER_BYTES_PER_PIXEL,
    LBFGS_BUDGET,
    LEVEL_BYTES_PER_PIXEL,
    LEVEL_TILE,
    PROCESS_BYTES,
    encoder_geometry,
    lbfgs_history,
    level_memory,
    out_of_memory_hint,
    resize_periodic,
    tile_boxes,
)
from .networks import (
    AUTO_TILE_PIXELS,
    FEATHER,
    STATS_CROPS_PER_SIDE,
    STATS_SIZE,
    frozen_instance_norm,
    instance_norm_stats,
    net_tile,
    stats_picture,
    style_net_radius,
    tiled_style_net,
)
from .optimisation import TiledStyleObjective
from .periodic import TILES_ALREADY, make_periodic, make_tileable, periodic_component, seam_ratio

__all__ = [
    "AUTO_TILE",
    "ENCODER_BYTES_PER_PIXEL",
    "LBFGS_BUDGET",
    "LEVEL_BYTES_PER_PIXEL",
    "LEVEL_TILE",
    "PROCESS_BYTES",
    "encoder_geometry",
    "lbfgs_history",
    "level_memory",
    "out_of_memory_hint",
    "resize_periodic",
    "tile_boxes",
    "AUTO_TILE_PIXELS",
    "FEATHER",
    "STATS_CROPS_PER_SIDE",
    "STATS_SIZE",
    "frozen_instance_norm",
    "instance_norm_stats",
    "net_tile",
    "stats_picture",
    "style_net_radius",
    "tiled_style_net",
    "TiledStyleObjective",
    "TILES_ALREADY",
    "make_periodic",
    "make_tileable",
    "periodic_component",
    "seam_ratio",
]

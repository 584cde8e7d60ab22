"""The ``arbitrary`` style network: Ghiasi et al.'s pretrained network, fixed to one style, trained on."""

from __future__ import annotations

import torch

from ..style_transfer.networks import STYLE_DIM, StyledTransformer, StyleTransformer
from .networks import StyleNetConfig


class ArbitraryStyleNet(StyledTransformer):
    """Ghiasi et al.'s style transfer network with one style vector built in, trained as one network.

    Same interface as :class:`StyleNet` (``config``, ``forward``, ``set_padding_mode``,
    ``num_parameters``): ``(B, 3, H, W)`` in [0, 1], any size -> ``(B, 3, H, W)`` in (0, 1).
    Every weight is trainable, including the affine maps that turn the (fixed) style vector
    into the conditional instance norms' scales and shifts; the vector is a buffer saved with
    the weights. A new network holds zeros: :meth:`start_from` copies the pretrained
    weights and a style vector in (``artgen.fast_style.train_fast_style`` does this at step 0).
    """

    def __init__(self, config: StyleNetConfig | None = None):
        config = config or StyleNetConfig.for_arch("arbitrary")
        super().__init__(StyleTransformer(antialias=config.antialias), torch.zeros(1, STYLE_DIM))
        self.config = config

    @torch.no_grad()
    def start_from(self, transformer: StyleTransformer, style: torch.Tensor) -> ArbitraryStyleNet:
        """Copy ``transformer``'s weights and the style vector ``style`` ``(1, 100)`` in; returns ``self``."""
        self.transformer.load_state_dict(transformer.state_dict())  # the blurs hold no weights
        self.style.copy_(style.reshape(1, STYLE_DIM).to(self.style))
        return self

    def num_parameters(self) -> int:
        """Number of trainable values (177,745)."""
        return sum(p.numel() for p in self.parameters())

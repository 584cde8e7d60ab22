"""The style network's training step (:class:`FastStyleTask`): Johnson et al.'s perceptual loss, plus the stability term for video."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from .. import losses
from ..errors import CheckpointError
from ..train import Task
from .config import FastStyleConfig
from .networks import StyleNet


class FastStyleTask(Task):
    """One step: stylise a batch of photos, compare through the frozen encoder, one Adam update."""

    def __init__(
        self,
        net: StyleNet,
        optimizer: torch.optim.Optimizer,
        encoder,
        options: FastStyleConfig,
        target_grams: Mapping[str, torch.Tensor] | None,
    ):
        self.net = net
        self.optimizer = optimizer
        self.encoder = encoder
        self.options = options
        self.modules = {"net": net}
        self.optimizers = {"optimizer": optimizer}
        self.export = ["net"]
        self.content_layers = list(options.content_layers)
        self.style_layers = list(options.style_layers)
        self.layers = list(dict.fromkeys(self.style_layers + self.content_layers))
        self.target_grams: dict[str, torch.Tensor] = {}
        self.layer_weights: list[float] = []
        if target_grams is not None:
            self.set_targets(target_grams)

    def set_targets(self, grams: Mapping[str, torch.Tensor]) -> None:
        """Use ``grams`` (``{layer: (1, C, C)}`` Gram matrices, normalised by C*H*W) as the style targets.

        Raises:
            CheckpointError: a style layer of this task has no target (a damaged training state).
        """
        missing = [l for l in self.style_layers if l not in grams]
        if missing:
            raise CheckpointError(f"the saved style targets lack layer(s) {', '.join(missing)}")
        device = next(self.net.parameters()).device
        self.target_grams = {l: grams[l].detach().to(device, torch.float32) for l in self.style_layers}
        self.layer_weights = losses.energy_weights([self.target_grams[l] for l in self.style_layers])

    def objective(self, photos: torch.Tensor, ctx) -> dict[str, torch.Tensor]:
        """The perceptual loss of Johnson et al. 2016 for a batch of photos (B, 3, H, W) in [0, 1].

        ``content_weight * content + style_weight * style + tv_weight * tv`` (+ ``stability_weight *
        stability`` for video networks), each term from :mod:`artgen.losses`: the energy-normalised
        content loss at the content layers, the Gram style loss against the targets, total
        variation of the output. Returns ``{"loss", "content", "style", "tv"[, "stability"]}``, 0-dim
        tensors; only ``loss`` carries gradients.
        """
        opts = self.options
        with ctx.autocast():
            out = self.net(photos)  # (B, 3, H, W)
            feats = self.encoder(out, self.layers)
            with torch.no_grad():
                targets = self.encoder(photos, self.content_layers)
        content = losses.normalised_content_loss(
            [feats[l] for l in self.content_layers], [targets[l] for l in self.content_layers]
        )
        style = losses.style_loss(
            [feats[l] for l in self.style_layers],
            [self.target_grams[l] for l in self.style_layers],
            self.layer_weights,
        )
        tv = losses.tv_loss(out)
        loss = opts.content_weight * content + opts.style_weight * style + opts.tv_weight * tv
        values = {"loss": loss, "content": content.detach(), "style": style.detach(), "tv": tv.detach()}
        if opts.stability_weight > 0:
            stability = self.stability(photos, out, ctx)
            values["loss"] = loss + opts.stability_weight * stability
            values["stability"] = stability.detach()
        return values

    def stability(self, photos: torch.Tensor, out: torch.Tensor, ctx) -> torch.Tensor:
        """The video term: the network on a slightly moved, noisy photo vs its output moved alike."""
        from ..augment import random_motion, warp

        theta = random_motion(photos.shape[0], photos.shape[-2], photos.shape[-1], device=photos.device)  # (B, 2, 3)
        moved, mask = warp(photos, theta)
        noisy = (moved + self.options.stability_noise * torch.randn_like(moved)).clamp(0, 1)
        with ctx.autocast():
            out_moved = self.net(noisy)
        target, _ = warp(out.float(), theta)
        return losses.transform_consistency_loss(out_moved, target, mask)

    def train_step(self, batch, ctx):
        """One Adam step on a batch of photos ((B, 3, H, W) in [0, 1], or a tuple holding it); returns the loss terms."""
        photos = batch[0] if isinstance(batch, (tuple, list)) else batch  # (B, 3, H, W)
        values = self.objective(photos, ctx)
        ctx.optimize(values["loss"], self.optimizer)
        values["loss"] = values["loss"].detach()
        return values

    def extra_state(self) -> dict:
        """The style targets (``{"target_grams": {layer: (1, C, C) CPU tensor}}``), so a resume needs no style image."""
        return {"target_grams": {k: v.detach().cpu() for k, v in self.target_grams.items()}}

    def load_extra_state(self, state: dict) -> None:
        """Restore the style targets saved by :meth:`extra_state` (see :meth:`set_targets` for the errors)."""
        if state.get("target_grams"):
            self.set_targets(state["target_grams"])

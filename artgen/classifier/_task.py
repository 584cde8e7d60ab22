"""The classifier's training step (:class:`ClassifyTask`) on the shared loop, and the loss it takes on logits."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .. import losses
from ..train import Task
from .networks import DenseClassifier


def loss_on_logits(loss_name_or_fn):
    """A ``loss(logits, targets)`` for the chosen objective.

    Cross-entropy works on logits. MSE compares softmax probabilities with one-hot
    targets, as Keras does for ``loss="mse"`` on a softmax output.
    """
    fn = losses.get_loss(loss_name_or_fn)
    if fn is losses.mse:
        return losses.mse_on_probabilities
    return fn


class ClassifyTask(Task):
    """Supervised step: forward, loss from :mod:`artgen.losses`, one optimizer update."""

    def __init__(
        self, model: DenseClassifier, optimizer: torch.optim.Optimizer, loss_fn, metrics: Sequence[str] = ("accuracy",)
    ):
        self.model = model
        self.optimizer = optimizer
        self.loss_fn = loss_fn
        self.metrics = tuple(metrics)
        self.modules = {"model": model}
        self.optimizers = {"optimizer": optimizer}
        # the hand-derived backward for the plain model (see analytic_ok); False forces autograd
        self.analytic_backward = True
        self._params: list[torch.Tensor] | None = None

    def analytic_ok(self, x: torch.Tensor, y: torch.Tensor, ctx) -> bool:
        """Whether this step can take :meth:`DenseClassifier.cross_entropy_backward`.

        That is: the plain model (not wrapped for multi-process training), fp32
        weights, inputs and precision, cross-entropy on class indices.
        """
        if (
            not self.analytic_backward
            or self.loss_fn is not losses.cross_entropy
            or type(self.model) is not DenseClassifier
        ):
            return False
        if ctx.precision.name != "fp32" or ctx.scaler is not None or x.dtype != torch.float32:
            return False
        if y.dim() != 1 or y.is_floating_point() or y.is_complex():
            return False
        params = self._params
        if params is None:
            params = self._params = list(self.model.parameters())
        return all(p.dtype == torch.float32 and p.requires_grad for p in params)

    def train_step(self, batch, ctx):
        """One optimiser step on ``(x, y)``: images (B, C, H, W) in [0, 1] and class indices (B,) int64.

        With cross-entropy, fp32 and no hooks the gradients come from the closed form of
        :meth:`DenseClassifier.cross_entropy_backward` (the same values autograd gives, fewer
        kernel launches); otherwise autograd. Returns ``{"loss", "accuracy"}`` as 0-dim tensors.
        """
        x, y = batch
        if self.analytic_ok(x, y, ctx):
            loss, logits = self.model.cross_entropy_backward(x, y)
            ctx.step_optimizer(self.optimizer)
            out = {"loss": loss}
            if "accuracy" in self.metrics:
                out["accuracy"] = losses.correct(logits, y)  # the loop averages it
            return out
        with ctx.autocast():
            logits = self.model(x)  # (B, K)
        loss = self.loss_fn(logits.float(), y)
        ctx.optimize(loss, self.optimizer)
        out = {"loss": loss.detach()}
        if "accuracy" in self.metrics:
            out["accuracy"] = losses.correct(logits.detach(), y)
        return out

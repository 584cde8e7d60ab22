"""The founding document's dense classifier: Flatten -> Dense(128, ReLU) -> Dense(10, softmax)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .. import losses
from ..runs.config import Settings

ACTIVATIONS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}
INITS = ("keras", "pytorch")
MAX_IMAGE_SIZE = 1024  # a dense layer over more pixels than this is not what this model is for
MAX_HIDDEN = 65536
MAX_CLASSES = 100000


@dataclass
class ClassifierConfig(Settings):
    """Everything needed to rebuild a :class:`DenseClassifier` (stored in ``config.json``)."""

    in_channels: int = 1
    image_size: int = 28
    hidden: int = 128
    num_classes: int = 10
    activation: str = "relu"
    classes: list[str] | None = None
    init: str = (
        "keras"  # "keras": Glorot-uniform weights, zero biases (the document's Dense); "pytorch": nn.Linear's default
    )

    def __post_init__(self):
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation {self.activation!r}: expected one of {', '.join(ACTIVATIONS)}")
        if self.init not in INITS:
            raise ValueError(f"init {self.init!r}: expected one of {', '.join(INITS)}")
        if self.in_channels not in (1, 3):
            raise ValueError(f"in_channels must be 1 or 3, got {self.in_channels}")
        for name, low, high in (
            ("image_size", 1, MAX_IMAGE_SIZE),
            ("hidden", 1, MAX_HIDDEN),
            ("num_classes", 1, MAX_CLASSES),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ValueError(f"{name} must be a whole number from {low} to {high}, got {value!r}")
        if self.classes is not None and len(self.classes) != self.num_classes:
            raise ValueError(f"{len(self.classes)} class names for {self.num_classes} classes")


class DenseClassifier(nn.Module):
    """Flatten -> Linear(C*H*W -> hidden) -> activation -> Linear(hidden -> classes).

    ``forward`` returns logits ``(B, classes)``; softmax is applied at prediction
    time (:meth:`predict_proba`), which is numerically the same as the document's
    softmax output layer followed by cross-entropy on probabilities.
    """

    def __init__(self, config: ClassifierConfig | None = None):
        super().__init__()
        self.config = config or ClassifierConfig()
        c = self.config
        self.flatten = nn.Flatten()
        self.hidden = nn.Linear(c.in_channels * c.image_size * c.image_size, c.hidden)
        self.activation = ACTIVATIONS[c.activation]()
        self.output = nn.Linear(c.hidden, c.num_classes)
        if c.init == "keras":
            self.reset_parameters()

    def reset_parameters(self) -> None:
        """Keras' Dense initialisation: Glorot-uniform weights (Glorot & Bengio 2010), zero biases.

        Each weight is drawn from U(-a, a) with ``a = sqrt(6 / (fan_in + fan_out))``;
        ``ClassifierConfig(init="pytorch")`` keeps nn.Linear's default instead.
        """
        for layer in (self.hidden, self.output):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, K)
        """Logits (B, K) for images (B, C, H, W) in [0, 1]: Flatten, Dense(hidden, ReLU), Dense(K)."""
        return self.output(self.activation(self.hidden(self.flatten(x))))

    @torch.no_grad()
    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        """Class probabilities (B, K), softmax of the logits in float32 (rows sum to 1)."""
        return torch.softmax(self(x).float(), dim=-1)

    @torch.no_grad()
    def cross_entropy_backward(self, x: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Forward pass, mean cross-entropy and every weight's gradient, without autograd.

        Leaves in each parameter's ``.grad`` what
        ``losses.cross_entropy(self(x), target).backward()`` would (up to float
        rounding), reusing the gradient tensors already there instead of allocating
        new ones. Returns ``(loss, logits)``.

        This is the training fast path for the founding document's recipe: at batch 32
        the network is so small that autograd's bookkeeping and fresh gradient
        buffers cost more than the arithmetic. Valid for fp32 weights and inputs and
        class-index targets; the classifier's training step checks that and uses
        autograd otherwise.
        """
        x = x.flatten(1)
        w1, b1, w2, b2 = self.hidden.weight, self.hidden.bias, self.output.weight, self.output.bias
        h = torch.addmm(b1, x, w1.t())
        kind = self.config.activation
        if kind == "relu":
            h.relu_()
        elif kind == "sigmoid":
            h.sigmoid_()
        else:
            h.tanh_()
        logits = torch.addmm(b2, h, w2.t())
        loss, g = losses.cross_entropy_with_grad(logits, target)
        torch.mm(g.t(), h, out=_grad_buffer(w2))
        torch.sum(g, 0, out=_grad_buffer(b2))
        g = torch.mm(g, w2)  # gradient at the activation's output
        if kind == "relu":
            g.mul_(h.sign())  # h >= 0 after ReLU: sign(h) is its derivative, 1 where the unit is on, 0 where off
        elif kind == "sigmoid":
            g.mul_(h).mul_(1.0 - h)
        else:
            g.mul_(1.0 - h * h)
        torch.mm(g.t(), x, out=_grad_buffer(w1))
        torch.sum(g, 0, out=_grad_buffer(b1))
        return loss, logits


def _grad_buffer(param: torch.Tensor) -> torch.Tensor:
    """``param.grad``, allocated once and then overwritten in place."""
    grad = param.grad
    if grad is None or grad.shape != param.shape or not grad.is_contiguous():
        grad = param.grad = torch.empty_like(param, memory_format=torch.contiguous_format)
    return grad

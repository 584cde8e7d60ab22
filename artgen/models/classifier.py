"""The founding document's dense classifier: Flatten -> Dense(128, ReLU) -> Dense(10, softmax)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}


@dataclass
class ClassifierConfig:
    """Everything needed to rebuild a :class:`DenseClassifier` (stored in ``config.json``)."""

    in_channels: int = 1
    image_size: int = 28
    hidden: int = 128
    num_classes: int = 10
    activation: str = "relu"
    classes: list[str] | None = None

    def __post_init__(self):
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation {self.activation!r}: expected one of {', '.join(ACTIVATIONS)}")
        if self.classes is not None and len(self.classes) != self.num_classes:
            raise ValueError(f"{len(self.classes)} class names for {self.num_classes} classes")

    def to_dict(self) -> dict:
        return asdict(self)


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

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, K)
        return self.output(self.activation(self.hidden(self.flatten(x))))

    @torch.no_grad()
    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self(x).float(), dim=-1)

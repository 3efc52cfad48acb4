"""Family ``mlp``: fully connected layers over the flattened input, for any input shape.

The input (features ``(F,)``, a signal ``(C, L)`` or an image ``(C, H, W)``) is flattened,
then ``layers`` hidden blocks Linear[-BatchNorm1d]-ReLU[-Dropout] and a linear classifier
follow. BatchNorm and dropout are off by default: on small tabular data they rarely pay,
and without them the exported graph is only Gemm and Relu nodes (what int8 kernels fuse).
``layers: 0`` is a plain linear classifier.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from torch import nn

from automl.config import fields as F
from automl.models.cnn import widths_per_stage

MAX_LAYERS = 4


@dataclass(frozen=True)
class MLPChoices:
    """Architecture choices of the ``mlp`` family (validated on construction)."""

    layers: int = 2  # hidden layers, 0..4
    widths: tuple[int, ...] = (64, 32)  # units of each hidden layer, 4..512
    batch_norm: bool = False  # BatchNorm1d after each hidden Linear
    dropout: float = 0.0  # dropout after each hidden ReLU, [0, 0.9]

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", F.number("layers", self.layers, 0, MAX_LAYERS, integer=True))
        object.__setattr__(self, "widths", widths_per_stage("widths", self.widths, self.layers, "layer"))
        F.boolean("batch_norm", self.batch_norm)
        object.__setattr__(self, "dropout", F.number("dropout", self.dropout, 0.0, 0.9))


class MLP(nn.Module):
    """``features`` (Flatten, then the hidden blocks) and ``classifier``."""

    def __init__(self, choices: MLPChoices, num_classes: int, input_shape: tuple[int, ...]) -> None:
        super().__init__()
        features = math.prod(input_shape)
        layers: list[nn.Module] = [nn.Flatten()]
        for width in choices.widths:
            layers.append(nn.Linear(features, width, bias=not choices.batch_norm))
            if choices.batch_norm:
                layers.append(nn.BatchNorm1d(width))
            layers.append(nn.ReLU(inplace=True))
            if choices.dropout > 0:
                layers.append(nn.Dropout(choices.dropout))
            features = width
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(features, num_classes)

    def forward(self, x):
        return self.classifier(self.features(x))


def build(choices: MLPChoices, num_classes: int, input_shape: tuple[int, ...]) -> nn.Module:
    """The ``mlp`` network for any ``input_shape`` with ``num_classes`` outputs."""
    return MLP(choices, num_classes, input_shape)

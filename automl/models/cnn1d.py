"""Family ``cnn1d``: the ``cnn`` family's Conv-BN-ReLU network for 1-D signals (C, L).

Stages of ``blocks_per_stage`` Conv1d-BN-ReLU blocks are separated by max-pooling by 2
while the signal stays at least 2 samples long, followed by global average pooling and a
linear classifier. ``C`` is the number of channels (sensors, or the rows of a small
matrix), ``L`` the length; a single-channel signal is ``(1, L)``.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from automl.config import fields as F
from automl.models.cnn import MAX_STAGES, SmallCNN, widths_per_stage

KERNEL_SIZES = (3, 5, 7)


@dataclass(frozen=True)
class CNN1DChoices:
    """Architecture choices of the ``cnn1d`` family (validated on construction)."""

    stages: int = 2  # number of stages, 1..4
    widths: tuple[int, ...] = (16, 32)  # output channels of each stage, 4..512
    kernel_size: int = 3  # 3, 5 or 7
    blocks_per_stage: int = 1  # Conv-BN-ReLU blocks per stage, 1..3

    def __post_init__(self) -> None:
        object.__setattr__(self, "stages", F.number("stages", self.stages, 1, MAX_STAGES, integer=True))
        object.__setattr__(self, "widths", widths_per_stage("widths", self.widths, self.stages))
        F.one_of("kernel_size", self.kernel_size, KERNEL_SIZES)
        object.__setattr__(self, "blocks_per_stage",
                           F.number("blocks_per_stage", self.blocks_per_stage, 1, 3, integer=True))


def build(choices: CNN1DChoices, num_classes: int, input_shape: tuple[int, int]) -> nn.Module:
    """The ``cnn1d`` network for ``input_shape`` (C, L) with ``num_classes`` outputs."""
    channels, length = input_shape
    return SmallCNN(choices, num_classes, channels, length, dims=1)

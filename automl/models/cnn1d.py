"""Family ``cnn1d``: the ``cnn`` family's Conv-BN-ReLU network for 1-D signals (C, L).

Stages of ``blocks_per_stage`` Conv1d-BN-ReLU blocks are separated by max-pooling by 2
while the signal stays at least 2 samples long, followed by global average pooling and a
linear classifier. ``C`` is the number of channels (sensors, or the rows of a small
matrix), ``L`` the length; a single-channel signal is ``(1, L)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from torch import nn

from automl.models.cnn import CNNChoices, SmallCNN

KERNEL_SIZES = (3, 5, 7)


@dataclass(frozen=True)
class CNN1DChoices(CNNChoices):
    """Architecture choices of the ``cnn1d`` family: those of ``cnn`` (stages, widths per stage,
    blocks per stage), with kernel sizes 3, 5 or 7 (validated on construction)."""

    KERNEL_SIZES: ClassVar[tuple[int, ...]] = KERNEL_SIZES


def build(choices: CNN1DChoices, num_classes: int, input_shape: tuple[int, int]) -> nn.Module:
    """The ``cnn1d`` network for ``input_shape`` (C, L) with ``num_classes`` outputs."""
    channels, length = input_shape
    return SmallCNN(choices, num_classes, channels, length, dims=1)

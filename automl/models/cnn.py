"""Family ``cnn``: a configurable Conv-BN-ReLU network for small images.

Stages of ``blocks_per_stage`` Conv-BN-ReLU blocks are separated by 2x2 max-pooling while
the feature map stays at least 2x2, followed by global average pooling and a linear
classifier, so the same choices fit 1x8x8 digits, 1x28x28 and 3x32x32 images. Images only
(input shape C, H, W); ``cnn1d`` is its counterpart for 1-D signals (C, L).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from torch import nn

from automl.config import fields as F
from automl.config.errors import ConfigError

KERNEL_SIZES = (3, 5)
MAX_STAGES = 4
MIN_WIDTH, MAX_WIDTH = 4, 512


@dataclass(frozen=True)
class CNNChoices:
    """Architecture choices of the ``cnn`` family (validated on construction)."""

    stages: int = 2  # number of stages, 1..4
    widths: tuple[int, ...] = (16, 32)  # output channels of each stage, 4..512
    kernel_size: int = 3  # 3 or 5
    blocks_per_stage: int = 1  # Conv-BN-ReLU blocks per stage, 1..3
    KERNEL_SIZES: ClassVar[tuple[int, ...]] = KERNEL_SIZES  # the family's allowed kernel sizes

    def __post_init__(self) -> None:
        object.__setattr__(self, "stages", F.number("stages", self.stages, 1, MAX_STAGES, integer=True))
        object.__setattr__(self, "widths", widths_per_stage("widths", self.widths, self.stages))
        F.one_of("kernel_size", self.kernel_size, self.KERNEL_SIZES)
        object.__setattr__(self, "blocks_per_stage",
                           F.number("blocks_per_stage", self.blocks_per_stage, 1, 3, integer=True))


def widths_per_stage(field: str, widths: object, count: int, what: str = "stage") -> tuple[int, ...]:
    """``widths`` as a tuple of ``count`` integers in [MIN_WIDTH, MAX_WIDTH] (shared by the
    ``cnn``, ``cnn1d`` and ``mlp`` choices), or a ConfigError naming ``field``."""
    if isinstance(widths, (str, bytes)) or not isinstance(widths, (list, tuple)):
        raise ConfigError(field, f"expected a list of {count} integers, got {widths!r}")
    if len(widths) != count:
        raise ConfigError(field, f"expected one width per {what} ({count}), got {list(widths)!r}")
    return tuple(F.number(field, w, MIN_WIDTH, MAX_WIDTH, integer=True) for w in widths)


_OPS = {1: (nn.Conv1d, nn.BatchNorm1d, nn.MaxPool1d, nn.AdaptiveAvgPool1d),
        2: (nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d, nn.AdaptiveAvgPool2d)}


class SmallCNN(nn.Module):
    """``features`` (Conv-BN-ReLU stages and pools), global average pool, ``classifier``,
    over ``dims`` spatial dimensions (2: images, the ``cnn`` family; 1: signals, ``cnn1d``).

    A stage after the first halves the spatial size with a max pool while it stays >= 2.
    """

    def __init__(self, choices, num_classes: int, channels: int, size: int, dims: int = 2) -> None:
        super().__init__()
        conv, norm, max_pool, global_pool = _OPS[dims]
        layers: list[nn.Module] = []
        for stage, out_channels in enumerate(choices.widths):
            if stage > 0 and size // 2 >= 2:
                layers.append(max_pool(2))
                size //= 2
            for _ in range(choices.blocks_per_stage):
                layers += [
                    conv(channels, out_channels, choices.kernel_size, padding=choices.kernel_size // 2, bias=False),
                    norm(out_channels),
                    nn.ReLU(inplace=True),
                ]
                channels = out_channels
        self.features = nn.Sequential(*layers)
        self.pool = nn.Sequential(global_pool(1), nn.Flatten())
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x):
        return self.classifier(self.pool(self.features(x)))


def build(choices: CNNChoices, num_classes: int, input_shape: tuple[int, int, int]) -> nn.Module:
    """The ``cnn`` network for ``input_shape`` (C, H, W) with ``num_classes`` outputs."""
    channels, height, width = input_shape
    return SmallCNN(choices, num_classes, channels, min(height, width), dims=2)

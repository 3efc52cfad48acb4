"""Family ``mobilenet_v2``: torchvision's MobileNetV2 adapted to small images.

The network is built by :class:`torchvision.models.MobileNetV2` from an
``inverted_residual_setting`` derived from the choices. Two adaptations make it fit 8x8 to
32x32 inputs: the stem convolution has stride 1 (and takes the input's channel count), and
a stage keeps its stride-2 downsampling only while the feature map stays at least 2x2.

``cifar_strides: true`` is the CIFAR-10 variant (as in kuangliu/pytorch-cifar): stage 2
(24 channels) keeps stride 1 as well, so a 32x32 input is downsampled 32 -> 16 -> 8 -> 4
(three times, not four) and every later stage works on 4x as many positions. With
torchvision's depths (1, 2, 3, 4, 3, 3, 1) at width 1.0 that is the usual ~90M-MAC CIFAR
MobileNetV2.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from automl.config import fields as F
from automl.config.errors import ConfigError

# torchvision's ImageNet setting without the depths and expansions: (channels, stride) per stage.
STAGES = ((16, 1), (24, 2), (32, 2), (64, 2), (96, 1), (160, 2), (320, 1))
CIFAR_STAGE = 1  # the stage (24 channels) the CIFAR-10 variant does not downsample
MAX_DEPTH = 4
MAX_EXPANSION = 6
DROPOUT = 0.05  # before the classifier; torchvision's ImageNet 0.2 is too strong for tiny data


def _int_list(field: str, value: object, lo: int, hi: int) -> tuple[int, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)) or len(value) != len(STAGES):
        raise ConfigError(field, f"expected a list of {len(STAGES)} integers (one per stage), got {value!r}")
    return tuple(F.number(field, v, lo, hi, integer=True) for v in value)


@dataclass(frozen=True)
class MobileNetV2Choices:
    """Architecture choices of the ``mobilenet_v2`` family (validated on construction).

    ``expansion`` may be given as one integer for all stages; it is stored as a list.
    """

    width_mult: float = 0.5  # channel multiplier, 0.1..2.0
    depths: tuple[int, ...] = (1, 2, 2, 2, 1, 1, 1)  # inverted-residual blocks per stage, 0..4 (0 skips it)
    expansion: tuple[int, ...] = (1, 6, 6, 6, 6, 6, 6)  # expansion ratio per stage, 1..6
    cifar_strides: bool = False  # CIFAR-10 variant: stage 2 not downsampled (32x32 ends at 4x4)

    def __post_init__(self) -> None:
        object.__setattr__(self, "width_mult", F.number("width_mult", self.width_mult, 0.1, 2.0))
        object.__setattr__(self, "depths", _int_list("depths", self.depths, 0, MAX_DEPTH))
        expansion = self.expansion
        if isinstance(expansion, int) and not isinstance(expansion, bool):
            expansion = [expansion] * len(STAGES)
        object.__setattr__(self, "expansion", _int_list("expansion", expansion, 1, MAX_EXPANSION))
        F.boolean("cifar_strides", self.cifar_strides)


def build(choices: MobileNetV2Choices, num_classes: int, input_shape: tuple[int, int, int]) -> nn.Module:
    """A :class:`~torchvision.models.MobileNetV2` for ``input_shape`` (C, H, W)."""
    # imported here: torchvision costs ~1 s to import, paid only by studies that use this family
    from torchvision.models import MobileNetV2
    from torchvision.ops.misc import Conv2dNormActivation

    channels, height, width = input_shape
    size = min(height, width)
    setting = []
    for stage, ((out_channels, stride), depth, expansion) in enumerate(zip(STAGES, choices.depths,
                                                                          choices.expansion)):
        if stage == CIFAR_STAGE and choices.cifar_strides:
            stride = 1
        if depth and stride == 2 and (size + 1) // 2 >= 2:  # 3x3 conv, padding 1, stride 2: ceil(size / 2)
            size = (size + 1) // 2
        else:
            stride = 1
        setting.append([expansion, out_channels, depth, stride])
    model = MobileNetV2(num_classes=num_classes, width_mult=choices.width_mult,
                        inverted_residual_setting=setting, dropout=DROPOUT)
    stem = Conv2dNormActivation(channels, model.features[0].out_channels, stride=1,
                                norm_layer=nn.BatchNorm2d, activation_layer=nn.ReLU6)
    nn.init.kaiming_normal_(stem[0].weight, mode="fan_out")  # torchvision's initialisation
    model.features[0] = stem
    return model

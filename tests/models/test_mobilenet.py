"""The 32x32 CIFAR-style MobileNetV2 variant (``cifar_strides``): where it downsamples, what it outputs."""

from __future__ import annotations

import pytest
import torch

from automl.config import ConfigError
from automl.models import create_model, validate_choices

SHAPE = (1, 32, 32)
TINY = {"width_mult": 0.25, "depths": [1, 1, 1, 1, 1, 1, 1], "expansion": 1}


def _feature_sizes(model: torch.nn.Module, shape: tuple[int, int, int]) -> list[int]:
    """The spatial size after the stem and after each inverted-residual block."""
    sizes, x = [], torch.randn(1, *shape)
    for layer in model.features[:-1]:
        x = layer(x)
        sizes.append(x.shape[-1])
    return sizes


def test_cifar_strides_downsample_three_times_to_4x4():
    model = create_model("mobilenet_v2", {**TINY, "cifar_strides": True}, num_classes=10, input_shape=SHAPE).eval()
    # stem, then stages 16 (s1), 24 (s1: the CIFAR change), 32 (s2), 64 (s2), 96 (s1), 160 (s2), 320 (s1)
    assert _feature_sizes(model, SHAPE) == [32, 32, 32, 16, 8, 8, 4, 4]
    out = model(torch.randn(5, *SHAPE))
    assert out.shape == (5, 10)
    out.sum().backward()


def test_default_strides_downsample_four_times_to_2x2():
    model = create_model("mobilenet_v2", TINY, num_classes=10, input_shape=SHAPE).eval()
    assert _feature_sizes(model, SHAPE) == [32, 32, 16, 8, 4, 4, 2, 2]


def test_cifar_strides_cost_more_compute_with_the_same_weights():
    from automl.measure.complexity import count_macs, count_params_nonzero

    choices = {"width_mult": 0.5, "depths": [1, 2, 2, 2, 1, 1, 1]}
    plain = create_model("mobilenet_v2", choices, num_classes=10, input_shape=SHAPE)
    cifar = create_model("mobilenet_v2", {**choices, "cifar_strides": True}, num_classes=10, input_shape=SHAPE)
    assert count_params_nonzero(cifar) == count_params_nonzero(plain)
    assert count_macs(cifar, SHAPE) > 2.5 * count_macs(plain, SHAPE)  # later stages see 4x the positions


def test_cifar_strides_on_8x8_still_ends_at_least_2x2():
    model = create_model("mobilenet_v2", {**TINY, "cifar_strides": True}, num_classes=3, input_shape=(1, 8, 8))
    assert model.features(torch.randn(1, 1, 8, 8)).shape[-2:] == (2, 2)


def test_cifar_strides_is_a_validated_boolean():
    assert validate_choices("mobilenet_v2", {})["cifar_strides"] is False
    with pytest.raises(ConfigError) as err:
        validate_choices("mobilenet_v2", {"cifar_strides": "yes"})
    assert err.value.field == "choices.cifar_strides"

"""``arch.init: teacher``: a candidate takes the teacher's weights when its layers have the teacher's shapes."""

from __future__ import annotations

import pytest
import torch

from automl.config import ConfigError
from automl.models import create_model
from automl.models.inherit import inherit_weights

SHAPE = (1, 32, 32)
TINY = {"width_mult": 0.25, "depths": [1, 1, 1, 1, 1, 1, 1], "expansion": 2, "cifar_strides": True}


def _build(**choices) -> torch.nn.Module:
    torch.manual_seed(len(choices))
    return create_model("mobilenet_v2", {**TINY, **choices}, num_classes=10, input_shape=SHAPE).eval()


def test_the_same_architecture_computes_what_the_teacher_computes():
    teacher, x = _build(), torch.randn(4, *SHAPE)
    student = _build(width_mult=0.25)  # same choices, other random weights
    assert not torch.allclose(student(x), teacher(x))
    assert torch.equal(inherit_weights(student, teacher)(x), teacher(x))
    assert all(a is not b for a, b in zip(student.parameters(), teacher.parameters()))  # copied, not shared


def test_other_strides_take_the_same_weights_and_compute_less():
    from automl.measure.complexity import count_macs

    teacher, student = _build(), _build(cifar_strides=False)
    inherit_weights(student, teacher)
    assert all(torch.equal(a, b) for a, b in zip(student.state_dict().values(), teacher.state_dict().values()))
    assert count_macs(student, SHAPE) < count_macs(teacher, SHAPE)


def test_another_shape_or_another_network_is_a_one_line_error():
    with pytest.raises(ConfigError, match=r"arch\.init: 'teacher' needs the teacher's shapes, but features\.\S+ is "
                                          r"\[\d+(, \d+)*\] in the candidate and \[\d+(, \d+)*\] in the teacher"):
        inherit_weights(_build(width_mult=0.5), _build())
    cnn = create_model("cnn", {"stages": 2, "widths": [8, 16]}, num_classes=10, input_shape=SHAPE)
    with pytest.raises(ConfigError, match=r"arch\.init: 'teacher' needs the teacher's layers, but the candidate has"):
        inherit_weights(cnn, _build())

import pytest
import torch

from automl.config import ConfigError
from automl.measure.complexity import count_macs
from automl.models import create_model, families
from automl.pruning import prune_channels


def _params(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("family", families())
@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 32, 32)])
def test_half_the_channels_removed(family, shape):
    torch.manual_seed(0)
    model = create_model(family, {}, num_classes=10, input_shape=shape)
    params, macs = _params(model), count_macs(model, shape)
    model.train()

    pruned = prune_channels(model, 0.5, torch.randn(2, *shape))

    assert pruned is model and model.training
    assert _params(pruned) < 0.6 * params
    assert count_macs(pruned, shape) < macs
    out = pruned(torch.randn(4, *shape))
    assert out.shape == (4, 10)
    out.sum().backward()


def test_mobilenet_residual_blocks_stay_consistent():
    model = create_model("mobilenet_v2", {"depths": [1, 3, 0, 0, 0, 0, 1]}, num_classes=3, input_shape=(1, 8, 8))
    prune_channels(model, 0.5, torch.randn(1, 1, 8, 8))
    residual = [b for b in model.features if getattr(b, "use_res_connect", False)]
    assert len(residual) == 2  # the residual adds still line up in width
    for block in residual:
        dw = block.conv[-3][0]
        assert dw.groups == dw.in_channels == dw.out_channels
    assert model(torch.randn(2, 1, 8, 8)).shape == (2, 3)


def test_zero_ratio_is_a_no_op():
    model = create_model("cnn", {}, num_classes=10, input_shape=(1, 8, 8))
    before = _params(model)
    assert _params(prune_channels(model, 0.0, torch.randn(1, 1, 8, 8))) == before


@pytest.mark.parametrize("ratio", [1.0, -0.1])
def test_bad_ratio(ratio):
    model = create_model("cnn", {}, num_classes=10, input_shape=(1, 8, 8))
    with pytest.raises(ConfigError) as err:
        prune_channels(model, ratio, torch.randn(1, 1, 8, 8))
    assert err.value.field == "ratio"

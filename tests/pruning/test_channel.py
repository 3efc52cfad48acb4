import pytest
import torch

from automl.config import ConfigError
from automl.measure.complexity import count_macs
from automl.models import create_model, families
from automl.pruning import prune_channels


def _params(model):
    return sum(p.numel() for p in model.parameters())


SHAPES = {"cnn": [(1, 8, 8), (3, 32, 32)], "mobilenet_v2": [(1, 8, 8), (3, 32, 32)],
          "cnn1d": [(8, 8), (2, 32)], "mlp": [(64,), (8, 8), (1, 8, 8)]}


@pytest.mark.parametrize("family, shape", [(f, s) for f in families() for s in SHAPES[f]])
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


def test_mlp_loses_hidden_units_not_inputs_or_classes():
    model = create_model("mlp", {"layers": 2, "widths": [32, 16]}, num_classes=5, input_shape=(3, 7))
    prune_channels(model, 0.5, torch.randn(1, 3, 7))
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(21, 16), (16, 8), (8, 5)]


def test_mlp_batch_norm_is_pruned_with_its_linear():
    model = create_model("mlp", {"layers": 1, "widths": [16], "batch_norm": True}, num_classes=2, input_shape=(6,))
    prune_channels(model, 0.25, torch.randn(1, 6))
    assert model.features[1].out_features == model.features[2].num_features == 12
    assert model.eval()(torch.randn(3, 6)).shape == (3, 2)


def test_cnn1d_convs_and_batch_norms_shrink_together():
    model = create_model("cnn1d", {"stages": 2, "widths": [8, 16]}, num_classes=3, input_shape=(4, 16))
    prune_channels(model, 0.5, torch.randn(1, 4, 16))
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv1d)]
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(4, 4), (4, 8)]
    assert [n.num_features for n in norms] == [4, 8] and model.classifier.in_features == 8


def test_round_to_keeps_channel_multiples():
    from automl.models.registry import create_model

    model = create_model("cnn", {"stages": 2, "widths": [32, 64]}, num_classes=10, input_shape=(1, 8, 8))
    prune_channels(model, 0.3, torch.randn(1, 1, 8, 8), round_to=8)
    convs = [m.out_channels for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(c % 8 == 0 for c in convs) and convs != [32, 64]
    odd = create_model("cnn", {"stages": 2, "widths": [32, 64]}, num_classes=10, input_shape=(1, 8, 8))
    prune_channels(odd, 0.3, torch.randn(1, 1, 8, 8))
    assert any(m.out_channels % 8 for m in odd.modules() if isinstance(m, torch.nn.Conv2d))

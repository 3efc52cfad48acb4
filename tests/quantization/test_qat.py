"""QAT: fake-quant parametrizations + activation observers, then finalize onto the grid."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from automl.config.compression import QuantConfig
from automl.quantization import (
    dequantize_per_channel,
    finalize_qat,
    prepare_qat,
    quantize_per_channel,
)


class SmallNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
            nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
            nn.AdaptiveAvgPool2d(2), nn.Flatten())
        self.fc = nn.Linear(64, 4)

    def forward(self, x):
        return self.fc(self.features(x))


def _layers(model):
    return [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def _train(model, steps=5):
    torch.manual_seed(0)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    x, y = torch.randn(32, 1, 8, 8), torch.randint(0, 4, (32,))
    model.train()
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()


@pytest.mark.parametrize("wbits,abits", [(4, 8), (2, 32), (8, 8)])
def test_prepare_train_finalize_puts_weights_on_grid(wbits, abits):
    torch.manual_seed(0)
    model = SmallNet()
    prepare_qat(model, QuantConfig(weight_bits=wbits, activation_bits=abits, mode="qat"))
    for layer in _layers(model):
        assert parametrize.is_parametrized(layer, "weight")
        assert bool(layer._forward_pre_hooks) == (abits == 8)
    _train(model)
    if abits == 8:
        obs = model.features[0].automl_act_fq
        assert bool(obs.initialized) and float(obs.min_val) < float(obs.max_val)
    finalize_qat(model)
    qmax = 2 ** (wbits - 1) - 1
    for layer in _layers(model):
        assert not parametrize.is_parametrized(layer)
        assert not layer._forward_pre_hooks
        assert not hasattr(layer, "automl_act_fq")
        assert isinstance(layer.weight, nn.Parameter)
        w = layer.weight.detach()
        q, scale = quantize_per_channel(w, wbits)
        assert int(q.abs().max()) <= qmax
        torch.testing.assert_close(dequantize_per_channel(q, scale), w, rtol=0, atol=1e-6)
        # at most 2**bits - 1 distinct values per channel
        assert max(len(torch.unique(row)) for row in w.reshape(w.shape[0], -1)) <= 2 * qmax + 1
    model.eval()
    assert model(torch.randn(2, 1, 8, 8)).shape == (2, 4)


def test_original_parameter_and_its_grad_hook_survive():
    """A pruning mask hook on the weight Parameter keeps zeros at zero through QAT."""
    torch.manual_seed(0)
    model = SmallNet()
    conv = model.features[3]
    mask = (torch.rand_like(conv.weight) > 0.5).float()
    with torch.no_grad():
        conv.weight.mul_(mask)
    param = conv.weight
    calls = []

    def hook(grad):
        calls.append(1)
        return grad * mask

    param.register_hook(hook)
    prepare_qat(model, QuantConfig(weight_bits=4, activation_bits=8, mode="qat"))
    assert conv.parametrizations.weight.original is param
    _train(model, steps=3)
    assert calls, "the gradient hook on the original Parameter did not run"
    finalize_qat(model)
    assert conv.weight is param  # baked in place
    assert (conv.weight.detach()[mask == 0] == 0).all()


def test_fp32_config_is_a_no_op_and_finalize_is_idempotent():
    model = SmallNet()
    w = model.fc.weight.detach().clone()
    prepare_qat(model, QuantConfig())
    assert not any(parametrize.is_parametrized(m) for m in _layers(model))
    finalize_qat(model)
    finalize_qat(model)
    assert torch.equal(model.fc.weight, w)

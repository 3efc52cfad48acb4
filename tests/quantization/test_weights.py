"""Per-channel symmetric weight quantization, PTQ in place, and the STE."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from automl.quantization import (
    dequantize_per_channel,
    fake_quantize_weight,
    quantize_per_channel,
    quantize_weights_,
)


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_quantize_per_channel_range_and_error(bits):
    torch.manual_seed(0)
    w = torch.randn(16, 8, 3, 3) * torch.linspace(0.01, 3.0, 16).reshape(16, 1, 1, 1)
    q, scale = quantize_per_channel(w, bits)
    qmax = 2 ** (bits - 1) - 1
    assert q.dtype == torch.int8 and q.shape == w.shape
    assert scale.dtype == torch.float32 and scale.shape == (16,)
    assert int(q.abs().max()) == qmax  # the largest weight of each channel maps to +-qmax
    assert (q.reshape(16, -1).abs().amax(1) == qmax).all()
    torch.testing.assert_close(scale, w.abs().reshape(16, -1).amax(1) / qmax)
    err = (dequantize_per_channel(q, scale) - w).abs().reshape(16, -1).amax(1)
    assert (err <= scale / 2 + 1e-6).all()  # round to nearest: at most half a step


def test_zero_channel_is_safe_and_exact():
    w = torch.randn(4, 5)
    w[2] = 0
    q, scale = quantize_per_channel(w, 4)
    assert torch.isfinite(scale).all() and scale[2] == 1.0
    assert (q[2] == 0).all()
    assert (dequantize_per_channel(q, scale)[2] == 0).all()


def test_invalid_bits():
    with pytest.raises(ValueError):
        quantize_per_channel(torch.randn(2, 2), 3)


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_fake_quantize_matches_and_passes_gradient(bits):
    torch.manual_seed(1)
    w = torch.randn(8, 4, 3, 3, requires_grad=True)
    fq = fake_quantize_weight(w, bits)
    q, scale = quantize_per_channel(w, bits)
    torch.testing.assert_close(fq.detach(), dequantize_per_channel(q, scale))
    g = torch.randn_like(w)
    (fq * g).sum().backward()
    torch.testing.assert_close(w.grad, g)  # straight-through


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_quantize_weights_in_place_lies_on_grid(bits):
    torch.manual_seed(2)
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Flatten(), nn.Linear(8 * 4 * 4, 5))
    params = [p for p in model.parameters()]
    quantize_weights_(model, bits)
    assert [p for p in model.parameters()] == params  # same Parameter objects
    for layer in (model[0], model[2]):
        w = layer.weight.detach()
        q, scale = quantize_per_channel(w, bits)
        torch.testing.assert_close(dequantize_per_channel(q, scale), w, rtol=0, atol=1e-6)
    before = [p.detach().clone() for p in model.parameters()]
    quantize_weights_(model, bits)  # idempotent
    for a, b in zip(before, model.parameters()):
        torch.testing.assert_close(a, b.detach(), rtol=0, atol=1e-6)


def test_quantize_weights_16_and_32():
    torch.manual_seed(3)
    model = nn.Linear(10, 4)
    w0 = model.weight.detach().clone()
    quantize_weights_(model, 32)
    assert torch.equal(model.weight, w0)
    quantize_weights_(model, 16)
    assert not torch.equal(model.weight, w0)
    assert torch.equal(model.weight, model.weight.half().float())

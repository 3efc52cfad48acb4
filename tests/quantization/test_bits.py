"""Per-layer weight widths: config validation, layer grouping, PTQ and QAT per layer."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from automl.candidate.config import CandidateConfig
from automl.config import ConfigError
from automl.config.compression import QuantConfig
from automl.models.registry import create_model
from automl.quantization import (
    finalize_qat,
    layer_bit_widths,
    prepare_qat,
    quantize_per_channel,
    quantize_weights_,
    quantized_layers,
)
from automl.quantization.bits import execution_order, group_sizes


def _cnn(stages=3, blocks=2):
    widths = [8, 16, 16][:stages]
    return create_model("cnn", {"stages": stages, "widths": widths, "blocks_per_stage": blocks},
                        num_classes=10, input_shape=(1, 8, 8))


def _on_grid(w: torch.Tensor, bits: int) -> bool:
    q, scale = quantize_per_channel(w, bits)
    return torch.allclose(q.float() * scale.reshape(-1, *[1] * (w.dim() - 1)), w, atol=1e-6, rtol=0)


def test_defaults_keep_the_old_config_and_round_trip():
    assert QuantConfig(weight_bits=4).layer_bits is None and not QuantConfig(weight_bits=4).per_layer
    cfg = CandidateConfig.from_dict({"quant": {"weight_bits": 8, "layer_bits": [2, 4, 8], "edge_bits": 8,
                                               "activation_bits": 8, "mode": "qat"}})
    assert cfg.quant.layer_bits == (2, 4, 8) and cfg.quant.per_layer
    assert CandidateConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.to_dict()["quant"]["layer_bits"] == [2, 4, 8]  # plain YAML/JSON


@pytest.mark.parametrize("quant, field, needle", [
    ({"weight_bits": 8, "layer_bits": [2, 3]}, "quant.layer_bits", "2, 4, 8"),
    ({"weight_bits": 8, "layer_bits": []}, "quant.layer_bits", "list of 1..64"),
    ({"weight_bits": 8, "layer_bits": "2,4"}, "quant.layer_bits", "list of 1..64"),
    ({"weight_bits": 8, "edge_bits": 16}, "quant.edge_bits", "2, 4, 8"),
    ({"weight_bits": 32, "layer_bits": [4]}, "quant.layer_bits", "weight_bits <= 8"),
    ({"weight_bits": 16, "edge_bits": 8}, "quant.edge_bits", "weight_bits <= 8"),
])
def test_bad_per_layer_widths_are_one_line_config_errors(quant, field, needle):
    with pytest.raises(ConfigError) as info:
        CandidateConfig.from_dict({"quant": quant})
    assert info.value.field == field and needle in info.value.message and "\n" not in str(info.value)


def test_too_many_groups_for_the_model_is_a_config_error():
    model = _cnn(stages=1, blocks=1)  # one conv + the classifier
    with pytest.raises(ConfigError) as info:
        layer_bit_widths(model, QuantConfig(weight_bits=8, layer_bits=(2, 4, 8)))
    assert info.value.field == "quant.layer_bits" and "only 2" in info.value.message
    assert "\n" not in str(info.value)


def test_group_sizes_put_larger_groups_last():
    assert group_sizes(7, 3) == [2, 2, 3]
    assert group_sizes(4, 4) == [1, 1, 1, 1]
    assert sum(group_sizes(50, 7)) == 50


@pytest.mark.parametrize("stages, blocks", [(1, 1), (2, 1), (3, 2)])
def test_one_entry_per_stage_for_the_cnn_family_and_edges_override(stages, blocks):
    model = _cnn(stages, blocks)
    layer_bits = (2, 4, 8)[:stages]
    widths = list(layer_bit_widths(model, QuantConfig(weight_bits=8, layer_bits=layer_bits)).values())
    convs = [b for b in widths[:-1]]  # the classifier joins the last stage
    assert convs == [b for b in layer_bits for _ in range(blocks)] and widths[-1] == layer_bits[-1]
    edged = list(layer_bit_widths(model, QuantConfig(weight_bits=8, layer_bits=layer_bits,
                                                     edge_bits=8)).values())
    assert edged[0] == edged[-1] == 8 and edged[1:-1] == widths[1:-1]
    assert set(layer_bit_widths(model, QuantConfig(weight_bits=4)).values()) == {4}


def test_ptq_puts_each_layer_on_its_own_grid():
    torch.manual_seed(0)
    model = _cnn(3, 1)
    quant = QuantConfig(weight_bits=8, layer_bits=(2, 4, 8), edge_bits=8)
    quantize_weights_(model, quant)
    widths = layer_bit_widths(model, quant)
    assert list(widths.values()) == [8, 4, 8, 8]
    for layer, bits in widths.items():
        assert _on_grid(layer.weight.detach(), bits)
    middle = quantized_layers(model)[1].weight.detach()
    assert not _on_grid(middle, 2)  # 4-bit really is 4-bit, not coarser


def test_qat_fake_quantizes_each_layer_at_its_width():
    torch.manual_seed(0)
    model = _cnn(2, 2)  # 4 convs + classifier
    quant = QuantConfig(weight_bits=8, layer_bits=(2, 4), edge_bits=8, activation_bits=8, mode="qat")
    prepare_qat(model, quant)
    got = [layer.parametrizations.weight[0].bits for layer in quantized_layers(model)]
    assert got == [8, 2, 4, 4, 8]
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    model.train()
    loss = model(torch.randn(16, 1, 8, 8)).logsumexp(1).mean()
    loss.backward()
    opt.step()
    finalize_qat(model)
    for layer, bits in zip(quantized_layers(model), got):
        assert _on_grid(layer.weight.detach(), bits)


def test_execution_order_follows_the_forward_not_the_definition():
    class Backwards(nn.Module):
        def __init__(self):
            super().__init__()
            self.head = nn.Linear(4, 3)
            self.body = nn.Conv2d(1, 4, 3)

        def forward(self, x):
            return self.head(self.body(x).mean((2, 3)))

    model = Backwards()
    assert quantized_layers(model) == [model.head, model.body]
    assert execution_order(model, torch.randn(2, 1, 5, 5)) == [model.body, model.head]

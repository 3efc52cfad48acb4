"""Every built-in family on every input rank it takes, through the compression path of a
candidate: build -> train briefly -> prune (channel or unstructured) -> quantize weights ->
export the ONNX artifact -> ONNX Runtime. The artifact must classify like the torch model."""

from __future__ import annotations

import pytest
import torch

from automl.config.compression import QuantConfig
from automl.export import export_artifact, open_session
from automl.export.artifact import read_metadata
from automl.measure.runtimes import runtime_for, target_accuracy
from automl.measure.targets import DEFAULT_TARGET
from automl.models import create_model
from automl.pruning import prune_channels, prune_unstructured
from automl.quantization.ptq import quantize_weights_

CASES = [("mlp", (12,)), ("mlp", (3, 8)), ("mlp", (2, 4, 4)), ("cnn1d", (3, 8)), ("cnn", (2, 4, 4))]
CHOICES = {"mlp": {"layers": 2, "widths": [32, 16]}, "cnn1d": {"stages": 2, "widths": [8, 16]},
           "cnn": {"stages": 2, "widths": [8, 16]}}
QUANTS = {"int8-qdq": QuantConfig(weight_bits=8, activation_bits=8),
          "4bit-qdq": QuantConfig(weight_bits=4, activation_bits=8),
          "4bit": QuantConfig(weight_bits=4)}
INT8_OP = {"mlp": "QGemm", "cnn1d": "QLinearConv", "cnn": "QLinearConv"}


def _task(shape: tuple[int, ...], n: int = 192) -> tuple[torch.Tensor, torch.Tensor]:
    """3 classes by a shift of channel (or feature) 0 up, 1 up or 0 down: learnt by every family,
    even through a global average pool, and robust to pruning half the channels."""
    gen = torch.Generator().manual_seed(0)
    y = torch.arange(n) % 3
    x = torch.randn(n, *shape, generator=gen)
    shift = torch.zeros(n, *shape)
    shift[y == 0, 0] = 1.5
    shift[y == 1, 1] = 1.5
    shift[y == 2, 0] = -1.5
    return x + shift, y


def _trained(family: str, shape: tuple[int, ...], x: torch.Tensor, y: torch.Tensor) -> torch.nn.Module:
    torch.manual_seed(0)
    model = create_model(family, CHOICES[family], num_classes=3, input_shape=shape)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(40):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return model


@pytest.mark.parametrize("quant", list(QUANTS))
@pytest.mark.parametrize("pruning", ["channel", "unstructured"])
@pytest.mark.parametrize("family, shape", CASES)
def test_compressed_artifact_classifies_like_torch(family, shape, pruning, quant, tmp_path):
    x, y = _task(shape)
    model = _trained(family, shape, x, y)
    params = sum(p.numel() for p in model.parameters())
    if pruning == "channel":
        prune_channels(model, 0.5, x[:1])
        assert sum(p.numel() for p in model.parameters()) < 0.7 * params
    else:
        prune_unstructured(model, 0.5)
    cfg = QUANTS[quant]
    quantize_weights_(model, cfg.weight_bits)
    model.eval()

    info = export_artifact(model, cfg, x[:128], tmp_path / "m.onnx", {"input_shape": list(shape)})

    session = open_session(info.path)
    assert session.get_inputs()[0].shape[1:] == list(shape)
    with torch.no_grad():
        logits = model(x)
    torch_acc = float((logits.argmax(1) == y).float().mean())
    assert torch_acc > 0.6  # the task was learnt, so agreement below means something
    runtime = runtime_for(DEFAULT_TARGET, 1)
    agree = float((torch.as_tensor(runtime.predict(info.path, x.numpy())).argmax(1) == logits.argmax(1)).float().mean())
    assert agree >= 0.95 and abs(target_accuracy(runtime, info.path, x, y) - torch_acc) <= 0.03
    assert read_metadata(info.path)["input_shape"] == list(shape)
    if cfg.activation_bits == 8:
        assert info.int8_kernels and INT8_OP[family] in info.kernels and "fp32" not in info.kernels
    else:
        assert not info.int8_kernels and info.encodings.get("int4")  # ONNX INT4 weights (sparse where smaller)

"""Accuracy is measured on the ONNX artifact itself, by the target's runtime, and agrees with the torch model."""

from __future__ import annotations

import torch
from torch import nn

from automl.config.compression import QuantConfig
from automl.export import export_artifact
from automl.measure.runtimes import runtime_for, target_accuracy
from automl.measure.targets import DEFAULT_TARGET


def test_onnx_accuracy_matches_torch(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5)).eval()
    x, y = torch.randn(300, 3, 8, 8), torch.randint(0, 5, (300,))
    info = export_artifact(model, QuantConfig(), x[:32], tmp_path / "m.onnx", {})
    runtime = runtime_for(DEFAULT_TARGET, 1)
    logits = runtime.predict(info.path, x.numpy(), batch_size=128)  # 3 uneven batches
    assert logits.shape == (300, 5)
    acc = target_accuracy(runtime, info.path, x, y)
    with torch.no_grad():
        ref = float((model(x).argmax(1) == y).float().mean())
    assert abs(acc - ref) < 1e-9 and abs(float((torch.as_tensor(logits).argmax(1) == y).float().mean()) - ref) < 1e-9
    assert target_accuracy(runtime, info.path, x[:1], model(x[:1]).argmax(1)) == 1.0

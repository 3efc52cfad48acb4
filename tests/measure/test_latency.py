"""Latency of an ONNX artifact in ORT (no timing assertions: only sane fields)."""

from __future__ import annotations

import torch
from torch import nn

from automl.config.candidate import QuantConfig
from automl.export import export_artifact
from automl.measure.latency import LatencyResult, measure_latency


def _tiny(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3)).eval()
    x = torch.randn(16, 3, 8, 8)
    return export_artifact(model, QuantConfig(), x, tmp_path / "m.onnx", {}).path


def test_latency_fields_are_sane(tmp_path):
    path = _tiny(tmp_path)
    res = measure_latency(path, (3, 8, 8), threads=1, warmup=3, runs=10)
    assert isinstance(res, LatencyResult)
    assert res.runs >= 50 and res.warmup == 3 and res.threads == 1 and res.batch_size == 1
    assert res.median_ms > 0
    assert res.median_ms <= res.p90_ms
    assert res.blocks == 5 and len(res.block_medians_ms) == 5
    assert res.median_ms == min(res.block_medians_ms)  # interference only adds time: lowest block wins
    assert res.runtime.startswith("onnxruntime ") and "CPUExecutionProvider" in res.runtime


def test_latency_accepts_full_batch_shape(tmp_path):
    path = _tiny(tmp_path)
    res = measure_latency(path, (1, 3, 8, 8), runs=50, warmup=1)
    assert res.runs == 50 and res.median_ms > 0

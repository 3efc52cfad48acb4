"""Latency of ONNX artifacts in ORT: interleaved timing and ratios (no absolute timing is asserted)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
import torch
from torch import nn

from automl.config.compression import QuantConfig
from automl.export import export_artifact
from automl.measure.latency import (
    LatencyResult,
    LatencySettings,
    measure_interleaved,
    measure_latency,
)
from automl.verify import latency_ratios, latency_ratios_fresh

QUICK = LatencySettings(warmup_s=0.02, window_s=0.05, min_rounds=5)


def _model(tmp_path, width: int = 8, name: str = "m.onnx"):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, 3)).eval()
    x = torch.randn(16, 3, 8, 8)
    return export_artifact(model, QuantConfig(), x, tmp_path / name, {}).path


def test_latency_fields_are_sane(tmp_path):
    path = _model(tmp_path)
    res = measure_latency(path, (3, 8, 8), QUICK)
    assert isinstance(res, LatencyResult)
    assert res.rounds == QUICK.rounds() == 5 and len(res.block_medians_ms) == 5 and res.runs_per_block >= 5
    assert res.threads == 1 and res.batch_size == 1 and res.warmup_s == QUICK.warmup_s
    assert 0 < res.p10_ms <= res.median_ms <= res.p90_ms and res.best_ms <= res.median_ms
    assert res.latency_ms == res.best_ms == pytest.approx(min(res.block_medians_ms), abs=1e-6)
    assert res.ratio is None  # timed alone: no ratio
    assert res.runtime.startswith("onnxruntime ") and "CPUExecutionProvider" in res.runtime
    with pytest.raises(ValueError):
        res.scaled(1.0)


def test_latency_accepts_full_batch_shape(tmp_path):
    res = measure_latency(_model(tmp_path), (1, 3, 8, 8), QUICK)
    assert res.best_ms > 0


def test_interleaved_ratios_are_to_the_first_model(tmp_path):
    small, big = _model(tmp_path, 4, "small.onnx"), _model(tmp_path, 256, "big.onnx")
    ref, other = measure_interleaved([small, big], (3, 8, 8), QUICK)
    assert ref.ratio == pytest.approx(1.0) and ref.reference_ms == ref.best_ms
    assert other.reference_ms == ref.best_ms and other.ratio > 1  # 256 channels against 4
    assert other.ratio_p25 <= other.ratio_p75
    # the ratio is of the two models' fastest block medians, recomputed here
    assert other.ratio == pytest.approx(min(other.block_medians_ms) / min(ref.block_medians_ms), rel=1e-4)
    scaled = other.scaled(2.0)
    assert scaled.latency_ms == pytest.approx(2.0 * other.ratio) and scaled.best_ms == other.best_ms


def test_several_processes_keep_each_models_best_window(tmp_path):
    """FINAL-style timing in fresh processes: each model's figure is its best over all of them,
    the spread is the per-process ratios' range; verify's own fresh-process timing agrees."""
    small, big = _model(tmp_path, 4, "small.onnx"), _model(tmp_path, 256, "big.onnx")
    settings = LatencySettings(warmup_s=0.02, window_s=0.05, min_rounds=5, processes=2)
    ref, other = measure_interleaved([small, big], (3, 8, 8), settings)
    assert ref.rounds == other.rounds == 2 * 5 and len(other.block_medians_ms) == 10
    assert other.best_ms == pytest.approx(min(other.block_medians_ms), abs=1e-5)
    assert ref.best_ms == pytest.approx(min(ref.block_medians_ms), abs=1e-5) and ref.reference_ms == ref.best_ms
    assert other.ratio == pytest.approx(other.best_ms / ref.best_ms) and other.ratio > 1
    assert other.ratio_p25 <= other.ratio_p75
    _, (checked,) = latency_ratios_fresh(small, [big], (3, 8, 8), processes=2)
    assert checked > 1


@pytest.fixture()
def busy_cores():
    """One busy-loop process per core, competing with the timing for the whole test."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 2)]
    yield
    for p in procs:
        p.kill()
        p.wait()


def test_byte_identical_files_time_as_one_under_load(tmp_path, busy_cores):
    """A candidate byte-identical to the teacher gets a ratio within a few percent of 1.0, with
    busy loops competing for every core: by the study's timer and by verify's own."""
    teacher = _model(tmp_path, 32, "teacher.onnx")
    candidate = tmp_path / "candidate.onnx"
    shutil.copyfile(teacher, candidate)
    _, timed = measure_interleaved([teacher, candidate], (3, 8, 8), LatencySettings(window_s=0.3))
    assert abs(timed.ratio - 1.0) <= 0.05, timed
    _, (checked,) = latency_ratios(teacher, [candidate], (3, 8, 8), rounds=30)
    assert abs(checked - 1.0) <= 0.05, checked

"""The final view: the front re-timed with the teacher, newcomers re-timed too, search figures kept."""

from __future__ import annotations

import shutil
from pathlib import Path

import optuna
import pytest
import torch
from torch import nn

from automl.config.compression import QuantConfig
from automl.export import export_artifact
from automl.measure.latency import LatencySettings
from automl.study.front import pareto_front, study_points
from automl.study.retime import retime_front

OBJECTIVES = [("accuracy", "maximize"), ("latency_ms", "minimize")]
QUICK = LatencySettings(warmup_s=0.05, window_s=0.3)  # a byte-identical copy must time within 10 %: short windows flaked on a slow 2-core machine
SHAPE = (3, 16, 16)


def _artifact(path: Path, width: int) -> Path:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, width, 3, padding=1),
                          nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, 10)).eval()
    return export_artifact(model, QuantConfig(), torch.randn(4, *SHAPE), path, {}).path


def _tell(study: optuna.Study, accuracy: float, ratio: float, artifact: Path, teacher_ms: float) -> None:
    trial = study.ask()
    result = {"accuracy": accuracy, "test_accuracy": accuracy, "size_bytes": artifact.stat().st_size,
              "latency_ms": ratio * teacher_ms, "latency_ratio": ratio, "params_nonzero": 1, "macs": 1,
              "artifact_path": str(artifact)}
    trial.set_user_attr("result", result)
    study.tell(trial, [accuracy, ratio * teacher_ms])


def test_a_point_that_retimes_slower_leaves_the_front_and_its_newcomer_is_retimed(tmp_path):
    teacher = _artifact(tmp_path / "teacher.onnx", 32)
    big, small = _artifact(tmp_path / "big.onnx", 256), _artifact(tmp_path / "small.onnx", 4)
    same = tmp_path / "same.onnx"
    shutil.copyfile(teacher, same)
    study = optuna.create_study(directions=["maximize", "minimize"])
    teacher_ms = 0.5
    _tell(study, 0.90, 0.5, big, teacher_ms)  # 0: its search figure was far too low (it is the big model)
    _tell(study, 0.85, 0.6, small, teacher_ms)  # 1: dominated by 0 in the search figures
    _tell(study, 0.95, 2.0, same, teacher_ms)  # 2: the teacher's own bytes, timed slow during the search
    assert {p.trial for p in pareto_front(study, OBJECTIVES)} == {0, 2}
    passes = []
    points = retime_front(study, OBJECTIVES, teacher, teacher_ms, SHAPE,
                          lambda p: Path(p.extra["artifact_path"]), settings=QUICK, on_pass=passes.append)
    assert passes == [2, 1]  # the front, then the newcomer that trial 0's real figure let in
    by_trial = {p.trial: p for p in points}
    assert {t for t, p in by_trial.items() if p.on_front} == {1, 2}
    assert by_trial[0].latency_ratio > by_trial[2].latency_ratio  # the big model is slower than the teacher's copy
    assert by_trial[2].latency_ratio == pytest.approx(1.0, abs=0.1)
    for p in points:  # re-timed: latency_ms = ratio x the teacher figure; the search figures stay beside
        again = study.user_attrs[f"retimed:{p.trial}"]
        assert p.metrics["latency_ms"] == pytest.approx(again["ratio"] * teacher_ms)
        assert p.extra["search_latency_ms"] == study.trials[p.trial].values[1]
    assert study.trials[0].values[1] == 0.5 * teacher_ms  # what the sampler was told is never rewritten
    # nothing left to do: a second call re-times nothing unless asked to
    assert retime_front(study, OBJECTIVES, teacher, teacher_ms, SHAPE, lambda p: Path(p.extra["artifact_path"]),
                        settings=QUICK, on_pass=passes.append) and passes == [2, 1]
    retime_front(study, OBJECTIVES, teacher, teacher_ms, SHAPE, lambda p: Path(p.extra["artifact_path"]),
                 settings=QUICK, fresh=True, on_pass=passes.append)
    assert passes == [2, 1, 2]
    assert len(study_points(study, OBJECTIVES)) == 3

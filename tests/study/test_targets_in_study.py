"""A study's deployment targets: objectives and constraints naming a target, each target's front,
the points that change rank between targets, and the final re-timing on every target."""

from __future__ import annotations

import math

import optuna
import pytest
from optuna.distributions import FloatDistribution

from automl.config import ConfigError
from automl.measure.latency import LatencyResult
from automl.measure.targets import BUILTIN
from automl.study.attrs import RESULT_ATTR, RETIMED_PREFIX
from automl.study.config import StudyConfig
from automl.study.front import objectives_on, pareto_front
from automl.study.retime import retime_front
from automl.study.target_view import point_on, rank_changes, target_front

OBJECTIVES = [("accuracy", "maximize"), ("size_bytes", "minimize"), ("latency_ms", "minimize")]
TARGETS = (BUILTIN["ort-cpu"], BUILTIN["openvino-cpu"])


def _study_file(**extra):
    return {"name": "t", "run_dir": "/tmp/automl-targets-test", **extra}


def test_objectives_and_constraints_may_name_a_target_of_the_study():
    cfg = StudyConfig.from_dict(_study_file(targets=["ort-cpu", "openvino-cpu"],
                                            objectives=["accuracy", "size_bytes", "latency_ms@openvino-cpu"],
                                            constraints=["latency_ms@ort-cpu <= 0.01"]))
    assert [t.name for t in cfg.targets] == ["ort-cpu", "openvino-cpu"]
    assert cfg.objective_names[-1] == "latency_ms@openvino-cpu" and cfg.directions[-1] == "minimize"
    assert str(cfg.constraints[0]) == "latency_ms@ort-cpu <= 0.01"
    assert cfg.to_dict()["targets"][1]["runtime"] == "openvino"
    assert [t.name for t in StudyConfig.from_dict(_study_file()).targets] == ["ort-cpu"]  # today's default


@pytest.mark.parametrize("extra, message", [
    ({"objectives": ["latency_ms@openvino-cpu"]}, "which the study does not measure"),
    ({"targets": ["ort-cpu", "openvino-cpu"], "objectives": ["size_bytes@openvino-cpu"]}, "not measured per target"),
    ({"targets": ["ort-cpu", "openvino-cpu"], "objectives": [{"name": "accuracy@openvino-cpu", "direction": "minimize"}]},
     "can only be maximized"),
    ({"constraints": ["latency_ms@openvino-cpu <= 1"]}, "add it to targets"),
    ({"targets": "tflite"}, "unknown target"),
])
def test_a_metric_on_a_target_the_study_lacks_is_one_line(extra, message):
    with pytest.raises(ConfigError, match=message) as err:
        StudyConfig.from_dict(_study_file(**extra))
    assert "\n" not in str(err.value)


def _trial(study, n, acc, size, ort_ms, ov_ms, ov_error=None):
    on = {"ort-cpu": {"accuracy": acc, "test_accuracy": acc, "latency_ms": ort_ms, "latency_ratio": ort_ms / 0.01,
                      "kernels": "int8", "runtime": "onnxruntime", "error": None},
          "openvino-cpu": ({"error": "openvino-cpu: RuntimeError: Unsupported type"} if ov_error else
                           {"accuracy": acc, "test_accuracy": acc, "latency_ms": ov_ms, "latency_ratio": ov_ms / 0.02,
                            "kernels": "Convolution x2 (u8)", "runtime": "openvino", "error": None})}
    result = {"accuracy": acc, "test_accuracy": acc, "size_bytes": size, "latency_ms": ort_ms, "params_nonzero": 1,
              "macs": 1, "kernels": "int8", "latency": {}, "artifact_path": f"/nowhere/{n}.onnx",
              "latency_ratio": ort_ms / 0.01, "targets": on}
    study.add_trial(optuna.trial.create_trial(params={"x": float(n)}, distributions={"x": FloatDistribution(0, 99)},
                                              values=[acc, size, ort_ms], user_attrs={RESULT_ATTR: result}))


@pytest.fixture
def study():
    s = optuna.create_study(directions=["maximize", "minimize", "minimize"])
    _trial(s, 0, 0.95, 1000, 0.010, 0.030)  # slower on openvino than 1 there
    _trial(s, 1, 0.95, 1000, 0.012, 0.015)  # dominated on ort-cpu by 0, leads on openvino-cpu
    _trial(s, 2, 0.97, 900, 0.009, float("nan"), ov_error=True)  # openvino cannot run it: best on ort-cpu
    return s


def test_each_target_has_its_own_front_and_a_target_that_could_not_run_a_point_leaves_it_out(study):
    assert objectives_on(OBJECTIVES, "openvino-cpu")[2] == ("latency_ms@openvino-cpu", "minimize")
    assert {p.trial for p in pareto_front(study, OBJECTIVES)} == {2}
    assert {p.trial for p in target_front(study, OBJECTIVES, "openvino-cpu")} == {0, 1} - {0}  # 1 dominates 0 there
    unrun = point_on(next(p for p in pareto_front(study, OBJECTIVES) if p.trial == 2), "openvino-cpu")
    assert unrun.error.startswith("openvino-cpu: ") and math.isnan(unrun.latency_ms)
    assert rank_changes(study, OBJECTIVES, ["ort-cpu", "openvino-cpu"]) == {
        1: {"ort-cpu": False, "openvino-cpu": True}, 2: {"ort-cpu": True, "openvino-cpu": False}}


def test_the_final_retiming_times_every_front_point_on_every_target_it_runs_on(study):
    calls = []

    def measure(paths, input_shape, settings, target):
        calls.append((target.name, [str(p) for p in paths[1:]]))
        return [LatencyResult(latency_ms=1, best_ms=1, median_ms=1, p10_ms=1, p90_ms=1, runs_per_block=1, rounds=1,
                              warmup_s=0, threads=1, batch_size=1, runtime=target.runtime, target=target.name,
                              ratio=0.5 if i else 1.0, ratio_p25=0.5, ratio_p75=0.5, reference_ms=1)
                for i in range(len(paths))]

    retime_front(study, OBJECTIVES, "/nowhere/teacher.onnx", {"ort-cpu": 0.01, "openvino-cpu": 0.02}, (64,),
                 lambda p: p.extra["artifact_path"], measure=measure, targets=TARGETS)
    assert calls == [("ort-cpu", ["/nowhere/1.onnx", "/nowhere/2.onnx"]), ("openvino-cpu", ["/nowhere/1.onnx"])]
    again = study.user_attrs[f"{RETIMED_PREFIX}1"]
    assert again["latency_ms"] == pytest.approx(0.005) and again["targets"]["openvino-cpu"]["latency_ms"] == 0.01
    assert set(study.user_attrs[f"{RETIMED_PREFIX}2"]["targets"]) == {"ort-cpu"}  # never asked of openvino
    front = target_front(study, OBJECTIVES, "openvino-cpu")
    assert [point_on(p, "openvino-cpu").ratio for p in front] == [0.5]

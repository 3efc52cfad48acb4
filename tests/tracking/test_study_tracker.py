"""StudyTracker against a real MLflow SQLite store: the study's parent run, one run per trial,
the front's tags, table, figure and hypervolume."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from automl.candidate.result import METRICS, CandidateResult
from automl.study.front import TrialPoint
from automl.tracking.review_views import SHARED_VIEW_PREFIX
from automl.tracking.run_names import run_name
from automl.tracking.study_tracker import (
    EXPERIMENT_KIND,
    ROLE_TAG,
    STUDY_RUN_TAG,
    STUDY_TAG,
    TRIAL_TAG,
    StudyTracker,
)
from tests.conftest import TEACHER_METRICS

OBJECTIVES = [("accuracy", "maximize"), ("size_bytes", "minimize")]
CANDIDATE = {"arch": {"family": "cnn", "choices": {"stages": 2, "widths": [8, 16]}},
             "pruning": {"ratio": 0.5, "granularity": "channel"}, "quant": {"weight_bits": 8}}


def _load(client: MlflowClient, run_id: str, path: str, dst: Path) -> dict:
    dst.mkdir(parents=True, exist_ok=True)
    return json.loads(Path(client.download_artifacts(run_id, path, str(dst))).read_text())


def _files(client: MlflowClient, run_id: str, folder: str | None = None) -> set[str]:
    return {f.path for f in client.list_artifacts(run_id, folder)}


def _point(trial: int, acc: float, size: float, *, on_front: bool, feasible: bool = True, run_id: str | None = None,
           **extra) -> TrialPoint:
    metrics = {"accuracy": acc, "test_accuracy": acc - 0.01, "size_bytes": size, "latency_ms": 0.1,
               "params_nonzero": 100 * trial + 1, "macs": 1000}
    return TrialPoint(trial=trial, params={"quant.weight_bits": 8}, metrics=metrics, feasible=feasible,
                      on_front=on_front, extra={"mlflow_run_id": run_id, **extra})


def _measured(tmp_path: Path, acc: float = 0.91, size: int = 400, artifact: bool = True) -> dict:
    path = tmp_path / "cand.onnx"
    if artifact:
        path.write_bytes(b"onnx-bytes")
    return {"accuracy": acc, "test_accuracy": acc - 0.02, "size_bytes": size, "latency_ms": 0.07,
            "params_nonzero": 1234, "macs": 5678, "latency_ratio": 0.35, "kernels": "int8",
            "latency": {"runtime": "onnxruntime", "reference_ms": 0.2}, "artifact_path": str(path)}


def test_the_parent_run_is_created_once_and_reused_by_a_relaunch(tracker: StudyTracker, mlflow_uri: str,
                                                                tmp_path: Path) -> None:
    client = MlflowClient(mlflow_uri)
    exp = client.get_experiment_by_name(tracker.study_name)
    assert exp.experiment_id == tracker.experiment_id
    assert exp.artifact_location == (tmp_path / "artifacts").resolve().as_uri()
    assert exp.tags[EXPERIMENT_KIND[0]] == EXPERIMENT_KIND[1]
    assert {SHARED_VIEW_PREFIX + "front", SHARED_VIEW_PREFIX + "candidates"} <= set(exp.tags)
    parent = client.get_run(tracker.parent_id)
    assert parent.data.tags[ROLE_TAG] == "study" and parent.data.tags[STUDY_TAG] == tracker.study_name
    assert parent.info.status == "RUNNING"

    tracker.finish_study("KILLED")
    assert client.get_run(tracker.parent_id).info.status == "KILLED"

    again = StudyTracker(mlflow_uri, tracker.study_name, tmp_path / "elsewhere")
    assert again.experiment_id == tracker.experiment_id and again.parent_id == tracker.parent_id
    assert client.get_run(tracker.parent_id).info.status == "RUNNING"  # reopened for this launch
    studies = client.search_runs([exp.experiment_id], f"tags.`{ROLE_TAG}` = 'study'")
    assert len(studies) == 1
    assert not (tmp_path / "elsewhere").exists()  # the experiment's artifact root stays the first one

    again.finish_study()
    assert client.get_run(tracker.parent_id).info.status == "FINISHED"


def test_log_study_records_files_params_and_teacher_metrics(tracker: StudyTracker, mlflow_uri: str, tmp_path: Path) -> None:
    client = MlflowClient(mlflow_uri)
    study_file, space_file = tmp_path / "mine.yaml", tmp_path / "space.yaml"
    study_file.write_text("name: st\n")
    space_file.write_text("name: sp\nparams: {}\n")
    config = {"name": tracker.study_name, "n_trials": 8, "resources_per_trial": {"cpu": 1.0, "gpu": 0.0},
              "description": "x" * 7000, "constraints": ["accuracy >= 0.8"]}
    teacher = CandidateResult(**{**TEACHER_METRICS, "kernels": "fp32", "int8_kernels": False, "latency": {"p10_ms": 0.19},
                                 "artifact_path": "t.onnx"}).to_dict()
    tracker.log_study(study_file, space_file, config, teacher)

    assert _files(client, tracker.parent_id, "study") == {"study/mine.yaml", "study/space.yaml",
                                                          "study/resolved_study.json"}
    assert _load(client, tracker.parent_id, "study/resolved_study.json", tmp_path / "dl1") == config
    assert _load(client, tracker.parent_id, "teacher/result.json", tmp_path / "dl2") == teacher
    run = client.get_run(tracker.parent_id)
    params = run.data.params
    assert params["study.n_trials"] == "8"
    assert params["study.resources_per_trial.cpu"] == "1.0"  # nested keys flattened with dots
    assert params["study.constraints"] == "['accuracy >= 0.8']"
    assert params["study.description"] == "x" * 6000  # long values cut to MLflow's limit
    assert {k: run.data.metrics[f"teacher_{k}"] for k in METRICS} == pytest.approx(TEACHER_METRICS)

    # a relaunch with a changed setting: params already there are kept (MLflow refuses changing them)
    tracker.log_study(study_file, tmp_path / "gone.yaml", {**config, "n_trials": 16}, teacher)
    assert client.get_run(tracker.parent_id).data.params["study.n_trials"] == "8"


def test_a_trial_run_carries_its_tags_params_curves_and_final_metrics(tracker: StudyTracker, mlflow_uri: str,
                                                                     tmp_path: Path) -> None:
    client = MlflowClient(mlflow_uri)
    run_id = tracker.start_trial(3, {"quant.weight_bits": 8, "pruning.ratio": 0.5}, CANDIDATE)
    run = client.get_run(run_id)
    assert run.info.status == "RUNNING" and run.info.run_name == run_name(3, CANDIDATE)
    assert run.info.experiment_id == tracker.experiment_id
    tags = run.data.tags
    assert (tags[STUDY_RUN_TAG], tags[TRIAL_TAG], tags[STUDY_TAG], tags[ROLE_TAG]) == (
        tracker.parent_id, "3", tracker.study_name, "trial")
    assert "mlflow.parentRunId" not in tags  # not nested: the runs table lists every candidate
    assert run.data.params["arch.family"] == "cnn"
    assert run.data.params["arch.choices.widths"] == "[8, 16]"
    assert run.data.params["optuna.pruning.ratio"] == "0.5"

    tracker.log_epoch(run_id, 1, {"loss": 1.2, "val_accuracy": 0.6})
    tracker.log_epoch(run_id, 2, {"loss": 0.7, "val_accuracy": 0.8})
    measured = _measured(tmp_path)
    tracker.finish_trial(run_id, measured, None, TEACHER_METRICS, worker={"ray_node_id": "node-1", "host": "h1", "gpu": None})

    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    curve = sorted(client.get_metric_history(run_id, "curve_val_accuracy"), key=lambda m: m.step)
    assert [(m.step, m.value) for m in curve] == [(1, 0.6), (2, 0.8)]
    assert [m.value for m in client.get_metric_history(run_id, "curve_loss")] == pytest.approx([1.2, 0.7])
    metrics = run.data.metrics
    assert {k: metrics[k] for k in METRICS} == pytest.approx({k: measured[k] for k in METRICS})
    assert metrics["search_latency_ms"] == pytest.approx(0.07)
    assert metrics["latency_ratio"] == pytest.approx(0.35)
    assert metrics["size_ratio"] == pytest.approx(400 / 1000)
    tags = run.data.tags
    assert (tags["kernels"], tags["latency_runtime"]) == ("int8", "onnxruntime")
    assert (tags["ray_node_id"], tags["host"]) == ("node-1", "h1") and "gpu" not in tags
    assert "error" not in tags
    saved = _load(client, run_id, "measurements.json", tmp_path / "dl")
    assert "artifact_path" not in saved and saved["accuracy"] == 0.91
    assert _files(client, run_id, "model") == {"model/cand.onnx"}


def test_a_trial_without_ratio_teacher_or_artifact_logs_what_it_has(tracker: StudyTracker, mlflow_uri: str,
                                                                   tmp_path: Path) -> None:
    client = MlflowClient(mlflow_uri)
    run_id = tracker.start_trial(0, {}, CANDIDATE)
    measured = {**_measured(tmp_path, artifact=False), "latency_ratio": None}
    tracker.finish_trial(run_id, measured, None)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert "latency_ratio" not in run.data.metrics and "size_ratio" not in run.data.metrics
    assert _files(client, run_id) == {"measurements.json"}


def test_failed_and_stopped_trials_end_with_their_reason(tracker: StudyTracker, mlflow_uri: str) -> None:
    client = MlflowClient(mlflow_uri)
    failed = tracker.start_trial(1, {}, CANDIDATE)
    tracker.finish_trial(failed, None, "RuntimeError: " + "e" * 6000, worker={"host": "h2"})
    run = client.get_run(failed)
    assert run.info.status == "FAILED"
    assert run.data.tags["error"].startswith("RuntimeError: ") and len(run.data.tags["error"]) == 5000
    assert run.data.tags["pareto"] == "false" and run.data.tags["host"] == "h2"
    assert not run.data.metrics

    stopped = tracker.start_trial(2, {}, CANDIDATE)
    rungs = {3: {"accuracy": 0.5, "size_bytes": 300.0, "go_on": False},
             1: {"accuracy": 0.3, "size_bytes": 300.0, "go_on": True}}
    tracker.finish_pruned(stopped, 3, rungs)
    run = client.get_run(stopped)
    assert run.info.status == "KILLED"
    assert (run.data.tags["pruned_at_epoch"], run.data.tags["pareto"]) == ("3", "false")
    history = sorted(client.get_metric_history(stopped, "rung_accuracy"), key=lambda m: m.step)
    assert [(m.step, m.value) for m in history] == [(1, 0.3), (3, 0.5)]
    assert "rung_go_on" not in run.data.metrics


def test_log_front_tags_the_front_and_logs_table_hypervolume_and_figure(tracker: StudyTracker, mlflow_uri: str,
                                                                       tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    client = MlflowClient(mlflow_uri)
    runs = [tracker.start_trial(i, {}, CANDIDATE) for i in range(4)]
    points = [
        _point(0, 0.9, 500, on_front=True, run_id=runs[0], latency_ratio=0.5, search_latency_ms=0.11),
        _point(1, 0.8, 250, on_front=True, run_id=runs[1], retimed={"latency_ms": 0.09, "ratio": 0.45}),
        _point(2, 0.7, 600, on_front=False, run_id=runs[2]),
        # off the front because infeasible: it would add volume if it were counted
        _point(3, 0.99, 100, on_front=False, feasible=False, run_id=runs[3]),
        _point(4, 0.6, 900, on_front=False),  # no MLflow run (asked during an outage): skipped
    ]
    set_tag_calls: list[tuple[str, str, str]] = []
    real_set_tag = tracker.client.set_tag
    monkeypatch.setattr(tracker.client, "set_tag",
                        lambda run_id, key, value: (set_tag_calls.append((run_id, key, value)),
                                                    real_set_tag(run_id, key, value)))
    hv = tracker.log_front(points, 5, OBJECTIVES, TEACHER_METRICS)
    # normalised: (1 - acc, size / 1000) against (1, 2): boxes 0.9 x 1.5 and 0.8 x 1.75, overlap 0.8 x 1.5
    assert hv == pytest.approx(0.9 * 1.5 + 0.8 * 1.75 - 0.8 * 1.5)
    assert [client.get_run(r).data.tags["pareto"] for r in runs] == ["true", "true", "false", "false"]
    assert len(set_tag_calls) == 4

    parent = client.get_run(tracker.parent_id)
    assert parent.data.metrics["hypervolume"] == pytest.approx(hv)
    assert parent.data.metrics["front_size"] == 2 and parent.data.metrics["trials_finished"] == 5
    assert [m.step for m in client.get_metric_history(tracker.parent_id, "hypervolume")] == [5]
    front = _load(client, tracker.parent_id, "front/front.json", tmp_path / "dl1")
    assert front["objectives"] == [list(o) for o in OBJECTIVES]
    assert front["reference_point"] == [1.0, 2.0] and front["hypervolume"] == pytest.approx(hv)
    assert front["teacher"] == TEACHER_METRICS
    table = front["front"]
    assert table["trial"] == [0, 1]  # best accuracy first
    assert table["size_ratio"] == pytest.approx([0.5, 0.25])
    assert table["latency_ratio"] == [0.5, None]
    assert table["latency_retimed"] == [False, True]
    assert table["search_latency_ms"] == [0.11, None]
    assert "front/front.png" in _files(client, tracker.parent_id, "front")

    # the front moves: trial 5 dominates trial 0; only the changed tags are written again
    run5 = tracker.start_trial(5, {}, CANDIDATE)
    set_tag_calls.clear()
    moved = [dataclasses.replace(points[0], on_front=False), points[1], points[2], points[3],
             _point(5, 0.95, 400, on_front=True, run_id=run5)]
    hv2 = tracker.log_front(moved, 6, OBJECTIVES, TEACHER_METRICS, plot=False)
    assert hv2 > hv
    assert sorted(set_tag_calls) == sorted([(runs[0], "pareto", "false"), (run5, "pareto", "true")])
    assert client.get_run(runs[0]).data.tags["pareto"] == "false"
    history = sorted(client.get_metric_history(tracker.parent_id, "hypervolume"), key=lambda m: m.step)
    assert [(m.step, m.value) for m in history] == [(5, pytest.approx(hv)), (6, pytest.approx(hv2))]
    assert _load(client, tracker.parent_id, "front/front.json", tmp_path / "dl2")["front"]["trial"] == [5, 1]


def test_a_tag_a_closed_run_set_is_not_rewritten_by_the_front(tracker: StudyTracker, mlflow_uri: str,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    run_id = tracker.start_trial(0, {}, CANDIDATE)
    tracker.finish_trial(run_id, None, "boom")
    calls: list[tuple] = []
    monkeypatch.setattr(tracker.client, "set_tag", lambda *a: calls.append(a))
    tracker.log_front([_point(0, 0.9, 500, on_front=False, run_id=run_id)], 1, OBJECTIVES, TEACHER_METRICS, plot=False)
    assert calls == []  # finish_trial tagged it pareto=false already


def test_an_empty_front_has_no_volume(tracker: StudyTracker, mlflow_uri: str, tmp_path: Path) -> None:
    hv = tracker.log_front([], 0, OBJECTIVES, TEACHER_METRICS, plot=False)
    assert hv == 0.0
    client = MlflowClient(mlflow_uri)
    assert client.get_run(tracker.parent_id).data.metrics["front_size"] == 0
    assert "front/front.png" not in _files(client, tracker.parent_id, "front")
    assert _load(client, tracker.parent_id, "front/front.json", tmp_path / "dl")["front"]["trial"] == []


def test_retimed_reference_latency_and_cluster_land_on_their_runs(tracker: StudyTracker, mlflow_uri: str) -> None:
    client = MlflowClient(mlflow_uri)
    retimed_run, plain_run = tracker.start_trial(0, {}, CANDIDATE), tracker.start_trial(1, {}, CANDIDATE)
    tracker.log_retimed([_point(0, 0.9, 500, on_front=True, run_id=retimed_run,
                                retimed={"latency_ms": 0.08, "ratio": 0.4}),
                         _point(1, 0.8, 250, on_front=True, run_id=plain_run)])
    latency = client.get_metric_history(retimed_run, "latency_ms")
    assert [(m.step, m.value) for m in latency] == [(1, 0.08)]
    assert [(m.step, m.value) for m in client.get_metric_history(retimed_run, "latency_ratio")] == [(1, 0.4)]
    assert "latency_view" in client.get_run(retimed_run).data.tags
    assert "latency_view" not in client.get_run(plain_run).data.tags

    tracker.log_reference_latencies([(0.21, 4), (0.25, 5)])
    assert sorted((m.step, m.value) for m in client.get_metric_history(tracker.parent_id, "reference_latency_ms")) == [
        (4, 0.21), (5, 0.25)]

    tracker.log_cluster({"nodes": 2, "cpus": 8.0, "gpus": 0.0}, {"ray_node_id": "n0", "host": "timer"})
    tags = client.get_run(tracker.parent_id).data.tags
    assert (tags["cluster.nodes"], tags["cluster.cpus"], tags["timing_host"], tags["timing_node_id"]) == (
        "2", "8.0", "timer", "n0")
    launches = _files(client, tracker.parent_id, "cluster")
    assert len(launches) == 1 and next(iter(launches)).startswith("cluster/launch-")

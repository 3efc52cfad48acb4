"""A study on two deployment targets, end to end through the command line (real Ray, MLflow and
Optuna storage): each candidate scored and timed on each target, each target's front, per-target
MLflow metrics and Pareto tags, ``verify`` on both targets and ``export`` with every target's figures."""

from __future__ import annotations

import json

import pytest
from mlflow.tracking import MlflowClient

from tests.search.e2e_study import automl, tiny_study

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def two_targets(tmp_path_factory):
    work = tmp_path_factory.mktemp("targets")
    study = tiny_study(work, "e2e_targets", trials=4)
    study.write_text(study.read_text() + "targets: [ort-cpu, openvino-cpu-f32]\n"
                     "objectives: [accuracy, size_bytes, latency_ms@openvino-cpu-f32]\n")
    launch = automl("launch", str(study), "--quiet", cwd=work)
    assert launch.returncode == 0, launch.stderr[-3000:]
    return work, json.loads((work / "runs/e2e_targets/study.json").read_text())


def test_every_candidate_is_measured_on_every_target_against_that_targets_teacher(two_targets):
    work, record = two_targets
    assert [t["name"] for t in record["targets"]] == ["ort-cpu", "openvino-cpu-f32"]
    teacher = record["teacher"]["targets"]
    assert teacher["openvino-cpu-f32"]["runtime"].startswith("openvino") and teacher["ort-cpu"]["latency_ms"] > 0
    front = json.loads(automl("pareto", "e2e_targets", "--json", "--target", "openvino-cpu-f32", cwd=work).stdout)
    assert front, "the target has a front"
    for point in front:
        on = point["targets"]
        assert set(on) == {"ort-cpu", "openvino-cpu-f32"}
        ov = on["openvino-cpu-f32"]
        assert ov["runtime"].startswith("openvino") and ov["latency"]["target"] == "openvino-cpu-f32"
        # a latency there is its ratio to the teacher timed there, times the study's teacher figure there
        assert ov["latency_ms"] == pytest.approx(ov["latency_ratio"] * teacher["openvino-cpu-f32"]["latency_ms"])
        assert point["latency_ratio"] == pytest.approx(point["latency_ms"] / teacher["ort-cpu"]["latency_ms"], rel=0.3)


def test_mlflow_has_per_target_metrics_and_pareto_tags(two_targets):
    work, record = two_targets
    client = MlflowClient(record["tracking_uri"])
    runs = [r for r in client.search_runs([client.get_experiment_by_name("e2e_targets").experiment_id])
            if r.data.tags.get("automl.role") == "trial" and r.info.status == "FINISHED"]
    assert runs
    for r in runs:
        assert {"ort-cpu/latency_ms", "openvino-cpu-f32/latency_ms", "openvino-cpu-f32/accuracy"} <= set(r.data.metrics)
        assert r.data.tags["kernels/openvino-cpu-f32"] and r.data.tags["pareto/openvino-cpu-f32"] in ("true", "false")
    on_front = {r.data.tags["mlflow.runName"].split(" ")[0] for r in runs if r.data.tags["pareto/openvino-cpu-f32"] == "true"}
    front = json.loads(automl("pareto", "e2e_targets", "--json", "--target", "openvino-cpu-f32", cwd=work).stdout)
    assert on_front == {f"trial-{p['trial']:04d}" for p in front}


def test_verify_rechecks_each_target_and_export_records_each(two_targets, tmp_path):
    work, _ = two_targets
    out = automl("verify", "e2e_targets", "--json", cwd=work)
    checks = json.loads(out.stdout)["targets"]
    assert set(checks) == {"ort-cpu", "openvino-cpu-f32"}
    for target, rows in checks.items():  # accuracy and size from the files, on each target's own runtime
        assert rows[0]["trial"] == "teacher"
        for row in rows:
            assert not [f for f in row["failures"] if not f.startswith("latency")], (target, row)
    trial = json.loads(automl("pareto", "e2e_targets", "--json", cwd=work).stdout)[0]["trial"]
    assert automl("export", "e2e_targets", "--trial", str(trial), "--out", str(tmp_path), cwd=work).returncode == 0
    exported = json.loads((tmp_path / "candidate.json").read_text())["targets"]
    assert exported["openvino-cpu-f32"]["kernels"] and exported["openvino-cpu-f32"]["teacher"]["latency_ms"] > 0
    assert exported["ort-cpu"]["target"]["runtime"] == "onnxruntime"

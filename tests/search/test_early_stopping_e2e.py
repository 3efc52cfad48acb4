"""Early stopping end to end: real local Ray, MLflow store and Optuna storage.

One worker (concurrency 1), so candidates reach the rung in trial order and every decision
can be recomputed independently from what the study stored.
"""

from __future__ import annotations

import json

import optuna
import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from automl.study.mo_asha import EarlyStoppingConfig, RungBook
from tests.search.test_engine_e2e import SPACE, _children, automl, write_study

pytestmark = pytest.mark.e2e

OBJECTIVES = [("accuracy", "maximize"), ("size_bytes", "minimize"), ("latency_ms", "minimize")]
SETTING = {"rungs": [1], "reduction_factor": 100, "min_peers": 2}  # of n at the rung, only the best goes on
SIZE_LIMIT = 3000  # a constraint the screen applies before training: fp32 two-stage candidates are 3.5-11 KB


def _recomputed(study: optuna.Study) -> dict[int, bool]:
    book = RungBook(EarlyStoppingConfig.from_setting(SETTING), OBJECTIVES)
    return {t.number: book.record(t.number, 1, t.user_attrs["rung:1"])
            for t in sorted(study.trials, key=lambda t: t.number) if "rung:1" in t.user_attrs}


def test_stopped_candidates_are_pruned_trials_with_their_curves_and_resume_keeps_the_rungs(tmp_path):
    (tmp_path / "tiny_joint.yaml").write_text(SPACE)
    study_file = write_study(tmp_path, "es", "tiny_joint.yaml", trials=5)
    study_file.write_text(study_file.read_text().replace("concurrency: 2", "concurrency: 1")
                          + f"early_stopping: {json.dumps(SETTING)}\nconstraints: ['size_bytes <= {SIZE_LIMIT}']\n")
    first = automl("launch", str(study_file), "--quiet", cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    again = automl("launch", str(study_file), "--trials", "6", "--quiet", cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]

    record = json.loads((tmp_path / "runs/es/study.json").read_text())
    study = optuna.load_study(study_name="es", storage=record["storage"])
    assert len(study.trials) == 6
    # the screen: a candidate whose probed size breaks the constraint stopped before training, with its
    # figures stored; every other one reported at the rung with a measured size and latency (the probe)
    screened = [t for t in study.trials if "rung:0" in t.user_attrs]
    assert screened and len(screened) < 4
    for t in screened:
        assert t.state == TrialState.PRUNED and t.user_attrs["pruned_at_epoch"] == 0
        assert t.user_attrs["rung:0"]["size_bytes"] > SIZE_LIMIT * 1.05 and not t.user_attrs["rung:0"]["go_on"]
        assert "rung:1" not in t.user_attrs
    # a repeat of a finished candidate is answered from its result: no rung, no training
    reused = [t for t in study.trials if "reused_from" in t.user_attrs]
    assert all(t.state == TrialState.COMPLETE and "rung:1" not in t.user_attrs
               and study.trials[t.user_attrs["reused_from"]].state == TrialState.COMPLETE for t in reused)
    trained = [t for t in study.trials if t not in screened and t not in reused]
    for t in trained:
        rung = t.user_attrs["rung:1"]
        assert rung["size_bytes"] > 0 and rung["latency_ms"] > 0 and 0 <= rung["accuracy"] <= 1
    # the decisions are MO-ASHA's, over both launches (the second's candidate was compared with the first's)
    decisions = _recomputed(study)
    assert decisions == {t.number: t.user_attrs["rung:1"]["go_on"] for t in trained}
    assert {t.number: t.state for t in trained} == {
        n: TrialState.COMPLETE if go_on else TrialState.PRUNED for n, go_on in decisions.items()}
    pruned = [t for t in study.trials if t.state == TrialState.PRUNED]
    lost = [t for t in pruned if t not in screened]
    assert lost and decisions[min(decisions)]  # the first is in its grace period; some later one lost its rung
    assert all(t.user_attrs["pruned_at_epoch"] == 1 and "result" not in t.user_attrs for t in lost)

    # MLflow: a stopped candidate's run is KILLED, tagged, with its curve and rung vector
    _, children = _children(MlflowClient(record["tracking_uri"]), "es")
    runs = {int(c.data.tags["automl.trial"]): c for c in children}
    for t in study.trials:
        run = runs[t.number]
        if t in screened:  # no curve: it never trained; its probed figures are logged at step 0
            assert run.info.status == "KILLED" and run.data.tags["pruned_at_epoch"] == "0"
            assert run.data.metrics["rung_size_bytes"] == pytest.approx(t.user_attrs["rung:0"]["size_bytes"])
            continue
        if t in reused:
            assert run.info.status == "FINISHED" and run.data.tags["reused_from"] == str(t.user_attrs["reused_from"])
            continue
        assert "curve_val_accuracy" in run.data.metrics
        if t.state == TrialState.PRUNED:
            assert run.info.status == "KILLED" and run.data.tags["pruned_at_epoch"] == "1"
            assert run.data.metrics["rung_accuracy"] == pytest.approx(t.user_attrs["rung:1"]["accuracy"])
            assert run.data.tags["pareto"] == "false"
        else:
            assert run.info.status == "FINISHED"

    # the front holds finished candidates only; the summary line counts the stopped ones
    front = json.loads(automl("pareto", "es", "--json", cwd=tmp_path).stdout)
    assert front and {p["trial"] for p in front} <= {t.number for t in study.trials if t.state == TrialState.COMPLETE}
    assert f"{len(pruned) - sum(t.number == 5 for t in pruned)} stopped early" in first.stdout

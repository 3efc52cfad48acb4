"""build_view on a real small study: an Optuna study in a SQLite file with the attributes the
package writes, a StudyRecord with a typed teacher, and (or not) the study's MLflow store."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState, create_trial

from automl.candidate.result import CandidateResult
from automl.dashboard.data import GROUPS, build_view
from automl.study.attrs import (
    CANDIDATE_ATTR,
    ERROR_ATTR,
    INTERRUPTED_ATTR,
    MLFLOW_RUN_ATTR,
    PRUNED_AT_ATTR,
    RESULT_ATTR,
)
from automl.study.front import TrialPoint
from automl.study.record import StudyRecord
from automl.tracking import StudyTracker

OBJECTIVES = [("accuracy", "maximize"), ("size_bytes", "minimize"), ("latency_ms", "minimize")]
DISTS = {"quant.weight_bits": CategoricalDistribution([8, 32]), "pruning.ratio": FloatDistribution(0.0, 0.9),
         "distill.alpha": FloatDistribution(0.0, 1.0)}


@pytest.fixture(scope="module")
def mlflow_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One SQLite MLflow store for the module (creating one costs seconds); each study has its own name."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow')}/mlflow.db"


def _teacher() -> CandidateResult:
    return CandidateResult(accuracy=0.97, test_accuracy=0.96, size_bytes=40_000, latency_ms=0.2,
                           params_nonzero=10_000, macs=200_000, kernels="fp32", int8_kernels=False,
                           latency={"runtime": "onnxruntime"}, artifact_path="teacher.onnx")


def _complete(acc: float, size: int, latency: float, ratio: float | None, bits: int = 8, prune: float = 0.0,
              alpha: float = 0.5, run_id: str | None = None, constraints: dict | None = None) -> optuna.trial.FrozenTrial:
    result = {"accuracy": acc, "test_accuracy": acc - 0.01, "size_bytes": size, "latency_ms": latency,
              "params_nonzero": size // 4, "macs": 50_000, "latency_ratio": ratio,
              "kernels": "int8" if bits == 8 else "fp32", "latency": {"runtime": "onnxruntime"},
              "artifact_path": f"/a/{size}.onnx"}
    candidate = {"arch": {"family": "cnn", "choices": {"stages": 1, "widths": [8]}},
                 "quant": {"weight_bits": bits}, "pruning": {"ratio": prune, "granularity": "channel"},
                 "distill": {"enabled": True, "alpha": alpha}}
    attrs = {RESULT_ATTR: result, CANDIDATE_ATTR: candidate}
    if run_id:
        attrs[MLFLOW_RUN_ATTR] = run_id
    return create_trial(state=TrialState.COMPLETE, values=[acc, size, latency],
                        params={"quant.weight_bits": bits, "pruning.ratio": prune, "distill.alpha": alpha},
                        distributions=DISTS, user_attrs=attrs, constraints=constraints)


def _study(tmp_path: Path, name: str, trials: list[optuna.trial.FrozenTrial]) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=name, storage=f"sqlite:///{tmp_path / 'optuna.db'}",
                                directions=[d for _, d in OBJECTIVES])
    for t in trials:
        study.add_trial(t)
    return study


def _record(tmp_path: Path, name: str, study: optuna.Study, mlflow_uri: str) -> StudyRecord:
    return StudyRecord(name=name, storage=f"sqlite:///{tmp_path / 'optuna.db'}", tracking_uri=mlflow_uri,
                       run_dir=str(tmp_path), objectives=OBJECTIVES, constraints=["accuracy >= 0.8"],
                       teacher=_teacher())


def _small_study(tmp_path: Path) -> optuna.Study:
    """0, 2 on the front; 1 dominated by 0; 3 stopped early; 4, 5 failed; 6 cut off by a stopped
    launch; 7 would dominate everything but missed a constraint."""
    study = _study(tmp_path, "dash", [
        _complete(0.90, 20_000, 0.10, 0.5),
        _complete(0.80, 30_000, 0.30, None, bits=32, prune=0.0),
        _complete(0.95, 50_000, 0.20, 1.0, prune=0.3),
        create_trial(state=TrialState.PRUNED, params={"quant.weight_bits": 8},
                     distributions={"quant.weight_bits": DISTS["quant.weight_bits"]},
                     user_attrs={PRUNED_AT_ATTR: 3}),
        create_trial(state=TrialState.FAIL, user_attrs={ERROR_ATTR: "RuntimeError: CUDA out of memory"}),
        create_trial(state=TrialState.FAIL),
        create_trial(state=TrialState.FAIL),
        _complete(0.99, 1_000, 0.01, 0.05, constraints={"accuracy >= 0.8": 0.0, "size_bytes <= 500": 1.0}),
    ])
    study.set_user_attr(INTERRUPTED_ATTR, [6])
    return study


def test_ratios_front_and_failures_without_mlflow(tmp_path: Path, mlflow_uri: str) -> None:
    study = _small_study(tmp_path)
    uri = mlflow_uri
    view = build_view(_record(tmp_path, "dash", study, uri), study)

    assert view.name == "dash" and view.objectives == OBJECTIVES
    assert view.teacher == _teacher().metrics()
    by_trial = {c.point.trial: c for c in view.candidates}
    assert sorted(by_trial) == [0, 1, 2, 7]  # completed trials only
    assert by_trial[0].size_ratio == pytest.approx(0.5)
    assert by_trial[0].latency_ratio == pytest.approx(0.5)  # the interleaved ratio the trial measured
    assert by_trial[1].latency_ratio == pytest.approx(0.30 / 0.2)  # none measured: over the teacher's figure
    assert by_trial[2].size_ratio == pytest.approx(1.25)
    assert {c.point.trial for c in view.front} == {0, 2}
    assert not by_trial[7].point.feasible and not by_trial[7].point.on_front

    assert by_trial[2].config["pruning"]["ratio"] == 0.3
    assert by_trial[2].knob("pruning.granularity") == "channel"
    assert by_trial[0].knob("pruning.granularity") == "none"  # not pruned
    assert by_trial[1].knob("quant.weight_bits") == 32 and by_trial[1].knob("arch.choices.widths") == [8]
    assert by_trial[1].knob("quant.missing.deeper") is None
    assert by_trial[0].value("size_ratio") == pytest.approx(0.5)
    assert by_trial[0].value("accuracy") == pytest.approx(0.9)

    # the interrupted trial spent no budget and is not listed; a failure without an error says so
    assert view.failed == [(4, "RuntimeError: CUDA out of memory"), (5, "failed")]

    assert f"no MLflow experiment 'dash' in {uri}" in view.notes
    assert (view.hypervolume, view.curves, view.experiment_id, view.parent_run_id) == ([], {}, "", "")


def test_too_few_trials_for_importances_is_a_note(tmp_path: Path, mlflow_uri: str) -> None:
    study = _study(tmp_path, "few", [_complete(0.9, 20_000, 0.1, 0.5), _complete(0.8, 10_000, 0.1, 0.5)])
    view = build_view(_record(tmp_path, "few", study, mlflow_uri), study)
    assert view.importances == {}
    assert "parameter importances need at least 4 finished trials (2 so far)" in view.notes


def test_hypervolume_history_curves_and_importances_from_a_tracked_study(tmp_path: Path, mlflow_uri: str) -> None:
    uri = mlflow_uri
    tracker = StudyTracker(uri, "tracked", tmp_path / "artifacts")
    runs = [tracker.start_trial(i, {}, {"arch": {"family": "cnn"}}) for i in range(3)]
    for step, acc in ((2, 0.6), (1, 0.4), (3, 0.85)):  # logged out of order: read back by step
        tracker.log_epoch(runs[0], step, {"val_accuracy": acc})
    tracker.log_epoch(runs[1], 1, {"val_accuracy": 0.3})
    study = _study(tmp_path, "tracked", [
        _complete(0.90, 20_000, 0.10, 0.5, bits=8, prune=0.1, alpha=0.2, run_id=runs[0]),
        _complete(0.80, 30_000, 0.30, None, bits=32, prune=0.5, alpha=0.9, run_id=runs[1]),  # dominated
        _complete(0.95, 50_000, 0.20, 1.0, bits=32, prune=0.0, alpha=0.4),  # front, no MLflow run
        _complete(0.70, 45_000, 0.25, 1.2, bits=8, prune=0.8, alpha=0.7, run_id=runs[2]),  # dominated
        _complete(0.85, 15_000, 0.15, 0.7, bits=8, prune=0.6, alpha=0.1),
    ])
    points = [TrialPoint(trial=0, params={}, metrics={"accuracy": 0.9, "test_accuracy": 0.89, "size_bytes": 20_000,
                                                      "latency_ms": 0.1, "params_nonzero": 5000, "macs": 50_000},
                         feasible=True, on_front=True)]
    teacher = _teacher().metrics()
    hv_later = tracker.log_front(points, 5, OBJECTIVES, teacher, plot=False)
    hv_first = tracker.log_front([], 1, OBJECTIVES, teacher, plot=False)  # an earlier step, logged later

    view = build_view(_record(tmp_path, "tracked", study, uri), study)
    assert view.experiment_id == tracker.experiment_id and view.parent_run_id == tracker.parent_id
    assert view.hypervolume == [(1, pytest.approx(hv_first)), (5, pytest.approx(hv_later))]
    assert {c.point.trial for c in view.front} == {0, 2, 4}
    # curves only for front trials with a run: trial 1 is dominated, trial 2 has no run
    assert view.curves == {0: [0.4, 0.6, 0.85]}
    assert not any("MLflow" in n for n in view.notes)

    assert set(view.importances) == {name for name, _ in OBJECTIVES}
    for name, imp in view.importances.items():
        assert set(imp) <= set(DISTS) and sum(imp.values()) == pytest.approx(1.0)
        groups = view.group_importances()[name]
        assert set(groups) == set(GROUPS) and groups["arch"] == 0.0
        assert groups["quant"] == pytest.approx(imp.get("quant.weight_bits", 0.0))
        assert sum(groups.values()) == pytest.approx(1.0)

"""The dashboard page's header counts every trial the budget spent: trained, stopped early, failed."""

from __future__ import annotations

import re

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState, create_trial

from automl.candidate.result import CandidateResult
from automl.dashboard.data import build_view
from automl.dashboard.page import PAGE, render
from automl.dashboard.spec import load_spec
from automl.study.attrs import CANDIDATE_ATTR, PRUNED_AT_ATTR, RESULT_ATTR
from automl.study.record import StudyRecord

OBJECTIVES = [("accuracy", "maximize"), ("size_bytes", "minimize")]
DISTS = {"quant.weight_bits": CategoricalDistribution([8, 32]), "pruning.ratio": FloatDistribution(0.0, 0.9)}


def _teacher() -> CandidateResult:
    return CandidateResult(accuracy=0.95, test_accuracy=0.94, size_bytes=40_000, latency_ms=0.2, params_nonzero=9000,
                           macs=100_000, kernels="fp32", int8_kernels=False, latency={}, artifact_path="teacher.onnx")


def _complete(i: int) -> optuna.trial.FrozenTrial:
    bits, ratio = (8, 32)[i % 2], 0.1 * i
    result = {"accuracy": 0.9 - 0.02 * i, "test_accuracy": 0.89 - 0.02 * i, "size_bytes": 30_000 - 4000 * i,
              "latency_ms": 0.15, "params_nonzero": 8000 - 500 * i, "macs": 90_000, "latency_ratio": 0.75,
              "kernels": "int8" if bits == 8 else "fp32"}
    config = {"arch": {"family": "cnn"}, "quant": {"weight_bits": bits}, "pruning": {"ratio": ratio}}
    return create_trial(state=TrialState.COMPLETE, values=[result["accuracy"], result["size_bytes"]],
                        params={"quant.weight_bits": bits, "pruning.ratio": ratio}, distributions=DISTS,
                        user_attrs={RESULT_ATTR: result, CANDIDATE_ATTR: config})


def _stopped(epoch: int) -> optuna.trial.FrozenTrial:
    return create_trial(state=TrialState.PRUNED, params={"quant.weight_bits": 8, "pruning.ratio": 0.5},
                        distributions=DISTS, user_attrs={PRUNED_AT_ATTR: epoch})


def test_header_counts_trained_stopped_early_and_failed_trials(tmp_path) -> None:
    """8 trials, 3 of them stopped early (2 at the screen, before training): the header says
    all 8, not only the 5 trained candidates."""
    study = optuna.create_study(directions=[d for _, d in OBJECTIVES])
    for trial in (_complete(0), _stopped(0), _complete(1), _complete(2), _stopped(2), _complete(3), _stopped(0),
                  _complete(4)):
        study.add_trial(trial)
    record = StudyRecord(name="hdr", storage="sqlite:///unused.db", tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
                         run_dir=str(tmp_path), objectives=OBJECTIVES, constraints=[], teacher=_teacher())
    view = build_view(record, study)
    assert (len(view.candidates), view.stopped, view.screened, len(view.failed), view.trials) == (5, 3, 2, 0, 8)

    render(view, load_spec(), tmp_path / "dash")
    text = (tmp_path / "dash" / PAGE).read_text(encoding="utf-8")
    header = re.search(r"<p>(.*?)\n", text).group(1)
    assert header.startswith("8 trials: 5 trained, 3 stopped early (2 before training), 0 failed, "), header
    assert f"{len(view.front)} on the front." in header
    assert "finished candidates" not in text


def test_a_study_with_a_predictor_shows_predicted_against_measured(tmp_path) -> None:
    """Trained trials are points (predicted, measured); a screened proposal is not in the budget's
    count but is counted beside it, and the panel's title gives Kendall's tau."""
    from automl.study.attrs import PREDICTED_ATTR

    study = optuna.create_study(directions=[d for _, d in OBJECTIVES])
    predicted = [0.88, 0.90, 0.84, 0.86]  # ranks the measured 0.90 > 0.88 > 0.86 > 0.84 as 2, 1, 4, 3
    for i, guess in enumerate(predicted):
        t = _complete(i)
        t.user_attrs[PREDICTED_ATTR] = {"accuracy": guess, "spread": 0.01, "seen": 12 + i, "trained": True}
        study.add_trial(t)
    screened = _stopped(0)
    screened.user_attrs[PREDICTED_ATTR] = {"accuracy": 0.7, "spread": 0.02, "seen": 16, "trained": False}
    study.add_trial(screened)
    record = StudyRecord(name="pred", storage="sqlite:///unused.db", tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
                         run_dir=str(tmp_path), objectives=OBJECTIVES, constraints=[], teacher=_teacher())
    view = build_view(record, study)
    assert (view.trials, view.predictor_screened) == (4, 1)  # the screened proposal spent no budget
    assert [(p.trial, p.measured is None) for p in view.predictions] == [(0, False), (1, False), (2, False),
                                                                         (3, False), (4, True)]
    assert view.predictor_tau == pytest.approx(1 / 3)  # 4 concordant and 2 discordant pairs of 6

    render(view, load_spec(), tmp_path / "dash")
    text = (tmp_path / "dash" / PAGE).read_text(encoding="utf-8")
    assert "; the accuracy predictor screened 1 more proposal(s)" in text
    assert "<h2>Accuracy predictor</h2>" in text and 'id="panel-predictor"' in text
    assert "Kendall's tau 0.33 on 4 trained, 1 screened" in text

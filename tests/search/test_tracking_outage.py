"""MLflow away mid-study: trials are listed behind, and MLflow is brought up to Optuna's record."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

from automl.search import tracking_outage
from automl.search.tracking_outage import TrackingOutage
from automl.study.attrs import (
    BEHIND_ATTR,
    LATE_RUNS_ATTR,
    RESULT_ATTR,
    WORKER_ATTR,
)


class FakeTracker:
    def __init__(self) -> None:
        self.up = True
        self.calls: list[tuple] = []

    def _call(self, *entry) -> None:
        if not self.up:
            raise ConnectionError("connection refused")
        self.calls.append(entry)

    def start_trial(self, number, params, candidate, adopt=False) -> str:
        self._call("start", number, adopt)
        return f"run-{number}"

    def finish_trial(self, run_id, measured, error, teacher=None, worker=None) -> None:
        self._call("finish", run_id, None if measured is None else measured["accuracy"], error, worker)


@pytest.fixture()
def setup(monkeypatch):
    tracker = FakeTracker()
    monkeypatch.setattr(tracking_outage, "tracking_server_down", lambda uri: None if tracker.up else "refused")
    monkeypatch.setattr(tracking_outage, "PROBE_EVERY_S", 0.0)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=["maximize"])
    notes: list[str] = []
    return study, tracker, TrackingOutage(study, tracker, "http://mlflow:5000", notes.append, {"size_bytes": 100}), notes


def test_an_outage_lists_trials_behind_and_the_return_catches_them_up(setup) -> None:
    study, tracker, outage, notes = setup
    tracker.up = False
    trial = study.ask()
    assert outage.call(lambda: tracker.start_trial(trial.number, {}, {}), behind=trial.number) is None
    assert outage.down and "unreachable" in notes[0] and "http://mlflow:5000" in notes[0]
    trial.set_user_attr(RESULT_ATTR, {"accuracy": 0.9, "size_bytes": 50})
    trial.set_user_attr(WORKER_ATTR, {"ray_node_id": "n1", "host": "h"})
    study.tell(trial, [0.9])
    failed = study.ask()
    failed.set_user_attr("error", "boom")
    study.tell(failed, state=TrialState.FAIL)
    outage.call(lambda: tracker.finish_trial("x", None, "boom"), behind=failed.number)
    assert study.user_attrs[BEHIND_ATTR] == [0, 1] and tracker.calls == []

    tracker.up = True
    assert outage.call(lambda: "logged") == "logged"  # back: caught up first, then the call
    assert not outage.down and study.user_attrs[BEHIND_ATTR] == []
    assert study.user_attrs[LATE_RUNS_ATTR] == {"0": "run-0", "1": "run-1"}
    assert ("start", 0, True) in tracker.calls  # a run the server made before the outage cut the start is adopted
    assert ("finish", "run-0", 0.9, None, {"ray_node_id": "n1", "host": "h"}) in tracker.calls
    assert ("finish", "run-1", None, "boom", None) in tracker.calls
    assert outage.late == {0: "run-0", 1: "run-1"}


def test_an_error_from_a_server_that_answers_is_not_an_outage(setup) -> None:
    _, _, outage, _ = setup

    def bad_request():
        raise ValueError("INVALID_PARAMETER_VALUE")

    with pytest.raises(ValueError):
        outage.call(bad_request)
    assert not outage.down

"""When the MLflow tracking server goes away mid-study: the study goes on, MLflow catches up.

Optuna's storage is the study's record; MLflow is a view of it. When an MLflow call fails and
the server then does not answer a health probe, the driver says so once, stops calling MLflow,
and lists the trials whose MLflow records fall behind (study user attribute ``mlflow_behind``,
so that a relaunch knows them too). Candidates keep running and are told to Optuna as usual.
At most every :data:`PROBE_EVERY_S` the driver asks again; once the server answers, every trial
behind gets its child run (created now if it was asked during the outage, or the run the server
created when the outage cut its start short; its id is kept in the study user attribute
``mlflow_late_runs``) closed from its Optuna record: metrics,
artifact, worker tags, or its error. Curve points of epochs during the outage are not
back-filled. If the server is still away when the study ends, the launch says so and
launching again (same name, server back) catches up before anything else.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import optuna
from optuna.trial import TrialState

from automl.study.attrs import (
    BEHIND_ATTR,
    LATE_RUNS_ATTR,
    REUSED_ATTR,
    behind,
    candidate_of,
    late_runs,
    measurements,
    mlflow_run_id,
    prediction_of,
    pruned_at,
    reused_from,
    rung_vectors,
    trial_error,
    worker_of,
)
from automl.tracking import StudyTracker
from automl.tracking.reachability import tracking_server_down

PROBE_EVERY_S = 5.0
INTERRUPTED_UNRECORDED = "interrupted: the driver stopped before this run was linked to its Optuna trial"


class TrackingOutage:
    """Runs the driver's MLflow calls; on an outage, records what fell behind and catches up."""

    def __init__(self, study: optuna.Study, tracker: StudyTracker, tracking_uri: str,
                 note: Callable[[str], None], teacher_metrics: dict[str, float]) -> None:
        self.study = study
        self.tracker = tracker
        self.uri = tracking_uri
        self.note = note
        self.teacher_metrics = teacher_metrics
        self.down = False
        self._last_probe = 0.0
        self.late = _late_runs(late_runs(study))

    @property
    def behind(self) -> list[int]:
        return behind(self.study)

    def call(self, fn: Callable[[], Any], behind: int | None = None) -> Any:
        """``fn()`` (MLflow calls); during an outage, trial ``behind`` is listed to catch up later.

        Returns ``fn``'s value, or ``None`` when MLflow is away.
        """
        if self.down and not self._back():
            self._mark(behind)
            return None
        try:
            return fn()
        except Exception as err:  # noqa: BLE001  (an error from a server that answers is re-raised)
            reason = tracking_server_down(self.uri)
            if reason is None:
                raise
            self.down, self._last_probe = True, time.monotonic()
            self.note(f"MLflow at {self.uri} is unreachable ({reason}; {type(err).__name__}): the study goes on, "
                      "every trial is kept in Optuna, MLflow catches up when the server is back")
            self._mark(behind)
            return None

    def _back(self) -> bool:
        if time.monotonic() - self._last_probe < PROBE_EVERY_S:
            return False
        self._last_probe = time.monotonic()
        if tracking_server_down(self.uri) is not None:
            return False
        self.down = False
        caught = self.catch_up()
        self.note(f"MLflow at {self.uri} is back: caught up {caught} trial(s)")
        return True

    def _mark(self, number: int | None) -> None:
        if number is not None and number not in self.behind:
            self.study.set_user_attr(BEHIND_ATTR, [*self.behind, number])

    def catch_up(self) -> int:
        """Bring MLflow up to Optuna's record for every trial behind; returns how many."""
        behind = self.behind
        if not behind:
            return 0
        late = late_runs(self.study)
        trials = {t.number: t for t in self.study.get_trials(deepcopy=False)}
        for number in behind:
            trial = trials[number]
            run_id = mlflow_run_id(trial, late)
            if run_id is None:
                run_id = late[str(number)] = self.tracker.start_trial(number, trial.params, candidate_of(trial),
                                                                      adopt=True)
            close_trial_run(self.tracker, run_id, self.study, trial, self.teacher_metrics)
        self.study.set_user_attr(LATE_RUNS_ATTR, late)
        self.late = _late_runs(late)
        self.study.set_user_attr(BEHIND_ATTR, [n for n in self.behind if n not in behind])
        return len(behind)

    def close_left_running(self) -> int:
        """Close the MLflow runs a killed driver left RUNNING, once ``close_interrupted`` has
        closed the trials Optuna had running; returns how many. A run whose trial Optuna
        finished (the driver was killed after the tell, before closing the run) is closed from
        that record; a run never linked to its trial (killed after creating the run, before
        Optuna recorded the link: the candidate is sampled again) is closed FAILED as interrupted."""
        open_runs = self.tracker.open_trial_runs()
        if not open_runs:
            return 0
        late = late_runs(self.study)
        orphans = set(open_runs)
        for trial in self.study.get_trials(deepcopy=False):
            run_id = mlflow_run_id(trial, late)
            if run_id in open_runs and trial.state.is_finished():
                close_trial_run(self.tracker, run_id, self.study, trial, self.teacher_metrics)
                orphans.discard(run_id)
        for run_id in orphans:
            self.tracker.finish_trial(run_id, None, INTERRUPTED_UNRECORDED)
        return len(open_runs)


def close_trial_run(tracker: StudyTracker, run_id: str, study: optuna.Study, trial: optuna.trial.FrozenTrial,
                    teacher_metrics: dict[str, Any]) -> None:
    """Close ``trial``'s MLflow run as Optuna recorded it: finished with its measurements,
    KILLED with its rung vectors (stopped early), or FAILED with why; with what the accuracy
    predictor said of it before it trained, if it was asked."""
    worker = worker_of(trial)
    predicted = prediction_of(trial)
    if predicted and predicted.get("accuracy") is not None:
        tracker.log_prediction(run_id, predicted["accuracy"], predicted["spread"], bool(predicted["trained"]))
    if trial.state == TrialState.COMPLETE:
        repeats = reused_from(trial)
        tracker.finish_trial(run_id, measurements(trial), None, teacher_metrics,
                             worker=worker if repeats is None else {REUSED_ATTR: repeats})
    elif trial.state == TrialState.PRUNED:
        tracker.finish_pruned(run_id, pruned_at(trial) or 0, rung_vectors(trial), worker=worker)
    elif trial.state == TrialState.FAIL:
        tracker.finish_trial(run_id, None, trial_error(study, trial) or "failed", worker=worker)


def _late_runs(stored: dict[str, str]) -> dict[int, str]:
    """``mlflow_late_runs`` keyed by trial number (JSON keeps them as strings)."""
    return {int(k): v for k, v in stored.items()}

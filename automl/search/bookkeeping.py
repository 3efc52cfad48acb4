"""The driver's records of a running study: MLflow runs and curves, the front, progress, drift.

Called by :class:`~automl.search.tune_callback.WorkerPoolCallback` after the candidates are
handed out, so none of it delays a worker. Drift: every candidate is timed interleaved with
the teacher, so each result carries the teacher's own figure in that window; it is logged
as the parent run's ``reference_latency_ms``, stepped by finished trials. With an accuracy
predictor, its quality as the study runs: the parent run's ``predictor_kendall_tau``, stepped
by the trials it predicted before they trained (and shown in the progress line).
"""

from __future__ import annotations

import time
from typing import Any

import optuna
import ray
from optuna.trial import TrialState

from automl.candidate.hooks import SCREEN_EPOCH
from automl.search.progress import StudyProgress
from automl.search.tracking_outage import TrackingOutage, close_trial_run
from automl.study.attrs import (
    ERROR_ATTR,
    MLFLOW_RUN_ATTR,
    measurements,
    prediction_of,
    pruned_at,
    rung_vectors,
    screened_by_predictor,
)
from automl.study.accuracy_screen import AccuracyScreen
from automl.study.front import IncrementalFront, finished_trials, study_points, trial_point
from automl.study.pareto import normalised_hypervolume
from automl.tracking import StudyTracker

PLOT_EVERY_S = 10.0  # the front figure is re-rendered at most this often (and once at the end)
FRONT_EVERY_S = 2.0  # the front (tags, table, hypervolume) is re-logged when it changed, at most this often


class StudyBookkeeper:
    def __init__(self, study: optuna.Study, objectives: list[tuple[str, str]], tracker: StudyTracker,
                 progress: StudyProgress, gate: Any, teacher_metrics: dict[str, float],
                 outage: TrackingOutage | None = None, screen: AccuracyScreen | None = None) -> None:
        self.study = study
        self.screen = screen  # the dispatcher's accuracy predictor, for its Kendall's tau
        self.objectives = objectives
        self.tracker = tracker
        self.progress = progress
        self.gate = gate
        self.teacher_metrics = teacher_metrics
        # MLflow calls go through it: a server outage mid-study is caught up, not fatal
        self.outage = outage or TrackingOutage(study, tracker, "", progress.note, teacher_metrics)
        self.seconds: dict[int, dict[str, float]] = {}  # driver seconds per trial (engine overhead)
        self._run_ids: dict[int, str] = {}
        self._last_plot = self._last_front = float("-inf")
        # kept as trials finish (O(front) per trial, not O(trials)): the front and the count
        self.front = IncrementalFront(study_points(study, objectives), objectives)
        self.n_finished = len(finished_trials(study))
        self._front_unlogged = False
        self._references: list[tuple[float, int]] = []  # the teacher's figure per timing, not logged yet
        self._taus: list[tuple[float, int]] = []  # (the predictor's tau, trials it was measured on), not logged yet
        self.hypervolume = self._front_hypervolume()

    def asked(self, trial: optuna.Trial, candidate: dict[str, Any]) -> None:
        start = time.perf_counter()
        run_id = self.outage.call(lambda: self.tracker.start_trial(trial.number, trial.params, candidate),
                                  behind=trial.number)
        if run_id is not None:
            self._run_ids[trial.number] = run_id
            trial.set_user_attr(MLFLOW_RUN_ATTR, run_id)
        self.progress.trial_started()
        self.seconds.setdefault(trial.number, {})["mlflow_start_s"] = time.perf_counter() - start

    def _run_id(self, number: int) -> str | None:
        """The trial's MLflow run: created when it was asked, or by a catch-up after an outage."""
        if number not in self._run_ids and number in self.outage.late:
            self._run_ids[number] = self.outage.late[number]
        return self._run_ids.get(number)

    def epochs(self, number: int, rows: list[dict[str, Any]]) -> None:
        run_id = self._run_id(number)
        if run_id is None:
            return  # asked during an outage: curve points are not back-filled
        self.outage.call(lambda: [self.tracker.log_epoch(run_id, int(row["step"]),
                                                         {k: float(row[k]) for k in ("loss", "val_accuracy")
                                                          if k in row}) for row in rows])

    def told(self, frozen: optuna.trial.FrozenTrial) -> None:
        start = time.perf_counter()
        # holds the gate, so the driver's logging never overlaps a timing run
        ray.get(self.gate.acquire_shared.remote())
        try:
            self.n_finished += not screened_by_predictor(frozen)  # a screened proposal spent no budget
            if frozen.state == TrialState.COMPLETE:
                late = {str(k): v for k, v in self.outage.late.items()}
                if self.front.add(trial_point(frozen, None, late)):
                    self._front_unlogged = True
                    self.hypervolume = self._front_hypervolume()
                self._predictor_checked(frozen)
            now = time.monotonic()
            due = now - self._last_front >= FRONT_EVERY_S  # the parent run's figures: at most this often
            log_front = due and self._front_unlogged
            plot = log_front and now - self._last_plot >= PLOT_EVERY_S
            if self.outage.call(lambda: self._record(frozen, due, log_front, plot), behind=frozen.number) and due:
                self._last_front = now
                self._front_unlogged = self._front_unlogged and not log_front
                self._last_plot = now if plot else self._last_plot
            self.progress.trial_finished(frozen.number, _outcome(frozen), len(self.front.front),
                                         self.hypervolume, _trial_summary(frozen))
        finally:
            ray.get(self.gate.release_shared.remote())
        self.seconds.setdefault(frozen.number, {})["mlflow_front_s"] = time.perf_counter() - start

    def flush_front(self) -> None:
        """Log the front now if it changed since it was last logged (at the launch's end)."""
        if self._front_unlogged and self.outage.call(lambda: (self._log_references(), self.tracker.log_front(
                self.front.all(), self.n_finished, self.objectives, self.teacher_metrics, True))) is not None:
            self._front_unlogged = False
        elif self._references:
            self.outage.call(self._log_references)

    def _front_hypervolume(self) -> float:
        return normalised_hypervolume([self.front.points[n].metrics for n in self.front.front], self.teacher_metrics,
                                      self.objectives)

    def _record(self, frozen: optuna.trial.FrozenTrial, due: bool, log_front: bool, plot: bool) -> bool:
        """The trial's MLflow run closed; when ``due``, the teacher figures gathered so far and
        (``log_front``) the front logged; ``True`` once done (``None`` comes back instead when
        MLflow is away)."""
        run_id = self._run_id(frozen.number)
        if run_id is not None:  # None: asked during an outage, listed behind, closed by the catch-up
            close_trial_run(self.tracker, run_id, self.study, frozen, self.teacher_metrics)
            done = frozen.state == TrialState.COMPLETE
            teacher_now = measurements(frozen).get("latency", {}).get("reference_ms") if done else None
            if teacher_now:
                self._references.append((teacher_now, self.n_finished))
        if due:
            self._log_references()
        if log_front:
            self.tracker.log_front(self.front.all(), self.n_finished, self.objectives, self.teacher_metrics, plot)
        return True

    def _log_references(self) -> None:
        if self._references:
            self.tracker.log_reference_latencies(self._references)
            self._references = []
        if self._taus:
            self.tracker.log_parent_metrics("predictor_kendall_tau", self._taus)
            self._taus = []

    def _predictor_checked(self, frozen: optuna.trial.FrozenTrial) -> None:
        """A trained trial the predictor judged before training: tau over every such trial so far."""
        predicted = prediction_of(frozen)
        if self.screen is None or not predicted or predicted.get("accuracy") is None:
            return
        tau = self.screen.kendall_tau()
        if tau is not None:
            self._taus.append((tau, len(self.screen.predictor.pairs)))
            self.progress.tau = tau


def _outcome(frozen: optuna.trial.FrozenTrial) -> str:
    if frozen.state == TrialState.PRUNED and screened_by_predictor(frozen):
        return "screened"  # by the accuracy predictor: a proposal judged, not a budgeted candidate
    return {TrialState.COMPLETE: "done", TrialState.PRUNED: "stopped"}.get(frozen.state, "failed")


def _trial_summary(frozen: optuna.trial.FrozenTrial) -> str:
    if frozen.state == TrialState.COMPLETE:
        return _summary(measurements(frozen))
    if frozen.state == TrialState.PRUNED:
        epoch = pruned_at(frozen)
        vector = rung_vectors(frozen).get(epoch, {})
        predicted = prediction_of(frozen) or {}
        if epoch == SCREEN_EPOCH and predicted.get("trained") is False:
            return (f"screened before training: predicted val acc {predicted['accuracy']:.4f} "
                    f"± {predicted['spread']:.4f} at {vector.get('size_bytes', float('nan')):,.0f} B, "
                    f"{vector.get('latency_ms', float('nan')) * 1000:.1f} µs: too little to add to the front")
        if epoch == SCREEN_EPOCH:
            unrun = [k.split("@", 1)[1] for k, v in vector.items() if k.startswith("latency_ms@") and v == float("inf")]
            return (f"stopped before training: compressed it would be {vector.get('size_bytes', float('nan')):,.0f} B, "
                    f"{vector.get('latency_ms', float('nan')) * 1000:.1f} µs"
                    + (f", and {', '.join(unrun)} cannot run it" if unrun else "") + " (beyond the study's limits)")
        return f"stopped early at epoch {epoch} (val acc {vector.get('accuracy', float('nan')):.4f} there: dominated at its rung)"
    return frozen.user_attrs.get(ERROR_ATTR, "")


def _summary(m: dict[str, Any]) -> str:
    return (f"val acc {m['accuracy']:.4f}, test acc {m['test_accuracy']:.4f}, {m['size_bytes']:,} B, "
            f"{m['latency_ms'] * 1000:.1f} µs, {m.get('kernels', '')}")

"""The driver's records of a running study: MLflow runs and curves, the front, progress, drift.

Called by :class:`~automl.search.tune_callback.WorkerPoolCallback` after the candidates are
handed out, so none of it delays a worker. Drift: every candidate is timed interleaved with
the teacher, so each result carries the teacher's own figure in that window; it is logged
as the parent run's ``reference_latency_ms``, stepped by finished trials.
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
    pruned_at,
    rung_vectors,
)
from automl.study.front import finished_trials, study_points
from automl.study.pareto import normalised_hypervolume
from automl.tracking import StudyTracker

PLOT_EVERY_S = 10.0  # the front figure is re-rendered at most this often (and once at the end)


class StudyBookkeeper:
    def __init__(self, study: optuna.Study, objectives: list[tuple[str, str]], tracker: StudyTracker,
                 progress: StudyProgress, gate: Any, teacher_metrics: dict[str, float],
                 hypervolume: float, outage: TrackingOutage | None = None) -> None:
        self.study = study
        self.objectives = objectives
        self.tracker = tracker
        self.progress = progress
        self.gate = gate
        self.teacher_metrics = teacher_metrics
        self.hypervolume = hypervolume
        # MLflow calls go through it: a server outage mid-study is caught up, not fatal
        self.outage = outage or TrackingOutage(study, tracker, "", progress.note, teacher_metrics)
        self.seconds: dict[int, dict[str, float]] = {}  # driver seconds per trial (engine overhead)
        self._run_ids: dict[int, str] = {}
        self._last_plot = float("-inf")

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
            n_finished = len(finished_trials(self.study))
            points = study_points(self.study, self.objectives)
            plot = time.monotonic() - self._last_plot >= PLOT_EVERY_S
            hv = self.outage.call(lambda: self._record(frozen, points, n_finished, plot), behind=frozen.number)
            if hv is None:  # MLflow is away: the front's hypervolume, computed here
                hv = normalised_hypervolume([p.metrics for p in points if p.on_front], self.teacher_metrics,
                                            self.objectives)
            else:
                self._last_plot = time.monotonic() if plot else self._last_plot
            self.hypervolume = hv
            self.progress.trial_finished(frozen.number, _outcome(frozen), sum(p.on_front for p in points),
                                         self.hypervolume, _trial_summary(frozen))
        finally:
            ray.get(self.gate.release_shared.remote())
        self.seconds.setdefault(frozen.number, {})["mlflow_front_s"] = time.perf_counter() - start

    def _record(self, frozen: optuna.trial.FrozenTrial, points: list, n_finished: int, plot: bool) -> float:
        """The trial's MLflow run closed, the front logged; returns the hypervolume."""
        run_id = self._run_id(frozen.number)
        if run_id is not None:  # None: asked during an outage, listed behind, closed by the catch-up
            close_trial_run(self.tracker, run_id, self.study, frozen, self.teacher_metrics)
            done = frozen.state == TrialState.COMPLETE
            teacher_now = measurements(frozen).get("latency", {}).get("reference_ms") if done else None
            if teacher_now:
                self.tracker.log_reference_latency(teacher_now, n_finished)
        return self.tracker.log_front(points, n_finished, self.objectives, self.teacher_metrics, plot)


def _outcome(frozen: optuna.trial.FrozenTrial) -> str:
    return {TrialState.COMPLETE: "done", TrialState.PRUNED: "stopped"}.get(frozen.state, "failed")


def _trial_summary(frozen: optuna.trial.FrozenTrial) -> str:
    if frozen.state == TrialState.COMPLETE:
        return _summary(measurements(frozen))
    if frozen.state == TrialState.PRUNED:
        epoch = pruned_at(frozen)
        vector = rung_vectors(frozen).get(epoch, {})
        if epoch == SCREEN_EPOCH:
            return (f"stopped before training: compressed it would be {vector.get('size_bytes', float('nan')):,.0f} B, "
                    f"{vector.get('latency_ms', float('nan')) * 1000:.1f} µs (beyond the study's limits)")
        return f"stopped early at epoch {epoch} (val acc {vector.get('accuracy', float('nan')):.4f} there: dominated at its rung)"
    return frozen.user_attrs.get(ERROR_ATTR, "")


def _summary(m: dict[str, Any]) -> str:
    return (f"val acc {m['accuracy']:.4f}, test acc {m['test_accuracy']:.4f}, {m['size_bytes']:,} B, "
            f"{m['latency_ms'] * 1000:.1f} µs, {m.get('kernels', '')}")

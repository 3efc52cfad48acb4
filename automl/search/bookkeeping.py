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

from automl.search.front import WORKER_ATTR, finished_trials, measurements, study_points
from automl.search.progress import StudyProgress
from automl.tracking import StudyTracker

PLOT_EVERY_S = 10.0  # the front figure is re-rendered at most this often (and once at the end)


class StudyBookkeeper:
    def __init__(self, study: optuna.Study, objectives: list[tuple[str, str]], tracker: StudyTracker,
                 progress: StudyProgress, gate: Any, teacher_metrics: dict[str, float],
                 hypervolume: float) -> None:
        self.study = study
        self.objectives = objectives
        self.tracker = tracker
        self.progress = progress
        self.gate = gate
        self.teacher_metrics = teacher_metrics
        self.hypervolume = hypervolume
        self.seconds: dict[int, dict[str, float]] = {}  # driver seconds per trial (engine overhead)
        self._run_ids: dict[int, str] = {}
        self._last_plot = float("-inf")

    def asked(self, trial: optuna.Trial, candidate: dict[str, Any]) -> None:
        start = time.perf_counter()
        self._run_ids[trial.number] = self.tracker.start_trial(trial.number, trial.params, candidate)
        trial.set_user_attr("mlflow_run_id", self._run_ids[trial.number])
        self.progress.trial_started()
        self.seconds.setdefault(trial.number, {})["mlflow_start_s"] = time.perf_counter() - start

    def epochs(self, number: int, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            self.tracker.log_epoch(self._run_ids[number], int(row["step"]),
                                   {k: float(row[k]) for k in ("loss", "val_accuracy") if k in row})

    def told(self, frozen: optuna.trial.FrozenTrial) -> None:
        start = time.perf_counter()
        # holds the gate, so the driver's logging never overlaps a timing run
        ray.get(self.gate.acquire_shared.remote())
        try:
            run_id = frozen.user_attrs.get("mlflow_run_id")
            ok = frozen.state == TrialState.COMPLETE
            n_finished = len(finished_trials(self.study))
            worker = frozen.user_attrs.get(WORKER_ATTR)
            if ok:
                self.tracker.finish_trial(run_id, measurements(frozen), None, self.teacher_metrics, worker=worker)
                teacher_now = measurements(frozen).get("latency", {}).get("reference_ms")
                if teacher_now:
                    self.tracker.log_reference_latency(teacher_now, n_finished)
            elif run_id:
                self.tracker.finish_trial(run_id, None, frozen.user_attrs.get("error", "failed"), worker=worker)
            points = study_points(self.study, self.objectives)
            plot = time.monotonic() - self._last_plot >= PLOT_EVERY_S
            self.hypervolume = self.tracker.log_front(points, n_finished, self.objectives, self.teacher_metrics, plot)
            self._last_plot = time.monotonic() if plot else self._last_plot
            self.progress.trial_finished(frozen.number, ok, sum(p.on_front for p in points), self.hypervolume,
                                         _summary(measurements(frozen)) if ok else frozen.user_attrs.get("error", ""))
        finally:
            ray.get(self.gate.release_shared.remote())
        self.seconds.setdefault(frozen.number, {})["mlflow_front_s"] = time.perf_counter() - start


def _summary(m: dict[str, Any]) -> str:
    return (f"val acc {m['accuracy']:.4f}, test acc {m['test_accuracy']:.4f}, {m['size_bytes']:,} B, "
            f"{m['latency_ms'] * 1000:.1f} µs, {m.get('kernels', '')}")

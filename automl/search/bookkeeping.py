"""The driver's records of a running study: MLflow runs and curves, the front, progress, drift.

Called by :class:`~automl.search.tune_callback.WorkerPoolCallback` after the candidates are
handed out, so none of it delays a worker. Nothing here waits on a timing run: the teacher's
drift probe is queued on the timing worker and logged when it is done.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import optuna
import ray
from optuna.trial import TrialState

from automl.search.front import finished_trials, measurements, study_points
from automl.search.progress import StudyProgress
from automl.search.timing_gate import latency_of, start_measure
from automl.tracking import StudyTracker

PLOT_EVERY_S = 10.0  # the front figure is re-rendered at most this often (and once at the end)
TEACHER_RUNS = 200  # timed runs of the teacher, the baseline of every latency ratio
PROBE_EVERY_S = 10.0  # the teacher is re-timed (drift probe) at most this often while trials run


class StudyBookkeeper:
    def __init__(self, study: optuna.Study, objectives: list[tuple[str, str]], tracker: StudyTracker,
                 progress: StudyProgress, gate: Any, teacher_artifact: str | Path,
                 input_shape: tuple[int, ...], threads: int, teacher_metrics: dict[str, float],
                 hypervolume: float) -> None:
        self.study = study
        self.objectives = objectives
        self.tracker = tracker
        self.progress = progress
        self.gate = gate
        self.teacher_metrics = teacher_metrics
        self.hypervolume = hypervolume
        self.seconds: dict[int, dict[str, float]] = {}  # driver seconds per trial (engine overhead)
        self._probe_args = (teacher_artifact, input_shape, threads, TEACHER_RUNS)
        self._probe: tuple[ray.ObjectRef, int] | None = None
        self._last_probe = float("-inf")
        self._run_ids: dict[int, str] = {}
        self._last_plot = float("-inf")

    def time_teacher(self) -> tuple[Any, float]:
        """The teacher timed now by the timing worker (the baseline of every latency ratio)."""
        return latency_of(ray.get(start_measure(self.gate, *self._probe_args)))

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
            if ok:
                self.tracker.finish_trial(run_id, measurements(frozen), None)
            elif run_id:
                self.tracker.finish_trial(run_id, None, frozen.user_attrs.get("error", "failed"))
            points = study_points(self.study, self.objectives)
            plot = time.monotonic() - self._last_plot >= PLOT_EVERY_S
            self.hypervolume = self.tracker.log_front(points, len(finished_trials(self.study)), self.objectives,
                                                      self.teacher_metrics, plot)
            self._last_plot = time.monotonic() if plot else self._last_plot
            self.progress.trial_finished(frozen.number, ok, sum(p.on_front for p in points), self.hypervolume,
                                         _summary(measurements(frozen)) if ok else frozen.user_attrs.get("error", ""))
        finally:
            ray.get(self.gate.release_shared.remote())
        self.seconds.setdefault(frozen.number, {})["mlflow_front_s"] = time.perf_counter() - start
        self.probe_drift(block=False)

    def probe_drift(self, block: bool) -> None:
        """Log the teacher's latest re-timing if it is done, and queue the next one if it is due.

        The drift probe: the teacher re-timed while the study runs, against its idle figure.
        Each timing run pauses every trial at its next chunk boundary, so it runs at most
        every ``PROBE_EVERY_S``.
        """
        if self._probe is not None:
            ref, n_finished = self._probe
            if not block and not ray.wait([ref], timeout=0)[0]:
                return
            self.tracker.log_reference_latency(latency_of(ray.get(ref))[0].median_ms, n_finished)
            self._probe = None
        if not block and time.monotonic() - self._last_probe >= PROBE_EVERY_S:
            self._probe = start_measure(self.gate, *self._probe_args), len(finished_trials(self.study))
            self._last_probe = time.monotonic()

    def finish(self) -> None:
        """Log the last drift probe and the final front figure."""
        self.probe_drift(block=True)
        self.tracker.plot_front(study_points(self.study, self.objectives), self.teacher_metrics, self.hypervolume)


def _summary(m: dict[str, Any]) -> str:
    return (f"val acc {m['accuracy']:.4f}, test acc {m['test_accuracy']:.4f}, {m['size_bytes']:,} B, "
            f"{m['latency_ms'] * 1000:.1f} µs, {m.get('kernels', '')}")

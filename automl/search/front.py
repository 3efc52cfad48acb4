"""The Pareto front of a study, and the trials it is made of, read from its Optuna storage.

The front is the set of finished, feasible trials (every constraint satisfied, by
:func:`~automl.study.sampler.is_feasible`, the sampler's own rule) that no other feasible
trial dominates on the study's *validation* objectives. Test accuracy rides along for
reporting and is never used to rank.

Two views of latency (see :mod:`automl.search.retime`): the figure timed during the search
is what Optuna was told and what the sampler learns from; it is never rewritten. When the
study ends the front is re-timed, and those figures (study user attributes
``retimed:<trial>``) replace the search figures in every point this module returns, the
front included; the search figures stay beside them in ``extra``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from automl.result import METRICS
from automl.search.mo_asha import RUNG_ATTR
from automl.search.pareto import pareto_mask
from automl.study.sampler import is_feasible

INTERRUPTED = "interrupted: the launch that ran this trial stopped before it finished"
INTERRUPTED_ATTR = "interrupted_trials"
"""Study user attribute: numbers of the trials a stopped launch left running (failed, not counted)."""
RESULT_ATTR = "result"
"""Optuna user attribute holding a finished trial's measurements (CandidateResult fields and
timings), one attribute so that telling a result is one storage write, not one per field."""
BEHIND_ATTR = "mlflow_behind"
"""Study user attribute: trials whose MLflow records fell behind during an outage (see tracking_outage.py)."""
LATE_RUNS_ATTR = "mlflow_late_runs"
"""Study user attribute: ``{trial number: MLflow run id}`` of runs created after their trial was asked."""
WORKER_ATTR = "worker"
"""Optuna user attribute: ``{ray_node_id, host}`` of the worker that ran the trial (failed ones too)."""
RETIMED_PREFIX = "retimed:"
"""Study user attribute ``retimed:<trial>``: the trial's final re-timing (see retime.py)."""
TEACHER_LATENCY_ATTR = "teacher_latency"
"""Study user attribute: the teacher's latency, timed once per study: the study's one teacher
figure, the baseline every ``latency_ms`` is a ratio of."""


def mlflow_run_id(trial: optuna.trial.FrozenTrial, late: dict[str, str] | None = None) -> str | None:
    """The trial's MLflow child run (``late``: the study's ``mlflow_late_runs``)."""
    return trial.user_attrs.get("mlflow_run_id") or (late or {}).get(str(trial.number))


def measurements(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """What the candidate of a finished trial measured (empty for a failed trial)."""
    return trial.user_attrs.get(RESULT_ATTR, {})


@dataclass(frozen=True)
class TrialPoint:
    trial: int
    params: dict[str, Any]
    metrics: dict[str, float]  # accuracy, test_accuracy, size_bytes, latency_ms (final view), params_nonzero, macs
    feasible: bool
    on_front: bool
    extra: dict[str, Any] = field(default_factory=dict)  # kernels, artifact path, latency, MLflow run id, ...

    @property
    def latency_ratio(self) -> float | None:
        """Latency over the teacher's, timed interleaved with it (re-timed if it was)."""
        return self.extra.get("latency_ratio")

    def summary(self) -> dict[str, Any]:
        """The object ``automl pareto --json`` prints."""
        return {"trial": self.trial, "params": self.params,
                **{k: self.metrics[k] for k in ("accuracy", "test_accuracy", "size_bytes", "latency_ms")},
                "latency_ratio": self.latency_ratio, "retimed": self.extra.get("retimed") is not None,
                "search_latency_ms": self.extra.get("search_latency_ms"),
                "search_latency_ratio": self.extra.get("search_latency_ratio")}


def retimed_figures(study: optuna.Study) -> dict[int, dict[str, Any]]:
    """Trial number -> its final re-timing, for the trials that have one."""
    return {int(k[len(RETIMED_PREFIX):]): v for k, v in study.user_attrs.items() if k.startswith(RETIMED_PREFIX)}


def study_points(study: optuna.Study, objectives: list[tuple[str, str]]) -> list[TrialPoint]:
    """Every completed trial with its metrics (re-timed latency where there is one),
    feasibility and front membership."""
    done = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    retimed = retimed_figures(study)
    late = study.user_attrs.get(LATE_RUNS_ATTR, {})
    points: list[tuple[optuna.trial.FrozenTrial, dict[str, float], dict[str, Any]]] = []
    for t in done:
        m = measurements(t)
        metrics = {k: m[k] for k in METRICS}
        again = retimed.get(t.number)
        if again is not None:
            metrics["latency_ms"] = again["latency_ms"]
        extra = {**{k: m.get(k) for k in ("kernels", "artifact_path", "latency", "encodings")},
                 "mlflow_run_id": mlflow_run_id(t, late), "retimed": again,
                 "search_latency_ms": m["latency_ms"], "search_latency_ratio": m.get("latency_ratio"),
                 "latency_ratio": again["ratio"] if again is not None else m.get("latency_ratio")}
        points.append((t, metrics, extra))
    feasible = [is_feasible(t) for t, _, _ in points]
    values = np.array([[float(metrics[name]) for name, _ in objectives] for _, metrics, _ in points],
                      dtype=float).reshape(len(points), len(objectives))
    mask = np.zeros(len(points), dtype=bool)
    idx = [i for i, ok in enumerate(feasible) if ok]
    if idx:
        mask[idx] = pareto_mask(values[idx], [d for _, d in objectives])
    return [TrialPoint(trial=t.number, params=dict(t.params), metrics=metrics, feasible=ok, on_front=bool(on),
                       extra=extra)
            for (t, metrics, extra), ok, on in zip(points, feasible, mask)]


def pareto_front(study: optuna.Study, objectives: list[tuple[str, str]]) -> list[TrialPoint]:
    """The front, sorted by validation accuracy (best first)."""
    front = [p for p in study_points(study, objectives) if p.on_front]
    return sorted(front, key=lambda p: (-p.metrics["accuracy"], p.metrics["size_bytes"]))


def finished_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """Complete, pruned (stopped early) and failed trials: what the budget has spent. Trials cut
    off by an earlier stopped launch do not count."""
    cut = set(study.user_attrs.get(INTERRUPTED_ATTR, []))
    return [t for t in study.get_trials(deepcopy=False)
            if t.state in (TrialState.COMPLETE, TrialState.PRUNED) or (t.state == TrialState.FAIL and t.number not in cut)]


def rung_vectors(trial: optuna.trial.FrozenTrial) -> dict[int, dict[str, float]]:
    """The trial's early-stopping rung reports: epoch -> objective vector (and ``go_on``)."""
    return {int(k[len(RUNG_ATTR):]): v for k, v in trial.user_attrs.items() if k.startswith(RUNG_ATTR)}


def trial_error(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> str | None:
    """Why a trial failed (``None`` if it did not)."""
    if trial.number in study.user_attrs.get(INTERRUPTED_ATTR, []):
        return INTERRUPTED
    return trial.user_attrs.get("error")

"""The Pareto front of a study, and the trials it is made of, read from its Optuna storage.

The front is the set of finished, feasible trials (every constraint satisfied) that no
other feasible trial dominates on the study's *validation* objectives. Test accuracy rides
along for reporting and is never used to rank.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from automl.result import METRICS
from automl.search.pareto import pareto_mask
from automl.study.sampler import CONSTRAINTS_ATTR

INTERRUPTED = "interrupted: the launch that ran this trial stopped before it finished"
RESULT_ATTR = "result"
"""Optuna user attribute holding a finished trial's measurements (CandidateResult fields and
timings), one attribute so that telling a result is one storage write, not one per field."""


def measurements(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """What the candidate of a finished trial measured (empty for a failed trial)."""
    return trial.user_attrs.get(RESULT_ATTR, {})


@dataclass(frozen=True)
class TrialPoint:
    trial: int
    params: dict[str, Any]
    metrics: dict[str, float]  # accuracy, test_accuracy, size_bytes, latency_ms, params_nonzero, macs
    feasible: bool
    on_front: bool
    extra: dict[str, Any] = field(default_factory=dict)  # kernels, artifact path, latency, MLflow run id

    def summary(self) -> dict[str, Any]:
        """The object ``automl pareto --json`` prints."""
        return {"trial": self.trial, "params": self.params,
                **{k: self.metrics[k] for k in ("accuracy", "test_accuracy", "size_bytes", "latency_ms")}}


def study_points(study: optuna.Study, objectives: list[tuple[str, str]]) -> list[TrialPoint]:
    """Every completed trial with its metrics, feasibility and front membership."""
    done = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    feasible = [all(c <= 0 for c in t.user_attrs.get(CONSTRAINTS_ATTR, [])) for t in done]
    values = np.array([[float(measurements(t)[name]) for name, _ in objectives] for t in done],
                      dtype=float).reshape(len(done), len(objectives))
    mask = np.zeros(len(done), dtype=bool)
    idx = [i for i, ok in enumerate(feasible) if ok]
    if idx:
        mask[idx] = pareto_mask(values[idx], [d for _, d in objectives])
    return [TrialPoint(trial=t.number, params=dict(t.params),
                       metrics={k: measurements(t)[k] for k in METRICS},
                       feasible=ok, on_front=bool(m),
                       extra={**{k: measurements(t).get(k) for k in ("kernels", "artifact_path", "latency", "encodings")},
                              "mlflow_run_id": t.user_attrs.get("mlflow_run_id")})
            for t, ok, m in zip(done, feasible, mask)]


def pareto_front(study: optuna.Study, objectives: list[tuple[str, str]]) -> list[TrialPoint]:
    """The front, sorted by validation accuracy (best first)."""
    front = [p for p in study_points(study, objectives) if p.on_front]
    return sorted(front, key=lambda p: (-p.metrics["accuracy"], p.metrics["size_bytes"]))


def finished_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """Complete and failed trials; trials cut off by an earlier stopped launch do not count."""
    return [t for t in study.get_trials(deepcopy=False)
            if t.state == TrialState.COMPLETE
            or (t.state == TrialState.FAIL and t.user_attrs.get("error") != INTERRUPTED)]

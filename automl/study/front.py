"""The Pareto front of a study, and the trials it is made of, read from its Optuna storage.

The front is the set of finished, feasible trials (every constraint satisfied, by
:func:`~automl.study.sampler.is_feasible`, the sampler's own rule) that no other feasible
trial dominates on the study's *validation* objectives. Test accuracy rides along for
reporting and is never used to rank. A repeat answered from an earlier trial's result
(``reused_from``) is a point but never on a front: the trial it repeats stands there. A
warm-start prior (``warm_start_from``, study/warm_start.py) is not a point of this study at all.

Two views of latency (see :mod:`automl.study.retime`): the figure timed during the search
is what Optuna was told and what the sampler learns from; it is never rewritten. When the
study ends the front is re-timed, and those figures (study user attributes
``retimed:<trial>``) replace the search figures in every point this module returns, the
front included; the search figures stay beside them in ``extra``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from automl.candidate.result import TARGET_METRICS, metric_values
from automl.study.attrs import (
    interrupted_numbers,
    late_runs,
    measurements,
    mlflow_run_id,
    prior_of,
    pruned_at,
    retimed_figures,
    reused_from,
    screened_by_predictor,
)
from automl.study.pareto import pareto_mask
from automl.study.sampler import is_feasible


@dataclass(frozen=True)
class TrialPoint:
    trial: int
    params: dict[str, Any]
    metrics: dict[str, float]  # accuracy, test_accuracy, size_bytes, latency_ms (final view), params_nonzero, macs
    feasible: bool
    on_front: bool
    extra: dict[str, Any] = field(default_factory=dict)  # kernels, artifact path, latency, MLflow run id, ...

    @property
    def eligible(self) -> bool:
        """May stand on a front: feasible, and not a repeat answered from another trial's result
        (that trial stands for both: one point, one run, one artifact to export)."""
        return self.feasible and self.extra.get("reused_from") is None

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
                "search_latency_ratio": self.extra.get("search_latency_ratio"), "kernels": self.extra.get("kernels")}


def study_points(study: optuna.Study, objectives: list[tuple[str, str]]) -> list[TrialPoint]:
    """Every completed trial with its metrics (re-timed latency where there is one),
    feasibility and front membership."""
    done = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE and prior_of(t) is None]
    retimed = retimed_figures(study)
    late = late_runs(study)
    points = [trial_point(t, retimed.get(t.number), late) for t in done]
    values = np.array([[float(p.metrics.get(name, np.nan)) for name, _ in objectives] for p in points],
                      dtype=float).reshape(len(points), len(objectives))
    mask = np.zeros(len(points), dtype=bool)
    idx = [i for i, p in enumerate(points) if p.eligible and np.isfinite(values[i]).all()]  # NaN: a target
    # that could not run the candidate
    if idx:
        mask[idx] = pareto_mask(values[idx], [d for _, d in objectives])
    return [dataclasses.replace(p, on_front=bool(on)) for p, on in zip(points, mask)]


def trial_point(t: optuna.trial.FrozenTrial, again: dict[str, Any] | None = None,
                late: dict[str, str] | None = None) -> TrialPoint:
    """A completed trial as a point (``again``: its re-timed figures, if any), not on the front."""
    m = measurements(t)
    metrics = metric_values(m)
    if again is not None:
        metrics["latency_ms"] = again["latency_ms"]
        for target, figure in again.get("targets", {}).items():
            if figure.get("latency_ms") is not None:
                metrics[f"latency_ms@{target}"] = figure["latency_ms"]
    extra = {**{k: m.get(k) for k in ("kernels", "artifact_path", "latency", "encodings", "targets")},
             "mlflow_run_id": mlflow_run_id(t, late or {}), "retimed": again, "reused_from": reused_from(t),
             "search_latency_ms": m.get("latency_ms"), "search_latency_ratio": m.get("latency_ratio"),
             "latency_ratio": again["ratio"] if again is not None else m.get("latency_ratio")}
    return TrialPoint(trial=t.number, params=dict(t.params), metrics=metrics, feasible=is_feasible(t),
                      on_front=False, extra=extra)


class IncrementalFront:
    """The front kept as trials finish: a new point joins it (dropping what it dominates) or is
    dominated, O(front) per point instead of O(trials) (the same rule as :func:`pareto_mask`:
    equal points do not dominate each other)."""

    def __init__(self, points: list[TrialPoint], objectives: list[tuple[str, str]]) -> None:
        self._signs = np.array([-1.0 if d == "maximize" else 1.0 for _, d in objectives])
        self._names = [name for name, _ in objectives]
        self.points: dict[int, TrialPoint] = {p.trial: p for p in points}
        self.front: set[int] = {p.trial for p in points if p.on_front}
        self._losses = {n: self._loss(self.points[n]) for n in self.front}

    def _loss(self, p: TrialPoint) -> np.ndarray:
        return self._signs * np.array([float(p.metrics.get(n, np.nan)) for n in self._names])

    def add(self, point: TrialPoint) -> bool:
        """Add a finished trial's point; returns whether the front changed."""
        loss = self._loss(point)
        joins = point.eligible and not np.isnan(loss).any() and not any(
            _dominates(self._losses[n], loss) for n in self.front)
        self.points[point.trial] = dataclasses.replace(point, on_front=joins)
        if not joins:
            return False
        self._losses[point.trial] = loss
        for n in [n for n in self.front if _dominates(loss, self._losses[n])]:
            self.front.discard(n)
            del self._losses[n]
            self.points[n] = dataclasses.replace(self.points[n], on_front=False)
        self.front.add(point.trial)
        return True

    def all(self) -> list[TrialPoint]:
        return list(self.points.values())


def _dominates(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.all(a <= b) and np.any(a < b))


def front_trials(points: list[TrialPoint], objectives: list[tuple[str, str]]) -> set[int]:
    """The trials of ``points`` on the front of ``objectives`` (eligible, finite, non-dominated)."""
    keep = [p for p in points if p.eligible]
    values = np.array([[float(p.metrics.get(n, np.nan)) for n, _ in objectives] for p in keep],
                      dtype=float).reshape(len(keep), len(objectives))
    idx = [i for i in range(len(keep)) if np.isfinite(values[i]).all()]
    if not idx:
        return set()
    mask = pareto_mask(values[idx], [d for _, d in objectives])
    return {keep[i].trial for i, on in zip(idx, mask) if on}


def objectives_on(objectives: list[tuple[str, str]], target: str) -> list[tuple[str, str]]:
    """The study's objectives seen on ``target``: accuracy and latency (named on any target or
    none) become that target's, ``latency_ms@<target>``; the others stay."""
    return [(f"{name.split('@', 1)[0]}@{target}" if name.split("@", 1)[0] in TARGET_METRICS else name, d)
            for name, d in objectives]


def pareto_front(study: optuna.Study, objectives: list[tuple[str, str]]) -> list[TrialPoint]:
    """The front, sorted by validation accuracy (best first)."""
    front = [p for p in study_points(study, objectives) if p.on_front]
    acc = next((name for name, _ in objectives if name.split("@", 1)[0] == "accuracy"), "accuracy")
    return sorted(front, key=lambda p: (-p.metrics[acc], p.metrics["size_bytes"]))


def finished_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """Complete, pruned (stopped early) and failed trials: what the budget has spent. Trials cut
    off by an earlier stopped launch, warm-start priors, and proposals the accuracy predictor
    screened do not count."""
    cut = interrupted_numbers(study)
    return [t for t in study.get_trials(deepcopy=False)
            if (t.state == TrialState.COMPLETE and prior_of(t) is None)
            or (t.state == TrialState.PRUNED and not screened_by_predictor(t))
            or (t.state == TrialState.FAIL and t.number not in cut)]


def empty_front_reason(study: optuna.Study) -> str:
    """One line saying why a study has no front: how many trials were stopped early (before
    training, or at a rung), failed, or finished but missed a constraint (and which)."""
    finished = finished_trials(study)
    done = [t for t in finished if t.state == TrialState.COMPLETE]
    stopped = [t for t in finished if t.state == TrialState.PRUNED]
    screened = sum(pruned_at(t) == 0 for t in stopped)
    failed = sum(t.state == TrialState.FAIL for t in finished)
    missed: dict[str, int] = {}
    for t in done:
        for name, value in t.constraints.items():
            if value > 0:
                missed[name] = missed.get(name, 0) + 1
    infeasible = sum(not is_feasible(t) for t in done)
    parts = [f"{len(stopped)} stopped early ({screened} before training, {len(stopped) - screened} at a rung)",
             f"{failed} failed",
             f"{infeasible} finished but missed a constraint"
             + (f" ({', '.join(f'{n}: {k}' for n, k in sorted(missed.items()))})" if missed else "")]
    return (f"no front: of {len(finished)} finished trials, " + ", ".join(parts)
            + "; run more trials (--trials) or relax the constraints")

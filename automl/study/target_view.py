"""A study seen on one deployment target: that target's front and each point's figures there.

Every candidate is scored and timed on each of the study's targets (:mod:`automl.measure.targets`);
the study's front is chosen on its objectives (plain accuracy and latency: the primary target's),
and each target also has its own front, on the same objectives seen on that target
(:func:`~automl.study.front.objectives_on`). A point can lead on one target and be dominated on
another: int8 kernels, sub-8-bit decodes and sparse weights are run differently by each runtime.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import optuna

from automl.candidate.result import CandidateResult
from automl.study.front import TrialPoint, objectives_on, pareto_front


@dataclass(frozen=True)
class OnTarget:
    """One point's figures on one target (the final re-timing where there is one)."""

    accuracy: float | None
    test_accuracy: float | None
    latency_ms: float | None
    ratio: float | None  # latency over the teacher's on the same target
    ratio_range: tuple[float, float] | None  # the re-timing's lowest and highest per-process ratio
    kernels: str | None
    error: str | None  # the target could not run it (its runtime's error)
    retimed: bool


def point_on(point: TrialPoint, target: str) -> OnTarget:
    on: dict[str, Any] = (point.extra.get("targets") or {}).get(target) or {}
    again = ((point.extra.get("retimed") or {}).get("targets") or {}).get(target)
    m = point.metrics
    return OnTarget(accuracy=m.get(f"accuracy@{target}", on.get("accuracy")),
                    test_accuracy=m.get(f"test_accuracy@{target}", on.get("test_accuracy")),
                    latency_ms=m.get(f"latency_ms@{target}", on.get("latency_ms")),
                    ratio=again["ratio"] if again else on.get("latency_ratio"),
                    ratio_range=(again["ratio_p25"], again["ratio_p75"]) if again and "ratio_p25" in again else None,
                    kernels=on.get("kernels"), error=on.get("error"), retimed=again is not None)


def teacher_on(teacher: CandidateResult, target: str) -> OnTarget:
    on = teacher.targets.get(target)
    if on is None:
        raise KeyError(f"the study does not measure target {target!r}")
    return OnTarget(accuracy=on.accuracy, test_accuracy=on.test_accuracy, latency_ms=on.latency_ms, ratio=1.0,
                    ratio_range=None, kernels=on.kernels, error=on.error, retimed=True)


def target_front(study: optuna.Study, objectives: list[tuple[str, str]], target: str) -> list[TrialPoint]:
    """``target``'s own front (the study's objectives seen on it), best accuracy there first."""
    return pareto_front(study, objectives_on(objectives, target))


def rank_changes(study: optuna.Study, objectives: list[tuple[str, str]], targets: list[str]) -> dict[int, dict[str, bool]]:
    """Trial -> {target: on that target's front} for the trials on some target's front but not on all."""
    fronts = {t: {p.trial for p in target_front(study, objectives, t)} for t in targets}
    every = set().union(*fronts.values()) if fronts else set()
    return {n: {t: n in f for t, f in fronts.items()} for n in sorted(every)
            if not all(n in f for f in fronts.values())}

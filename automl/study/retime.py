"""The final view of latency: the front re-timed with the teacher, interleaved, in one process.

How the sampler's view and the final view relate:

- **Sampler's view.** During the search each candidate is timed on the study's timing worker,
  interleaved with the teacher (a window of a few hundred milliseconds, see
  :data:`~automl.measure.latency.LatencySettings`); its ``latency_ms`` is that ratio times
  the study's one teacher figure. This is what Optuna was told; it is never rewritten, so
  the sampler's history stays what it learnt from.
- **Final view.** When a study ends (and on ``automl pareto NAME --retime``) every front point
  and the teacher are timed again together, in one process, with longer windows
  (:data:`~automl.measure.latency.FINAL`). Those figures are stored as study user attributes
  (``retimed:<trial>``) and replace the search figures in the front, its table, ``front.json``,
  the MLflow metrics and the hypervolume; the search figures are kept beside them.
  A re-timed point can turn out slower and drop off the front, letting a point in that it
  had dominated; such a newcomer is re-timed too, until every point on the front carries a
  final figure (at most :data:`MAX_PASSES` passes).
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import optuna

from automl.measure.latency import FINAL, LatencySettings, measure_interleaved
from automl.measure.targets import DEFAULT_TARGET, Target
from automl.study.attrs import RETIMED_PREFIX
from automl.study.front import TrialPoint, objectives_on, study_points

MAX_PASSES = 10


def retime_front(study: optuna.Study, objectives: list[tuple[str, str]], teacher_artifact: str | Path,
                 teacher_ms: float | Mapping[str, float], input_shape: Sequence[int],
                 artifact_of: Callable[[TrialPoint], Path], *, threads: int = 1, fresh: bool = False,
                 settings: LatencySettings = FINAL, on_pass: Callable[[int], None] | None = None,
                 measure: Callable[..., list] = measure_interleaved,
                 targets: Sequence[Target] = (DEFAULT_TARGET,)) -> list[TrialPoint]:
    """Re-time the fronts until every point on them has a final figure on every target; returns
    the final points of the study's front.

    The fronts are the study's (its objectives) and each target's (:func:`objectives_on`).
    ``teacher_ms`` is the study's one teacher figure per target name (a number: the primary
    target's); a point's ``latency_ms`` there is its ratio times it. ``artifact_of`` gives a point's
    artifact file. With ``fresh`` every front point is re-timed now, otherwise only those without
    a final figure yet. ``on_pass`` is told how many points each pass times (for progress). A
    target that could not run a point during the search is not asked again.
    """
    settings = replace(settings, threads=threads)
    baseline = dict(teacher_ms) if isinstance(teacher_ms, Mapping) else {targets[0].name: float(teacher_ms)}
    views = [objectives] + [v for v in (objectives_on(objectives, t.name) for t in targets) if v != objectives]
    timed: set[int] = set()
    for _ in range(MAX_PASSES):
        fronts = {p.trial: p for view in views for p in study_points(study, view) if p.on_front}
        todo = [p for n, p in sorted(fronts.items()) if n not in timed
                and (fresh or not _complete(p.extra.get("retimed"), targets))]
        if not todo:
            break
        if on_pass is not None:
            on_pass(len(todo))
        figures: dict[int, dict[str, Any]] = {p.trial: {} for p in todo}
        for target in targets:
            runnable = [p for p in todo if _runs_on(p, target.name)]
            if not runnable:
                continue
            results = measure([teacher_artifact, *(artifact_of(p) for p in runnable)], input_shape, settings, target)
            at = time.strftime("%Y-%m-%dT%H:%M:%S%z")
            for p, r in zip(runnable, results[1:]):
                r = r.scaled(baseline[target.name])
                figures[p.trial][target.name] = {
                    "latency_ms": r.latency_ms, "ratio": r.ratio, "ratio_p25": r.ratio_p25, "ratio_p75": r.ratio_p75,
                    "median_ms": r.median_ms, "teacher_ms": r.reference_ms, "rounds": r.rounds,
                    "runs_per_block": r.runs_per_block, "models_interleaved": len(results),
                    "runtime": r.runtime, "threads": r.threads, "at": at}
        for n, on in figures.items():
            study.set_user_attr(f"{RETIMED_PREFIX}{n}", {**on.get(targets[0].name, {}), "targets": on})
            timed.add(n)
    return study_points(study, objectives)


def _complete(again: dict[str, Any] | None, targets: Sequence[Target]) -> bool:
    """Whether a point's final re-timing covers every target (a study from before targets: ort-cpu's)."""
    if again is None:
        return False
    have = again.get("targets", {DEFAULT_TARGET.name: again})
    return all(t.name in have for t in targets)


def _runs_on(point: TrialPoint, target: str) -> bool:
    on = (point.extra.get("targets") or {}).get(target)
    return on is None or not on.get("error")  # None: a trial measured before targets (ort-cpu only)

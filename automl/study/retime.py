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
from typing import Callable, Sequence

import optuna

from automl.measure.latency import FINAL, LatencySettings, measure_interleaved
from automl.study.attrs import RETIMED_PREFIX
from automl.study.front import TrialPoint, study_points

MAX_PASSES = 10


def retime_front(study: optuna.Study, objectives: list[tuple[str, str]], teacher_artifact: str | Path,
                 teacher_ms: float, input_shape: Sequence[int], artifact_of: Callable[[TrialPoint], Path], *,
                 threads: int = 1, fresh: bool = False, settings: LatencySettings = FINAL,
                 on_pass: Callable[[int], None] | None = None,
                 measure: Callable[..., list] = measure_interleaved) -> list[TrialPoint]:
    """Re-time the front until every point on it has a final figure; returns the final points.

    ``teacher_ms`` is the study's one teacher figure (a point's ``latency_ms`` is its ratio
    times it). ``artifact_of`` gives a point's artifact file. With ``fresh`` every front point
    is re-timed now, otherwise only those without a final figure yet. ``on_pass`` is told how
    many points each pass times (for progress).
    """
    settings = replace(settings, threads=threads)
    timed: set[int] = set()
    points = study_points(study, objectives)
    for _ in range(MAX_PASSES):
        todo = [p for p in points if p.on_front and p.trial not in timed
                and (fresh or p.extra.get("retimed") is None)]
        if not todo:
            break
        if on_pass is not None:
            on_pass(len(todo))
        results = measure([teacher_artifact, *(artifact_of(p) for p in todo)], input_shape, settings)
        at = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        for p, r in zip(todo, results[1:]):
            r = r.scaled(teacher_ms)
            study.set_user_attr(f"{RETIMED_PREFIX}{p.trial}", {
                "latency_ms": r.latency_ms, "ratio": r.ratio, "ratio_p25": r.ratio_p25, "ratio_p75": r.ratio_p75,
                "median_ms": r.median_ms, "teacher_ms": r.reference_ms, "rounds": r.rounds,
                "runs_per_block": r.runs_per_block, "models_interleaved": len(results),
                "runtime": r.runtime, "threads": r.threads, "at": at})
            timed.add(p.trial)
        points = study_points(study, objectives)
    return points

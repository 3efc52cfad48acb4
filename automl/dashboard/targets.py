"""A study with several deployment targets, seen per target: each target's front (the study's
objectives on that target, :func:`~automl.study.front.objectives_on`), and the trials on one
target's front but off another's."""

from __future__ import annotations

import math
from dataclasses import dataclass

import optuna

from automl.candidate.result import TargetResult
from automl.dashboard.candidate import Candidate
from automl.study.front import objectives_on, study_points
from automl.study.record import StudyRecord
from automl.study.target_view import point_on


@dataclass(frozen=True)
class TargetPoint:
    """One candidate on one target."""

    candidate: Candidate
    accuracy: float  # validation accuracy on the target (NaN: the target could not run it)
    latency_ratio: float  # latency on the target over the teacher's there (re-timed if it was)
    on_front: bool  # on this target's front
    kernels: str | None
    error: str | None  # why the target could not run it


@dataclass(frozen=True)
class TargetView:
    name: str
    teacher_accuracy: float | None
    points: list[TargetPoint]

    @property
    def front(self) -> set[int]:
        return {p.candidate.point.trial for p in self.points if p.on_front}


@dataclass(frozen=True)
class FrontSplit:
    """A trial on some targets' fronts and off others' (``off``: target -> its error, None if dominated)."""

    trial: int
    on: tuple[str, ...]
    off: dict[str, str | None]

    def line(self) -> str:
        """E.g. "trial 12: on the front on ort-cpu, dominated on openvino-cpu"."""
        why = [f"dominated on {t}" if err is None else f"could not run on {t} ({err})" for t, err in self.off.items()]
        return f"trial {self.trial}: on the front on {', '.join(self.on)}, {', '.join(why)}"


def target_views(record: StudyRecord, study: optuna.Study, candidates: list[Candidate]) -> list[TargetView]:
    """One view per target, in the study's order; none for a study with one target."""
    targets = record.target_list
    if len(targets) < 2:
        return []
    views = []
    for target in targets:
        front = {p.trial for p in study_points(study, objectives_on(record.objectives, target.name)) if p.on_front}
        teacher = record.teacher.targets.get(target.name)
        views.append(TargetView(target.name, teacher.accuracy if teacher else None,
                                [_point(c, target.name, teacher, c.point.trial in front) for c in candidates]))
    return views


def _point(c: Candidate, target: str, teacher: TargetResult | None, on_front: bool) -> TargetPoint:
    on = point_on(c.point, target)
    ratio = on.ratio
    if ratio is None:
        teacher_ms = teacher.latency_ms if teacher and teacher.latency_ms else math.nan
        ratio = (on.latency_ms if on.latency_ms is not None else math.nan) / teacher_ms
    return TargetPoint(candidate=c, accuracy=math.nan if on.accuracy is None else on.accuracy,
                       latency_ratio=float(ratio), on_front=on_front, kernels=on.kernels, error=on.error)


def front_splits(views: list[TargetView]) -> list[FrontSplit]:
    """The trials on at least one target's front and off at least one other's, by trial number."""
    errors = {v.name: {p.candidate.point.trial: p.error for p in v.points} for v in views}
    splits = []
    for n in sorted(set().union(*(v.front for v in views))):
        on = tuple(v.name for v in views if n in v.front)
        off = {v.name: errors[v.name][n] for v in views if n not in v.front}
        if off:
            splits.append(FrontSplit(n, on, off))
    return splits

"""The study's teacher on every deployment target: its one latency figure per target (the baseline
of every ``latency_ms`` there) and its accuracy run by that target's runtime.

Timed once, at the study's first launch (a target added at a later launch is timed then), and
read back afterwards from the study's ``teacher_latency`` attribute, so every launch, the final
re-timing, ``verify`` and ``export`` use the same figure per target.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable

import optuna

from automl.candidate.result import CandidateResult, TargetResult
from automl.config import ConfigError
from automl.data import DatasetSplits
from automl.measure import latency
from automl.measure.runtimes import TargetUnavailable, runtime_for, target_accuracy
from automl.measure.targets import DEFAULT_TARGET, Target
from automl.study.attrs import TEACHER_LATENCY_ATTR, teacher_on_targets


def study_teacher_figures(study: optuna.Study, teacher: CandidateResult, targets: tuple[Target, ...],
                          gates: tuple[Any, ...], splits: DatasetSplits, threads: int) -> CandidateResult:
    """The teacher's result with the study's figures on every target (``targets[0]``'s in its
    top-level fields): see :func:`teacher_figures`."""
    known = teacher_figures(study, teacher.artifact_path, targets, gates, tuple(splits.input_shape), threads,
                            cached=teacher, score=lambda target: _scored(target, teacher, splits, threads))
    on = {t.name: _target_result(known[t.name]) for t in targets}
    first, primary = on[targets[0].name], known[targets[0].name]
    return dataclasses.replace(teacher, latency=primary, latency_ms=primary["latency_ms"], accuracy=first.accuracy,
                               test_accuracy=first.test_accuracy, targets=on)


def teacher_figures(study: optuna.Study, artifact_path: str, targets: tuple[Target, ...], gates: tuple[Any, ...],
                    input_shape: tuple[int, ...], threads: int, cached: CandidateResult | None = None,
                    score: Callable[[Target], dict[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    """Target name -> the study's teacher figure there (with ``score(target)``'s accuracy and
    kernels): read back, or timed now for a target that has none yet and stored. With ``gates``
    (the timing workers) the first one times it, and every one gets the teacher as its reference
    with the figure per target; without, a study that never ran a trial here takes the teacher
    cache's own figure (``cached``) for ``ort-cpu`` and times other targets in this process."""
    import ray

    from automl.search.timing_gate import ISOLATION, gate_measure

    known = teacher_on_targets(study)
    artifact = Path(artifact_path).read_bytes() if gates else b""
    missing = [t for t in targets if t.name not in known]
    if gates and missing:
        ray.get(gates[0].set_reference.remote(artifact, None))
    settings = dataclasses.replace(latency.FINAL, threads=threads)  # read now: tests shorten it
    for target in targets:
        try:
            if target in missing:
                if gates:
                    lat, _ = gate_measure(gates[0], None, input_shape, settings, target)
                    known[target.name] = {**dataclasses.asdict(lat), "timing_isolation": ISOLATION,
                                          "source": "the study's timing worker, at its first launch"}
                elif target == DEFAULT_TARGET and cached is not None and cached.latency:
                    known[target.name] = {**cached.latency, "latency_ms": cached.latency_ms,
                                          "source": "the teacher cache"}
                else:
                    lat = latency.measure_latency(artifact_path, input_shape, settings, target)
                    known[target.name] = {**dataclasses.asdict(lat), "source": "timed in the driver's process"}
            if score is not None and "accuracy" not in known[target.name]:  # (a study from before targets)
                known[target.name].update(score(target))
        except TargetUnavailable as err:
            raise ConfigError("targets", f"target {target.name} cannot run the teacher ({err}); "
                                         "drop it from the study's targets") from None
    if missing:
        study.set_user_attr(TEACHER_LATENCY_ATTR, {**known[targets[0].name], "targets": known})
    ray.get([gate.set_reference.remote(artifact, {n: e["latency_ms"] for n, e in known.items()}) for gate in gates])
    return known


def _scored(target: Target, teacher: CandidateResult, splits: DatasetSplits, threads: int) -> dict[str, Any]:
    runtime = runtime_for(target, threads)
    return {"accuracy": target_accuracy(runtime, teacher.artifact_path, splits.x_val, splits.y_val),
            "test_accuracy": target_accuracy(runtime, teacher.artifact_path, splits.x_test, splits.y_test),
            "kernels": runtime.kernels(teacher.artifact_path) or teacher.kernels}


def _target_result(entry: dict[str, Any]) -> TargetResult:
    return TargetResult(accuracy=entry.get("accuracy"), test_accuracy=entry.get("test_accuracy"),
                        latency_ms=entry["latency_ms"], latency_ratio=1.0, kernels=entry.get("kernels"),
                        runtime=entry.get("runtime"), latency={k: v for k, v in entry.items()
                                                               if k not in ("accuracy", "test_accuracy", "kernels")})

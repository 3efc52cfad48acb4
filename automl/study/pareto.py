"""Pareto fronts and hypervolume for the study's objectives.

Normalisation (what :func:`normalise` does, and what the reference point is expressed in)
----------------------------------------------------------------------------------------
Every objective is turned into a *minimised, unit-free* number so that hypervolumes are
comparable across studies, datasets and teachers:

* ``accuracy`` (in [0, 1], maximised) becomes the error ``1 - accuracy``: 0 is perfect, 1 is
  accuracy 0;
* cost metrics (``size_bytes``, ``latency_ms``, ``params_nonzero``, ``macs``, minimised)
  become ratios to the teacher's value: 1.0 is "as big / as slow as the teacher", 0.25 a
  quarter of it.

The reference point is fixed in that space (:data:`REFERENCE_BY_METRIC`, looked up by objective
name with :func:`reference_point`, never by position): error 1.0 (accuracy 0) and a
ratio of 2.0 (twice the teacher) for every cost. A candidate beyond the reference in any
objective (for example three times the teacher's latency) contributes no volume. With this
reference the hypervolume of the teacher alone is ``accuracy_teacher * 1 * 1`` for the
3 default objectives, and the maximum possible is ``1 * 2 * 2 = 4``.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import numpy as np

MAXIMIZE = "maximize"
MINIMIZE = "minimize"

REFERENCE_BY_METRIC: dict[str, float] = {
    "accuracy": 1.0,  # error 1 - accuracy; 1.0 = accuracy 0
    "size_bytes": 2.0,  # twice the teacher's serialized size
    "latency_ms": 2.0,  # twice the teacher's latency
    "params_nonzero": 2.0,  # twice the teacher's non-zero parameters
    "macs": 2.0,  # twice the teacher's multiply-accumulates
}
"""Reference coordinate per objective name, in the normalised (minimised) space of :func:`normalise`."""

_MAXIMIZED_BY_NATURE = ("accuracy",)


def _signs(directions: Sequence[str], k: int) -> np.ndarray:
    if len(directions) != k:
        raise ValueError(f"{len(directions)} directions for {k} objectives")
    out = []
    for d in directions:
        d = str(getattr(d, "name", d)).lower()
        if d not in (MAXIMIZE, MINIMIZE):
            raise ValueError(f"direction must be 'maximize' or 'minimize', got {d!r}")
        out.append(-1.0 if d == MAXIMIZE else 1.0)
    return np.asarray(out)


def _as_losses(values: Any, directions: Sequence[str]) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim == 1:
        arr = arr.reshape(-1, len(directions)) if arr.size else arr.reshape(0, len(directions))
    if arr.ndim != 2:
        raise ValueError(f"expected an (n_points, n_objectives) array, got shape {arr.shape}")
    return arr * _signs(directions, arr.shape[1])


def pareto_mask(values: Any, directions: Sequence[str]) -> np.ndarray:
    """Boolean mask of the non-dominated rows of ``values`` (shape ``(n, k)``).

    ``directions[i]`` is ``"maximize"`` or ``"minimize"``. A row dominates another when it is at
    least as good in every objective and strictly better in one, so equal rows do not dominate
    each other: duplicates of a front point are all on the front. Rows with NaN are never on
    the front and dominate nothing.
    """
    loss = _as_losses(values, directions)
    n = loss.shape[0]
    finite = ~np.isnan(loss).any(axis=1)
    mask = finite.copy()
    for i in range(n):
        if not finite[i]:
            continue
        others = loss[finite]
        le = np.all(others <= loss[i], axis=1)
        lt = np.any(others < loss[i], axis=1)
        if np.any(le & lt):
            mask[i] = False
    return mask


def hypervolume(points: Any, directions: Sequence[str], reference: Sequence[float]) -> float:
    """Exact hypervolume dominated by ``points`` and bounded by ``reference``.

    ``points`` (shape ``(n, k)``) and ``reference`` (length ``k``) are in the same units, with
    ``directions`` saying which objectives are maximised (for those the reference is the
    *lowest* value that counts). Points not strictly better than the reference in every
    objective add nothing. For the study's normalised space use
    ``hypervolume(normalised_points, ["minimize"] * k, reference_point(objectives))``.
    """
    loss = _as_losses(points, directions)
    k = loss.shape[1]
    ref = np.asarray(reference, dtype=float).reshape(-1) * _signs(directions, k)
    if ref.shape[0] != k:
        raise ValueError(f"reference has {ref.shape[0]} coordinates for {k} objectives")
    if not np.all(np.isfinite(ref)):
        raise ValueError("the reference point must be finite")
    keep = ~np.isnan(loss).any(axis=1)
    loss = loss[keep]
    loss = loss[np.all(loss < ref, axis=1)]
    if loss.shape[0] == 0:
        return 0.0
    loss = loss[pareto_mask(loss, [MINIMIZE] * k)]
    return _hv_slicing(np.unique(loss, axis=0), ref)


def _hv_slicing(loss: np.ndarray, ref: np.ndarray) -> float:
    """Exact hypervolume by slicing along the last objective (HSO; any k, fine for the few
    dozen points of a study's front). Optuna 5 has no public hypervolume function."""
    if loss.shape[0] == 0:
        return 0.0
    k = loss.shape[1]
    if k == 1:
        return float(ref[0] - loss[:, 0].min())
    order = np.argsort(loss[:, -1])
    loss = loss[order]
    total = 0.0
    for i in range(loss.shape[0]):
        upper = loss[i + 1, -1] if i + 1 < loss.shape[0] else ref[-1]
        depth = upper - loss[i, -1]
        if depth <= 0:
            continue
        total += depth * _hv_slicing(loss[: i + 1, :-1], ref[:-1])
    return float(total)


def _objective_name(obj: Any) -> str:
    if isinstance(obj, str):
        return obj
    if isinstance(obj, Mapping):
        return str(obj["name"])
    if isinstance(obj, (tuple, list)):  # (name, direction)
        return str(obj[0])
    return str(obj.name)


def normalise(metrics: Mapping[str, float], teacher: Mapping[str, float],
              objectives: Iterable[Any]) -> list[float]:
    """One candidate's objectives in the normalised, minimised space (see module docstring).

    ``objectives`` are names, ``(name, direction)`` pairs or objects/dicts with a ``name``
    (``StudyConfig.objectives``).
    ``accuracy`` -> ``1 - accuracy``; every other metric -> ``metrics[m] / teacher[m]``.
    A missing or NaN metric gives ``nan`` (never on a front, adds no volume).
    """
    out: list[float] = []
    for obj in objectives:
        name = _objective_name(obj)
        value = metrics.get(name)
        value = float("nan") if value is None else float(value)
        if name.split("@", 1)[0] in _MAXIMIZED_BY_NATURE:
            out.append(1.0 - value)
            continue
        base = teacher.get(name)
        if base is None or not float(base) > 0:
            raise ValueError(f"teacher metric {name!r} must be a positive number to normalise, "
                             f"got {base!r}")
        out.append(value / float(base))
    return out


def reference_point(objectives: Iterable[Any]) -> list[float]:
    """The reference point (:data:`REFERENCE_BY_METRIC`) for these objectives, in order."""
    ref = []
    for obj in objectives:
        name = _objective_name(obj).split("@", 1)[0]  # latency_ms@<target>: latency_ms's reference
        if name not in REFERENCE_BY_METRIC:
            raise ValueError(f"no reference for objective {name!r} "
                             f"(known: {', '.join(REFERENCE_BY_METRIC)})")
        ref.append(REFERENCE_BY_METRIC[name])
    return ref


def normalised_hypervolume(candidates: Iterable[Mapping[str, float]], teacher: Mapping[str, float],
                           objectives: Sequence[Any]) -> float:
    """Hypervolume of candidate metric dicts, normalised against the teacher, at :func:`reference_point`.

    The one owner of the study's hypervolume: the tracker, the engine and the benchmarks call it."""
    objectives = list(objectives)
    pts = [normalise(m, teacher, objectives) for m in candidates]
    if not pts:
        return 0.0
    return hypervolume(np.asarray(pts), [MINIMIZE] * len(objectives), reference_point(objectives))


def max_hypervolume(objectives: Iterable[Any]) -> float:
    """The largest hypervolume a front can have: the volume up to the reference point (4 for the
    three default objectives)."""
    return float(np.prod(reference_point(objectives)))

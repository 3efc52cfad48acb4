"""Pareto dominance and exact hypervolume."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from automl.study.pareto import (
    _hv_slicing,
    hypervolume,
    normalise,
    normalised_hypervolume,
    pareto_mask,
    reference_point,
)

MIN2 = ["minimize", "minimize"]


def test_dominance_with_ties_and_directions() -> None:
    pts = np.array([[1, 5], [2, 2], [2, 2], [3, 3], [5, 1], [1, 6], [np.nan, 0]], dtype=float)
    mask = pareto_mask(pts, MIN2)
    assert mask.tolist() == [True, True, True, False, True, False, False]
    # maximising the first objective flips which points win on it
    acc_size = np.array([[0.9, 100], [0.95, 100], [0.95, 50], [0.99, 400]])
    assert pareto_mask(acc_size, ["maximize", "minimize"]).tolist() == [False, False, True, True]
    assert pareto_mask(np.zeros((0, 2)), MIN2).tolist() == []


def test_hypervolume_2d_by_hand() -> None:
    # boxes to (4, 4): (1,3)->3x1, (2,2) adds 2x1 (x 2..4, y 2..3), (3,1) adds 1x1 -> 3 + 2 + 1
    pts = [[1, 3], [2, 2], [3, 1], [3.5, 3.5], [5, 0]]  # dominated and out-of-reference points add nothing
    assert hypervolume(pts, MIN2, [4, 4]) == pytest.approx(6.0)
    # maximised accuracy with reference accuracy 0
    assert hypervolume([[0.5, 1.0]], ["maximize", "minimize"], [0.0, 2.0]) == pytest.approx(0.5)
    assert hypervolume([[5, 5]], MIN2, [4, 4]) == 0.0
    assert hypervolume(np.zeros((0, 2)), MIN2, [4, 4]) == 0.0


def test_hypervolume_3d_by_hand() -> None:
    # two boxes to (2,2,2): [0,1]x[0,2]x[0,2] (vol 4) and [0,2]x[0,1]x[0,2] (vol 4), overlap 1x1x2 = 2
    pts = [[0, 1, 0], [1, 0, 0]]
    assert hypervolume(pts, ["minimize"] * 3, [2, 2, 2]) == pytest.approx(6.0)
    # a point equal to another adds nothing; one touching the reference adds nothing
    assert hypervolume(pts + [[0, 1, 0], [2, 0, 0]], ["minimize"] * 3, [2, 2, 2]) == pytest.approx(6.0)


@pytest.mark.parametrize("k", [2, 3])
def test_hypervolume_matches_brute_force(k: int) -> None:
    rng = np.random.default_rng(k)
    for _ in range(20):
        pts = np.round(rng.uniform(0, 1.2, size=(rng.integers(1, 9), k)), 2)
        ref = np.ones(k)
        expected = _hv_grid(pts, ref)
        assert hypervolume(pts, ["minimize"] * k, ref) == pytest.approx(expected)
        front = pts[np.all(pts < ref, axis=1)]
        assert _hv_slicing(front, ref) == pytest.approx(expected)


def test_random_front_is_exactly_the_non_dominated_set() -> None:
    rng = np.random.default_rng(0)
    pts = rng.integers(0, 5, size=(40, 3)).astype(float)
    mask = pareto_mask(pts, ["minimize"] * 3)
    for i in range(len(pts)):
        dominated = any(np.all(pts[j] <= pts[i]) and np.any(pts[j] < pts[i]) for j in range(len(pts)))
        assert mask[i] == (not dominated)


def test_normalise_against_the_teacher() -> None:
    objectives = [("accuracy", "maximize"), ("size_bytes", "minimize"), ("latency_ms", "minimize")]
    teacher = {"accuracy": 0.98, "size_bytes": 40000, "latency_ms": 0.2}
    assert normalise({"accuracy": 0.9, "size_bytes": 10000, "latency_ms": 0.1}, teacher, objectives) == \
        pytest.approx([0.1, 0.25, 0.5])
    assert reference_point(objectives) == [1.0, 2.0, 2.0]
    # the teacher alone: its accuracy x 1 x 1
    assert normalised_hypervolume([teacher], teacher, objectives) == pytest.approx(0.98)
    assert normalised_hypervolume([{"accuracy": 1.0, "size_bytes": 1e6, "latency_ms": 0.1}], teacher,
                                  objectives) == 0.0  # beyond twice the teacher's size
    with pytest.raises(ValueError):
        normalise({"macs": 1.0}, {"macs": 0}, ["macs"])


def _hv_grid(loss: np.ndarray, ref: np.ndarray) -> float:
    """Brute force: sum the grid cells dominated by some point (the oracle: O(n^k * n))."""
    loss = loss[np.all(loss < ref, axis=1)]
    if loss.shape[0] == 0:
        return 0.0
    k = loss.shape[1]
    axes = [np.unique(np.append(loss[:, d], ref[d])) for d in range(k)]
    total = 0.0
    for idx in itertools.product(*(range(len(a) - 1) for a in axes)):
        low = np.array([axes[d][i] for d, i in enumerate(idx)])
        high = np.array([axes[d][i + 1] for d, i in enumerate(idx)])
        if np.any(np.all(loss <= low, axis=1)):
            total += float(np.prod(high - low))
    return total


def test_objective_order_does_not_change_the_hypervolume() -> None:
    """The reference is looked up by name: a study listing latency first gets the same volume."""
    teacher = {"accuracy": 0.98, "size_bytes": 40000, "latency_ms": 0.2}
    cands = [{"accuracy": 0.97, "size_bytes": 8000, "latency_ms": 0.25},
             {"accuracy": 0.90, "size_bytes": 4000, "latency_ms": 0.15}]
    default = [("accuracy", "maximize"), ("size_bytes", "minimize"), ("latency_ms", "minimize")]
    reordered = [("latency_ms", "minimize"), ("accuracy", "maximize"), ("size_bytes", "minimize")]
    assert reference_point(reordered) == [2.0, 1.0, 2.0]
    hv = normalised_hypervolume(cands, teacher, default)
    assert hv > 0 and normalised_hypervolume(cands, teacher, reordered) == pytest.approx(hv)
    # the box of each point alone, by hand: (1 - acc) x (2 - size ratio) x (2 - latency ratio)
    alone = (0.97 * (2 - 0.2) * (2 - 1.25))
    assert normalised_hypervolume(cands[:1], teacher, reordered) == pytest.approx(alone)

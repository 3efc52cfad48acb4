"""Multi-objective ASHA: the non-dominated order, the ε-net and the go-on / stop rule."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from automl.config import ConfigError
from automl.study.objectives import parse_constraint
from automl.study.mo_asha import (
    EarlyStoppingConfig,
    RungBook,
    epsilon_net_order,
    nondominated_fronts,
    ranked,
    screen_limits,
)

OBJECTIVES = [("accuracy", "maximize"), ("size_bytes", "minimize"), ("latency_ms", "minimize")]


def _dominates(a, b) -> bool:
    return bool(np.all(a <= b) and np.any(a < b))


def test_fronts_match_a_brute_force_dominance_check():
    rng = np.random.default_rng(0)
    losses = rng.integers(0, 4, size=(40, 3)).astype(float)  # many ties on purpose
    fronts = nondominated_fronts(losses)
    assert sorted(itertools.chain(*fronts)) == list(range(40))
    for depth, front in enumerate(fronts):
        earlier = list(itertools.chain(*fronts[:depth]))
        for i in front:
            # nothing in its own front or later dominates it; something one front up does
            assert not any(_dominates(losses[j], losses[i]) for j in range(40) if j not in earlier)
            if depth:
                assert any(_dominates(losses[j], losses[i]) for j in fronts[depth - 1])


def test_epsilon_net_starts_at_the_best_first_objective_and_spreads():
    # a line of points, clustered at one end: the second pick is the far end, not a neighbour
    pts = np.array([[0.0, 1.0], [0.01, 0.99], [0.02, 0.98], [1.0, 0.0], [0.5, 0.5]])
    order = epsilon_net_order(pts)
    assert order[0] == 0 and order[1] == 3 and order[2] == 4
    assert sorted(order) == list(range(5))


def test_a_small_inaccurate_candidate_goes_on_where_single_objective_asha_would_stop_it():
    book = RungBook(EarlyStoppingConfig(rungs=(1,), reduction_factor=2, min_peers=1), OBJECTIVES)
    assert book.record(0, 1, {"accuracy": 0.90, "size_bytes": 50_000, "latency_ms": 1.0})
    # of 2 only ceil(2/2) = 1 goes on: both are non-dominated, the ε-net starts at the accurate one
    assert not book.record(1, 1, {"accuracy": 0.60, "size_bytes": 1_000, "latency_ms": 1.0})
    # a near-copy of the accurate one is dominated by it: out
    assert not book.record(2, 1, {"accuracy": 0.89, "size_bytes": 50_000, "latency_ms": 1.0})
    # of 4, two go on: the least accurate of all, but the smallest, is second in the ε-net
    # (single-objective ASHA would rank it last)
    assert book.record(3, 1, {"accuracy": 0.55, "size_bytes": 900, "latency_ms": 1.0})


def test_dominated_candidates_stop_and_the_grace_period_keeps_the_first_ones():
    book = RungBook(EarlyStoppingConfig(rungs=(1, 3), reduction_factor=3, min_peers=3), OBJECTIVES)
    good = {"accuracy": 0.9, "size_bytes": 1000, "latency_ms": 1.0}
    bad = {"accuracy": 0.5, "size_bytes": 2000, "latency_ms": 2.0}
    assert book.record("a", 1, good)
    assert book.record("b", 1, bad)  # 2 < min_peers: nobody is stopped yet
    assert not book.record("c", 1, bad)  # dominated by a: outside the best ceil(3/3) = 1
    assert book.record("d", 1, {**good, "accuracy": 0.95})  # dominates everything so far
    assert book.record("a", 3, good)  # rungs are separate: the first at epoch 3 goes on
    assert not book.record("x", 1, {**good, "accuracy": float("nan")})  # a NaN accuracy never goes on


def test_load_makes_earlier_launches_peers_without_deciding():
    cfg = EarlyStoppingConfig(rungs=(1,), reduction_factor=2, min_peers=2)
    book = RungBook(cfg, OBJECTIVES)
    book.load([(0, 1, {"accuracy": 0.9, "size_bytes": 10, "latency_ms": 1.0, "go_on": True})])
    assert not book.record(1, 1, {"accuracy": 0.8, "size_bytes": 20, "latency_ms": 1.0})


def test_load_skips_what_the_screen_stopped():
    """A candidate stopped before training stored its figures (no accuracy) under epoch 0."""
    book = RungBook(EarlyStoppingConfig(rungs=(1,), min_peers=1), OBJECTIVES)
    book.load([(0, 0, {"size_bytes": 10, "latency_ms": 1.0, "go_on": False}),
               (1, 1, {"accuracy": 0.9, "size_bytes": 10, "latency_ms": 1.0, "go_on": True})])
    assert 0 not in book.seen and list(book.seen[1]) == [1]


def test_screen_limits_are_the_reference_point_and_the_tighter_constraints():
    teacher = {"accuracy": 0.98, "size_bytes": 1000.0, "latency_ms": 0.01, "macs": 5e5}
    assert screen_limits(OBJECTIVES, teacher) == {"size_bytes": 2000.0, "latency_ms": 0.02}
    constraints = [parse_constraint(c) for c in ("size_bytes <= 1500", "latency_ms <= 0.5", "macs <= 1e5",
                                                 "accuracy >= 0.8", "params_nonzero >= 10")]
    # a constraint below the reference tightens it; one above does not; accuracy and ">=" are not fixed figures
    assert screen_limits(OBJECTIVES, teacher, constraints) == {"size_bytes": 1500.0, "latency_ms": 0.02,
                                                               "macs": 1e5}


def test_ranked_puts_every_front_before_the_next():
    losses = np.array([[2.0, 2.0], [1.0, 1.0], [0.0, 3.0], [3.0, 3.0]])
    order = ranked(losses)
    assert set(order[:2]) == {1, 2} and order[2:] == [0, 3]


def test_an_infinite_figure_does_not_flatten_the_others():
    """A grace-period peer without a latency (inf) must not set the scale: the finite points
    still spread by latency in the ε-net order."""
    losses = np.array([[-0.9, 1.0, 1.0], [-0.8, 0.5, 5.0], [-0.7, 0.2, 9.0], [-0.6, 0.1, np.inf]])
    order = ranked(losses)
    assert sorted(order) == [0, 1, 2, 3] and order[0] == 0  # most accurate first
    # the finite points keep the order they have without the inf point (latency still counts)
    assert [i for i in order if i != 3] == ranked(losses[:3]) == [0, 2, 1]


@pytest.mark.parametrize("value, field", [
    ({"rungs": [3, 1]}, "early_stopping.rungs"),
    ({"rungs": []}, "early_stopping.rungs"),
    ({"rungs": [0]}, "early_stopping.rungs[0]"),
    ({"reduction_factor": 1}, "early_stopping.reduction_factor"),
    ({"min_peers": 0}, "early_stopping.min_peers"),
    ({"rung": [1]}, "early_stopping.rung"),
    ("sometimes", "early_stopping"),
])
def test_bad_settings_name_their_field(value, field):
    with pytest.raises(ConfigError) as info:
        EarlyStoppingConfig.from_setting(value)
    assert info.value.field == field and "\n" not in str(info.value)


def test_settings_on_off_and_mapping():
    assert EarlyStoppingConfig.from_setting(None) is None
    assert EarlyStoppingConfig.from_setting(False) is None
    assert EarlyStoppingConfig.from_setting("on") == EarlyStoppingConfig()
    cfg = EarlyStoppingConfig.from_setting({"rungs": [2, 4], "reduction_factor": 4})
    assert cfg.rungs == (2, 4) and cfg.reduction_factor == 4.0
    assert EarlyStoppingConfig.from_setting(cfg.to_dict()) == cfg

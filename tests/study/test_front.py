"""The front kept incrementally as trials finish."""

from __future__ import annotations

import random

from automl.study.front import IncrementalFront, TrialPoint, front_trials
from automl.study.pareto import pareto_mask


def test_the_incremental_front_equals_the_front_computed_from_all_points():
    rng = random.Random(0)
    objectives = [("accuracy", "maximize"), ("size_bytes", "minimize"), ("latency_ms", "minimize")]
    points = [TrialPoint(trial=i, params={}, metrics={"accuracy": rng.choice([0.5, 0.7, rng.random()]),
                                                      "size_bytes": rng.choice([100, rng.randrange(50, 500)]),
                                                      "latency_ms": rng.random()},
                         feasible=rng.random() > 0.2, on_front=False) for i in range(300)]
    keeper = IncrementalFront([], objectives)
    changes = [keeper.add(p) for p in points]
    values = [[p.metrics[n] for n, _ in objectives] for p in points]
    feasible = [i for i, p in enumerate(points) if p.feasible]
    mask = pareto_mask([values[i] for i in feasible], [d for _, d in objectives])
    want = {feasible[k] for k, on in enumerate(mask) if on}
    assert keeper.front == want
    assert {p.trial for p in keeper.all() if p.on_front} == want
    assert 0 < sum(changes) < 300  # some points joined it, most did not
    # seeded from points already marked (a resumed study), it goes on the same way
    again = IncrementalFront([p for p in keeper.all()], objectives)
    assert again.front == want


def test_a_repeat_answered_from_a_finished_trial_is_a_point_but_never_on_a_front():
    objectives = [("accuracy", "maximize"), ("size_bytes", "minimize")]
    metrics = {"accuracy": 0.9, "size_bytes": 100}
    first = TrialPoint(trial=0, params={}, metrics=metrics, feasible=True, on_front=False)
    repeat = TrialPoint(trial=1, params={}, metrics=metrics, feasible=True, on_front=False, extra={"reused_from": 0})
    worse = TrialPoint(trial=2, params={}, metrics={"accuracy": 0.8, "size_bytes": 200}, feasible=True, on_front=False)
    keeper = IncrementalFront([], objectives)
    assert [keeper.add(p) for p in (first, repeat, worse)] == [True, False, False]
    assert keeper.front == {0} and len(keeper.all()) == 3
    assert front_trials([first, repeat, worse], objectives) == {0}
    assert front_trials([repeat, worse], objectives) == {2}  # alone, the repeat does not stand in

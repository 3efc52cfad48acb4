"""The front kept incrementally as trials finish."""

from __future__ import annotations

import random

from automl.study.front import IncrementalFront, TrialPoint
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

"""The accuracy predictor learns a made-up accuracy landscape from parameters and probed figures."""

from __future__ import annotations

import random

from optuna.distributions import CategoricalDistribution, FloatDistribution

from automl.study.accuracy_predictor import AccuracyPredictor, Example

DISTS = {"pruning.ratio": FloatDistribution(0.0, 0.9), "quant.activation_bits": CategoricalDistribution([8, 32]),
         "distill.alpha": FloatDistribution(0.0, 1.0)}


def _example(rng: random.Random) -> Example:
    ratio, bits = rng.uniform(0, 0.9), rng.choice([8, 32])
    params = {"pruning.ratio": ratio, "quant.activation_bits": bits}
    if rng.random() < 0.5:  # a conditional parameter, absent half the time
        params["distill.alpha"] = rng.random()
    size = 10_000 * (1 - ratio) * bits / 32
    accuracy = 0.98 - 0.3 * ratio ** 3 - (0.02 if bits == 8 else 0.0) + rng.gauss(0, 0.005)
    return Example(params, {k: DISTS[k] for k in params}, {"size_bytes": size, "macs": size * 10,
                                                           "latency_ms": 0.01}, accuracy)


def test_it_ranks_unseen_candidates_and_reports_kendall_tau():
    rng = random.Random(0)
    predictor = AccuracyPredictor(min_examples=12)
    assert predictor.predict({}, {}) is None  # too few examples: every candidate trains
    for _ in range(40):
        example = _example(rng)
        predicted = predictor.predict(example.params, example.probed)
        predictor.measured(predicted, example.accuracy)
        predictor.add(example)
    tau = predictor.kendall_tau()
    assert tau is not None and tau > 0.5 and len(predictor.pairs) == 40 - 12
    p = predictor.predict({"pruning.ratio": 0.0, "quant.activation_bits": 32}, {"size_bytes": 10_000, "macs": 1e5,
                                                                                 "latency_ms": 0.01})
    q = predictor.predict({"pruning.ratio": 0.9, "quant.activation_bits": 8}, {"size_bytes": 250, "macs": 2500,
                                                                                "latency_ms": 0.01})
    assert p.accuracy > q.accuracy and p.spread >= 0 and p.optimistic() >= p.accuracy

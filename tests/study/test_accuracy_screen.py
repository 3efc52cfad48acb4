"""The accuracy screen: trains until it has learned enough, then only candidates whose optimistic
predicted point could join the front; priors teach it but never stand on the front."""

from __future__ import annotations

import random

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution

from automl.config import ConfigError
from automl.study.accuracy_screen import AccuracyScreen, PredictorConfig
from automl.study.attrs import PREDICTED_ATTR, PRIOR_ATTR, RESULT_ATTR, screened_by_predictor

OBJECTIVES = [("accuracy", "maximize"), ("size_bytes", "minimize")]
TEACHER = {"accuracy": 0.98, "size_bytes": 10_000}
DISTS = {"pruning.ratio": FloatDistribution(0.0, 0.9), "quant.weight_bits": CategoricalDistribution([4, 8, 32])}


def landscape(ratio: float, bits: int) -> tuple[float, float]:
    """(accuracy, size): pruning and fewer bits shrink the model; heavy pruning costs accuracy."""
    return 0.98 - 0.5 * ratio ** 2 - (0.03 if bits == 4 else 0.0), 10_000 * (1 - ratio) * bits / 32


def finished(number: int, ratio: float, bits: int, prior: bool = False, predicted: dict | None = None):
    acc, size = landscape(ratio, bits)
    measured = {"accuracy": acc, "size_bytes": size, "macs": size * 10, "latency_ms": 0.01}
    attrs = ({PRIOR_ATTR: {"study": "old", "trial": number, "measured": measured}} if prior
             else {RESULT_ATTR: measured})
    if predicted is not None:
        attrs[PREDICTED_ATTR] = predicted
    t = optuna.trial.create_trial(params={"pruning.ratio": ratio, "quant.weight_bits": bits}, distributions=DISTS,
                                  values=[acc, size], user_attrs=attrs)
    t.number = number
    return t


def probed(ratio: float, bits: int) -> dict[str, float]:
    size = landscape(ratio, bits)[1]
    return {"size_bytes": size, "macs": size * 10, "latency_ms": 0.01}


def test_the_predictor_setting_is_checked_in_one_line() -> None:
    assert PredictorConfig.from_setting("off") is None and PredictorConfig.from_setting(None) is None
    assert PredictorConfig.from_setting("on") == PredictorConfig()
    assert PredictorConfig.from_setting({"min_trials": 20, "optimism": 0.5}).to_dict() == {
        "min_trials": 20, "optimism": 0.5, "proposals": 4}
    with pytest.raises(ConfigError, match="predictor.min_trial"):
        PredictorConfig.from_setting({"min_trial": 20})
    with pytest.raises(ConfigError, match="proposals"):
        PredictorConfig.from_setting({"proposals": 0})
    with pytest.raises(ConfigError, match="expected off, on or a mapping"):
        PredictorConfig.from_setting("sometimes")


def test_it_trains_until_it_has_learned_then_only_what_could_join_the_front() -> None:
    screen = AccuracyScreen(PredictorConfig(min_trials=12, optimism=1.0, proposals=1), OBJECTIVES, TEACHER)
    judged = screen.judge({"pruning.ratio": 0.5, "quant.weight_bits": 8}, probed(0.5, 8))
    assert judged.go_on and judged.prediction is None and judged.seen == 0  # nothing learned yet
    rng = random.Random(0)
    for n in range(30):
        screen.learn(finished(n, rng.uniform(0, 0.9), rng.choice([4, 8, 32])))
    assert len(screen.front) >= 2
    # full size at 32 bits and the worst pruning: far behind the front on both axes
    bad = screen.judge({"pruning.ratio": 0.85, "quant.weight_bits": 32}, probed(0.85, 32) | {"size_bytes": 9e9})
    assert not bad.go_on and bad.prediction is not None and bad.seen == 30
    assert bad.to_attr() == {"accuracy": bad.prediction.accuracy, "spread": bad.prediction.spread, "gain": 0.0,
                             "seen": 30, "trained": False}
    # smaller than every point of the front: whatever its accuracy, it could add hypervolume
    tiny = screen.judge({"pruning.ratio": 0.9, "quant.weight_bits": 4}, {**probed(0.9, 4), "size_bytes": 1.0})
    assert tiny.go_on and tiny.gain > 0
    # an optimism so large that any accuracy is hoped for: nothing is screened
    hopeful = AccuracyScreen(PredictorConfig(min_trials=12, optimism=10.0, proposals=1), OBJECTIVES, TEACHER)
    for n in range(30):
        hopeful.learn(finished(n, rng.uniform(0, 0.9), rng.choice([4, 8, 32])))
    assert hopeful.judge({"pruning.ratio": 0.85, "quant.weight_bits": 32}, probed(0.85, 32)).go_on


def test_priors_teach_it_but_only_the_studys_own_trials_make_the_front_and_tau() -> None:
    screen = AccuracyScreen(PredictorConfig(min_trials=4), OBJECTIVES, TEACHER)
    for n, (ratio, bits) in enumerate([(0.0, 32), (0.3, 8), (0.6, 4), (0.1, 8), (0.5, 32)]):
        screen.learn(finished(n, ratio, bits, prior=True))
    assert len(screen.predictor.examples) == 5 and screen.front == {}  # evidence, not points
    assert screen.judge({"pruning.ratio": 0.2, "quant.weight_bits": 8}, probed(0.2, 8)).go_on  # no front yet
    for n, (ratio, bits) in enumerate([(0.2, 8), (0.4, 4), (0.0, 4), (0.7, 8)], start=10):
        acc = landscape(ratio, bits)[0]
        screen.learn(finished(n, ratio, bits, predicted={"accuracy": acc - 0.01 * n, "spread": 0.01,
                                                         "seen": n, "trained": True}))
    assert set(screen.front) <= {10, 11, 12, 13} and screen.front
    assert len(screen.predictor.pairs) == 4 and screen.kendall_tau() is not None


def test_a_screened_proposal_is_not_budget_spent() -> None:
    t = finished(3, 0.5, 8, predicted={"accuracy": 0.9, "spread": 0.01, "seen": 12, "trained": False})
    assert screened_by_predictor(t)
    assert not screened_by_predictor(finished(4, 0.5, 8, predicted={"accuracy": 0.9, "spread": 0.01, "seen": 12,
                                                                     "trained": True}))


def test_with_several_proposals_per_candidate_only_the_best_gains_of_the_stream_train() -> None:
    """proposals 4: a proposal trains when its predicted gain is in the top quarter of the recent ones."""
    screen = AccuracyScreen(PredictorConfig(min_trials=12, proposals=4), OBJECTIVES, TEACHER)
    rng = random.Random(1)
    for n in range(30):
        screen.learn(finished(n, rng.uniform(0, 0.9), rng.choice([4, 8, 32])))
    judged = [screen.judge({"pruning.ratio": r, "quant.weight_bits": 4}, probed(r, 4))
              for r in (rng.uniform(0, 0.9) for _ in range(40))]
    trained = [j for j in judged if j.go_on]
    assert all(j.gain > 0 for j in trained) and 40 // 8 <= len(trained) <= 40 // 2  # about a quarter
    # each trains exactly when its gain is in the top quarter of the (up to 32) proposals judged last
    gains = [j.gain for j in judged]
    for i, j in enumerate(judged):
        window = gains[max(0, i - 31):i + 1]
        bar = np.quantile(window, 0.75) if len(window) >= 4 else 0.0
        assert j.go_on == (j.gain > 0 and j.gain >= bar)

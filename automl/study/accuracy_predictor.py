"""Predict a candidate's validation accuracy before it trains (APQ, Wang et al. 2020).

A random forest (scikit-learn) maps a candidate's sampled parameters and its probed figures
(size, MACs, latency: known at the screen, before the first epoch) to the validation accuracy
finished candidates measured. Why a random forest: it needs no tuning at tens of trials, takes
mixed numeric / categorical / absent (conditional) parameters as they are (missing values are
native to scikit-learn's trees), and the spread of its trees' predictions is a usable
uncertainty for an optimistic (upper-bound) decision. Its quality is tracked as it runs:
Kendall's tau between what it predicted for a trial before that trial trained and what the
trial then measured.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
from optuna.distributions import BaseDistribution, CategoricalDistribution

PROBED = ("size_bytes", "macs", "latency_ms")


@dataclass(frozen=True)
class Prediction:
    accuracy: float  # the forest's mean
    spread: float  # the standard deviation of its trees

    def optimistic(self, k: float = 1.0) -> float:
        return min(1.0, self.accuracy + k * self.spread)


@dataclass
class Example:
    params: dict[str, Any]
    distributions: dict[str, BaseDistribution]
    probed: Mapping[str, float]
    accuracy: float


def _column(dist: BaseDistribution, value: Any) -> float:
    if value is None:
        return math.nan
    if isinstance(dist, CategoricalDistribution):
        try:
            return float(dist.to_internal_repr(value))
        except ValueError:
            return math.nan
    x = float(value)
    return math.log10(x) if getattr(dist, "log", False) and x > 0 else x


@dataclass
class AccuracyPredictor:
    min_examples: int = 12  # below this, no prediction (every candidate trains)
    seed: int = 0
    trees: int = 100
    examples: list[Example] = field(default_factory=list)
    pairs: list[tuple[float, float]] = field(default_factory=list)  # (predicted before training, measured)
    _columns: dict[str, BaseDistribution] = field(default_factory=dict)
    _forest: Any = None
    _fitted_on: int = 0

    def add(self, example: Example) -> None:
        self.examples.append(example)

    def features(self, params: Mapping[str, Any], probed: Mapping[str, float]) -> list[float]:
        row = [_column(d, params.get(n)) for n, d in self._columns.items()]
        return row + [math.log10(max(float(probed.get(m, math.nan)), 1e-12)) if probed.get(m) is not None
                      else math.nan for m in PROBED]

    def _fit(self) -> None:
        from sklearn.ensemble import RandomForestRegressor

        self._columns = {}
        for e in self.examples:
            for n, d in e.distributions.items():
                self._columns.setdefault(n, d)
        self._columns = dict(sorted(self._columns.items()))
        x = np.array([self.features(e.params, e.probed) for e in self.examples], dtype=float)
        y = np.array([e.accuracy for e in self.examples], dtype=float)
        self._forest = RandomForestRegressor(n_estimators=self.trees, min_samples_leaf=2, random_state=self.seed)
        self._forest.fit(x, y)
        self._fitted_on = len(self.examples)

    def predict(self, params: Mapping[str, Any], probed: Mapping[str, float]) -> Prediction | None:
        if len(self.examples) < self.min_examples:
            return None
        if self._forest is None or len(self.examples) - self._fitted_on >= max(1, self._fitted_on // 10):
            self._fit()  # refit once the examples grew by 10 % (each one, below 20): bounded in a long study
        x = np.array([self.features(params, probed)], dtype=float)
        per_tree = np.array([t.predict(x)[0] for t in self._forest.estimators_])
        return Prediction(float(per_tree.mean()), float(per_tree.std()))

    def measured(self, predicted: Prediction | None, accuracy: float) -> None:
        """A trial predicted before training has measured ``accuracy``: one more pair for tau."""
        if predicted is not None:
            self.pairs.append((predicted.accuracy, accuracy))

    def kendall_tau(self) -> float | None:
        return kendall_tau(self.pairs)


def kendall_tau(pairs: list[tuple[float, float]]) -> float | None:
    """Kendall's tau (tau-b, ties allowed) of (predicted, measured) pairs; ``None`` below 3 pairs."""
    if len(pairs) < 3:
        return None
    from scipy.stats import kendalltau

    p, m = zip(*pairs)
    tau = kendalltau(p, m).statistic
    return None if math.isnan(tau) else float(tau)

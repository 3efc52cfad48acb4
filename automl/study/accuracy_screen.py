"""Judge a candidate before it trains: would its predicted point add to the front?

APQ's lesson (Wang et al. 2020): a joint compression search gets cheap when most candidates are
judged before they are trained. Size, MACs and latency are known before the first epoch (the
screen's probe, :func:`automl.candidate.probe.probe_objectives`); accuracy is predicted by
:class:`~automl.study.accuracy_predictor.AccuracyPredictor` from every finished candidate of
the study and of its warm-start sources. The driver holds one :class:`AccuracyScreen`; at the
screen (epoch 0) it takes the probed figures and:

- trains the candidate while fewer than ``min_trials`` candidates have finished (nothing to
  learn from yet) or the front is empty;
- else computes the hypervolume its *optimistic* point (predicted accuracy + ``optimism`` x the
  spread of the forest's trees; each probed cost divided by the probe's margin) would add to the
  current front (normalised as the study's hypervolume), and trains it if that gain is positive
  and among the best ``1 / proposals`` of the last :data:`WINDOW` proposals judged;
- else records it as screened, with its prediction and gain (an Optuna PRUNED trial: never a
  result).

That is "ask ``proposals`` candidates per free worker and train the one that adds most", as a
stream: the figures the prediction needs are probed on a worker, so each proposal costs a
worker's probe either way; judging each one when its probe returns, against the front as it
stands then and the gains of the proposals just before it, keeps every worker busy and waits for
no batch. A screened candidate does not use the study's budget (``n_trials`` counts trained
candidates), up to ``proposals - 1`` screened per budgeted one, so a study with a predictor
trains as many candidates as one without, chosen from up to ``proposals`` times as many.

The predictor's quality is tracked as the study runs: Kendall's tau between what it predicted
for a trial before that trial trained and what the trial then measured (trials it had not seen).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import numpy as np
import optuna
from optuna.trial import TrialState

from automl.candidate.hooks import SCREEN_MARGIN
from automl.candidate.result import base_metric, metric_values
from automl.config import fields as F
from automl.study.accuracy_predictor import PROBED, AccuracyPredictor, Example, Prediction
from automl.study.attrs import measurements, prediction_of, prior_of, reused_from
from automl.study.front import IncrementalFront, trial_point
from automl.study.pareto import normalised_hypervolume

WINDOW = 32  # the recent proposals whose predicted gains set the bar (their top 1 / proposals trains)
GAIN_TOLERANCE = 1e-12  # hypervolume below this is rounding, not a gain


@dataclass(frozen=True)
class PredictorConfig:
    """The ``predictor`` block of a study file (see the module docstring)."""

    min_trials: int = 12  # finished candidates (the study's and its priors) before any is screened
    optimism: float = 1.0  # trees' standard deviations added to the predicted accuracy
    proposals: int = 4  # at most this many candidates proposed per trained one

    def __post_init__(self) -> None:
        object.__setattr__(self, "min_trials", F.number("min_trials", self.min_trials, 2, 100_000, integer=True))
        object.__setattr__(self, "optimism", F.number("optimism", self.optimism, 0.0, 10.0))
        object.__setattr__(self, "proposals", F.number("proposals", self.proposals, 1, 100, integer=True))

    @classmethod
    def from_setting(cls, value: object, prefix: str = "predictor") -> "PredictorConfig | None":
        """``None``/``false``/``off`` -> none; ``true``/``on`` -> the defaults; a mapping -> checked."""
        return F.switch(cls, value, prefix)

    def to_dict(self) -> dict[str, Any]:
        return {"min_trials": self.min_trials, "optimism": self.optimism, "proposals": self.proposals}


@dataclass(frozen=True)
class Judgement:
    """The screen's decision on one candidate (``prediction`` ``None``: too few examples yet)."""

    go_on: bool
    prediction: Prediction | None
    seen: int  # finished candidates the predictor had learned from
    gain: float | None = None  # hypervolume its optimistic point would add to the front

    def to_attr(self) -> dict[str, Any]:
        """Its record on the trial (user attribute ``predicted``)."""
        p = self.prediction
        return {"accuracy": None if p is None else p.accuracy, "spread": None if p is None else p.spread,
                "gain": self.gain, "seen": self.seen, "trained": self.go_on}


class AccuracyScreen:
    """The driver's predictor and front, fed with every finished trial (:meth:`learn`)."""

    def __init__(self, config: PredictorConfig, objectives: Iterable[tuple[str, str]],
                 teacher: Mapping[str, float], seed: int = 0) -> None:
        self.config = config
        self.objectives = list(objectives)
        self.teacher = dict(teacher)  # normalises the hypervolume, as the study's own
        self.predictor = AccuracyPredictor(min_examples=config.min_trials, seed=seed)
        self._front = IncrementalFront([], self.objectives)  # the study's own trained points
        self._hypervolume = 0.0
        self.gains: deque[float] = deque(maxlen=WINDOW)  # predicted gains of the proposals judged last

    @property
    def front(self) -> dict[int, dict[str, float]]:
        """The study's front so far: trial -> its objective values."""
        return {n: self._front.points[n].metrics for n in self._front.front}

    @classmethod
    def from_study(cls, config: PredictorConfig, objectives: Iterable[tuple[str, str]],
                   teacher: Mapping[str, float], study: optuna.Study) -> "AccuracyScreen":
        """A screen that has learned from every finished trial of ``study`` (priors included)."""
        screen = cls(config, objectives, teacher)
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            screen.learn(t)
        return screen

    def learn(self, trial: optuna.trial.FrozenTrial) -> None:
        """A finished trial: one more example (a warm-start prior's figures are its source's),
        a point that may join the front (the study's own, feasible, trained), and, when it was
        predicted before training, one more pair for Kendall's tau."""
        prior = prior_of(trial)
        if prior is not None:
            metrics = dict(prior.get("measured") or {})
        elif trial.state == TrialState.COMPLETE and measurements(trial) and reused_from(trial) is None:
            metrics = metric_values(measurements(trial))
        else:
            return
        if not isinstance(metrics.get("accuracy"), (int, float)):
            return
        self.predictor.add(Example(dict(trial.params), dict(trial.distributions),
                                   {m: metrics[m] for m in PROBED if m in metrics}, float(metrics["accuracy"])))
        if prior is not None:
            return  # evidence, never a point of this study
        predicted = prediction_of(trial)
        if predicted and predicted.get("accuracy") is not None:
            self.predictor.measured(Prediction(float(predicted["accuracy"]), float(predicted["spread"])),
                                    float(metrics["accuracy"]))
        if self._front.add(trial_point(trial)):
            self._hypervolume = normalised_hypervolume(self.front.values(), self.teacher, self.objectives)

    def judge(self, params: Mapping[str, Any], probed: Mapping[str, float]) -> Judgement:
        """Train the candidate of ``params`` whose compressed figures probed ``probed``?"""
        seen = len(self.predictor.examples)
        prediction = self.predictor.predict(params, probed)
        if prediction is None or not self._front.front:
            return Judgement(True, prediction, seen)
        hopeful = prediction.optimistic(self.config.optimism)
        point = {name: hopeful if base_metric(name) == "accuracy" else probed.get(name, math.nan) / SCREEN_MARGIN
                 for name, _ in self.objectives}
        if any(math.isnan(v) for v in point.values()):
            return Judgement(True, prediction, seen)  # a figure the probe did not measure: cannot judge
        gain = normalised_hypervolume([*self.front.values(), point], self.teacher, self.objectives) - self._hypervolume
        gain = gain if gain > GAIN_TOLERANCE else 0.0  # a dominated point: the same volume, up to rounding
        self.gains.append(gain)
        bar = (float(np.quantile(list(self.gains), 1.0 - 1.0 / self.config.proposals))
               if len(self.gains) >= self.config.proposals else 0.0)
        return Judgement(gain > 0.0 and gain >= bar, prediction, seen, gain)

    def kendall_tau(self) -> float | None:
        """Kendall's tau of predicted against measured accuracy on trials predicted before training."""
        return self.predictor.kendall_tau()

"""A thin Ray Tune searcher that keeps Optuna the decision-maker for a multi-objective study.

Ray's own ``OptunaSearch`` turns Optuna's pruner off and drops intermediate results when a
study has several objectives. Here Tune only executes: each ``suggest`` is an Optuna
``ask`` compiled through the joint search space, each finished trial is an Optuna
``tell`` with its objective values (or ``FAIL`` with the error), and the candidate's full
measurements and constraint values are kept as Optuna user attributes.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Callable

import optuna
from optuna.trial import TrialState
from ray.tune.search import Searcher

from automl.config import CandidateConfig, ConfigError
from automl.search.space import SearchSpace
from automl.search.trainable import KIND, RESULT
from automl.study.sampler import constraint_values, record_constraints


class OptunaJointSearcher(Searcher):
    def __init__(self, study: optuna.Study, space: SearchSpace, base: dict[str, Any],
                 objectives: list[tuple[str, str]], constraints: list, n_trials: int,
                 on_asked: Callable[[optuna.Trial, dict[str, Any]], dict[str, Any]] | None = None,
                 on_told: Callable[[optuna.trial.FrozenTrial], None] | None = None) -> None:
        super().__init__()
        self.study = study
        self.space = space
        self.base = base
        self.objectives = objectives
        self.constraints = constraints
        self.remaining = n_trials
        self.on_asked = on_asked
        self.on_told = on_told
        self._live: dict[str, optuna.Trial] = {}

    def __getstate__(self) -> dict[str, Any]:
        # Tune pickles its searcher for its own experiment restore. This searcher's state is the
        # Optuna storage (a relaunch resumes from it by study name), so only a pointer is kept.
        return {"study_name": self.study.study_name, "remaining": self.remaining}

    def save(self, checkpoint_path: str) -> None:
        Path(checkpoint_path).write_text(json.dumps(self.__getstate__()))

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        if self.remaining <= 0:
            return Searcher.FINISHED
        trial = self.study.ask()
        try:
            candidate = CandidateConfig.from_dict(self.space.suggest(trial, self.base))
        except ConfigError as err:  # the space produced an invalid combination
            self._tell_failed(trial, f"invalid candidate: {err}")
            return None
        self.remaining -= 1
        self._live[trial_id] = trial
        trial.set_user_attr("candidate", candidate.to_dict())
        extra = self.on_asked(trial, candidate.to_dict()) if self.on_asked else {}
        return {"optuna_trial": trial.number, "candidate": candidate.to_dict(), **extra}

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        trial = self._live.pop(trial_id, None)
        if trial is None:
            return
        if error or not result or result.get(KIND) != "final":
            self._tell_failed(trial, "the trial's worker crashed before reporting (see the Ray logs)")
        elif result.get("failed"):
            trial.set_user_attr("traceback", result.get("traceback", ""))
            self._tell_failed(trial, result.get("error", "unknown error"))
        else:
            self._tell_complete(trial, json.loads(result[RESULT]))

    def _tell_complete(self, trial: optuna.Trial, measured: dict[str, Any]) -> None:
        values = [float(measured[name]) for name, _ in self.objectives]
        if not all(math.isfinite(v) for v in values):
            self._tell_failed(trial, f"non-finite objective values {values}")
            return
        for key, value in measured.items():
            trial.set_user_attr(key, value)
        record_constraints(trial, constraint_values(self.constraints, measured))  # read by the sampler
        self._notify(self.study.tell(trial, values))

    def _tell_failed(self, trial: optuna.Trial, message: str) -> None:
        trial.set_user_attr("error", message)
        self._notify(self.study.tell(trial, state=TrialState.FAIL))

    def _notify(self, frozen: optuna.trial.FrozenTrial) -> None:
        if self.on_told is not None:
            self.on_told(frozen)

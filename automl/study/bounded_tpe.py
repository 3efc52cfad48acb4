"""TPE whose ask does not grow with the study: a bounded history, and proposals drawn in batches.

Optuna's ``TPESampler`` reads every finished trial at every ask: for each group of parameters
it splits them into good and bad (non-domination ranks), builds two Parzen estimators and
draws ``n_ei_candidates`` samples to score. An ask costs O(trials) (about 15 ms at 40 trials and
33 ms at 200 on the joint CNN space, 2-core x86_64), so a study of thousands of candidates
starves a cluster. :class:`BoundedTPESampler` is that sampler with two bounds, both inactive
while the study has at most ``window`` finished trials (a study that small samples exactly as
``TPESampler`` with the same seed):

- **history**: the model is fitted on the ``window`` most recent finished trials plus every
  feasible non-dominated one (the elites, kept incrementally: a new trial joins or is
  dominated, O(front)), so the best points never leave it;
- **batches**: each fit draws ``batch`` x ``n_ei_candidates`` samples at once and keeps the
  best of every ``n_ei_candidates`` (TPE's own rule, per chunk), so the next ``batch`` asks of
  that group are answered from the same fit. A fit is never more than ``batch`` finished
  trials old: with many workers a result arrives between asks, and a model refitted after
  every one of them would be refitted on nearly the same data.

It uses TPE's own splitting, estimators and acquisition (``optuna.samplers._tpe``), so
everything else (constraints, pruned trials, multivariate groups) behaves as in Optuna.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution
from optuna.samplers import TPESampler
from optuna.samplers._tpe.sampler import (
    _RELATIVE_PARAMS_KEY,
    _split_trials,
    default_gamma_multiobjective,
)
from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial, TrialState

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


@dataclass
class _Batch:
    fitted_at: int  # finished trials when it was fitted
    proposals: list[dict[str, float]] = field(default_factory=list)  # internal representation


class _Recent:
    """A view of a study that lists only the given trials (TPE's group decomposition reads it)."""

    def __init__(self, study: Study, trials: list[FrozenTrial]) -> None:
        self._study = study
        self._trials = trials

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)

    def _get_trials(self, deepcopy: bool = False, states: Any = None, use_cache: bool = False) -> list[FrozenTrial]:
        return [t for t in self._trials if states is None or t.state in states]


class BoundedTPESampler(TPESampler):
    def __init__(self, *, window: int = 200, batch: int = 16, **tpe: Any) -> None:
        super().__init__(**tpe)
        if window < 1 or batch < 1:
            raise ValueError(f"window and batch must be >= 1 (got {window}, {batch})")
        self.window = window
        self.batch = batch
        self.fits = 0  # model fits beyond the window (for tests and benchmarks)
        self._reset()

    def _reset(self) -> None:
        self._batches: dict[tuple[str, ...], _Batch] = {}
        self._elites: dict[int, FrozenTrial] = {}  # feasible, non-dominated, complete
        self._done: list[FrozenTrial] = []  # finished trials by number, kept incrementally:
        self._cursor = 0  # trials below it were looked at; of those, ``_open`` had not finished
        self._open: set[int] = set()
        self._groups_at = -1  # finished trials when the parameter groups were last updated
        self._listed: list[FrozenTrial] | None = None  # the listing ``_done`` was last updated from
        self._fresh: list[FrozenTrial] = []  # finished since the elites were last updated
        self._running_params: dict[int, dict[str, Any]] = {}  # decoded once per running trial

    def _finished(self, study: Study) -> list[FrozenTrial]:
        """The study's finished trials by number, updated from the trials new or still open
        since the last call (O(new + running), not O(trials))."""
        trials = study._get_trials(deepcopy=False, use_cache=True)  # Optuna's list, cached for the ask
        if trials is self._listed:
            return self._done
        self._listed = trials
        if len(trials) < self._cursor:  # another study with the same sampler object: start over
            self._reset()
        closed = [n for n in (*self._open, *range(self._cursor, len(trials))) if trials[n].state in FINISHED]
        self._open.update(range(self._cursor, len(trials)))
        self._open.difference_update(closed)
        self._cursor = len(trials)
        for n in sorted(closed):  # finished out of order (any worker may end first): inserted in place
            bisect.insort(self._done, trials[n], key=lambda t: t.number)
            self._fresh.append(trials[n])
        return self._done

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        finished = self._finished(study)
        if len(finished) <= self.window or not self._group:
            return super().infer_relative_search_space(study, trial)
        if self._search_space_group is None or len(finished) - self._groups_at >= self.batch:
            # the groups only grow (a union of what trials sampled): the recent trials add to them
            self._groups_at = len(finished)
            return super().infer_relative_search_space(_Recent(study, finished[-self.window:]), trial)  # type: ignore[arg-type]
        return {name: dist for sub in self._search_space_group.search_spaces
                for name, dist in sorted(sub.items()) if not dist.single()}

    def _sample_relative(self, study: Study, trial: FrozenTrial,
                         search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        if search_space == {} or len(self._finished(study)) < self._n_startup_trials:
            return {}
        return self._sample(study, trial, search_space)

    def sample_independent(self, study: Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        if len(self._finished(study)) <= self.window:
            return super().sample_independent(study, trial, param_name, param_distribution)
        return self._sample(study, trial, {param_name: param_distribution})[param_name]

    def _sample(self, study: Study, trial: FrozenTrial,
                search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        finished = self._finished(study)
        if len(finished) <= self.window:
            return super()._sample(study, trial, search_space)
        key = tuple(search_space)
        batch = self._batches.get(key)
        if batch is None or not batch.proposals or len(finished) - batch.fitted_at >= self.batch:
            batch = self._batches[key] = self._fit(study, trial, finished, search_space)
        internal = batch.proposals.pop(0)
        return {name: dist.to_external_repr(internal[name]) for name, dist in search_space.items()}

    def history(self, study: Study, finished: list[FrozenTrial]) -> list[FrozenTrial]:
        """The trials the model is fitted on: the recent window plus the elites, by number."""
        self._update_elites(study)
        recent = finished[-self.window:]
        numbers = {t.number for t in recent}
        return sorted([*recent, *(t for n, t in self._elites.items() if n not in numbers)], key=lambda t: t.number)

    def _fit(self, study: Study, trial: FrozenTrial, finished: list[FrozenTrial],
             search_space: dict[str, BaseDistribution]) -> _Batch:
        self.fits += 1
        trials = self.history(study, finished)
        if self._gamma is None:
            self._gamma = default_gamma_multiobjective if len(study.directions) > 1 else self._default_gamma()
        n_below = self._gamma(len(trials))
        if self._constant_liar:  # the candidates still running count among the bad ones, as in TPE
            running = study._get_trials(deepcopy=False, states=(TrialState.RUNNING,))  # (the latest ``window``)
            trials += [t for t in running[-self.window - 1:] if t.number != trial.number][-self.window:]
            live = {t.number for t in running}
            self._running_params = {n: p for n, p in self._running_params.items() if n in live}
        below, above = _split_trials(study, trials, n_below)
        mpe_below = self._build_parzen_estimator(study, search_space, below, handle_below=True)
        mpe_above = self._build_parzen_estimator(study, search_space, above, handle_below=False)
        n = self._n_ei_candidates
        samples = mpe_below.sample(self._rng.rng, n * self.batch)
        scores = self._compute_acquisition_func(samples, mpe_below, mpe_above)
        proposals = [TPESampler._compare({k: v[i * n:(i + 1) * n] for k, v in samples.items()},
                                         scores[i * n:(i + 1) * n]) for i in range(self.batch)]
        return _Batch(fitted_at=len(finished), proposals=proposals)

    def _get_params(self, trial: FrozenTrial, study: Study) -> dict[str, Any]:
        """A running trial's parameters (its constant-liar ones JSON-decoded from its system
        attributes at every fit by Optuna: here once per trial; a trial's asked parameters do
        not change while it runs)."""
        if trial.state != TrialState.RUNNING or f"{_RELATIVE_PARAMS_KEY}:0" not in trial.system_attrs:
            return super()._get_params(trial, study)  # (no relative parameters written yet: not kept)
        known = self._running_params.get(trial.number)
        if known is None:
            known = self._running_params[trial.number] = super()._get_params(trial, study)
        return {**known, **trial.params}

    @staticmethod
    def _default_gamma() -> Any:
        from optuna.samplers._tpe.sampler import default_gamma

        return default_gamma

    def _update_elites(self, study: Study) -> None:
        signs = np.array([-1.0 if d == StudyDirection.MAXIMIZE else 1.0 for d in study.directions])
        fresh, self._fresh = self._fresh, []
        for t in fresh:
            if t.state != TrialState.COMPLETE or any(v > 0 for v in t.constraints.values()):
                continue
            point = signs * np.asarray(t.values, dtype=float)
            if any(_dominates(signs * np.asarray(e.values, dtype=float), point) for e in self._elites.values()):
                continue
            for n in [n for n, e in self._elites.items() if _dominates(point, signs * np.asarray(e.values, dtype=float))]:
                del self._elites[n]
            self._elites[t.number] = t


def _dominates(a: np.ndarray, b: np.ndarray) -> bool:
    """``a`` dominates ``b`` (both to be minimised): no worse anywhere, better somewhere."""
    return bool(np.all(a <= b) and np.any(a < b))

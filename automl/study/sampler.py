"""Optuna samplers for the study, with feasibility constraints.

Constraint protocol: the code that finishes a trial computes
``constraint_values(study.constraints, metrics)`` and stores the list with
:func:`record_constraints` (``trial.set_user_attr("constraints", [...])``) *before*
``study.tell``. Every sampler made here reads it back through :func:`constraints_from_trial`
(its ``constraints_func``), which Optuna evaluates inside ``tell``; a value <= 0 means
satisfied. Optuna then keeps infeasible trials off ``study.best_trials`` and the samplers
prefer feasible ones (NSGA-II constrained domination, TPE/GP feasibility-aware).

Optuna 5 note: ``constraints_func`` still works for NSGA-II, TPE and GP but is deprecated
(``FutureWarning``, removal planned for 7.0) in favour of ``Trial.set_constraint(key, value)``.
The warning is silenced here; :class:`optuna.samplers.RandomSampler` has no
``constraints_func``, so a tiny subclass records the constraints the same way.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Iterable, Mapping, Sequence

import optuna
from optuna.samplers import BaseSampler
from optuna.trial import FrozenTrial

from automl.config.errors import ConfigError

SAMPLERS = ("nsga2", "tpe", "random", "gp")
CONSTRAINTS_ATTR = "constraints"
MISSING_VIOLATION = 1.0
"""Violation recorded for a constraint whose metric is missing or NaN (relative units)."""


def check_sampler(name: Any, n_objectives: int, has_constraints: bool) -> str:
    """Raise :class:`ConfigError` (field ``sampler``) unless ``name`` can run this study."""
    if not isinstance(name, str) or name not in SAMPLERS:
        raise ConfigError("sampler", f"{name!r} is not allowed (allowed: {', '.join(SAMPLERS)})")
    if n_objectives < 1:
        raise ConfigError("objectives", "at least one objective is needed")
    if name == "gp":
        try:
            import scipy  # noqa: F401
            import torch  # noqa: F401
        except ImportError as err:
            raise ConfigError("sampler", f"gp needs torch and scipy: {err}") from None
    # In Optuna 5 NSGA-II, TPE and GP handle any number of objectives and constraints
    # (GP: logEHVI / logCEHVI); random ignores both when sampling.
    return name


def make_sampler(name: str, seed: int | None, n_objectives: int, has_constraints: bool, *,
                 n_trials: int | None = None, n_constraints: int | None = None) -> BaseSampler:
    """A seeded Optuna sampler for ``n_objectives`` objectives.

    ``nsga2`` (population ``clamp(n_trials // 4, 4, 50)``), ``tpe``, ``random`` or ``gp``.
    With ``has_constraints`` the sampler reads ``trial.user_attrs["constraints"]``
    (see :func:`constraints_from_trial`); ``n_constraints`` is the expected length, used
    when a trial did not record them.
    """
    check_sampler(name, n_objectives, has_constraints)
    func = _ConstraintsReader(n_constraints or 1) if has_constraints else None
    startup = 10 if n_trials is None else max(4, min(10, n_trials // 3))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning,
                                message=".*constraints_func.*")
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if name == "nsga2":
            pop = 50 if n_trials is None else max(4, min(50, n_trials // 4))
            return optuna.samplers.NSGAIISampler(population_size=pop, seed=seed, constraints_func=func)
        if name == "tpe":
            return optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup,
                                              constraints_func=func)
        if name == "gp":
            return optuna.samplers.GPSampler(seed=seed, n_startup_trials=startup,
                                             constraints_func=func)
        if func is not None:
            return _ConstrainedRandomSampler(func, seed=seed)
        return optuna.samplers.RandomSampler(seed=seed)


class _ConstraintsReader:
    """``constraints_func``: the list a trial stored under ``user_attrs["constraints"]``."""

    def __init__(self, n_constraints: int) -> None:
        self.n_constraints = n_constraints

    def __call__(self, trial: FrozenTrial) -> list[float]:
        return constraints_from_trial(trial, self.n_constraints)


def constraints_from_trial(trial: FrozenTrial, n_constraints: int = 1) -> list[float]:
    """``trial.user_attrs["constraints"]`` as floats; missing -> infeasible, NaN -> violated."""
    raw = trial.user_attrs.get(CONSTRAINTS_ATTR)
    if raw is None:
        return [MISSING_VIOLATION] * max(1, n_constraints)
    if isinstance(raw, (int, float)):
        raw = [raw]
    out = []
    for v in raw:
        try:
            f = float(v)
        except (TypeError, ValueError):
            f = MISSING_VIOLATION
        out.append(MISSING_VIOLATION if math.isnan(f) else f)
    return out


def record_constraints(trial: Any, values: Sequence[float]) -> None:
    """Store constraint values on a live trial before ``study.tell`` (what the samplers read)."""
    trial.set_user_attr(CONSTRAINTS_ATTR, [float(v) for v in values])


def constraint_values(constraints: Iterable[Any], metrics: Mapping[str, Any]) -> list[float]:
    """Constraint values for ``metrics``: <= 0 satisfied, > 0 the relative violation.

    Each constraint is a :class:`~automl.study.config.Constraint`, a ``(metric, op, value)``
    tuple or a string ``"size_bytes <= 20000"``. ``metric <= v`` gives ``(m - v) / |v|`` and
    ``metric >= v`` gives ``(v - m) / |v|`` (divided by 1 when ``v == 0``), so violations of
    different metrics are on one scale. A missing or NaN metric counts as
    :data:`MISSING_VIOLATION`.
    """
    from automl.study.config import parse_constraint

    out: list[float] = []
    for c in constraints:
        if isinstance(c, str):
            c = parse_constraint(c)
        metric, op, bound = (c.metric, c.op, c.value) if hasattr(c, "metric") else tuple(c)
        raw = metrics.get(metric)
        try:
            m = float(raw) if raw is not None else math.nan
        except (TypeError, ValueError):
            m = math.nan
        if math.isnan(m):
            out.append(MISSING_VIOLATION)
            continue
        scale = abs(bound) if bound != 0 else 1.0
        if op == "<=":
            out.append((m - bound) / scale)
        elif op == ">=":
            out.append((bound - m) / scale)
        else:
            raise ConfigError("constraints", f"operator {op!r} is not allowed (allowed: <=, >=)")
    return out


class _ConstrainedRandomSampler(optuna.samplers.RandomSampler):
    """Random sampling, but constraints are recorded so ``best_trials`` honours them."""

    def __init__(self, constraints_func: Any, seed: int | None = None) -> None:
        super().__init__(seed=seed)
        self._constraints_func = constraints_func

    def after_trial(self, study: Any, trial: FrozenTrial, state: Any,
                    values: Sequence[float] | None) -> None:
        from optuna.samplers._base import _process_constraints_after_trial

        _process_constraints_after_trial(self._constraints_func, study, trial, state)
        super().after_trial(study, trial, state, values)

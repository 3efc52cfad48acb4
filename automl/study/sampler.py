"""Optuna samplers for the study, with feasibility constraints.

Constraint protocol: the code that finishes a trial computes
``constraint_values(study.constraints, metrics)`` and stores each value with Optuna 5's
public :meth:`optuna.trial.Trial.set_constraint` (:func:`record_constraints`) *before*
``study.tell``; a value <= 0 means satisfied. Every sampler here reads them back from
:attr:`FrozenTrial.constraints` (NSGA-II: constrained domination; TPE and GP:
feasibility-aware), and :func:`is_feasible` is the one rule the rest of the package uses
to call a trial feasible: Optuna's own, every constraint value <= 0 (a trial that recorded
none, in a study without constraints, is feasible).
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Iterable, Mapping, Sequence

import optuna
from optuna.samplers import BaseSampler
from optuna.trial import FrozenTrial

from automl.config.errors import ConfigError
from automl.study.bounded_tpe import BoundedTPESampler
from automl.study.objectives import parse_constraint

SAMPLERS = ("nsga2", "tpe", "random", "gp")
TPE_WINDOW = 200  # the default study (192 trials) never reaches it
TPE_BATCH = 16
MISSING_VIOLATION = 1.0
"""Violation recorded for a constraint whose metric is missing or NaN (relative units)."""


def check_sampler(name: Any, n_objectives: int) -> str:
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


def make_sampler(name: str, seed: int | None, n_objectives: int, *, n_trials: int | None = None) -> BaseSampler:
    """A seeded Optuna sampler for ``n_objectives`` objectives.

    ``nsga2`` (population ``clamp(n_trials // 4, 4, 50)``), ``tpe`` (multivariate, with
    Optuna's group decomposition of conditional spaces; bounded past :data:`TPE_WINDOW`
    finished trials), ``random`` or ``gp``.
    Constraints need no argument: the samplers read what :func:`record_constraints` stored.
    """
    check_sampler(name, n_objectives)
    startup = 10 if n_trials is None else max(4, min(10, n_trials // 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if name == "nsga2":
            pop = 50 if n_trials is None else max(4, min(50, n_trials // 4))
            return optuna.samplers.NSGAIISampler(population_size=pop, seed=seed)
        if name == "tpe":
            # multivariate: one joint density over the params (for several objectives Optuna's
            # default is independent ones); group: a joint space is conditional (no pruning
            # granularity without pruning, no bit widths in fp32), so TPE models each set of
            # params that occur together jointly instead of sampling the conditional ones
            # independently (group needs multivariate; without it Optuna warns at every ask)
            # bounded: past TPE_WINDOW finished trials an ask no longer reads every trial (see
            # bounded_tpe.py); a study of at most that many samples exactly as TPESampler
            return BoundedTPESampler(window=TPE_WINDOW, batch=TPE_BATCH, seed=seed, n_startup_trials=startup,
                                     multivariate=True, group=True)
        if name == "gp":
            return optuna.samplers.GPSampler(seed=seed, n_startup_trials=startup)
        return optuna.samplers.RandomSampler(seed=seed)


def record_constraints(trial: optuna.Trial, constraints: Sequence[Any], values: Sequence[float]) -> None:
    """Store each constraint's value on a live trial before ``study.tell`` (what the samplers read)."""
    for constraint, value in zip(constraints, values):
        trial.set_constraint(str(constraint), float(value))


def is_feasible(trial: FrozenTrial) -> bool:
    """Optuna's rule, the only one used here: every recorded constraint value is <= 0."""
    return all(v <= 0 for v in trial.constraints.values())


def constraint_values(constraints: Iterable[Any], metrics: Mapping[str, Any]) -> list[float]:
    """Constraint values for ``metrics``: <= 0 satisfied, > 0 the relative violation.

    Each constraint is a :class:`~automl.study.objectives.Constraint`, a ``(metric, op, value)``
    tuple or a string ``"size_bytes <= 20000"``. ``metric <= v`` gives ``(m - v) / |v|`` and
    ``metric >= v`` gives ``(v - m) / |v|`` (divided by 1 when ``v == 0``), so violations of
    different metrics are on one scale. A missing or NaN metric counts as
    :data:`MISSING_VIOLATION`.
    """
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

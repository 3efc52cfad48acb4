"""Every sampler drives a constrained 3-objective ask/tell loop; infeasible trials stay off the front."""

from __future__ import annotations

import warnings

import optuna
import pytest

from automl.config import ConfigError
from automl.study.objectives import parse_constraint
from automl.study.front import study_points
from automl.study.sampler import (
    SAMPLERS,
    constraint_values,
    is_feasible,
    make_sampler,
    record_constraints,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)
CONSTRAINTS = [parse_constraint("accuracy >= 0.5"), parse_constraint("size_bytes <= 300")]


def _toy(trial: optuna.Trial) -> dict[str, float]:
    width = trial.suggest_int("width", 1, 10)
    bits = trial.suggest_categorical("bits", [2, 8, 32])
    ratio = trial.suggest_float("ratio", 0.0, 0.9)
    acc = min(1.0, 0.1 * width * (1 - ratio / 2)) * (0.8 if bits == 2 else 1.0)
    size = width * 40 * bits / 8 * (1 - ratio)
    return {"accuracy": acc, "size_bytes": size, "latency_ms": width * (1 - ratio) + 0.1}


@pytest.mark.parametrize("name", SAMPLERS)
def test_sampler_ask_tell_with_constraints(name: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # no deprecated API (constraints_func) is used
        sampler = make_sampler(name, 0, 3, n_trials=16)
    study = optuna.create_study(directions=["maximize", "minimize", "minimize"], sampler=sampler)
    n = 14 if name == "gp" else 24
    infeasible = set()
    for _ in range(n):
        trial = study.ask()
        m = _toy(trial)
        values = constraint_values(CONSTRAINTS, m)
        record_constraints(trial, CONSTRAINTS, values)
        if any(v > 0 for v in values):
            infeasible.add(trial.number)
        study.tell(trial, [m["accuracy"], m["size_bytes"], m["latency_ms"]])
    assert infeasible and len(infeasible) < n
    front = {t.number for t in study.best_trials}
    assert front and not (front & infeasible)
    for t in study.trials:  # Optuna recorded the constraints the sampler read
        assert t.constraints and (max(t.constraints.values()) > 0) == (t.number in infeasible)


def test_unconstrained_sampler_and_population() -> None:
    s = make_sampler("nsga2", 1, 3, n_trials=32)
    assert isinstance(s, optuna.samplers.NSGAIISampler)
    assert s._population_size == 8
    assert isinstance(make_sampler("random", 1, 2), optuna.samplers.RandomSampler)


def test_unknown_sampler_names_the_field() -> None:
    with pytest.raises(ConfigError) as info:
        make_sampler("cmaes", 0, 3)
    assert info.value.field == "sampler" and "nsga2" in str(info.value)


def test_constraint_values() -> None:
    vals = constraint_values(["size_bytes <= 20000", "accuracy >= 0.8", ("macs", "<=", 0)],
                             {"size_bytes": 10000, "accuracy": 0.7, "macs": 5})
    assert vals == pytest.approx([-0.5, 0.125, 5.0])
    assert constraint_values(["latency_ms <= 1"], {"latency_ms": float("nan")}) == [1.0]
    assert constraint_values(["latency_ms <= 1"], {}) == [1.0]


def test_front_and_sampler_share_one_feasibility_rule() -> None:
    """The front keeps exactly the trials Optuna's own constrained front keeps."""
    study = optuna.create_study(directions=["maximize", "minimize", "minimize"], sampler=make_sampler("random", 0, 3))
    objectives = [("accuracy", "maximize"), ("size_bytes", "minimize"), ("latency_ms", "minimize")]
    for i, (acc, size) in enumerate([(0.9, 200), (0.4, 10), (0.95, 500), (0.6, 100)]):
        trial = study.ask()
        m = {"accuracy": acc, "test_accuracy": acc, "size_bytes": size, "latency_ms": 1.0, "params_nonzero": 1,
             "macs": 1}
        record_constraints(trial, CONSTRAINTS, constraint_values(CONSTRAINTS, m))
        trial.set_user_attr("result", m)
        study.tell(trial, [acc, size, 1.0])
    points = study_points(study, objectives)
    assert {p.trial for p in points if p.feasible} == {t.number for t in study.trials if is_feasible(t)} == {0, 3}
    assert {p.trial for p in points if p.on_front} == {t.number for t in study.best_trials} == {0, 3}


def test_optuna_constraint_api_is_what_we_rely_on() -> None:
    """Pins Optuna's public constraint API (``Trial.set_constraint`` -> ``FrozenTrial.constraints``,
    feasible iff every value <= 0, infeasible trials off ``best_trials``): fails loudly if an
    Optuna upgrade changes it."""
    study = optuna.create_study(directions=["maximize", "minimize"])
    for acc, violation in [(0.9, 0.5), (0.5, -0.1)]:
        trial = study.ask()
        trial.set_constraint("accuracy >= 0.8", violation)
        study.tell(trial, [acc, 1.0])
    assert [t.constraints for t in study.trials] == [{"accuracy >= 0.8": 0.5}, {"accuracy >= 0.8": -0.1}]
    assert [t.number for t in study.best_trials] == [1]


@pytest.mark.parametrize("name", SAMPLERS)
def test_samplers_go_on_past_pruned_trials(name: str) -> None:
    """Early stopping tells stopped candidates PRUNED (no values): every sampler keeps asking,
    and pruned trials never reach the front."""
    study = optuna.create_study(directions=["maximize", "minimize", "minimize"],
                                sampler=make_sampler(name, 0, 3, n_trials=16))
    for i in range(14 if name == "gp" else 20):
        trial = study.ask()
        m = _toy(trial)
        if m["accuracy"] < 0.5:  # what a rung would stop
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            continue
        record_constraints(trial, CONSTRAINTS, constraint_values(CONSTRAINTS, m))
        trial.set_user_attr("result", {**m, "test_accuracy": m["accuracy"], "params_nonzero": 1, "macs": 1})
        study.tell(trial, [m["accuracy"], m["size_bytes"], m["latency_ms"]])
    pruned = {t.number for t in study.trials if t.state == optuna.trial.TrialState.PRUNED}
    assert pruned and len(pruned) < len(study.trials)
    points = study_points(study, [("accuracy", "maximize"), ("size_bytes", "minimize"), ("latency_ms", "minimize")])
    assert pruned.isdisjoint(p.trial for p in points)


def test_tpe_samples_a_conditional_space_without_warnings() -> None:
    """TPE models conditional params by group (multivariate, set explicitly: with ``group``
    alone Optuna warns at every ask, flooding a study's log)."""
    study = optuna.create_study(directions=["maximize", "minimize", "minimize"],
                                sampler=make_sampler("tpe", 0, 3, n_trials=12))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(16):  # past the 4 startup trials
            trial = study.ask()
            m = _toy(trial)
            if trial.params["bits"] < 32:  # conditional, as quant.mode is
                trial.suggest_categorical("mode", ["ptq", "qat"])
            study.tell(trial, [m["accuracy"], m["size_bytes"], m["latency_ms"]])
    assert any("mode" in t.params for t in study.trials[4:])

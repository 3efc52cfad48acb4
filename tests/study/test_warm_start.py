"""Warm start: an earlier study's finished trials become priors of a new one (sampler evidence
only), its front points are proposed first, and nothing of it is a result of the new study."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from automl.candidate.result import CandidateResult
from automl.config import ConfigError
from automl.data import DatasetConfig
from automl.study.attrs import RESULT_ATTR
from automl.study.config import StudyConfig
from automl.study.front import finished_trials, study_points
from automl.study.record import StudyRecord, write_record
from automl.study.sampler import is_feasible
from automl.study.storage import load_study
from automl.study.warm_start import warm_start

OBJECTIVES = [("accuracy", "maximize"), ("size_bytes", "minimize")]
TEACHER = CandidateResult(accuracy=0.97, test_accuracy=0.96, size_bytes=40_000, latency_ms=0.1, params_nonzero=10_000,
                          macs=100_000, kernels="fp32", int8_kernels=False, latency={}, artifact_path="")
SOURCE_SPACE = """name: src
params:
  arch.family: {fixed: cnn}
  arch.choices.stages: {int: [1, 3]}
  arch.choices.widths: {categorical: [8, 16, 32, 64], per_stage: arch.choices.stages}
  pruning.ratio: {float: [0.0, 0.9], step: 0.05}
  distill.enabled: {categorical: [true, false]}
"""
# the new space: one stage count fewer, two widths fewer, no distillation knob, a new knob
NEW_SPACE = """name: new
params:
  arch.family: {fixed: cnn}
  arch.choices.stages: {int: [1, 2]}
  arch.choices.widths: {categorical: [8, 16], per_stage: arch.choices.stages}
  pruning.ratio: {float: [0.0, 0.9], step: 0.05}
  quant.activation_bits: {categorical: [8, 32]}
"""


def _config(tmp_path: Path, name: str, space: str, **extra) -> StudyConfig:
    (tmp_path / f"{name}.yaml").write_text(space)
    return StudyConfig.from_dict({"name": name, "space": str(tmp_path / f"{name}.yaml"),
                                  "run_dir": str(tmp_path / "runs" / name),
                                  "objectives": [n for n, _ in OBJECTIVES], "constraints": ["size_bytes <= 5000"],
                                  **extra})


def _source(tmp_path: Path, trials: int = 24) -> StudyConfig:
    """A finished source study: its space sampled at random, made-up measurements, and study.json."""
    cfg = _config(tmp_path, "src", SOURCE_SPACE)
    Path(cfg.run_dir).mkdir(parents=True)
    study = optuna.create_study(study_name="src", storage=cfg.storage_url, directions=cfg.directions,
                                sampler=optuna.samplers.RandomSampler(seed=1))
    for _ in range(trials):
        trial = study.ask()
        candidate = cfg.space.suggest(trial)
        widths = candidate["arch"]["choices"]["widths"]
        size = sum(widths) * 100 * (1 - trial.params["pruning.ratio"])
        accuracy = min(0.99, 0.5 + 0.01 * sum(widths) / len(widths))
        trial.set_user_attr(RESULT_ATTR, {"accuracy": accuracy, "test_accuracy": accuracy, "size_bytes": size,
                                          "latency_ms": 0.01, "params_nonzero": 1, "macs": 1})
        trial.set_constraint("size_bytes <= 5000", (size - 5000) / 5000)
        study.tell(trial, [accuracy, size])
    write_record(StudyRecord(name="src", storage=cfg.storage_url, tracking_uri="sqlite:///unused.db",
                             run_dir=cfg.run_dir, objectives=OBJECTIVES, constraints=["size_bytes <= 5000"],
                             teacher=TEACHER, dataset=DatasetConfig(name="digits", seed=1)))
    return cfg


def test_finished_trials_of_an_earlier_study_become_priors_in_the_new_space(tmp_path):
    source_cfg = _source(tmp_path)
    source = load_study("src", source_cfg.storage_url)
    cfg = _config(tmp_path, "new", NEW_SPACE, warm_start=["src"], dataset={"name": "digits", "seed": 2})
    Path(cfg.run_dir).mkdir(parents=True)
    study = optuna.create_study(study_name="new", storage=cfg.storage_url, directions=cfg.directions)
    (summary,) = warm_start(study, cfg)
    priors = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    assert summary.added == len(priors) == 24 and summary.skipped == 0
    for prior in priors:
        was = source.trials[prior.user_attrs["warm_start_from"]["trial"]]
        assert prior.user_attrs["warm_start_from"]["study"] == "src" and prior.values == was.values
        assert RESULT_ATTR not in prior.user_attrs  # not a result of this study
        # kept: what the new space samples and holds; the distribution is the new space's
        for name, value in prior.params.items():
            assert was.params[name] == value and prior.distributions[name] == cfg.space.distribution_of(name)
        assert "distill.enabled" not in prior.params
        assert is_feasible(prior) == is_feasible(was)
    outside = sum(1 for t in source.trials for n, v in t.params.items()
                  if n.startswith("distill") or n == "arch.choices.stages" and v == 3
                  or n.startswith("arch.choices.widths.") and v > 16)
    assert summary.dropped_params == outside > 0
    assert not summary.same_data and "priors only" in summary.line() and "\n" not in summary.line()
    # the source's front, proposed first: enqueued, asked next, in the new space
    source_front = [p for p in study_points(source, OBJECTIVES) if p.on_front]
    waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
    assert summary.proposed == len(waiting) == len(source_front) > 0
    assert all(not n.startswith("distill") for t in waiting for n in t.params)
    # nothing of it is this study's: no point, no front, nothing spent of the budget
    assert study_points(study, OBJECTIVES) == [] and finished_trials(study) == []
    # a relaunch does not add it again
    assert warm_start(study, cfg) == [] and len(study.trials) == 24 + len(waiting)


def test_the_sampler_reads_the_priors(tmp_path):
    """TPE's start-up (random) phase is spent by the priors: its first ask is already a TPE draw."""
    _source(tmp_path)
    cfg = _config(tmp_path, "new", NEW_SPACE, warm_start="src")
    Path(cfg.run_dir).mkdir(parents=True)
    sampler = optuna.samplers.TPESampler(seed=0, n_startup_trials=10)
    study = optuna.create_study(directions=cfg.directions, sampler=sampler)
    warm_start(study, cfg)
    for t in study.get_trials(states=(TrialState.WAITING,)):  # drop the proposals: the sampler's own ask
        study._storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
    calls = []
    original = sampler._random_sampler.sample_independent
    sampler._random_sampler.sample_independent = lambda *a, **k: calls.append(a[3]) or original(*a, **k)
    cfg.space.suggest(study.ask())
    assert calls == []  # no parameter was drawn at random


def test_a_missing_or_self_source_is_one_line(tmp_path):
    cfg = _config(tmp_path, "new", NEW_SPACE, warm_start=["nowhere"])
    study = optuna.create_study(directions=cfg.directions)
    with pytest.raises(ConfigError, match="no study 'nowhere' to warm-start from") as err:
        warm_start(study, cfg)
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="cannot warm-start from itself"):
        _config(tmp_path, "new", NEW_SPACE, warm_start=["new"])
    with pytest.raises(ConfigError, match="expected a list of study names"):
        _config(tmp_path, "new", NEW_SPACE, warm_start=[3])


def test_the_command_line_adds_to_the_file(tmp_path):
    from automl.study.config import load_study as load_study_file

    (tmp_path / "new.yaml").write_text(NEW_SPACE)
    (tmp_path / "s.yaml").write_text(f"name: new\nspace: {tmp_path / 'new.yaml'}\nwarm_start: [a]\n")
    cfg = load_study_file(tmp_path / "s.yaml", {"warm_start": "b,c"})
    assert cfg.warm_start == ("a", "b", "c") and cfg.to_dict()["warm_start"] == ["a", "b", "c"]
    assert dataclasses.replace(cfg, warm_start=()).to_dict()["warm_start"] == []

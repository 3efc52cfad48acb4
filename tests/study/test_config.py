"""Study files: defaults, overrides, environment, and one-line errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from automl.config import ConfigError
from automl.study.config import load_study
from automl.study.objectives import Constraint

REPO = Path(__file__).resolve().parents[2]
SPACE = REPO / "search_spaces" / "cnn_joint.yaml"


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "study.yaml"
    p.write_text(textwrap.dedent(text))
    return p


def _error(tmp_path: Path, text: str, **kw) -> ConfigError:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_study(path, **kw)
    assert "\n" not in str(info.value)
    return info.value


def test_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = load_study(_write(tmp_path, f"name: s1\nspace: {SPACE}\n"))
    assert [(o.name, o.direction) for o in cfg.objectives] == [
        ("accuracy", "maximize"), ("size_bytes", "minimize"), ("latency_ms", "minimize")]
    assert (cfg.sampler, cfg.n_trials, cfg.concurrency, cfg.seed) == ("tpe", 32, 2, 0)
    assert (cfg.resources.cpu, cfg.resources.gpu) == (1.0, 0.0)
    assert cfg.constraints == ()
    assert Path(cfg.run_dir) == (tmp_path / "runs" / "s1").resolve()
    assert cfg.storage_url == f"sqlite:///{tmp_path.resolve() / 'runs' / 's1' / 'optuna.db'}"
    assert cfg.tracking_uri == f"sqlite:///{tmp_path.resolve() / 'runs' / 's1' / 'mlflow.db'}"
    assert cfg.space.groups() == ("arch", "pruning", "quant", "share", "distill")
    assert cfg.teacher.arch.family == "cnn"
    again = load_study(_write(tmp_path, __import__("yaml").safe_dump(cfg.to_dict())))
    assert again.to_dict() == cfg.to_dict()  # to_dict writes resolved URIs and paths
    assert (again.storage_url, again.tracking_uri) == (cfg.storage_url, cfg.tracking_uri)


def test_overrides_and_space_relative_to_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "spaces").mkdir()
    (tmp_path / "spaces" / "s.yaml").write_text("name: s\nparams:\n  quant.weight_bits: {categorical: [8, 32]}\n")
    path = _write(tmp_path, "name: base\nspace: spaces/s.yaml\nconstraints: ['size_bytes <= 20000']\n")
    cfg = load_study(path, {"n_trials": 5, "concurrency": 3, "name": "other", "storage": "sqlite:///x.db",
                            "tracking_uri": "file:///tmp/mlruns", "run_dir": None})
    assert (cfg.n_trials, cfg.concurrency, cfg.name) == (5, 3, "other")
    assert cfg.storage_url == "sqlite:///x.db" and cfg.tracking_uri == "file:///tmp/mlruns"
    assert cfg.run_dir.endswith("runs/other")
    assert cfg.constraints == (Constraint("size_bytes", "<=", 20000.0),)
    assert str(cfg.constraints[0]) == "size_bytes <= 20000"
    assert cfg.space.groups() == ("quant",)
    with pytest.raises(ConfigError, match="unknown override"):
        load_study(path, {"bogus": 1})
    with pytest.raises(ConfigError, match="n_trials"):
        load_study(path, {"trials": 0})


def test_env_tracking_uri_applies_only_when_the_file_is_silent(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.example:5000")
    cfg = load_study(_write(tmp_path, f"name: s\nspace: {SPACE}\n"))
    assert cfg.tracking_uri == "http://mlflow.example:5000"
    cfg = load_study(_write(tmp_path, f"name: s\nspace: {SPACE}\ntracking_uri: sqlite:///own.db\n"))
    assert cfg.tracking_uri == "sqlite:///own.db"


@pytest.mark.parametrize("extra, field, needle", [
    ("constraints: ['size_bytes < 3']", "constraints[0]", "cannot parse"),
    ("constraints: ['flops <= 3']", "constraints[0]", "unknown metric"),
    ("sampler: cmaes", "sampler", "allowed: nsga2, tpe, random, gp"),
    ("colour: blue", "colour", "unknown key"),
    ("n_trials: many", "n_trials", "integer"),
    ("concurrency: 0", "concurrency", "range"),
    ("objectives: [{name: flops}]", "objectives[0].name", "allowed"),
    ("objectives: [{name: accuracy, direction: minimize}]", "objectives[0].direction", "maximize"),
    ("train: {epochs: -1}", "train.epochs", "range"),
    ("train: {speed: 1}", "train.speed", "unknown key"),
    ("resources_per_trial: {cpu: 0}", "resources_per_trial.cpu", "range"),
    ("teacher: {arch: {family: cnn, choices: {stages: 9}}}", "teacher.arch.choices.stages", "range"),
    ("dataset: {name: imagenet}", "dataset.name", "unknown dataset"),
    ("space: nowhere.yaml", "space", "not found"),
    ("resources_per_trial: {gpu: 1.5}", "resources_per_trial.gpu", "whole number"),
    ("timing_resource: CPU", "timing_resource", "built-in"),
    ("timing_resource: 'a b'", "timing_resource", "custom resource name"),
    ("timing_workers: 0", "timing_workers", "out of range"),
    ("timing_workers: -2", "timing_workers", "out of range"),
    ("timing_workers: 1.5", "timing_workers", "expected an integer"),
    ("timing_workers: two", "timing_workers", "expected an integer"),
    ("timing_workers: true", "timing_workers", "expected an integer"),
    ("timing_workers: null", "timing_workers", "expected an integer"),
    ("trial_timeout_s: 0", "trial_timeout_s", "range"),
    ("trial_timeout_s: soon", "trial_timeout_s", "number"),
])
def test_bad_values_name_the_file_and_field(tmp_path: Path, extra: str, field: str, needle: str) -> None:
    text = f"name: s\n{'' if extra.startswith('space') else f'space: {SPACE}'}\n{extra}\n"
    err = _error(tmp_path, text)
    assert err.field == field, str(err)
    assert needle in err.message, str(err)
    assert err.source == str(tmp_path / "study.yaml")


def test_missing_name_file_and_bad_yaml(tmp_path: Path) -> None:
    assert _error(tmp_path, f"space: {SPACE}\n").field == "name"
    assert "malformed YAML at line 2" in str(_error(tmp_path, "name: s\nspace: a: b\n"))
    with pytest.raises(ConfigError, match="not found"):
        load_study(tmp_path / "missing.yaml")


def test_errors_in_the_space_file_name_the_space_file(tmp_path: Path) -> None:
    (tmp_path / "bad_space.yaml").write_text("name: b\nparams:\n  quant.weight_bits: {categorical: [3]}\n")
    err = _error(tmp_path, "name: s\nspace: bad_space.yaml\n")
    assert err.source == str(tmp_path / "bad_space.yaml") and err.field == "params.quant.weight_bits"


def test_shipped_digits_study_loads(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = load_study(REPO / "studies" / "digits_joint.yaml")
    assert cfg.name == "digits_joint" and cfg.sampler == "tpe"  # the sampler that learns from stopped trials
    assert cfg.concurrency == 2 and cfg.n_trials >= 32
    assert cfg.early_stopping is not None and max(cfg.early_stopping.rungs) < cfg.train.epochs
    assert cfg.space_path == str(SPACE)
    assert [str(c) for c in cfg.constraints] == ["accuracy >= 0.8"]
    assert cfg.train.epochs < cfg.teacher.train.epochs  # candidates train on a smaller budget
    assert cfg.dataset.name == "digits"
    assert load_study("digits_joint").name == "digits_joint"  # a bare name finds studies/<name>.yaml


@pytest.mark.parametrize("value, needle", [("many", "many"), ("-3", "-3")])
def test_a_bad_file_value_is_an_error_even_when_a_flag_overrides_it(tmp_path: Path, value: str, needle: str) -> None:
    """``automl launch study.yaml --trials 1`` with ``n_trials: many`` in the file: the file is malformed."""
    err = _error(tmp_path, f"name: s\nspace: {SPACE}\nn_trials: {value}\n", overrides={"n_trials": 1})
    assert err.field == "n_trials" and needle in str(err) and str(tmp_path / "study.yaml") in str(err)
    good = _write(tmp_path, f"name: s\nspace: {SPACE}\nn_trials: 8\n")
    assert load_study(good, overrides={"n_trials": 1}).n_trials == 1  # a valid file still takes the flag


def test_cluster_keys_and_gpu_shares(tmp_path: Path) -> None:
    (tmp_path / "study.yaml").write_text(f"name: s\nspace: {SPACE}\ntiming_resource: timing\ntrial_timeout_s: 90\n"
                                         "resources_per_trial: {cpu: 1, gpu: 0.125}\ntiming_workers: 3\n")
    cfg = load_study(tmp_path / "study.yaml")
    assert (cfg.timing_resource, cfg.trial_timeout_s, cfg.resources.gpu) == ("timing", 90.0, 0.125)
    assert cfg.to_dict()["timing_resource"] == "timing" and cfg.to_dict()["trial_timeout_s"] == 90.0
    assert cfg.timing_workers == 3 and cfg.to_dict()["timing_workers"] == 3
    assert load_study(_write(tmp_path, f"name: s2\nspace: {SPACE}\n")).timing_workers == 1  # one, as before


def test_early_stopping_on_keeps_the_files_rungs_and_off_drops_them(tmp_path: Path) -> None:
    path = _write(tmp_path, f"name: es\nspace: {SPACE}\nearly_stopping: {{rungs: [1, 4], min_peers: 3}}\n")
    on = load_study(path, {"early_stopping": "on"}).early_stopping
    assert on.rungs == (1, 4) and on.min_peers == 3
    assert load_study(path, {"early_stopping": "off"}).early_stopping is None
    bare = load_study(_write(tmp_path, f"name: es2\nspace: {SPACE}\n"), {"early_stopping": "on"}).early_stopping
    assert bare is not None and bare.rungs == (3,)  # a file without the block: the defaults
    assert load_study(path, {"seed": 7}).seed == 7


def test_the_predictor_block_and_its_flag(tmp_path: Path) -> None:
    path = _write(tmp_path, f"name: pr\nspace: {SPACE}\npredictor: {{min_trials: 20, proposals: 3}}\n")
    cfg = load_study(path)
    assert cfg.predictor.min_trials == 20 and cfg.predictor.proposals == 3 and cfg.predictor.optimism == 1.0
    assert cfg.to_dict()["predictor"] == {"min_trials": 20, "optimism": 1.0, "proposals": 3}
    assert load_study(path, {"predictor": "on"}).predictor == cfg.predictor  # on: the file's own block
    assert load_study(path, {"predictor": "off"}).predictor is None
    assert load_study(_write(tmp_path, f"name: pr2\nspace: {SPACE}\n")).predictor is None  # off by default
    with pytest.raises(ConfigError, match=r"predictor.optimism.*"):
        load_study(_write(tmp_path, f"name: pr3\nspace: {SPACE}\npredictor: {{optimism: -1}}\n"))

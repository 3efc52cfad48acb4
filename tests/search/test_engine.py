"""The launch phases of engine.py that need no Ray: opening the Optuna study (and refusing a
relaunch that changes its objectives), failing the trials a stopped launch left running, and
checking the space's families against the dataset's input rank."""

from __future__ import annotations

import os
import time
from pathlib import Path

import optuna
import pytest
import yaml
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from automl.config import ConfigError
from automl.search.engine import (
    TRACKING_RETRIES,
    check_space_fits,
    close_interrupted,
    open_optuna_study,
)
from automl.search.tracking_outage import INTERRUPTED_UNRECORDED, TrackingOutage
from automl.study.attrs import (
    BEHIND_ATTR,
    INTERRUPTED,
    INTERRUPTED_ATTR,
    LATE_RUNS_ATTR,
    MLFLOW_RUN_ATTR,
    RESULT_ATTR,
    interrupted_numbers,
    trial_error,
)
from automl.study.config import StudyConfig, load_study
from automl.study.front import finished_trials
from automl.tracking import StudyTracker
from tests.conftest import TEACHER_METRICS

REPO = Path(__file__).resolve().parents[2]
SPACE = REPO / "search_spaces" / "cnn_joint.yaml"


def _study_file(tmp_path: Path, file: str = "study.yaml", **changes) -> Path:
    data = {"name": "eng", "space": str(SPACE), "run_dir": str(tmp_path / "run"), "sampler": "random",
            "n_trials": 4, "tracking_uri": f"sqlite:///{tmp_path / 'run' / 'mlflow.db'}",
            "objectives": [{"name": "accuracy"}, {"name": "size_bytes"}, {"name": "latency_ms"}], **changes}
    path = tmp_path / file
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(autouse=True)
def _restore_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """open_optuna_study sets MLflow's retry settings in os.environ: put them back afterwards."""
    for key in TRACKING_RETRIES:
        monkeypatch.setenv(key, "placeholder")  # recorded, so teardown restores the original state
        monkeypatch.delenv(key)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


# -- open_optuna_study ---------------------------------------------------------------------------

def test_open_creates_the_study_with_directions_and_metric_names(tmp_path: Path) -> None:
    cfg = load_study(_study_file(tmp_path))
    assert not Path(cfg.run_dir).exists()
    study = open_optuna_study(cfg)
    assert study.study_name == "eng"
    assert [d.name.lower() for d in study.directions] == ["maximize", "minimize", "minimize"]
    assert study.metric_names == ["accuracy", "size_bytes", "latency_ms"]
    assert isinstance(study.sampler, optuna.samplers.RandomSampler)
    assert (Path(cfg.run_dir) / "optuna.db").is_file()  # the default storage, under the run folder
    assert {k: os.environ[k] for k in TRACKING_RETRIES} == TRACKING_RETRIES


def test_a_relaunch_resumes_the_same_study(tmp_path: Path) -> None:
    cfg = load_study(_study_file(tmp_path))
    study = open_optuna_study(cfg)
    study.add_trial(optuna.trial.create_trial(values=[0.9, 500.0, 0.1]))
    again = open_optuna_study(load_study(_study_file(tmp_path), {"n_trials": 8}))
    assert again._study_id == study._study_id
    assert [t.values for t in again.trials] == [[0.9, 500.0, 0.1]]
    assert again.metric_names == ["accuracy", "size_bytes", "latency_ms"]


def test_retry_settings_from_the_environment_win(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "7")
    open_optuna_study(load_study(_study_file(tmp_path)))
    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "7"
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == TRACKING_RETRIES["MLFLOW_HTTP_REQUEST_TIMEOUT"]


@pytest.mark.parametrize("objectives", [
    [{"name": "accuracy"}, {"name": "size_bytes"}],  # one fewer
    [{"name": "size_bytes"}, {"name": "accuracy"}, {"name": "latency_ms"}],  # reordered
    [{"name": "accuracy"}, {"name": "macs"}, {"name": "params_nonzero"}],  # renamed, same directions
])
def test_a_relaunch_with_other_directions_names_objectives(tmp_path: Path, objectives: list) -> None:
    open_optuna_study(load_study(_study_file(tmp_path)))
    changed = _study_file(tmp_path, "changed.yaml", objectives=objectives)
    with pytest.raises(ConfigError) as info:
        open_optuna_study(load_study(changed))
    err = info.value
    assert err.field == "objectives"
    assert err.source == str(changed)
    assert "'eng'" in err.message and "another --name" in err.message
    assert "\n" not in str(err)
    # the stored study is untouched
    kept = optuna.load_study(study_name="eng", storage=load_study(changed).storage_url)
    assert [d.name.lower() for d in kept.directions] == ["maximize", "minimize", "minimize"]


def test_open_from_a_mapping_without_a_file(tmp_path: Path) -> None:
    data = yaml.safe_load(_study_file(tmp_path).read_text())
    cfg = StudyConfig.from_dict({**data, "objectives": ["accuracy", "macs"]})
    study = open_optuna_study(cfg)
    assert study.metric_names == ["accuracy", "macs"]
    with pytest.raises(ConfigError) as info:
        open_optuna_study(StudyConfig.from_dict(data))
    assert info.value.field == "objectives" and not info.value.source
    assert str(info.value).startswith("objectives: ")


# -- close_interrupted ---------------------------------------------------------------------------

def _study_with_cut_trials(tracker: StudyTracker) -> tuple[optuna.Study, dict[int, str]]:
    """0 complete, 1 failed by an earlier interrupted launch, 2 failed for real, 3 and 4 left
    running (3 with its MLflow run, 4 asked during an outage: none)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=["maximize", "minimize"])
    study.add_trial(optuna.trial.create_trial(values=[0.9, 400.0]))
    study.add_trial(optuna.trial.create_trial(state=TrialState.FAIL))
    study.add_trial(optuna.trial.create_trial(state=TrialState.FAIL, user_attrs={"error": "boom"}))
    study.set_user_attr(INTERRUPTED_ATTR, [1])
    runs = {}
    for _ in range(2):
        trial = study.ask()
        if trial.number == 3:
            runs[3] = tracker.start_trial(3, {}, {"arch": {"family": "cnn"}})
            trial.set_user_attr(MLFLOW_RUN_ATTR, runs[3])
    return study, runs


def test_running_trials_fail_and_are_recorded_interrupted(tracker: StudyTracker) -> None:
    study, runs = _study_with_cut_trials(tracker)
    before = study.trials[0]

    assert close_interrupted(study, tracker) == 2
    states = [t.state for t in study.trials]
    assert states == [TrialState.COMPLETE] + [TrialState.FAIL] * 4
    assert study.trials[0].values == before.values and study.trials[0].datetime_complete == before.datetime_complete
    assert interrupted_numbers(study) == {1, 3, 4}
    assert [trial_error(study, t) for t in study.trials] == [None, INTERRUPTED, "boom", INTERRUPTED, INTERRUPTED]
    assert [t.number for t in finished_trials(study)] == [0, 2]  # cut-off trials spend no budget

    run = MlflowClient(tracker.client.tracking_uri).get_run(runs[3])
    assert run.info.status == "FAILED"
    assert run.data.tags["error"] == INTERRUPTED and run.data.tags["pareto"] == "false"

    assert close_interrupted(study, tracker) == 0  # nothing left running: nothing changes
    assert interrupted_numbers(study) == {1, 3, 4}


def test_during_an_outage_the_cut_off_run_is_listed_behind_and_caught_up(tracker: StudyTracker) -> None:
    study, runs = _study_with_cut_trials(tracker)
    outage = TrackingOutage(study, tracker, tracker.client.tracking_uri, lambda _: None, TEACHER_METRICS)
    outage.down, outage._last_probe = True, time.monotonic()  # MLflow went away a moment ago

    assert close_interrupted(study, tracker, outage) == 2
    assert [t.state for t in study.trials][3:] == [TrialState.FAIL] * 2  # Optuna is told regardless
    assert outage.behind == [3]  # only the trial with a run has an MLflow record to fix
    assert tracker.client.get_run(runs[3]).info.status == "RUNNING"

    outage.down = False
    assert outage.catch_up() == 1
    run = tracker.client.get_run(runs[3])
    assert run.info.status == "FAILED" and run.data.tags["error"] == INTERRUPTED
    assert outage.behind == []


# -- check_space_fits ----------------------------------------------------------------------------

def test_runs_a_killed_driver_left_open_are_closed_from_optunas_record(tracker: StudyTracker) -> None:
    # killed after telling trial 0 (its run still RUNNING), after closing trial 1's run, and
    # after creating a run it never linked to its trial: the relaunch closes what is open
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=["maximize"])
    runs = []
    for number in range(2):
        trial = study.ask()
        runs.append(tracker.start_trial(number, {}, {"arch": {"family": "cnn"}}))
        trial.set_user_attr(MLFLOW_RUN_ATTR, runs[-1])
        trial.set_user_attr(RESULT_ATTR, {**TEACHER_METRICS, "accuracy": 0.5 + number / 10})
        study.tell(trial, [0.5 + number / 10])
    tracker.finish_trial(runs[1], {**TEACHER_METRICS, "accuracy": 0.6}, None, TEACHER_METRICS)
    orphan = tracker.start_trial(2, {}, {"arch": {"family": "cnn"}})
    outage = TrackingOutage(study, tracker, tracker.client.tracking_uri, lambda _: None, TEACHER_METRICS)

    assert tracker.open_trial_runs() == {runs[0], orphan}
    assert outage.close_left_running() == 2
    told = tracker.client.get_run(runs[0])
    assert told.info.status == "FINISHED" and told.data.metrics["accuracy"] == 0.5
    lost = tracker.client.get_run(orphan)
    assert lost.info.status == "FAILED" and lost.data.tags["error"] == INTERRUPTED_UNRECORDED
    assert tracker.client.get_run(runs[1]).info.status == "FINISHED"
    assert tracker.open_trial_runs() == set() and outage.close_left_running() == 0


def test_a_run_an_outage_cut_short_is_adopted_by_the_catch_up_not_doubled(tracker: StudyTracker) -> None:
    # the server created trial 0's run, then went away before its id reached the driver (the
    # parameters' log_batch failed): the catch-up closes that run, the trial never has two runs
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=["maximize"])
    trial = study.ask()
    lost = tracker.start_trial(0, {}, {"arch": {"family": "cnn"}})
    trial.set_user_attr(RESULT_ATTR, {**TEACHER_METRICS, "accuracy": 0.7})
    study.tell(trial, [0.7])
    study.set_user_attr(BEHIND_ATTR, [0])
    outage = TrackingOutage(study, tracker, tracker.client.tracking_uri, lambda _: None, TEACHER_METRICS)

    assert outage.catch_up() == 1 and study.user_attrs[LATE_RUNS_ATTR] == {"0": lost}
    runs = tracker.client.search_runs([tracker.experiment_id], "tags.`automl.trial` = '0'")
    assert [r.info.run_id for r in runs] == [lost]
    assert runs[0].info.status == "FINISHED" and runs[0].data.metrics["accuracy"] == 0.7
    assert runs[0].data.params["arch.family"] == "cnn"  # its parameters logged again, same values
    assert tracker.start_trial(0, {}, {"arch": {"family": "cnn"}}, adopt=True) != lost  # a closed run is not reopened


def _space(tmp_path: Path, families: list[str]) -> Path:
    path = tmp_path / "families.yaml"
    path.write_text(yaml.safe_dump({"name": "families", "params": {
        "arch.family": {"categorical": families}, "quant.weight_bits": {"categorical": [8, 32]}}}))
    return path


def test_a_family_that_cannot_take_the_input_rank_is_a_config_error(tmp_path: Path) -> None:
    space_file = _space(tmp_path, ["mlp", "cnn"])
    cfg = load_study(_study_file(tmp_path, space=str(space_file)))
    with pytest.raises(ConfigError) as info:
        check_space_fits(cfg.space, (64,))  # feature vectors: mlp takes them, cnn does not
    err = info.value
    assert err.field == "params.arch.family"
    assert err.source == str(space_file)
    assert "'cnn'" in err.message and "(64,)" in err.message
    assert "\n" not in str(err)
    check_space_fits(cfg.space, (1, 8, 8))  # images: both take them


def test_a_fixed_family_is_checked_too(tmp_path: Path) -> None:
    cfg = load_study(_study_file(tmp_path))  # cnn_joint: arch.family fixed to cnn
    with pytest.raises(ConfigError) as info:
        check_space_fits(cfg.space, (8, 8))
    assert info.value.field == "params.arch.family" and "cnn1d" in info.value.message  # what fits signals
    check_space_fits(cfg.space, (1, 8, 8))


def test_a_space_without_a_family_or_with_a_user_family_fits_any_rank(tmp_path: Path) -> None:
    space_file = tmp_path / "knobs.yaml"
    space_file.write_text(yaml.safe_dump({"name": "knobs", "params": {"quant.weight_bits": {"categorical": [8, 32]}}}))
    cfg = load_study(_study_file(tmp_path, space=str(space_file)))
    for shape in ((64,), (8, 8), (1, 8, 8)):
        check_space_fits(cfg.space, shape)
    user = _space(tmp_path, ["mlp", "tests.models.user_family:build"])
    check_space_fits(load_study(_study_file(tmp_path, space=str(user))).space, (8, 8))


# -- check_space_unchanged (inside open_optuna_study) --------------------------------------------

def _space_file(tmp_path: Path, bits: str, ratio: str = "{float: [0.0, 0.9], step: 0.05}") -> Path:
    path = tmp_path / "space.yaml"
    path.write_text(f"name: s\nparams:\n  arch.family: {{fixed: cnn}}\n  arch.choices.stages: {{fixed: 2}}\n"
                    f"  arch.choices.widths: {{categorical: [8, 16], per_stage: arch.choices.stages}}\n"
                    f"  pruning.ratio: {ratio}\n  quant.weight_bits: {bits}\n")
    return path


def _sample_once(cfg: StudyConfig) -> None:
    study = open_optuna_study(cfg)
    trial = study.ask()
    cfg.space.suggest(trial)
    study.tell(trial, [0.9, 100.0, 0.1])


def test_an_edited_space_under_the_same_name_is_refused_naming_the_param(tmp_path: Path) -> None:
    _sample_once(load_study(_study_file(tmp_path, space=str(_space_file(tmp_path, "{categorical: [4, 8]}")))))
    # a range that moves is fine for Optuna, and so for the relaunch
    open_optuna_study(load_study(_study_file(tmp_path, space=str(_space_file(
        tmp_path, "{categorical: [4, 8]}", ratio="{float: [0.0, 0.5], step: 0.05}")))))
    edited = load_study(_study_file(tmp_path, space=str(_space_file(tmp_path, "{categorical: [2, 4, 8]}"))))
    with pytest.raises(ConfigError) as info:
        open_optuna_study(edited)
    assert info.value.field == "params.quant.weight_bits" and "another --name" in info.value.message
    assert "\n" not in str(info.value)


def test_per_stage_params_are_checked_by_their_stage_names(tmp_path: Path) -> None:
    space = load_study(_study_file(tmp_path, space=str(_space_file(tmp_path, "{categorical: [4, 8]}")))).space
    assert space.distribution_of("arch.choices.widths.1") == optuna.distributions.CategoricalDistribution([8, 16])
    assert space.distribution_of("arch.choices.widths") is None and space.distribution_of("nope") is None
    assert space.distribution_of("arch.choices.stages") is None  # fixed: not an Optuna parameter

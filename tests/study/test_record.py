"""study.json: the typed record round trip, opening a launched study by name, and old records."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import optuna
import pytest

from automl.candidate.result import CandidateResult
from automl.config import ConfigError
from automl.data import DatasetConfig
from automl.study.record import (
    RECORD_FILE,
    StudyRecord,
    open_launched,
    read_record,
    write_record,
)

OBJECTIVES = [("accuracy", "maximize"), ("size_bytes", "minimize")]


def _teacher() -> CandidateResult:
    return CandidateResult(accuracy=0.97, test_accuracy=0.96, size_bytes=41_234, latency_ms=0.125,
                           params_nonzero=10_500, macs=123_456, kernels="fp32", int8_kernels=False,
                           latency={"runtime": "onnxruntime", "p10_ms": 0.12, "p90_ms": 0.13, "threads": 1},
                           artifact_path="/somewhere/teacher.onnx", encodings={"fp32": 6},
                           history=[{"step": 1, "loss": 1.5, "val_accuracy": 0.7}],
                           phase_seconds={"train": 3.5}, latency_ratio=1.0)


def _record(run_dir: Path, name: str = "rec", **changes) -> StudyRecord:
    record = StudyRecord(name=name, storage=f"sqlite:///{run_dir / 'optuna.db'}",
                         tracking_uri=f"sqlite:///{run_dir / 'mlflow.db'}", run_dir=str(run_dir),
                         objectives=[tuple(o) for o in OBJECTIVES], constraints=["accuracy >= 0.8"],
                         teacher=_teacher(), study_file=str(run_dir / "study.yaml"),
                         dataset=DatasetConfig(name="digits", seed=3, val_fraction=0.1, max_train=200),
                         threads=2, cluster={"nodes": 1, "cpus": 2.0, "gpus": 0.0},
                         timing_node={"ray_node_id": "abc", "host": "h1"})
    return dataclasses.replace(record, **changes)


def _old_record_json(run_dir: Path, name: str, dataset_key: str) -> dict:
    """A study.json as an older version wrote it: the teacher a plain dict with a key that is
    no CandidateResult field any more, no threads/cluster/timing node, no (or a null) dataset."""
    teacher = {**_teacher().to_dict(), "retired_field": 42}
    data = {"name": name, "storage": f"sqlite:///{run_dir / 'optuna.db'}",
            "tracking_uri": f"sqlite:///{run_dir / 'mlflow.db'}", "run_dir": str(run_dir),
            "objectives": [list(o) for o in OBJECTIVES], "constraints": [], "teacher": teacher,
            "study_file": None}
    if dataset_key == "null":
        data["dataset"] = None
    return data


def _create_optuna_study(record: StudyRecord, n_trials: int = 2) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=record.name, storage=record.storage,
                                directions=[d for _, d in record.objectives])
    for i in range(n_trials):
        study.add_trial(optuna.trial.create_trial(values=[0.5 + 0.1 * i, 1000.0 - i]))


def test_write_then_read_gives_the_same_typed_record(tmp_path: Path) -> None:
    record = _record(tmp_path)
    path = write_record(record)
    assert path == tmp_path / RECORD_FILE
    on_disk = json.loads(path.read_text())
    assert on_disk["teacher"]["size_bytes"] == 41_234 and on_disk["dataset"]["max_train"] == 200
    assert on_disk["objectives"] == [list(o) for o in OBJECTIVES]  # JSON keeps pairs as lists

    again = read_record("rec", str(tmp_path))
    assert again == record
    assert isinstance(again.teacher, CandidateResult) and isinstance(again.dataset, DatasetConfig)
    assert again.objectives == [("accuracy", "maximize"), ("size_bytes", "minimize")]
    assert all(isinstance(o, tuple) for o in again.objectives)
    assert again.teacher.metrics()["latency_ms"] == 0.125
    assert again.require_dataset("verify") == DatasetConfig(name="digits", seed=3, val_fraction=0.1, max_train=200)


def test_a_record_without_a_dataset_round_trips_as_none(tmp_path: Path) -> None:
    write_record(_record(tmp_path, dataset=None, cluster=None, timing_node=None))
    again = read_record("rec", str(tmp_path))
    assert again.dataset is None and again.cluster is None and again.timing_node is None


def test_read_record_defaults_to_runs_name_under_the_current_directory(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "runs" / "deflt"
    folder.mkdir(parents=True)
    write_record(_record(folder, name="deflt"))
    assert read_record("deflt").run_dir == str(folder)


def test_open_launched_opens_the_optuna_study_by_name(tmp_path: Path) -> None:
    record = _record(tmp_path)
    write_record(record)
    _create_optuna_study(record, n_trials=3)
    # another study in the same storage must not be the one opened
    optuna.create_study(study_name="other", storage=record.storage, directions=["minimize"])

    launched = open_launched("rec", str(tmp_path))
    assert launched.record == record
    assert launched.study.study_name == "rec"
    assert [d.name.lower() for d in launched.study.directions] == ["maximize", "minimize"]
    assert [t.values for t in launched.study.trials] == [[0.5, 1000.0], [0.6, 999.0], [0.7, 998.0]]


def test_a_missing_study_names_the_path(tmp_path: Path) -> None:
    where = tmp_path / "nowhere"
    for opener in (read_record, open_launched):
        with pytest.raises(ConfigError) as info:
            opener("ghost", str(where))
        err = info.value
        assert err.field == "name"
        assert str(where / RECORD_FILE) in str(err) and "ghost" in str(err)
        assert "\n" not in str(err)


def test_a_name_that_is_a_path_is_refused_before_any_file_is_read(tmp_path: Path) -> None:
    write_record(_record(tmp_path))
    with pytest.raises(ConfigError) as info:
        read_record("../rec", str(tmp_path))
    assert info.value.field == "name"


@pytest.mark.parametrize("dataset_key", ["missing", "null"])
def test_an_old_record_still_opens_and_require_dataset_says_why_not(tmp_path: Path, dataset_key: str) -> None:
    data = _old_record_json(tmp_path, "old", dataset_key)
    (tmp_path / RECORD_FILE).write_text(json.dumps(data))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    optuna.create_study(study_name="old", storage=data["storage"], directions=["maximize", "minimize"])

    launched = open_launched("old", str(tmp_path))
    record = launched.record
    assert launched.study.study_name == "old"
    assert record.teacher == _teacher()  # the unknown teacher key is dropped, every field kept
    assert not hasattr(record.teacher, "retired_field")
    assert record.objectives == [("accuracy", "maximize"), ("size_bytes", "minimize")]
    assert (record.dataset, record.threads, record.cluster, record.timing_node) == (None, 1, None, None)

    with pytest.raises(ConfigError) as info:
        record.require_dataset("verify")
    err = info.value
    assert err.field == "verify"
    assert "'old'" in err.message and "dataset" in err.message
    assert "\n" not in str(err)

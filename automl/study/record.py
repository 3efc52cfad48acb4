"""``<run_dir>/study.json``: where a launched study keeps its storage, store and teacher
baseline, so ``automl pareto/export/verify/dashboard/ui NAME`` find it by name.

:func:`open_launched` is the one way to open a launched study: its record and its Optuna study.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

from automl.candidate.result import CandidateResult
from automl.config import ConfigError
from automl.data import DatasetConfig
from automl.measure.targets import Target, targets_from_record
from automl.study.config import check_name
from automl.study.storage import load_study

RECORD_FILE = "study.json"
DEFAULT_RUNS = "runs"


@dataclass(frozen=True)
class StudyRecord:
    name: str
    storage: str  # Optuna storage URL
    tracking_uri: str  # MLflow tracking URI
    run_dir: str
    objectives: list[tuple[str, str]]
    constraints: list[str]
    teacher: CandidateResult  # the baseline of every ratio; latency = the study's one teacher figure
    study_file: str | None = None
    dataset: DatasetConfig | None = None  # what verify re-evaluates on (None: a study from before it was kept)
    threads: int = 1  # intra-op threads of every timing run
    cluster: dict[str, Any] | None = None  # the Ray cluster at the last launch (nodes, CPUs, GPUs)
    timing_node: dict[str, Any] | None = None  # {ray_node_id, host} of the (first) timing worker's node
    timing_nodes: list[dict[str, Any]] | None = None  # every timing worker's, in order (timing_node first)
    targets: list[dict[str, Any]] | None = None  # the deployment targets (Target.to_dict), primary first

    @property
    def target_list(self) -> tuple[Target, ...]:
        """The study's deployment targets (a study from before targets: ``ort-cpu``)."""
        return targets_from_record(self.targets)

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["teacher"] = self.teacher.to_dict()
        out["dataset"] = None if self.dataset is None else self.dataset.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "StudyRecord":
        data = dict(data)
        data["objectives"] = [tuple(o) for o in data["objectives"]]
        known = {f.name for f in dataclasses.fields(CandidateResult)}  # older records may hold more keys
        data["teacher"] = CandidateResult.from_dict({k: v for k, v in data["teacher"].items() if k in known})
        if data.get("dataset") is not None:
            data["dataset"] = DatasetConfig.from_dict(data["dataset"])
        return cls(**data)

    def require_dataset(self, what: str) -> DatasetConfig:
        """The study's dataset, or a one-line error for a study launched before it was recorded."""
        if self.dataset is None:
            raise ConfigError(what, f"study '{self.name}' was launched by an older version that did not record "
                                    "its dataset; launch it again to resume and record it")
        return self.dataset


@dataclass(frozen=True)
class LaunchedStudy:
    """A launched study, opened by name: its record and its Optuna study."""

    record: StudyRecord
    study: optuna.Study


def write_record(record: StudyRecord) -> Path:
    path = Path(record.run_dir) / RECORD_FILE
    path.write_text(json.dumps(record.to_dict(), indent=1))
    return path


def read_record(name: str, run_dir: str | None = None) -> StudyRecord:
    check_name(name)
    folder = Path(run_dir) if run_dir else Path(DEFAULT_RUNS) / name
    path = folder / RECORD_FILE
    if not path.exists():
        raise ConfigError("name", f"no study '{name}' found: {path} does not exist "
                          f"(launch it first, or pass --run-dir to where it ran)")
    return StudyRecord.from_dict(json.loads(path.read_text()))


def open_launched(name: str, run_dir: str | None = None) -> LaunchedStudy:
    """Study ``name`` as launched into ``run_dir`` (default ``runs/<name>``)."""
    record = read_record(name, run_dir)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return LaunchedStudy(record, load_study(name, record.storage))

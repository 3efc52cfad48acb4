"""``<run_dir>/study.json``: where a launched study keeps its storage, store and teacher
baseline, so ``automl pareto/export/ui NAME`` find it by name."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from automl.config import ConfigError

RECORD_FILE = "study.json"
DEFAULT_RUNS = "runs"


@dataclass
class StudyRecord:
    name: str
    storage: str  # Optuna storage URL
    tracking_uri: str  # MLflow tracking URI
    run_dir: str
    objectives: list[tuple[str, str]]
    constraints: list[str]
    teacher: dict[str, Any]  # the teacher's CandidateResult, the baseline of every ratio
    study_file: str | None = None
    dataset: dict[str, Any] | None = None  # the DatasetConfig as a dict (what verify re-evaluates on)
    threads: int = 1  # intra-op threads of every timing run
    cluster: dict[str, Any] | None = None  # the Ray cluster at the last launch (nodes, CPUs, GPUs)
    timing_node: dict[str, Any] | None = None  # {ray_node_id, host} of the node that timed every latency


def write_record(record: StudyRecord) -> Path:
    path = Path(record.run_dir) / RECORD_FILE
    path.write_text(json.dumps(asdict(record), indent=1))
    return path


def read_record(name: str, run_dir: str | None = None) -> StudyRecord:
    from automl.study.config import check_name

    check_name(name)
    folder = Path(run_dir) if run_dir else Path(DEFAULT_RUNS) / name
    path = folder / RECORD_FILE
    if not path.exists():
        raise ConfigError("name", f"no study '{name}' found: {path} does not exist "
                          f"(launch it first, or pass --run-dir to where it ran)")
    data = json.loads(path.read_text())
    data["objectives"] = [tuple(o) for o in data["objectives"]]
    return StudyRecord(**data)

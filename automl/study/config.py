"""The typed, validated description of one study, loaded from ``studies/<name>.yaml``.

Format (every key but ``name`` is optional; defaults shown)::

    name: digits_joint                  # required; [A-Za-z0-9_.-]+
    description: ""                     # free text
    dataset: {name: digits}             # automl.data.DatasetConfig fields
    teacher:                            # the reference model (distillation, normalisation);
      arch: {family: cnn, choices: {stages: 2, widths: [32, 64]}}   # when absent, this one
      train: {epochs: 15}               # (a teacher given without train: TrainConfig's 10)
    space: search_spaces/cnn_joint.yaml # relative to the study file, then cwd, then the repo
    targets: [ort-cpu]                  # deployment targets (automl/measure/targets.py): names or
                                        # {name, runtime, threads, provider, precision, options};
                                        # the first is the primary one (plain accuracy, latency_ms)
    objectives:                         # names from METRICS (or accuracy/latency_ms@<target>)
      - {name: accuracy, direction: maximize}
      - {name: size_bytes, direction: minimize}
      - {name: latency_ms, direction: minimize}
    constraints: []                     # e.g. ["accuracy >= 0.8", "size_bytes <= 20000"]
    sampler: tpe                        # tpe | nsga2 | random | gp
    n_trials: 32
    concurrency: 2                      # trials running at once
    resources_per_trial: {cpu: 1, gpu: 0.0}
    train: {}                           # per-trial TrainConfig fields, merged into every candidate
    seed: 0                             # sampler seed
    storage: null                       # Optuna URL, or journal (<run_dir>/optuna.journal: for
                                        # thousands of trials); default sqlite:///<run_dir>/optuna.db
    tracking_uri: null                  # MLflow URI; default $MLFLOW_TRACKING_URI, else
                                        # sqlite:///<run_dir>/mlflow.db
    run_dir: null                       # default runs/<name> under the current directory
    timing_resource: null               # Ray custom resource naming the node that times every
                                        # latency (default: the driver's node); see README
    timing_workers: 1                   # timing workers, each timing one candidate at a time for
                                        # the workers bound to it: spread over the timing_resource
                                        # nodes, else all on the driver's node (where cores allow)
    trial_timeout_s: null               # a candidate running longer is failed ("timed out")
    early_stopping: off                 # on | off | {rungs: [3], reduction_factor: 2,
                                        # min_peers: 4}: multi-objective ASHA (study/mo_asha.py)
    predictor: off                      # on | off | {min_trials: 12, optimism: 1, proposals: 4}:
                                        # candidates whose predicted point would add too little
                                        # to the front are screened before training
                                        # (study/accuracy_screen.py)
    warm_start: []                      # earlier studies (names, or their run folders) whose
                                        # finished trials seed the sampler (study/warm_start.py)

Bad input raises :class:`~automl.config.ConfigError` naming the file and field in one line.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from automl.candidate.config import CandidateConfig
from automl.config import fields as F
from automl.config.compression import TrainConfig
from automl.config.errors import ConfigError
from automl.config.yaml_file import read_yaml_mapping
from automl.data import DatasetConfig
from automl.measure.targets import DEFAULT_TARGET, Target, parse_targets
from automl.space.search_space import SearchSpace, load_space
from automl.study.accuracy_screen import PredictorConfig
from automl.study.mo_asha import EarlyStoppingConfig
from automl.study.objectives import (
    DEFAULT_OBJECTIVES,
    Constraint,
    Objective,
    parse_constraint,
    parse_objectives,
)
from automl.study.sampler import check_sampler
from automl.study.storage import resolve_storage

DEFAULT_SPACE = "search_spaces/cnn_joint.yaml"
DEFAULT_TEACHER: dict[str, Any] = {
    "arch": {"family": "cnn", "choices": {"stages": 2, "widths": [32, 64]}},
    "train": {"epochs": 15},
}
OVERRIDE_KEYS = ("n_trials", "concurrency", "name", "storage", "tracking_uri", "run_dir", "sampler", "seed",
                 "early_stopping", "targets", "warm_start", "predictor")
_KEYS = ("name", "description", "dataset", "teacher", "space", "targets", "objectives", "constraints", "sampler",
         "n_trials", "concurrency", "resources_per_trial", "train", "seed", "storage", "tracking_uri",
         "run_dir", "timing_resource", "timing_workers", "trial_timeout_s", "early_stopping", "warm_start",
         "predictor")
_RESOURCE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
RAY_BUILTIN_RESOURCES = ("CPU", "GPU", "memory", "object_store_memory")
MAX_TIMING_WORKERS = 1024  # concurrency's bound: a timing worker beyond the workers sits idle
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Resources:
    cpu: float = 1.0
    gpu: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "cpu", F.number("cpu", self.cpu, 0.0, 1024, lo_open=True))
        object.__setattr__(self, "gpu", F.number("gpu", self.gpu, 0.0, 64))
        if self.gpu > 1 and not float(self.gpu).is_integer():  # Ray shares a GPU only in fractions below 1
            raise ConfigError("gpu", f"{self.gpu} GPUs: a share above 1 must be a whole number of GPUs "
                                     "(fractions like 0.25 let several candidates share one GPU)")

    def to_dict(self) -> dict[str, float]:
        return {"cpu": self.cpu, "gpu": self.gpu}


@dataclass(frozen=True)
class StudyConfig:
    """One validated study. Paths (``space_path``, ``run_dir``) are absolute."""

    name: str
    space_path: str
    run_dir: str
    space: SearchSpace = field(compare=False, repr=False)
    description: str = ""
    dataset: DatasetConfig = field(default_factory=lambda: DatasetConfig("digits"))
    teacher: CandidateConfig = field(default_factory=lambda: CandidateConfig.from_dict(DEFAULT_TEACHER, "teacher"))
    targets: tuple[Target, ...] = (DEFAULT_TARGET,)  # deployment targets; the first is the primary one
    objectives: tuple[Objective, ...] = tuple(Objective(n, d) for n, d in DEFAULT_OBJECTIVES)
    constraints: tuple[Constraint, ...] = ()
    sampler: str = "tpe"  # benchmarks/search_quality.py: TPE led; only TPE learns from early-stopped trials
    n_trials: int = 32
    concurrency: int = 2
    resources: Resources = field(default_factory=Resources)
    train: TrainConfig = field(default_factory=TrainConfig)  # merged into every candidate
    seed: int = 0
    storage: str | None = None  # as written (None: the default under run_dir)
    tracking_uri_setting: str | None = None  # as written (None: $MLFLOW_TRACKING_URI or the default)
    timing_resource: str | None = None  # Ray custom resource of the timing node (None: the driver's node)
    timing_workers: int = 1  # TimingGate actors; each Tune worker is bound to one (trainable.py)
    trial_timeout_s: float | None = None  # wall seconds a candidate may take (None: no limit)
    early_stopping: EarlyStoppingConfig | None = None  # None: every candidate trains its full budget
    warm_start: tuple[str, ...] = ()  # earlier studies whose finished trials seed the sampler
    predictor: PredictorConfig | None = None  # None: every candidate that passes the limits trains
    source: str | None = field(default=None, compare=False)

    # -- resolved values -----------------------------------------------------------------------

    @property
    def storage_url(self) -> str:
        """The Optuna storage URL: the file's ``storage`` (``journal``: a journal file in run_dir)
        or ``sqlite:///<run_dir>/optuna.db``."""
        return resolve_storage(self.storage, self.run_dir)

    @property
    def tracking_uri(self) -> str:
        """The MLflow URI: the file's, else ``$MLFLOW_TRACKING_URI``, else ``sqlite:///<run_dir>/mlflow.db``."""
        if self.tracking_uri_setting:
            return self.tracking_uri_setting
        env = os.environ.get("MLFLOW_TRACKING_URI")
        if env:
            return env
        return f"sqlite:///{Path(self.run_dir) / 'mlflow.db'}"

    @property
    def objective_names(self) -> list[str]:
        return [o.name for o in self.objectives]

    @property
    def directions(self) -> list[str]:
        return [o.direction for o in self.objectives]

    @property
    def resources_per_trial(self) -> dict[str, float]:
        return self.resources.to_dict()

    def base_candidate(self) -> dict[str, Any]:
        """What every candidate starts from before the space's sampled values: the train budget."""
        return {"train": F.to_plain(self.train)}

    def to_dict(self) -> dict[str, Any]:
        """A plain mapping in the YAML format, with resolved storage / tracking URIs and paths."""
        out: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "dataset": self.dataset.to_dict(),
            "teacher": {k: v for k, v in self.teacher.to_dict().items() if k in ("arch", "train")},
            "space": self.space_path,
            "targets": [t.to_dict() for t in self.targets],
            "objectives": [o.to_dict() for o in self.objectives],
            "constraints": [str(c) for c in self.constraints],
            "sampler": self.sampler,
            "n_trials": self.n_trials,
            "concurrency": self.concurrency,
            "resources_per_trial": self.resources.to_dict(),
            "train": F.to_plain(self.train),
            "seed": self.seed,
            "storage": self.storage_url,
            "tracking_uri": self.tracking_uri,
            "run_dir": self.run_dir,
            "timing_resource": self.timing_resource,
            "timing_workers": self.timing_workers,
            "trial_timeout_s": self.trial_timeout_s,
            "early_stopping": None if self.early_stopping is None else self.early_stopping.to_dict(),
            "warm_start": list(self.warm_start),
            "predictor": None if self.predictor is None else self.predictor.to_dict(),
        }
        return out

    # -- construction --------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Any, source: str | None = None, base_dir: str | Path | None = None,
                  overrides: Mapping[str, Any] | None = None) -> "StudyConfig":
        """Validate a study mapping; ``base_dir`` resolves a relative ``space`` (default: cwd)."""
        try:
            return _build(data, source, base_dir, overrides)
        except ConfigError as err:
            if err.source is None and source is not None:
                raise err.within(source=source) from None
            raise


def load_study(path: str | Path, overrides: Mapping[str, Any] | None = None) -> StudyConfig:
    """Load ``path`` (or ``studies/<path>.yaml`` for a bare study name) with CLI overrides.

    ``overrides`` keys: ``n_trials`` (also ``trials``), ``concurrency``, ``name``, ``storage``,
    ``tracking_uri``, ``run_dir``, ``sampler``, ``seed``, ``early_stopping`` (on/off), ``targets``; ``None``
    values are ignored.
    """
    p = _find_study_file(Path(path))
    data = read_yaml_mapping(p, "study file")
    return StudyConfig.from_dict(data, source=str(p), base_dir=p.parent, overrides=overrides)


def _find_study_file(p: Path) -> Path:
    if p.is_file():
        return p
    if p.suffix == "" and len(p.parts) == 1:  # a bare name: studies/<name>.yaml
        for root in (Path.cwd(), REPO_ROOT):
            cand = root / "studies" / f"{p.name}.yaml"
            if cand.is_file():
                return cand
    return p  # read_yaml_mapping reports it missing


def _build(data: Any, source: str | None, base_dir: str | Path | None,
           overrides: Mapping[str, Any] | None) -> StudyConfig:
    if not isinstance(data, Mapping):
        raise ConfigError("", f"expected a mapping, got {type(data).__name__}", source)
    unknown = [k for k in data if k not in _KEYS]
    if unknown:
        raise ConfigError(str(unknown[0]), f"unknown key (allowed: {', '.join(_KEYS)})", source)
    data = dict(data)
    if overrides:  # the file must be valid on its own, even where a flag overrides a key
        _build(data, source, base_dir, None)
    for key, value in (overrides or {}).items():
        key = {"trials": "n_trials", "tracking-uri": "tracking_uri", "run-dir": "run_dir"}.get(key, key)
        if key not in OVERRIDE_KEYS:
            raise ConfigError(key, f"unknown override (allowed: {', '.join(OVERRIDE_KEYS)})", "command line")
        if key in ("early_stopping", "predictor") and value in ("on", True) and isinstance(data.get(key), Mapping):
            continue  # on: the file's own rungs, not the defaults
        if key == "warm_start" and value is not None:  # the flag's studies join the file's
            value = [*_listed(data.get(key)), *_listed(value)]
        if value is not None:
            data[key] = value

    name = check_name(data.get("name"), source)
    description = data.get("description") or ""
    if not isinstance(description, str):
        raise ConfigError("description", f"expected a string, got {description!r}", source)

    dataset = data.get("dataset", {"name": "digits"})
    if not isinstance(dataset, Mapping):
        raise ConfigError("dataset", f"expected a mapping, got {dataset!r}", source)
    dataset = DatasetConfig.from_dict(dict(dataset), prefix="dataset")

    teacher = data.get("teacher", DEFAULT_TEACHER)
    if not isinstance(teacher, Mapping):
        raise ConfigError("teacher", f"expected a mapping with arch and train, got {teacher!r}", source)
    bad = [k for k in teacher if k not in ("arch", "train")]
    if bad:
        raise ConfigError(f"teacher.{bad[0]}", "unknown key (allowed: arch, train)", source)
    if "arch" not in teacher:
        raise ConfigError("teacher.arch", "missing: give the teacher's family and choices", source)
    teacher = CandidateConfig.from_dict(_plain(dict(teacher)), "teacher")

    space_raw = data.get("space", DEFAULT_SPACE)
    if not isinstance(space_raw, str) or not space_raw:
        raise ConfigError("space", f"expected a path to a search space YAML, got {space_raw!r}", source)
    space_path = _resolve_space(space_raw, base_dir)
    if space_path is None:
        raise ConfigError("space", f"search space file {space_raw!r} not found (looked next to the study "
                                   "file, in the current directory and in the repository)", source)
    space = load_space(space_path)  # errors carry the space file as their source

    targets = parse_targets(data.get("targets"))
    names = tuple(t.name for t in targets)
    objectives = parse_objectives(data.get("objectives"), names)
    constraints_raw = data.get("constraints") or []
    if isinstance(constraints_raw, str):
        constraints_raw = [constraints_raw]
    if not isinstance(constraints_raw, list):
        raise ConfigError("constraints", f"expected a list of strings, got {constraints_raw!r}")
    constraints = tuple(parse_constraint(c, f"constraints[{i}]", names) for i, c in enumerate(constraints_raw))

    sampler = data.get("sampler", "tpe")
    check_sampler(sampler, len(objectives))
    n_trials = F.number("n_trials", data.get("n_trials", 32), 1, 100_000, integer=True)
    concurrency = F.number("concurrency", data.get("concurrency", 2), 1, 1024, integer=True)
    res = data.get("resources_per_trial") or {}
    resources = F.from_mapping(Resources, res, "resources_per_trial")

    train_raw = data.get("train") or {}
    train = F.from_mapping(TrainConfig, train_raw, "train")
    seed = F.number("seed", data.get("seed", 0), 0, 2**31 - 1, integer=True)

    storage = _opt_text(data, "storage")
    tracking = _opt_text(data, "tracking_uri")
    run_dir_raw = _opt_text(data, "run_dir") or str(Path("runs") / name)
    run_dir = str(Path(os.path.expanduser(run_dir_raw)).resolve())
    timing_resource = _timing_resource(data.get("timing_resource"))
    timing_workers = F.number("timing_workers", data.get("timing_workers", 1), 1, MAX_TIMING_WORKERS, integer=True)
    timeout = data.get("trial_timeout_s")
    trial_timeout_s = None if timeout is None else F.number("trial_timeout_s", timeout, 0.0, 7 * 24 * 3600,
                                                            lo_open=True)
    early_stopping = EarlyStoppingConfig.from_setting(data.get("early_stopping"))
    warm_start = _warm_start(data.get("warm_start"), name, source)
    predictor = PredictorConfig.from_setting(data.get("predictor"))

    return StudyConfig(name=name, description=description, dataset=dataset, teacher=teacher,
                       space_path=str(space_path), space=space, targets=targets, objectives=objectives,
                       constraints=constraints, sampler=sampler, n_trials=n_trials,
                       concurrency=concurrency, resources=resources, train=train, seed=seed,
                       storage=storage, tracking_uri_setting=tracking, run_dir=run_dir,
                       timing_resource=timing_resource, timing_workers=timing_workers,
                       trial_timeout_s=trial_timeout_s,
                       early_stopping=early_stopping, warm_start=warm_start, predictor=predictor,
                       source=source)


def check_name(name: Any, source: str | None = None) -> str:
    """A study name: letters, digits, '_', '.', '-' (no path: it names a folder under runs/)."""
    if not isinstance(name, str) or not _NAME.match(name) or name in (".", ".."):
        raise ConfigError("name", f"expected a name of letters, digits, '_', '.', '-', got {name!r}", source)
    return name


def _warm_start(value: Any, name: str, source: str | None) -> tuple[str, ...]:
    """``warm_start``: study names (``runs/<name>``, beside this study's run folder) or the run
    folders of earlier studies; one string may list several, comma-separated."""
    if value is None:
        return ()
    items = _listed(value)
    if not isinstance(items, list) or not all(isinstance(s, str) and s for s in items):
        raise ConfigError("warm_start", f"expected a list of study names, got {value!r}", source)
    if name in items:
        raise ConfigError("warm_start", f"study '{name}' cannot warm-start from itself (a relaunch resumes it)",
                          source)
    if len(set(items)) != len(items):
        raise ConfigError("warm_start", f"a study is named twice in {items}", source)
    return tuple(items)


def _listed(value: Any) -> Any:
    """A comma-separated string as a list (``None``: empty); anything else as it is."""
    if value is None:
        return []
    return [s.strip() for s in value.split(",")] if isinstance(value, str) else value


def _timing_resource(value: Any) -> str | None:
    """A Ray custom resource name (``ray start --resources '{"timing": 1}'`` on the timing node)."""
    if value is None:
        return None
    if not isinstance(value, str) or not _RESOURCE.match(value):
        raise ConfigError("timing_resource", f"expected a Ray custom resource name (letters, digits, '_', '.', "
                                             f"'-'), got {value!r}")
    if value in RAY_BUILTIN_RESOURCES or value.startswith("node:"):
        raise ConfigError("timing_resource", f"{value!r} is a built-in Ray resource; name a custom resource "
                                             "that only the timing node offers")
    return value


def _resolve_space(raw: str, base_dir: str | Path | None) -> Path | None:
    p = Path(os.path.expanduser(raw))
    if p.is_absolute():
        return p.resolve() if p.is_file() else None
    roots = ([Path(base_dir)] if base_dir is not None else []) + [Path.cwd(), REPO_ROOT]
    for root in roots:
        cand = root / p
        if cand.is_file():
            return cand.resolve()
    return None


def _opt_text(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(key, f"expected a non-empty string, got {value!r}")
    return value


def _plain(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


__all__ = ["Resources", "StudyConfig", "check_name", "load_study"]

"""AutoML search engine for model compression.

One study searches architecture, pruning, quantization and distillation as one joint space
(Optuna), runs candidates in parallel (Ray Tune) and tracks them in MLflow. This package's
core is :func:`evaluate_candidate`, which trains, compresses, exports and honestly measures
one candidate.
"""

from importlib import import_module
from typing import Any

# Public names, imported on first use (PEP 562): the command line starts Ray before torch loads.
_EXPORTS = {
    "ArchConfig": "automl.candidate.config", "CandidateConfig": "automl.candidate.config",
    "ConfigError": "automl.config", "DistillConfig": "automl.config", "PruningConfig": "automl.config",
    "QuantConfig": "automl.config", "TrainConfig": "automl.config", "DatasetConfig": "automl.data",
    "DatasetSplits": "automl.data", "load_dataset": "automl.data",
    "evaluate_candidate": "automl.candidate.evaluate", "CandidateResult": "automl.candidate.result",
    "Teacher": "automl.candidate.teacher", "load_or_train_teacher": "automl.candidate.teacher",
    "TrialHooks": "automl.candidate.hooks",
}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'automl' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)


__all__ = [
    "ArchConfig",
    "CandidateConfig",
    "CandidateResult",
    "ConfigError",
    "DatasetConfig",
    "DatasetSplits",
    "DistillConfig",
    "PruningConfig",
    "QuantConfig",
    "Teacher",
    "TrainConfig",
    "TrialHooks",
    "evaluate_candidate",
    "load_dataset",
    "load_or_train_teacher",
]

"""AutoML search engine for model compression.

One study searches architecture, pruning, quantization and distillation as one joint space
(Optuna), runs candidates in parallel (Ray Tune) and tracks them in MLflow. This package's
core is :func:`evaluate_candidate`, which trains, compresses, exports and honestly measures
one candidate.
"""

from automl.config import (
    ArchConfig,
    CandidateConfig,
    ConfigError,
    DistillConfig,
    PruningConfig,
    QuantConfig,
    TrainConfig,
)
from automl.data import DatasetConfig, DatasetSplits, load_dataset
from automl.pipeline import evaluate_candidate
from automl.result import CandidateResult
from automl.teacher import Teacher, load_or_train_teacher
from automl.trial_hooks import TrialHooks

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

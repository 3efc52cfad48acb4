"""Typed, validated, serialisable configuration objects."""

from automl.config.candidate import (
    ArchConfig,
    CandidateConfig,
    DistillConfig,
    PruningConfig,
    QuantConfig,
    TrainConfig,
)
from automl.config.errors import ConfigError

__all__ = [
    "ArchConfig",
    "CandidateConfig",
    "ConfigError",
    "DistillConfig",
    "PruningConfig",
    "QuantConfig",
    "TrainConfig",
]

"""The ground floor's settings: typed, validated, serialisable, importing nothing above them.

The whole candidate (architecture included) is :class:`automl.candidate.config.CandidateConfig`.
"""

from automl.config.compression import (
    DistillConfig,
    PruningConfig,
    QuantConfig,
    TrainConfig,
)
from automl.config.errors import ConfigError

__all__ = ["ConfigError", "DistillConfig", "PruningConfig", "QuantConfig", "TrainConfig"]

"""Study files (``studies/<name>.yaml``) and the Optuna samplers that drive them."""

from automl.study.config import (
    METRICS,
    Constraint,
    Objective,
    Resources,
    StudyConfig,
    load_study,
    parse_constraint,
)
from automl.study.sampler import (
    SAMPLERS,
    check_sampler,
    constraint_values,
    is_feasible,
    make_sampler,
    record_constraints,
)

__all__ = [
    "METRICS",
    "SAMPLERS",
    "Constraint",
    "Objective",
    "Resources",
    "StudyConfig",
    "check_sampler",
    "constraint_values",
    "is_feasible",
    "load_study",
    "make_sampler",
    "parse_constraint",
    "record_constraints",
]

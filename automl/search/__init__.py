"""Joint search spaces (YAML data compiled to Optuna suggestions) and Pareto utilities."""

from automl.search.pareto import (
    REFERENCE_BY_METRIC,
    hypervolume,
    normalise,
    normalised_hypervolume,
    pareto_mask,
    reference_point,
)
from automl.search.space import (
    GROUPS,
    Condition,
    Param,
    SearchSpace,
    load_space,
    parse_condition,
)

__all__ = [
    "GROUPS",
    "REFERENCE_BY_METRIC",
    "Condition",
    "Param",
    "SearchSpace",
    "hypervolume",
    "load_space",
    "normalise",
    "normalised_hypervolume",
    "pareto_mask",
    "parse_condition",
    "reference_point",
]

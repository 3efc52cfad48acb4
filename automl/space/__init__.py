"""The search-space language: ``search_spaces/<name>.yaml`` compiled to Optuna suggestions."""

from automl.space.conditions import Condition, parse_condition
from automl.space.search_space import GROUPS, Param, SearchSpace, load_space

__all__ = ["GROUPS", "Condition", "Param", "SearchSpace", "load_space", "parse_condition"]

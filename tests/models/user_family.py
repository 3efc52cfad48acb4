"""A user-defined family reached as ``tests.models.user_family:build`` in the registry tests."""

import math

from torch import nn

NOT_CALLABLE = 42


def build(*, num_classes: int, input_shape: tuple[int, ...], hidden: int = 8) -> nn.Module:
    """An MLP over the flattened sample (any input rank)."""
    return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), hidden), nn.ReLU(),
                         nn.Linear(hidden, num_classes))


def build_not_a_module(*, num_classes: int, input_shape: tuple[int, int, int]) -> str:
    """A broken family: returns no network."""
    return "not a model"

"""A user-defined family reached as ``tests.models.user_family:build`` in the registry tests."""

from torch import nn

NOT_CALLABLE = 42


def build(*, num_classes: int, input_shape: tuple[int, int, int], hidden: int = 8) -> nn.Module:
    """An MLP over the flattened image."""
    channels, height, width = input_shape
    return nn.Sequential(nn.Flatten(), nn.Linear(channels * height * width, hidden), nn.ReLU(),
                         nn.Linear(hidden, num_classes))


def build_not_a_module(*, num_classes: int, input_shape: tuple[int, int, int]) -> str:
    """A broken family: returns no network."""
    return "not a model"

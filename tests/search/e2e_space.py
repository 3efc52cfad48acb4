"""A user search space (``function:`` in a space file) used by the end-to-end tests.

In :func:`define`, trial 1 builds :func:`diverging`, a user family whose logits become NaN,
so the study must record it as failed and go on; in :func:`define_crash`, trial 1 builds
:func:`crashing`, which kills its worker process.
"""

from __future__ import annotations

import torch
from torch import nn


def define(trial) -> dict:
    if trial.number == 1:
        return {"arch": {"family": "tests.search.e2e_space:diverging", "choices": {}}}
    bits = trial.suggest_categorical("quant.weight_bits", [4, 8, 32])
    return {"arch": {"family": "cnn", "choices": {"stages": 1, "widths": [trial.suggest_categorical("width", [8, 16])]}},
            "quant": {"weight_bits": bits}}


class _NaNNet(nn.Module):
    def __init__(self, num_classes: int, channels: int) -> None:
        super().__init__()
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.mean(dim=(2, 3))) * float("nan")


def diverging(num_classes: int, input_shape: tuple[int, int, int]) -> nn.Module:
    return _NaNNet(num_classes, input_shape[0])


def define_crash(trial) -> dict:
    """Trial 1 kills its worker process; the others are small CNNs."""
    if trial.number == 1:
        return {"arch": {"family": "tests.search.e2e_space:crashing", "choices": {}}}
    return {"arch": {"family": "cnn", "choices": {"stages": 1, "widths": [trial.suggest_categorical("width", [8, 16])]}}}


def crashing(num_classes: int, input_shape: tuple[int, int, int]) -> nn.Module:
    import os

    os._exit(3)  # the worker process dies, as on an out-of-memory kill

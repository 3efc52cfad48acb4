"""A user search space (``function:`` in a space file) used by the end-to-end tests.

In :func:`define`, trial 1 builds :func:`diverging`, a user family whose logits become NaN,
so the study must record it as failed and go on, and trial 2 starts from the trained teacher; in :func:`define_crash`, trial 1 builds
:func:`crashing`, which kills its worker process.
"""

from __future__ import annotations

import torch
from torch import nn


def define(trial) -> dict:
    if trial.number == 1:
        return {"arch": {"family": "tests.search.e2e_space:diverging", "choices": {}}}
    if trial.number == 2:  # the trained teacher (the engine fills in its arch), half its channels pruned
        return {"arch": {"init": "teacher"}, "train": {"epochs": 0},
                "pruning": {"ratio": 0.5, "granularity": "channel", "finetune_epochs": 1}}
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


def define_repeat(trial) -> dict:
    """The same small CNN for every trial: the third is a repeat of a finished one."""
    return {"arch": {"family": "cnn", "choices": {"stages": 1, "widths": [8]}}, "quant": {"weight_bits": 8}}


def define_faults(trial) -> dict:
    """Trial 1 is too slow for the study's ``trial_timeout_s``; trial 2 runs out of memory."""
    family = {1: "tests.search.e2e_space:sleepy", 2: "tests.search.e2e_space:memory_hog"}.get(trial.number)
    if family is not None:
        return {"arch": {"family": family, "choices": {}}}
    return {"arch": {"family": "cnn", "choices": {"stages": 1, "widths": [trial.suggest_categorical("width", [8, 16])]}}}


class _SleepyNet(_NaNNet):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        import time

        time.sleep(0.5)  # an epoch of digits takes ~10 s
        return self.fc(x.mean(dim=(2, 3)))


def sleepy(num_classes: int, input_shape: tuple[int, int, int]) -> nn.Module:
    return _SleepyNet(num_classes, input_shape[0])


class _HogNet(_NaNNet):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise MemoryError("cannot allocate the activations")  # as torch does when RAM runs out


def memory_hog(num_classes: int, input_shape: tuple[int, int, int]) -> nn.Module:
    return _HogNet(num_classes, input_shape[0])


def define_steady(trial) -> dict:
    """Every candidate takes about a second per epoch (so a test can kill a node mid-candidate); each
    its own seed, so that none is a repeat answered without training."""
    return {"arch": {"family": "tests.search.e2e_space:steady", "choices": {}},
            "quant": {"weight_bits": trial.suggest_categorical("quant.weight_bits", [8, 32])},
            "train": {"seed": trial.suggest_int("train.seed", 0, 2**20)}}


class _SteadyNet(_NaNNet):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        import time

        time.sleep(0.05)
        return self.fc(x.mean(dim=(2, 3)))


def steady(num_classes: int, input_shape: tuple[int, int, int]) -> nn.Module:
    return _SteadyNet(num_classes, input_shape[0])

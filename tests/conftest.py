"""Shared fixtures: small budgets, real components."""

from __future__ import annotations

import pytest

from automl.data import DatasetConfig

SMALL_CNN = {"family": "cnn", "choices": {"stages": 2, "widths": [16, 32], "kernel_size": 3}}


@pytest.fixture(scope="session")
def digits() -> DatasetConfig:
    return DatasetConfig(name="digits", seed=0)


def candidate_dict(**overrides) -> dict:
    """A small digits candidate; nested overrides per group, e.g. quant={"weight_bits": 8}."""
    base = {"arch": SMALL_CNN, "train": {"epochs": 8, "batch_size": 64, "lr": 1e-2, "seed": 0}}
    for group, values in overrides.items():
        base[group] = {**base.get(group, {}), **values}
    return base


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """Like a trial: one intra-op thread (no OpenMP oversubscription on a 2-core machine)."""
    import torch

    torch.set_num_threads(1)
    yield

"""Shared fixtures: small budgets, real components."""

from __future__ import annotations

import pytest

from automl.data import DatasetConfig

SMALL_CNN = {"family": "cnn", "choices": {"stages": 2, "widths": [16, 32], "kernel_size": 3}}
TEACHER_METRICS = {"accuracy": 0.96, "test_accuracy": 0.95, "size_bytes": 1000, "latency_ms": 0.2,
                   "params_nonzero": 5000, "macs": 80_000}  # a made-up teacher, the baseline of ratios


@pytest.fixture(scope="module")
def mlflow_uri(tmp_path_factory) -> str:
    """One MLflow SQLite store per test module (creating one costs seconds); each test its own study."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow')}/mlflow.db"


@pytest.fixture()
def tracker(mlflow_uri: str, tmp_path, request):
    """A real StudyTracker on the module's store, under the test's name."""
    from automl.tracking import StudyTracker

    return StudyTracker(mlflow_uri, request.node.name, tmp_path / "artifacts")


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


@pytest.fixture(scope="session")
def launched(tmp_path_factory):
    """The tiny end-to-end study, launched once through the command line (6 trials, real Ray,
    MLflow and Optuna storage): (folder, study file, the launch's completed process). Tests
    that read it share it; a test that changes it (a relaunch) leaves it complete."""
    from tests.search.e2e_study import automl, tiny_study

    work = tmp_path_factory.mktemp("study")
    study_file = tiny_study(work, "e2e", trials=6)
    first = automl("launch", str(study_file), "--quiet", cwd=work)
    assert first.returncode == 0, first.stderr[-3000:]
    return work, study_file, first

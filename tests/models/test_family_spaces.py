"""The joint search spaces of the signal and feature-vector families load, and every sampled
candidate builds a network for the input rank its family takes."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
import torch

from automl.candidate.config import CandidateConfig
from automl.models import create_model
from automl.space.search_space import load_space

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("space_file, family, shape", [
    ("mlp_joint.yaml", "mlp", (64,)),
    ("cnn1d_joint.yaml", "cnn1d", (8, 8)),
])
def test_space_loads_and_its_candidates_build(space_file, family, shape):
    space = load_space(REPO / "search_spaces" / space_file)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    widths = set()
    for _ in range(12):
        cfg = CandidateConfig.from_dict(space.suggest(study.ask()))
        assert cfg.arch.family == family
        model = create_model(cfg.arch.family, cfg.arch.choices, num_classes=10, input_shape=shape)
        assert model(torch.randn(2, *shape)).shape == (2, 10)
        widths.add(tuple(cfg.arch.choices["widths"]))
    assert len(widths) > 3  # the architecture is searched, not fixed


def test_example_signal_study_fits_together():
    """studies/digits_rows_cnn1d.yaml: its dataset is (C, L) signals, and its teacher and every
    candidate of its space build for that shape."""
    from automl.data import load_dataset
    from automl.study.config import load_study

    study = load_study(REPO / "studies" / "digits_rows_cnn1d.yaml")
    data = load_dataset(study.dataset)
    assert data.input_shape == (8, 8) and data.num_classes == 10 and len(data.mean) == 8
    teacher = study.teacher
    model = create_model(teacher.arch.family, teacher.arch.choices, num_classes=10, input_shape=data.input_shape)
    assert model(data.x_val[:2]).shape == (2, 10)
    assert study.space.name == "cnn1d_joint"

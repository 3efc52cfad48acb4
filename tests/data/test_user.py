"""User datasets named by an import path."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from automl.config.errors import ConfigError
from automl.data import DatasetConfig, DatasetSplits, load_dataset
from tests.data import user_dataset


def test_samples_are_split_and_normalised_like_digits():
    splits = load_dataset(DatasetConfig(name="tests.data.user_dataset:load", test_fraction=0.25))
    assert splits.name == "tests.data.user_dataset:load"
    assert splits.input_shape == (1, 6, 6) and splits.num_classes == 3
    assert (len(splits.y_train), len(splits.y_val), len(splits.y_test)) == (76, 14, 30)
    for y in (splits.y_train, splits.y_val, splits.y_test):
        counts = np.bincount(y.numpy(), minlength=3)
        assert counts.max() - counts.min() <= 1
    # uint8 images are scaled to [0, 1] before normalisation.
    raw = splits.x_train * splits.std[0] + splits.mean[0]
    assert 0.0 <= raw.min().item() and raw.max().item() <= 1.0 + 1e-6
    assert splits.x_train.mean().item() == pytest.approx(0.0, abs=1e-5)


def test_ready_splits_are_used_as_they_are():
    splits = load_dataset(DatasetConfig(name="tests.data.user_dataset:load_splits"))
    assert splits is user_dataset.READY


@pytest.mark.parametrize("name", ["tests.data.no_such_module:load", "tests.data.user_dataset:no_such_function"])
def test_unimportable_function_names_the_field(name):
    with pytest.raises(ConfigError) as err:
        load_dataset(DatasetConfig(name=name))
    assert err.value.field == "dataset.name"
    assert err.value.message.startswith(f"cannot import {name}")


@pytest.mark.parametrize("name, words", [
    ("tests.data.user_dataset:load_nothing", "expected a DatasetSplits or a tuple (x, y)"),
    ("tests.data.user_dataset:load_float_labels", "expected N integer labels"),
])
def test_bad_returns_name_the_field(name, words):
    with pytest.raises(ConfigError, match=words.replace("(", "\\(").replace(")", "\\)")) as err:
        load_dataset(DatasetConfig(name=name))
    assert err.value.field == "dataset.name"


def test_inconsistent_splits_are_rejected_by_field():
    with pytest.raises(ConfigError) as err:
        DatasetSplits(name="bad", x_train=torch.zeros(4, 1, 3, 3), y_train=torch.zeros(4, dtype=torch.long),
                      x_val=torch.zeros(2, 1, 3, 3), y_val=torch.zeros(3, dtype=torch.long),
                      x_test=torch.zeros(2, 1, 3, 3), y_test=torch.zeros(2, dtype=torch.long),
                      num_classes=2, input_shape=(1, 3, 3), mean=(0.0,), std=(1.0,))
    assert err.value.field == "y_val"

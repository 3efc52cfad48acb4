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


def test_feature_vectors_are_standardised_per_feature():
    splits = load_dataset(DatasetConfig(name="tests.data.user_dataset:load_features", test_fraction=0.25))
    assert splits.input_shape == (5,) and splits.num_classes == 3
    assert splits.x_train.shape == (len(splits.y_train), 5) and splits.x_train.dtype == torch.float32
    # feature f has scale ~10**f: one statistic per feature brings every feature to mean 0, std 1
    assert len(splits.mean) == len(splits.std) == 5
    assert splits.std[4] > 1000 * splits.std[0]
    assert torch.allclose(splits.x_train.mean(0), torch.zeros(5), atol=1e-5)
    assert torch.allclose(splits.x_train.std(0, correction=0), torch.ones(5), atol=1e-4)
    # the recorded statistics undo the normalisation (what a deployment applies)
    x, _ = user_dataset.load_features()
    raw = splits.x_test * torch.tensor(splits.std) + torch.tensor(splits.mean)
    assert any(torch.allclose(raw[0], torch.as_tensor(row, dtype=torch.float32), rtol=1e-4, atol=1e-3) for row in x)


def test_signals_are_normalised_per_channel():
    splits = load_dataset(DatasetConfig(name="tests.data.user_dataset:load_signals"))
    assert splits.input_shape == (2, 16) and splits.num_classes == 3
    assert len(splits.mean) == 2
    per_channel = splits.x_train.transpose(0, 1).reshape(2, -1)
    assert torch.allclose(per_channel.mean(1), torch.zeros(2), atol=1e-5)
    assert torch.allclose(per_channel.std(1, correction=0), torch.ones(2), atol=1e-4)


def test_a_constant_feature_gets_std_one():
    x = np.ones((30, 3))
    x[:, 1] = np.arange(30)
    from automl.data.splits import make_splits

    splits = make_splits("c", (torch.as_tensor(x, dtype=torch.float32), torch.arange(30) % 2), 2,
                         DatasetConfig(name="pkg.mod:fn"))
    assert splits.std[0] == 1.0 and splits.std[2] == 1.0 and splits.mean[0] == 1.0
    assert torch.isfinite(splits.x_train).all()


@pytest.mark.parametrize("name, words", [
    ("tests.data.user_dataset:load_rank1", "returned samples of shape (10,)"),
    ("tests.data.user_dataset:load_rank5", "returned samples of shape (10, 1, 2, 2, 2)"),
    ("tests.data.user_dataset:load_fewer_labels", "returned 10 samples but 9 labels"),
    ("tests.data.user_dataset:load_nan", "returned samples with NaN or infinite values"),
])
def test_bad_sample_shapes_name_the_dataset_in_one_line(name, words):
    with pytest.raises(ConfigError) as err:
        load_dataset(DatasetConfig(name=name))
    assert err.value.field == "dataset.name"
    assert err.value.message.startswith(f"{name} {words}")
    assert "N,F, N,C,L, N,C,H,W" in err.value.message or "shape" not in words
    assert "\n" not in str(err.value)


def test_splits_reject_a_rank_they_do_not_know():
    x = torch.zeros(4, 1, 2, 2, 2)
    with pytest.raises(ConfigError) as err:
        DatasetSplits(name="bad", x_train=x, y_train=torch.zeros(4, dtype=torch.long), x_val=x,
                      y_val=torch.zeros(4, dtype=torch.long), x_test=x, y_test=torch.zeros(4, dtype=torch.long),
                      num_classes=2, input_shape=(1, 2, 2, 2), mean=(0.0,), std=(1.0,))
    assert err.value.field == "input_shape"

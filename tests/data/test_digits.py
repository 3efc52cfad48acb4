"""Digits splits: sizes, stratification, determinism under the seed, train-only normalisation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from automl.config.errors import ConfigError
from automl.data import DatasetConfig, DatasetSplits, load_dataset


@pytest.fixture(scope="module")
def splits() -> DatasetSplits:
    return load_dataset(DatasetConfig(name="digits", seed=0))


def test_split_sizes_shapes_and_dtypes(splits):
    # 1797 samples: 20% test (360), then 15% of the remaining 1437 for validation (216).
    assert (len(splits.y_train), len(splits.y_val), len(splits.y_test)) == (1221, 216, 360)
    assert splits.x_train.shape == (1221, 1, 8, 8) and splits.x_train.dtype == torch.float32
    assert splits.y_train.dtype == torch.int64
    assert splits.input_shape == (1, 8, 8) and splits.num_classes == 10 and splits.name == "digits"


def test_splits_partition_the_samples(splits):
    rows = {tuple(r.tolist()) for x in (splits.x_train, splits.x_val, splits.x_test) for r in x.flatten(1)}
    raw = {tuple(r) for r in load_digits().data.tolist()}
    # digits has duplicate images, so compare counts of distinct rows: none lost, none invented.
    assert len(rows) == len(raw)


def test_every_class_in_every_split_in_proportion(splits):
    overall = np.bincount(load_digits().target, minlength=10) / 1797
    for y in (splits.y_train, splits.y_val, splits.y_test):
        counts = np.bincount(y.numpy(), minlength=10)
        assert (counts > 0).all()
        assert np.abs(counts - overall * len(y)).max() <= 1.0 + 1e-9


def test_same_config_gives_identical_tensors_and_seeds_differ(splits):
    load_dataset.cache_clear()
    again = load_dataset(DatasetConfig(name="digits", seed=0))
    assert again is not splits
    for field in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        assert torch.equal(getattr(again, field), getattr(splits, field))
    other = load_dataset(DatasetConfig(name="digits", seed=1))
    assert not torch.equal(other.y_test, splits.y_test)


def test_results_are_cached_per_config(splits):
    assert load_dataset(DatasetConfig(name="digits", seed=0)) is load_dataset(DatasetConfig(name="digits", seed=0))


def test_normalisation_statistics_come_from_the_training_split(splits):
    assert splits.x_train.mean().item() == pytest.approx(0.0, abs=1e-5)
    assert splits.x_train.std(correction=0).item() == pytest.approx(1.0, abs=1e-5)
    assert abs(splits.x_test.mean().item()) > 1e-4  # test statistics were not used
    all_mean = load_digits().images.mean() / 16.0
    assert abs(splits.mean[0] - all_mean) > 1e-5
    # The recorded mean/std undo the normalisation exactly: pixels back to 0..16 counts / 16.
    raw = splits.x_val * splits.std[0] + splits.mean[0]
    assert torch.allclose(raw * 16, (raw * 16).round(), atol=1e-4)
    assert raw.min().item() == pytest.approx(0.0, abs=1e-5) and raw.max().item() == pytest.approx(1.0, abs=1e-5)


def test_max_train_caps_the_training_split_stratified():
    capped = load_dataset(DatasetConfig(name="digits", max_train=100))
    assert len(capped.y_train) == 100 and len(capped.y_val) == 216 and len(capped.y_test) == 360
    assert np.bincount(capped.y_train.numpy(), minlength=10).min() >= 9
    assert capped.x_train.mean().item() == pytest.approx(0.0, abs=1e-5)


def test_too_small_a_split_names_the_fraction():
    with pytest.raises(ConfigError) as err:
        load_dataset(DatasetConfig(name="digits", test_fraction=0.001))
    assert err.value.field == "dataset.test_fraction"


# -- digits32: the same digits, bilinearly resized to 32x32 -----------------------------------


@pytest.fixture(scope="module")
def splits32() -> DatasetSplits:
    return load_dataset(DatasetConfig(name="digits32", seed=0))


def test_digits32_shapes_and_same_split_as_digits(splits, splits32):
    assert splits32.x_train.shape == (1221, 1, 32, 32) and splits32.x_test.shape == (360, 1, 32, 32)
    assert splits32.input_shape == (1, 32, 32) and splits32.num_classes == 10 and splits32.name == "digits32"
    for split in ("train", "val", "test"):  # the same samples in the same order: the split is by index
        assert torch.equal(getattr(splits32, f"y_{split}"), getattr(splits, f"y_{split}"))


def test_digits32_is_deterministic():
    from automl.data.digits import digits32_samples

    (a, ya), (b, yb) = digits32_samples(), digits32_samples()
    assert torch.equal(a, b) and torch.equal(ya, yb)
    load_dataset.cache_clear()
    again = load_dataset(DatasetConfig(name="digits32", seed=0))
    assert torch.equal(again.x_val, load_dataset(DatasetConfig(name="digits32", seed=0)).x_val)


def test_digits32_is_a_bilinear_resize_of_digits():
    from automl.data.digits import digits32_samples, digits_samples

    small, _ = digits_samples()
    big, _ = digits32_samples()
    assert big.min().item() >= 0.0 and big.max().item() <= 1.0
    # Bilinear x4 (align_corners=False), then a 4x4 mean, is the 8x8 original smoothed by the
    # separable kernel [1/8, 3/4, 1/8] with replicated edges: the resize kept every pixel in place.
    k = torch.tensor([0.125, 0.75, 0.125])
    padded = torch.nn.functional.pad(small, (1, 1, 1, 1), mode="replicate")
    smoothed = torch.nn.functional.conv2d(padded, (k[:, None] * k[None, :]).view(1, 1, 3, 3))
    assert torch.allclose(torch.nn.functional.avg_pool2d(big, 4), smoothed, atol=1e-5)
    # ... and shrunk back, an image is nearest to its own 8x8 digit (same samples, same order;
    # the smoothing moves a handful, 5 of 1797, nearer to a look-alike).
    dist = torch.cdist(torch.nn.functional.avg_pool2d(big, 4).flatten(1), small.flatten(1))
    assert (dist.argmin(dim=1) == torch.arange(len(small))).float().mean().item() > 0.99

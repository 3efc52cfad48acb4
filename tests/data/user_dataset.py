"""User datasets for the tests, reached through import paths like ``tests.data.user_dataset:load``."""

from __future__ import annotations

import numpy as np
import torch

from automl.data import DatasetSplits

N_PER_CLASS, CLASSES = 40, 3


def load() -> tuple[np.ndarray, list[int]]:
    """All samples: uint8 N,1,H,W images (class k is brighter with k) and integer labels."""
    rng = np.random.default_rng(0)
    labels = [k for k in range(CLASSES) for _ in range(N_PER_CLASS)]
    images = np.stack([rng.integers(0, 80, size=(1, 6, 6)) + 80 * k for k in labels]).astype(np.uint8)
    return images, labels


def load_features() -> tuple[np.ndarray, np.ndarray]:
    """N,F float64 feature vectors of unrelated scales (feature f ~ 10**f); class k shifts
    features 0 and 2, so a per-feature standardisation is what makes them comparable."""
    rng = np.random.default_rng(1)
    y = np.repeat(np.arange(CLASSES), N_PER_CLASS)
    x = rng.standard_normal((len(y), 5)) * 10.0 ** np.arange(5)
    x[:, 0] += 3.0 * y
    x[:, 2] += 300.0 * y
    return x, y


def load_signals() -> tuple[torch.Tensor, torch.Tensor]:
    """N,C,L float32 signals: 2 channels of length 16, class k a sine of frequency k + 1 in channel 0."""
    gen = torch.Generator().manual_seed(2)
    y = torch.arange(CLASSES).repeat_interleave(N_PER_CLASS)
    t = torch.arange(16, dtype=torch.float32)
    x = 0.3 * torch.randn(len(y), 2, 16, generator=gen)
    x[:, 0] += torch.sin(2 * torch.pi * (y[:, None] + 1) * t / 16 + torch.rand(len(y), 1, generator=gen) * 6)
    return x, y


def load_rank1() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros(10), np.zeros(10, dtype=np.int64)


def load_rank5() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((10, 1, 2, 2, 2)), np.zeros(10, dtype=np.int64)


def load_nan() -> tuple[np.ndarray, np.ndarray]:
    x = np.zeros((10, 3))
    x[4, 1] = np.nan
    return x, np.arange(10) % 2


def load_fewer_labels() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((10, 3)), np.zeros(9, dtype=np.int64)


_X, _Y = torch.zeros(4, 2, 3, 3), torch.tensor([0, 1, 0, 1])
READY = DatasetSplits(name="ready", x_train=_X, y_train=_Y, x_val=_X, y_val=_Y, x_test=_X, y_test=_Y,
                      num_classes=2, input_shape=(2, 3, 3), mean=(0.5, 0.5), std=(0.25, 0.25))


def load_splits() -> DatasetSplits:
    """Ready-made splits, to be used as they are."""
    return READY


def load_float_labels() -> tuple[torch.Tensor, torch.Tensor]:
    return torch.zeros(10, 1, 4, 4), torch.zeros(10)


def load_nothing() -> None:
    return None

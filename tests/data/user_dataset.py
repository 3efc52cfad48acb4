"""User datasets for the tests, reached through import paths like ``tests.data.user_dataset:load``."""

from __future__ import annotations

import numpy as np
import torch

from automl.data import DatasetSplits

N_PER_CLASS, CLASSES = 40, 3


def load() -> tuple[np.ndarray, list[int]]:
    """All samples: uint8 N,H,W images (class k is brighter with k) and integer labels."""
    rng = np.random.default_rng(0)
    labels = [k for k in range(CLASSES) for _ in range(N_PER_CLASS)]
    images = np.stack([rng.integers(0, 80, size=(6, 6)) + 80 * k for k in labels]).astype(np.uint8)
    return images, labels


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

"""scikit-learn's 8x8 handwritten digits: ships inside scikit-learn, nothing is downloaded."""

from __future__ import annotations

import torch

NUM_CLASSES = 10
MAX_PIXEL = 16.0  # digits pixels are counts 0..16


def digits_samples() -> tuple[torch.Tensor, torch.Tensor]:
    """All 1797 samples as float32 N,1,8,8 images scaled to [0, 1] and int64 labels."""
    from sklearn.datasets import load_digits  # ~1 s to import: only when digits is loaded

    bunch = load_digits()
    x = torch.from_numpy(bunch.images).float().div_(MAX_PIXEL).unsqueeze(1)
    return x, torch.from_numpy(bunch.target).long()

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


DIGITS32_SIZE = 32


def digits32_samples() -> tuple[torch.Tensor, torch.Tensor]:
    """The same 1797 digits upsampled to float32 N,1,32,32 in [0, 1] (``digits32``), and their labels.

    A fixed, deterministic resize: :func:`torch.nn.functional.interpolate` with
    ``mode="bilinear", align_corners=False`` (4x per axis, edges replicated). It gives 8x8
    digits the compute of a CIFAR-sized input (32x32 feature maps, CIFAR-style MobileNetV2
    MACs) so that a network's arithmetic, not ONNX Runtime's per-call cost, sets its latency.
    It adds no information: the task is as easy as 8x8 digits, not CIFAR-hard.
    """
    x, y = digits_samples()
    big = torch.nn.functional.interpolate(x, size=(DIGITS32_SIZE, DIGITS32_SIZE), mode="bilinear",
                                          align_corners=False)
    return big.contiguous(), y  # bilinear weights are convex: values stay in [0, 1]

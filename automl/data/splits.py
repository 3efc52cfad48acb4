"""Fixed, stratified train/validation/test splits with train-only normalisation.

Every source (scikit-learn digits, the official MNIST/CIFAR files, a user function)
hands its samples to :func:`make_splits`, so all datasets are split and normalised the
same way: stratified under ``DatasetConfig.seed``, ``(x - mean) / std`` with statistics from
the training split only.

Samples may have any of three shapes (:data:`RANKS`): feature vectors ``N,F``, signals
``N,C,L`` and images ``N,C,H,W``. The statistics are taken per index of axis 1 over every
other axis, so per channel for signals and images and **per feature** for feature vectors
(standardisation, the usual choice for tabular data whose features have unrelated units).
``mean``/``std`` thus always have ``input_shape[0]`` entries and apply as
``(x - mean.reshape(1, -1, 1, ...)) / std.reshape(1, -1, 1, ...)``. A constant channel or
feature gets std 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from automl.config.errors import ConfigError
from automl.data.config import DatasetConfig

RANKS = {2: "N,F", 3: "N,C,L", 4: "N,C,H,W"}
"""Accepted ranks of a dataset's sample array and what its axes are."""


@dataclass(frozen=True, eq=False)
class DatasetSplits:
    """One dataset, split and normalised, as in-memory tensors.

    Equality is identity (comparing tensors field by field is ambiguous). The tensors are
    shared by every caller of the per-process cache of :func:`automl.data.load_dataset`:
    treat them as read-only.
    """

    name: str
    x_train: torch.Tensor  # float32 N,F / N,C,L / N,C,H,W, normalised
    y_train: torch.Tensor  # int64 N
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    input_shape: tuple[int, ...]  # one sample: (F,), (C, L) or (C, H, W)
    mean: tuple[float, ...]  # per channel (per feature for F), subtracted after scaling pixels to [0, 1]
    std: tuple[float, ...]  # per channel (per feature for F), divided after subtracting ``mean``

    def __post_init__(self) -> None:
        if len(self.input_shape) + 1 not in RANKS:
            raise ConfigError("input_shape", f"expected (F,), (C, L) or (C, H, W), got {tuple(self.input_shape)!r}")
        for split in ("train", "val", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if x.dtype != torch.float32 or tuple(x.shape[1:]) != tuple(self.input_shape):
                raise ConfigError(f"x_{split}", f"expected float32 N,{','.join(map(str, self.input_shape))}, "
                                                f"got {x.dtype} {tuple(x.shape)}")
            if y.dtype != torch.int64 or y.shape != (x.shape[0],):
                raise ConfigError(f"y_{split}", f"expected int64 labels, one per sample of x_{split}, "
                                                f"got {y.dtype} {tuple(y.shape)}")
        channels = self.input_shape[0]
        if len(self.mean) != channels or len(self.std) != channels:
            raise ConfigError("mean", f"expected {channels} per-channel (or per-feature) mean/std values, "
                                      f"got {len(self.mean)}/{len(self.std)}")


def make_splits(name: str, pool: tuple[torch.Tensor, torch.Tensor], num_classes: int, cfg: DatasetConfig,
                test: tuple[torch.Tensor, torch.Tensor] | None = None) -> DatasetSplits:
    """Split ``pool`` stratified under ``cfg.seed`` and normalise with training statistics.

    Args:
        name: the dataset name recorded in the result.
        pool: ``(x, y)``: float32 samples of a shape in :data:`RANKS` (images scaled to
            [0, 1], or the user's own scale) and int64 labels in ``[0, num_classes)``.
        num_classes: the number of classes.
        cfg: the split settings (seed, fractions, training cap).
        test: the official test split; when absent, ``cfg.test_fraction`` of ``pool`` is held out.

    Returns:
        The normalised splits. Validation is ``cfg.val_fraction`` of the training pool; the
        training split is then capped to ``cfg.max_train`` samples (stratified) when set.
    """
    x, y = pool
    idx = np.arange(len(y))
    if test is None:
        idx, test_idx = _stratified(idx, y, cfg.test_fraction, cfg.seed, "dataset.test_fraction")
        test = (x[test_idx], y[test_idx])
    train_idx, val_idx = _stratified(idx, y, cfg.val_fraction, cfg.seed, "dataset.val_fraction")
    if cfg.max_train is not None and cfg.max_train < len(train_idx):
        dropped = len(train_idx) - cfg.max_train
        train_idx, _ = _stratified(train_idx, y, dropped, cfg.seed, "dataset.max_train")
    x_train = x[train_idx]
    other_axes = (0,) + tuple(range(2, x.ndim))  # statistics per index of axis 1
    mean = tuple(float(m) for m in x_train.mean(dim=other_axes))
    std = tuple(float(s) if s > 0 else 1.0 for s in x_train.std(dim=other_axes, correction=0))
    stat_shape = (1, -1) + (1,) * (x.ndim - 2)
    shift = torch.tensor(mean, dtype=torch.float32).view(stat_shape)
    scale = torch.tensor(std, dtype=torch.float32).view(stat_shape)

    def norm(images: torch.Tensor) -> torch.Tensor:
        return ((images - shift) / scale).contiguous()

    return DatasetSplits(
        name=name,
        x_train=norm(x_train), y_train=y[train_idx].contiguous(),
        x_val=norm(x[val_idx]), y_val=y[val_idx].contiguous(),
        x_test=norm(test[0]), y_test=test[1].contiguous(),
        num_classes=num_classes,
        input_shape=tuple(x.shape[1:]),  # type: ignore[arg-type]
        mean=mean, std=std,
    )


def _stratified(idx: np.ndarray, y: torch.Tensor, held: float | int, seed: int,
                field: str) -> tuple[np.ndarray, np.ndarray]:
    """``idx`` split into (kept, held out), stratified by ``y[idx]``; ``held`` is a fraction or a count."""
    try:
        from sklearn.model_selection import train_test_split  # ~1 s: a worker never splits, so not at import

        kept, out = train_test_split(idx, test_size=held, stratify=y[idx].numpy(), random_state=seed)
    except ValueError as err:  # too few samples of some class for a stratified split
        raise ConfigError(field, f"cannot split {len(idx)} samples stratified: {err}") from None
    return kept, out

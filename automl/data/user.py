"""User datasets named by an import path ``pkg.module:function``.

The function is called with no arguments and returns either a ready
:class:`~automl.data.splits.DatasetSplits` (used as is) or ``(x, y)``: all samples as
arrays or tensors of one of three shapes, and integer labels ``0..K-1``:

* ``N,F`` feature vectors (families: ``mlp``),
* ``N,C,L`` signals of C channels and length L (``cnn1d``, ``mlp``),
* ``N,C,H,W`` images (``cnn``, ``mobilenet_v2``, ``mlp``); a grayscale image is ``N,1,H,W``
  (a rank-3 array is a signal, never an image).

Those are split and normalised like the digits (see :mod:`automl.data.splits` for the
statistics); uint8 samples are first scaled to [0, 1], any other dtype is used in its own
scale.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable

import torch

from automl.config.errors import ConfigError
from automl.data.config import DatasetConfig
from automl.data.splits import RANKS, DatasetSplits, make_splits


def load_user_dataset(cfg: DatasetConfig) -> DatasetSplits:
    """Call the function named by ``cfg.name`` and split what it returns.

    Raises:
        ConfigError: ``dataset.name`` when the function cannot be imported or returns
            something other than a DatasetSplits or a valid ``(x, y)`` pair.
    """
    result = _resolve(cfg.name)()
    if isinstance(result, DatasetSplits):
        return result
    if not isinstance(result, tuple) or len(result) != 2:
        raise ConfigError("dataset.name", f"{cfg.name} returned {type(result).__name__}; "
                                          "expected a DatasetSplits or a tuple (x, y)")
    x, y = _samples(cfg.name, result[0]), _labels(cfg.name, result[1])
    if len(x) != len(y):
        raise ConfigError("dataset.name", f"{cfg.name} returned {len(x)} samples but {len(y)} labels")
    return make_splits(cfg.name, (x, y), int(y.max()) + 1, cfg)


def _resolve(path: str) -> Callable[[], Any]:
    module_name, _, attr = path.partition(":")
    try:
        fn = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as err:
        raise ConfigError("dataset.name", f"cannot import {path}: {err}") from None
    if not callable(fn):
        raise ConfigError("dataset.name", f"{path} is not callable")
    return fn


def _samples(name: str, x: Any) -> torch.Tensor:
    x = torch.as_tensor(x)
    if x.ndim not in RANKS or any(d == 0 for d in x.shape) or x.is_complex() or x.dtype == torch.bool:
        raise ConfigError("dataset.name", f"{name} returned samples of shape {tuple(x.shape)} and dtype {x.dtype}; "
                                          f"expected numbers shaped {', '.join(RANKS.values())}")
    x = x.float().div(255.0) if x.dtype == torch.uint8 else x.float()
    if not bool(torch.isfinite(x).all()):
        raise ConfigError("dataset.name", f"{name} returned samples with NaN or infinite values")
    return x


def _labels(name: str, y: Any) -> torch.Tensor:
    y = torch.as_tensor(y)
    if y.ndim != 1 or y.is_floating_point() or y.is_complex() or y.dtype == torch.bool \
            or (len(y) and int(y.min()) < 0):
        raise ConfigError("dataset.name", f"{name} returned labels of shape {tuple(y.shape)} and dtype "
                                          f"{y.dtype}; expected N integer labels 0..K-1")
    return y.long()

"""The typed, validated description of which dataset a study uses and how it is split.

Example:
    >>> from automl.data import DatasetConfig
    >>> cfg = DatasetConfig.from_dict({"name": "digits", "seed": 1, "val_fraction": 0.2})
    >>> DatasetConfig.from_dict(cfg.to_dict()) == cfg
    True
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from automl.config import fields as F
from automl.config.errors import ConfigError

BUILTIN_DATASETS = ("digits", "digits32", "mnist", "fashion_mnist", "cifar10")
FOLDER_DATASETS = ("mnist", "fashion_mnist", "cifar10")  # read from ``root``, official layout
MAX_FRACTION = 0.5
MIN_TRAIN = 10

_IMPORT_PATH = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$")


def is_import_path(name: str) -> bool:
    """Whether ``name`` has the form ``pkg.module:function`` (a user dataset)."""
    return bool(_IMPORT_PATH.match(name))


@dataclass(frozen=True)
class DatasetConfig:
    """Which dataset to load and how to carve the fixed, stratified splits from it.

    The config is hashable, so :func:`automl.data.load_dataset` caches one load per config
    and process.
    """

    name: str = "digits"  # digits | digits32 | mnist | fashion_mnist | cifar10 | "pkg.module:function"
    root: str | None = None  # local folder holding the official files (torchvision datasets)
    seed: int = 0  # fixes the stratified splits
    val_fraction: float = 0.15  # of the training pool, held out for validation (search uses only this)
    test_fraction: float = 0.2  # only for datasets without an official test split (digits, digits32, user)
    max_train: int | None = None  # optional stratified cap on training samples (quick studies)

    def __post_init__(self) -> None:
        F.text("name", self.name)
        if self.name not in BUILTIN_DATASETS and not is_import_path(self.name):
            raise ConfigError("name", f"unknown dataset {self.name!r} (allowed: {', '.join(BUILTIN_DATASETS)}, "
                                      "or an import path pkg.module:function)")
        if isinstance(self.root, os.PathLike):
            object.__setattr__(self, "root", os.fspath(self.root))
        if self.root is not None:
            F.text("root", self.root)
        elif self.name in FOLDER_DATASETS:
            raise ConfigError("root", f"dataset {self.name!r} is read from a local folder: set root to the folder "
                                      "holding the official files (nothing is downloaded)")
        object.__setattr__(self, "seed", F.number("seed", self.seed, 0, 2**31 - 1, integer=True))
        for name in ("val_fraction", "test_fraction"):
            object.__setattr__(self, name, F.number(name, getattr(self, name), 0.0, MAX_FRACTION, lo_open=True))
        if self.max_train is not None:
            object.__setattr__(self, "max_train", F.number("max_train", self.max_train, MIN_TRAIN, integer=True))

    @classmethod
    def from_dict(cls, data: Any, prefix: str = "dataset") -> "DatasetConfig":
        return F.from_mapping(cls, data, prefix)

    def to_dict(self) -> dict[str, Any]:
        return F.to_plain(self)

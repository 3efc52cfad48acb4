"""The one entry point: a :class:`DatasetConfig` in, fixed normalised splits out, cached per process."""

from __future__ import annotations

import functools

from automl.data.cifar import NUM_CLASSES as CIFAR10_CLASSES, cifar10_samples
from automl.data.config import DatasetConfig
from automl.data.digits import NUM_CLASSES as DIGITS_CLASSES, digits32_samples, digits_samples
from automl.data.mnist import NUM_CLASSES as MNIST_CLASSES, mnist_samples
from automl.data.splits import DatasetSplits, make_splits
from automl.data.user import load_user_dataset

CACHE_SIZE = 4  # distinct configs kept per process (CIFAR-10 is ~0.7 GB as float32)


@functools.lru_cache(maxsize=CACHE_SIZE)
def load_dataset(cfg: DatasetConfig) -> DatasetSplits:
    """Load, split and normalise the dataset ``cfg`` names; the same config gives identical tensors.

    Results are cached per process (many candidates in one worker share one load), so the
    returned tensors are shared: do not modify them in place.

    Raises:
        ConfigError: ``dataset.root`` when the official files are missing or unreadable,
            ``dataset.name`` when a user dataset cannot be imported or returns bad data.
    """
    if cfg.name == "digits":
        return make_splits(cfg.name, digits_samples(), DIGITS_CLASSES, cfg)
    if cfg.name == "digits32":  # digits resized to 32x32: same samples, same splits
        return make_splits(cfg.name, digits32_samples(), DIGITS_CLASSES, cfg)
    if cfg.name in ("mnist", "fashion_mnist"):
        train, test = mnist_samples(cfg.name, cfg.root)  # type: ignore[arg-type]  # root checked by the config
        return make_splits(cfg.name, train, MNIST_CLASSES, cfg, test=test)
    if cfg.name == "cifar10":
        train, test = cifar10_samples(cfg.root)  # type: ignore[arg-type]
        return make_splits(cfg.name, train, CIFAR10_CLASSES, cfg, test=test)
    return load_user_dataset(cfg)

"""Datasets: fixed, stratified, normalised train/validation/test splits, read locally only.

Example:
    >>> from automl.data import DatasetConfig, load_dataset
    >>> splits = load_dataset(DatasetConfig(name="digits", seed=0))
    >>> splits.input_shape, splits.num_classes
    ((1, 8, 8), 10)
"""

from automl.data.config import DatasetConfig
from automl.data.loader import load_dataset
from automl.data.splits import DatasetSplits

__all__ = ["DatasetConfig", "DatasetSplits", "load_dataset"]

"""Pruning: unstructured global magnitude pruning and structured channel pruning."""

from automl.pruning.channel import prune_channels
from automl.pruning.unstructured import UnstructuredMasks, prune_unstructured

__all__ = ["UnstructuredMasks", "prune_channels", "prune_unstructured"]

"""Pruning: unstructured global magnitude pruning and structured channel pruning."""

from __future__ import annotations

from torch import Tensor, nn

from automl.config.compression import PruningConfig
from automl.pruning.channel import prune_channels
from automl.pruning.unstructured import UnstructuredMasks, prune_unstructured

__all__ = ["UnstructuredMasks", "prune_channels", "prune_structure", "prune_unstructured"]


def prune_structure(model: nn.Module, pruning: PruningConfig,
                    example: Tensor) -> tuple[nn.Module, UnstructuredMasks | None]:
    """Prune ``model`` as ``pruning`` says: channel pruning returns a smaller model (no masks);
    unstructured pruning masks ``model`` in place and returns the masks to re-apply after training."""
    if pruning.granularity == "channel":
        return prune_channels(model, pruning.ratio, example[:1], pruning.round_to), None
    return model, prune_unstructured(model, pruning.ratio)

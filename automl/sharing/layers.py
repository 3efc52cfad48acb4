"""Which layers share their weights, and into how many values (``ShareConfig``).

The same layers and the same grouping rule as the per-layer quantization widths
(:mod:`automl.quantization.bits`): Conv/Linear modules in module order; ``layer_clusters``
with g entries covers them in g contiguous groups (one per stage of the ``cnn`` family when
g = ``stages``), then ``edge_clusters`` sets the first and the last layer.
"""

from __future__ import annotations

from torch import nn

from automl.config.compression import ShareConfig
from automl.quantization.bits import per_layer_settings


def layer_clusters(model: nn.Module, share: ShareConfig) -> dict[nn.Module, int]:
    """Each Conv/Linear layer of ``model`` -> its number of shared values k (0: not shared).

    Raises ``ConfigError("share.layer_clusters")`` when the list has more entries than the
    model has layers.
    """
    return per_layer_settings(model, share.clusters, share.layer_clusters, share.edge_clusters,
                              "share.layer_clusters")

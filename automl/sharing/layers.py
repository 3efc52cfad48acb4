"""Which layers share their weights, and into how many values (``ShareConfig``).

The same layers and the same grouping rule as the per-layer quantization widths
(:mod:`automl.quantization.bits`): Conv/Linear modules in module order; ``layer_clusters``
with g entries covers them in g contiguous groups (one per stage of the ``cnn`` family when
g = ``stages``), then ``edge_clusters`` sets the first and the last layer.
"""

from __future__ import annotations

from torch import nn

from automl.config.compression import ShareConfig
from automl.config.errors import ConfigError
from automl.quantization.bits import group_sizes, quantized_layers


def layer_clusters(model: nn.Module, share: ShareConfig) -> dict[nn.Module, int]:
    """Each Conv/Linear layer of ``model`` -> its number of shared values k (0: not shared).

    Raises ``ConfigError("share.layer_clusters")`` when the list has more entries than the
    model has layers.
    """
    layers = quantized_layers(model)
    n = len(layers)
    ks = [share.clusters] * n
    if share.layer_clusters is not None:
        g = len(share.layer_clusters)
        if g > n:
            raise ConfigError("share.layer_clusters", f"has {g} entries but the model has only {n} "
                                                      f"Conv/Linear layers")
        ks = [k for k, size in zip(share.layer_clusters, group_sizes(n, g)) for _ in range(size)]
    if share.edge_clusters is not None and n:
        ks[0] = ks[-1] = share.edge_clusters
    return dict(zip(layers, ks))

"""Weight sharing: each layer's weights as k shared values (k-means), fine-tuned, stored as indices."""

from automl.sharing.codes import SharedCodes, index_bits, shared_codes
from automl.sharing.kmeans import cluster_weights
from automl.sharing.layers import layer_clusters
from automl.sharing.shared_weights import finalize_sharing, share_weights

__all__ = [
    "SharedCodes",
    "cluster_weights",
    "finalize_sharing",
    "index_bits",
    "layer_clusters",
    "share_weights",
    "shared_codes",
]

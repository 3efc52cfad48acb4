"""k-means of one layer's weights into its shared values (scikit-learn's ``KMeans``).

One dimension, initialised with k values spread linearly over the weights' range (Deep
Compression found linear initialisation keeps the few large weights, which matter most,
better than density-based initialisation). With pruned weights present (exact zeros), zero
is kept as one of the k values, exact and fixed, and the k - 1 others cluster the surviving
weights: pruning and sharing compose.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import Tensor


def cluster_weights(w: Tensor, k: int, seed: int = 0) -> tuple[Tensor, Tensor, bool]:
    """Cluster ``w`` into at most ``k`` values.

    Returns ``(values, assignment, zero_fixed)``: ``values`` a float32 vector of the shared
    values (``values[0] == 0`` when ``zero_fixed``), ``assignment`` an int64 tensor of ``w``'s
    shape indexing ``values``, and whether zero is one of them because ``w`` has pruned
    (exactly zero) weights.
    """
    if k < 2:
        raise ValueError(f"weight sharing needs k >= 2 values, got {k}")
    flat = w.detach().float().cpu().reshape(-1).numpy()
    zero_fixed = bool((flat == 0).any())
    live = flat[flat != 0] if zero_fixed else flat
    if live.size == 0:  # every weight pruned: zero is the one value
        return torch.zeros(1), torch.zeros(w.shape, dtype=torch.int64), True
    centers = _kmeans_1d(live, k - 1 if zero_fixed else k, seed)
    if zero_fixed:
        centers = np.concatenate([[0.0], centers])
    values = torch.tensor(centers, dtype=torch.float32)
    if zero_fixed:
        assign = torch.zeros(flat.shape, dtype=torch.int64)
        nz = torch.from_numpy(flat != 0)
        assign[nz] = _nearest(torch.from_numpy(flat[flat != 0]), values[1:]) + 1
    else:
        assign = _nearest(torch.from_numpy(flat), values)
    return values, assign.reshape(w.shape), zero_fixed


def _kmeans_1d(x: np.ndarray, k: int, seed: int) -> np.ndarray:
    from sklearn.cluster import KMeans  # ~1 s to import: on the first shared layer, not at a worker's start

    uniq = np.unique(x)
    if len(uniq) <= k:  # fewer distinct weights than values: each is its own value
        return uniq.astype(np.float32)
    init = np.linspace(x.min(), x.max(), k, dtype=np.float64).reshape(-1, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning on degenerate layers
        km = KMeans(n_clusters=k, init=init, n_init=1, max_iter=100, random_state=seed)
        km.fit(x.reshape(-1, 1).astype(np.float64))
    return np.sort(km.cluster_centers_.reshape(-1)).astype(np.float32)


def _nearest(x: Tensor, values: Tensor) -> Tensor:
    return (x.reshape(-1, 1) - values.reshape(1, -1)).abs().argmin(dim=1)

"""Shared weights that train: a parametrization ``weight = values[assignment]``.

:func:`share_weights` clusters each chosen layer's weights (:mod:`automl.sharing.kmeans`) and
replaces the weight by a lookup into a trainable vector of shared values. Back-propagation
through the lookup sums the gradients of every weight that shares a value into that value's
gradient: the fine-tuning of Deep Compression (Han et al., 2016), with any optimizer. A zero
kept for pruned weights stays exactly zero. :func:`finalize_sharing` bakes the values into a
plain weight (it then holds at most k distinct values), freezes it (later phases, QAT
included, train the rest: biases, BatchNorm, unshared layers) and marks the layer for
quantization (which leaves it alone) and export (which stores it as indices + values).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize
from torch.nn.utils.fusion import fuse_conv_bn_weights

from automl.config.compression import ShareConfig
from automl.quantization.bits import SHARED_ATTR
from automl.sharing.kmeans import cluster_weights
from automl.sharing.layers import layer_clusters


class SharedValues(nn.Module):
    """Parametrization: the weight is ``values[assignment]``; ``values`` is what trains."""

    def __init__(self, values: Tensor, assignment: Tensor, zero_fixed: bool, k: int) -> None:
        super().__init__()
        self.values = nn.Parameter(values.clone())
        self.register_buffer("assignment", assignment.clone())
        keep = torch.ones_like(values)
        if zero_fixed:
            keep[0] = 0.0
        self.register_buffer("keep", keep)
        self.k = k

    def forward(self, _original: Tensor) -> Tensor:
        return (self.values * self.keep)[self.assignment]


def share_weights(model: nn.Module, share: ShareConfig, seed: int = 0) -> list[nn.Module]:
    """Cluster and parametrize the weights of the layers ``share`` selects, in place; returns them."""
    shared = []
    for layer, k in layer_clusters(model, share).items():
        if k == 0 or parametrize.is_parametrized(layer, "weight"):
            continue
        fold_batchnorm(model, layer)
        w = layer.weight
        values, assignment, zero_fixed = cluster_weights(w, k, seed)
        parametrize.register_parametrization(
            layer, "weight", SharedValues(values.to(w.device), assignment.to(w.device), zero_fixed, k))
        shared.append(layer)
    return shared


BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d)


@torch.no_grad()
def fold_batchnorm(model: nn.Module, layer: nn.Module) -> bool:
    """Fold the BatchNorm that directly follows ``layer`` in an ``nn.Sequential`` of ``model``
    into ``layer``'s weight and bias (eval-mode arithmetic), replacing it by ``nn.Identity``.
    Returns whether there was one. The layer keeps its Parameter objects (values replaced)."""
    if not isinstance(layer, (nn.Conv1d, nn.Conv2d)):
        return False
    for parent in model.modules():
        if not isinstance(parent, nn.Sequential):
            continue
        names = list(parent._modules)
        for name, following in zip(names, names[1:]):
            bn = parent._modules[following]
            if parent._modules[name] is not layer or not isinstance(bn, BATCHNORMS) or not bn.track_running_stats:
                continue
            w, b = fuse_conv_bn_weights(layer.weight, layer.bias, bn.running_mean, bn.running_var, bn.eps,
                                        bn.weight, bn.bias)
            layer.weight.copy_(w)
            if layer.bias is None:
                layer.bias = nn.Parameter(b.detach().clone())
            else:
                layer.bias.copy_(b)
            parent._modules[following] = nn.Identity()
            return True
    return False


def finalize_sharing(model: nn.Module) -> None:
    """Bake every :class:`SharedValues` into a plain, frozen weight and mark its layer."""
    for layer in model.modules():
        if not parametrize.is_parametrized(layer, "weight"):
            continue
        p = layer.parametrizations.weight[0]
        if not isinstance(p, SharedValues):
            continue
        k = p.k
        parametrize.remove_parametrizations(layer, "weight", leave_parametrized=True)
        layer.weight.requires_grad_(False)
        setattr(layer, SHARED_ATTR, k)

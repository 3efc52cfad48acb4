"""Shared values that train (Deep Compression's fine-tuning), and the layers they are baked into."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from automl.config.compression import QuantConfig, ShareConfig
from automl.config.errors import ConfigError
from automl.quantization import layer_bit_widths, prepare_qat, quantize_weights_
from automl.quantization.bits import SHARED, is_shared
from automl.sharing import finalize_sharing, layer_clusters, share_weights, shared_codes


def _net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3), nn.ReLU(),
                         nn.Conv2d(8, 8, 1), nn.Flatten(), nn.LazyLinear(4))


def _built() -> nn.Sequential:
    net = _net()
    net(torch.randn(2, 3, 7, 7))
    return net


def test_layer_clusters_follow_the_per_layer_grouping_with_edges() -> None:
    net = _built()
    convs = [net[0], net[2], net[4], net[6]]
    assert list(layer_clusters(net, ShareConfig(clusters=16)).values()) == [16] * 4
    got = layer_clusters(net, ShareConfig(layer_clusters=(4, 16), edge_clusters=0))
    assert [got[m] for m in convs] == [0, 4, 16, 0]
    with pytest.raises(ConfigError, match="share.layer_clusters"):
        layer_clusters(net, ShareConfig(layer_clusters=(4,) * 5))


def test_the_gradient_of_a_shared_value_is_the_sum_of_its_members_gradients() -> None:
    net = _built()
    layer = net[2]
    plain_w = layer.weight.detach().clone()
    share_weights(net, ShareConfig(layer_clusters=(0, 4, 0)))  # only net[2] (group 2 of 3) is shared
    p = layer.parametrizations.weight[0]
    x = torch.randn(5, 3, 7, 7)
    net(x).square().sum().backward()
    # the same forward with the shared weight as a leaf tensor: its gradient, summed per value
    leaf = p.values.detach()[p.assignment].clone().requires_grad_(True)
    ref = _built()
    ref.load_state_dict({k.replace("parametrizations.weight.original", "weight"): v
                         for k, v in net.state_dict().items() if "values" not in k and "assignment" not in k
                         and "keep" not in k})
    del ref[2].weight
    ref[2].weight = leaf
    ref(x).square().sum().backward()
    summed = torch.zeros(4).index_add_(0, p.assignment.reshape(-1), leaf.grad.reshape(-1))
    assert torch.allclose(p.values.grad, summed, rtol=1e-4, atol=1e-6)
    assert not torch.equal(plain_w, layer.weight.detach())  # the weight now holds shared values


def test_training_moves_the_shared_values_and_keeps_a_pruned_zero_exact() -> None:
    net = _built()
    with torch.no_grad():
        net[0].weight[net[0].weight.abs() < 0.1] = 0
    zeros = net[0].weight == 0
    share_weights(net, ShareConfig(clusters=4))
    before = net[0].parametrizations.weight[0].values.detach().clone()
    opt = torch.optim.Adam(net.parameters(), lr=0.05)
    for _ in range(5):
        opt.zero_grad()
        net(torch.randn(8, 3, 7, 7)).square().mean().backward()
        opt.step()
    after = net[0].parametrizations.weight[0].values.detach()
    assert not torch.equal(before[1:], after[1:])
    assert torch.all(net[0].weight[zeros] == 0)


def test_finalized_layers_hold_k_values_are_frozen_and_quantization_leaves_them_alone() -> None:
    net = _built()
    share_weights(net, ShareConfig(layer_clusters=(4, 0)))
    finalize_sharing(net)
    shared = [m for m in net.modules() if is_shared(m)]
    assert len(shared) == 2 and not any(parametrize.is_parametrized(m) for m in net.modules())
    for m in shared:
        assert len(torch.unique(m.weight)) <= 4 and not m.weight.requires_grad
    widths = layer_bit_widths(net, QuantConfig(weight_bits=4))
    assert [widths[m] for m in shared] == [SHARED, SHARED]
    kept = [m.weight.detach().clone() for m in shared]
    quantize_weights_(net, QuantConfig(weight_bits=4))
    assert all(torch.equal(k, m.weight) for k, m in zip(kept, shared))
    prepare_qat(net, QuantConfig(weight_bits=4, activation_bits=8, mode="qat"))
    assert not any(parametrize.is_parametrized(m, "weight") for m in shared)
    assert all(hasattr(m, "automl_act_fq") for m in shared)  # their inputs are still int8


def test_shared_codes_decode_to_the_weight_with_zero_at_code_zero() -> None:
    net = _built()
    with torch.no_grad():
        net[2].weight[net[2].weight.abs() < 0.05] = 0
    share_weights(net, ShareConfig(clusters=16))
    finalize_sharing(net)
    for m, bits in ((net[0], 4), (net[2], 4)):
        sc = shared_codes(m)
        assert sc.index_bits == bits and len(sc.codebook) == 2 ** bits
        assert sc.codes.min() >= -(2 ** (bits - 1)) and sc.codes.max() < 2 ** (bits - 1)
        assert np.array_equal(sc.decode(), m.weight.detach().numpy())
    sc = shared_codes(net[2])
    assert np.all(sc.codes[net[2].weight.detach().numpy() == 0] == 0) and sc.codebook[0] == 0
    with torch.no_grad():
        net[0].weight.add_(torch.randn_like(net[0].weight))  # changed after sharing
    with pytest.raises(ValueError, match="distinct weights"):
        shared_codes(net[0])


def test_a_following_batchnorm_is_folded_in_first_so_the_artifact_needs_no_factor() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(), nn.LazyLinear(4))
    x = torch.randn(16, 3, 6, 6)
    net.train()
    net(x)
    net.eval()
    before = net(x).detach()
    share_weights(net, ShareConfig(clusters=256))
    assert isinstance(net[1], nn.Identity) and net[0].bias is not None
    finalize_sharing(net)
    assert torch.allclose(net(x), before, atol=0.05)  # 256 values: close to the unshared network
    assert shared_codes(net[0]).k == 256

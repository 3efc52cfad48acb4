"""k-means of a layer's weights: k values, nearest assignment, zero kept exact for pruned weights."""

from __future__ import annotations

import pytest
import torch

from automl.sharing import cluster_weights


def test_k_values_and_every_weight_goes_to_its_nearest_value() -> None:
    torch.manual_seed(0)
    w = torch.randn(16, 8, 3, 3)
    values, assign, zero_fixed = cluster_weights(w, 16)
    assert not zero_fixed and values.shape == (16,) and assign.shape == w.shape
    assert torch.all(values[1:] > values[:-1])  # sorted, distinct
    nearest = (w.reshape(-1, 1) - values.reshape(1, -1)).abs().argmin(dim=1).reshape(w.shape)
    assert torch.equal(assign, nearest)
    # k-means beats the linear grid it starts from
    grid = torch.linspace(float(w.min()), float(w.max()), 16)
    grid_err = ((w.reshape(-1, 1) - grid).abs().min(dim=1).values ** 2).mean()
    km_err = ((w - values[assign]) ** 2).mean()
    assert km_err < grid_err


def test_pruned_zeros_stay_exact_zero_and_take_one_of_the_k_values() -> None:
    torch.manual_seed(1)
    w = torch.randn(200)
    w[w.abs() < 0.7] = 0
    values, assign, zero_fixed = cluster_weights(w, 4)
    assert zero_fixed and values[0] == 0 and len(values) == 4
    assert torch.all(assign[w == 0] == 0) and torch.all(assign[w != 0] != 0)
    assert torch.all(values[1:] != 0)


def test_a_layer_pruned_to_nothing_shares_the_one_value_zero() -> None:
    values, assign, zero_fixed = cluster_weights(torch.zeros(4, 3), 4)
    assert zero_fixed and values.tolist() == [0.0] and torch.all(assign == 0)


def test_fewer_distinct_weights_than_k_keeps_them_all_exactly() -> None:
    w = torch.tensor([0.5, -0.25, 0.5, 1.0, -0.25])
    values, assign, _ = cluster_weights(w, 16)
    assert values.tolist() == [-0.25, 0.5, 1.0]
    assert torch.equal(values[assign], w)


def test_k_below_two_is_refused() -> None:
    with pytest.raises(ValueError, match="k >= 2"):
        cluster_weights(torch.randn(10), 1)

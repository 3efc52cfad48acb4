import copy

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from automl.config import ConfigError
from automl.models import create_model
from automl.pruning import prune_unstructured


def _prunable(model):
    return {f"{n}.weight": m.weight for n, m in model.named_modules()
            if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear))}


def _train(model, steps=5, **adam):
    opt = torch.optim.Adam(model.parameters(), lr=1e-2, **adam)
    for _ in range(steps):
        opt.zero_grad()
        model(torch.randn(8, 1, 8, 8)).logsumexp(1).mean().backward()
        opt.step()


@pytest.mark.parametrize("ratio", [0.3, 0.7])
def test_global_sparsity_matches_ratio(ratio):
    torch.manual_seed(0)
    model = create_model("cnn", {}, num_classes=10, input_shape=(1, 8, 8))
    masks = prune_unstructured(model, ratio)
    weights = _prunable(model)
    assert set(masks.masks) == set(weights)  # classifier included
    zeros = sum(int((w == 0).sum()) for w in weights.values())
    total = sum(w.numel() for w in weights.values())
    assert zeros / total == pytest.approx(ratio, abs=0.01)
    assert masks.sparsity() == pytest.approx(ratio, abs=0.01)
    assert all(type(w) is nn.Parameter for w in weights.values())  # prune.remove made it permanent
    for name, mask in masks.masks.items():
        assert torch.equal(weights[name] != 0, mask)


def test_pruning_is_global_not_per_layer():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10), nn.Linear(10, 10))
    with torch.no_grad():
        model[2].weight.mul_(1000)  # the large layer keeps all its weights
    masks = prune_unstructured(model, 0.5)
    assert bool(masks.masks["2.weight"].all())
    assert masks.masks["1.weight"].float().mean() < 0.5


def test_zeros_survive_adam_finetuning():
    torch.manual_seed(0)
    model = create_model("mobilenet_v2", {"depths": [1, 1, 0, 0, 0, 0, 1]}, num_classes=10, input_shape=(1, 8, 8))
    masks = prune_unstructured(model, 0.6)
    before = {n: w.detach().clone() for n, w in _prunable(model).items()}
    _train(model, weight_decay=1e-3)
    for name, weight in _prunable(model).items():
        assert torch.all(weight[~masks.masks[name]] == 0)
    assert any(not torch.equal(before[n], w) for n, w in _prunable(model).items())  # it did train


class _FakeQuant(nn.Module):
    """Rounding with a straight-through gradient, like QAT fake quantization."""

    def forward(self, w):
        return w + (torch.round(w * 64) / 64 - w).detach()


def test_zeros_survive_parametrized_finetuning():
    torch.manual_seed(0)
    model = create_model("cnn", {}, num_classes=10, input_shape=(1, 8, 8))
    masks = prune_unstructured(model, 0.5)
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            parametrize.register_parametrization(module, "weight", _FakeQuant())
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    _train(model)
    assert any(not torch.equal(before[n], p) for n, p in model.named_parameters() if "original" in n)
    for name, mask in masks.masks.items():
        original = model.get_submodule(name.rpartition(".")[0]).parametrizations.weight.original
        assert torch.all(original[~mask] == 0)


def test_reapply_restores_zeros_and_hooks_on_a_copy():
    torch.manual_seed(0)
    model = create_model("cnn", {}, num_classes=10, input_shape=(1, 8, 8))
    masks = prune_unstructured(model, 0.5)
    clone = copy.deepcopy(model)
    with torch.no_grad():
        for w in _prunable(clone).values():
            w.add_(1.0)
    masks.reapply(clone)
    _train(clone)
    for name, weight in _prunable(clone).items():
        assert torch.all(weight[~masks.masks[name]] == 0)


def test_bad_ratio():
    with pytest.raises(ConfigError) as err:
        prune_unstructured(nn.Linear(2, 2), 1.0)
    assert err.value.field == "ratio"


@pytest.mark.parametrize("family, shape", [("cnn1d", (3, 12)), ("mlp", (10,))])
def test_signal_and_feature_families_are_pruned_globally(family, shape):
    torch.manual_seed(0)
    model = create_model(family, {}, num_classes=4, input_shape=shape)
    masks = prune_unstructured(model, 0.6)
    weights = _prunable(model)
    assert set(masks.masks) == set(weights) and len(weights) == 3  # two hidden layers + classifier
    total = sum(w.numel() for w in weights.values())
    zeros = sum(int((w == 0).sum()) for w in weights.values())
    assert zeros == round(0.6 * total) and masks.sparsity() == pytest.approx(0.6, abs=1e-3)

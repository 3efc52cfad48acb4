import pytest
import torch
from torch import nn

from automl.candidate.training import (
    DivergedError,
    accuracy,
    mixed_precision,
    train_epochs,
)
from automl.config import DistillConfig, TrainConfig


def _toy(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(200, 1, 4, 4, generator=g)
    y = (x.flatten(1).sum(1) > 0).long()
    return x, y


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 2))


def test_training_learns_and_is_deterministic():
    x, y = _toy()
    runs = []
    for _ in range(2):
        model = _net()
        hist = train_epochs(model, x, y, epochs=5, train=TrainConfig(batch_size=32), lr=1e-2,
                            phase="train", val=(x, y))
        runs.append((hist, [p.detach().clone() for p in model.parameters()]))
    assert [h["loss"] for h in runs[0][0]] == [h["loss"] for h in runs[1][0]]
    assert all(torch.equal(a, b) for a, b in zip(runs[0][1], runs[1][1]))
    assert runs[0][0][-1]["loss"] < runs[0][0][0]["loss"]
    assert runs[0][0][-1]["val_accuracy"] > 0.8


def test_cosine_schedule_anneals_the_learning_rate_to_zero_by_the_last_step(monkeypatch):
    """Adam's lr over the steps of one phase: constant stays, cosine falls monotonically to 0."""
    seen = []
    step = torch.optim.Adam.step

    def spy(self, *args, **kwargs):
        seen.append(self.param_groups[0]["lr"])
        return step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", spy)
    x, y = _toy()
    train_epochs(_net(), x, y, epochs=3, train=TrainConfig(batch_size=50), lr=1e-2, phase="train")
    assert seen == [1e-2] * 12
    seen.clear()
    train_epochs(_net(), x, y, epochs=3, train=TrainConfig(batch_size=50, schedule="cosine"), lr=1e-2, phase="train")
    assert len(seen) == 12 and seen[0] == pytest.approx(1e-2)
    assert all(a > b for a, b in zip(seen, seen[1:])) and seen[-1] < 1e-3


def test_unknown_schedule_names_its_field():
    with pytest.raises(Exception, match="schedule"):
        TrainConfig(schedule="step")


def test_diverging_loss_raises_with_phase_and_epoch():
    x, y = _toy()
    x[0, 0, 0, 0] = float("nan")
    with pytest.raises(DivergedError, match="train loss is nan in epoch 1"):
        train_epochs(_net(), x, y, epochs=2, train=TrainConfig(), lr=1e-3, phase="train")


def test_distillation_runs_the_teacher_only_when_needed():
    x, y = _toy()
    calls = {"n": 0}

    class CountingTeacher(nn.Module):
        def forward(self, inp):
            calls["n"] += 1
            return torch.zeros(len(inp), 2)

    train_epochs(_net(), x, y, epochs=1, train=TrainConfig(batch_size=50), lr=1e-3, phase="train",
                 distill=DistillConfig(enabled=True, alpha=1.0), teacher=CountingTeacher())
    assert calls["n"] == 0
    model = _net()
    train_epochs(model, x, y, epochs=1, train=TrainConfig(batch_size=50), lr=1e-3, phase="train",
                 distill=DistillConfig(enabled=True, alpha=0.5, temperature=2.0), teacher=CountingTeacher())
    assert calls["n"] == 4
    assert 0.0 <= accuracy(model, x, y) <= 1.0


def test_bf16_autocast_on_cuda_only_never_on_cpu(monkeypatch):
    cuda = mixed_precision(torch.device("cuda"))
    assert isinstance(cuda, torch.autocast) and cuda.fast_dtype == torch.bfloat16
    assert not isinstance(mixed_precision(torch.device("cpu")), torch.autocast)

    def no_autocast(*args, **kwargs):
        raise AssertionError("autocast used on the CPU")

    monkeypatch.setattr(torch, "autocast", no_autocast)
    x, y = _toy()
    hist = train_epochs(_net(), x, y, epochs=1, train=TrainConfig(batch_size=32), lr=1e-2, phase="train")
    assert hist[0]["loss"] > 0

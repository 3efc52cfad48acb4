import math

import pytest
import torch

from automl.candidate.distillation import distillation_loss


def _softmax(xs):
    m = max(xs)
    e = [math.exp(x - m) for x in xs]
    return [v / sum(e) for v in e]


def test_distillation_loss_matches_hand_computation():
    s, t, label, alpha, T = [1.0, 2.0, 0.0], [0.0, 1.0, 3.0], 1, 0.3, 2.0
    ce = -math.log(_softmax(s)[label])
    p_t = _softmax([v / T for v in t])
    p_s = _softmax([v / T for v in s])
    kl = sum(pt * (math.log(pt) - math.log(ps)) for pt, ps in zip(p_t, p_s))
    expected = alpha * ce + (1 - alpha) * T * T * kl
    got = distillation_loss(torch.tensor([s]), torch.tensor([label]), torch.tensor([t]), alpha, T)
    assert float(got) == pytest.approx(expected, rel=1e-6)


def test_alpha_one_is_plain_cross_entropy_and_needs_no_teacher():
    s = torch.tensor([[0.5, -1.0, 2.0], [1.0, 1.0, 0.0]])
    y = torch.tensor([2, 0])
    got = distillation_loss(s, y, None, alpha=1.0, temperature=4.0)
    assert float(got) == pytest.approx(float(torch.nn.functional.cross_entropy(s, y)))


def test_batch_mean_over_samples():
    s = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    t = torch.tensor([[0.0, 1.0], [0.0, 1.0]])
    y = torch.tensor([0, 1])
    both = distillation_loss(s, y, t, alpha=0.0, temperature=1.0)
    first = distillation_loss(s[:1], y[:1], t[:1], alpha=0.0, temperature=1.0)
    second = distillation_loss(s[1:], y[1:], t[1:], alpha=0.0, temperature=1.0)
    assert float(both) == pytest.approx((float(first) + float(second)) / 2)
    assert float(second) == pytest.approx(0.0, abs=1e-7)  # identical distributions

"""Structured channel pruning that physically removes channels (Torch-Pruning).

Torch-Pruning traces the model into a dependency graph, so coupled layers are pruned
together: a convolution's (Conv2d or Conv1d) output channels with the following BatchNorm
and the next layer's input channels, depthwise convolutions with their producer, and every
layer feeding a residual addition (MobileNetV2) with the same channel indices. For an MLP a
"channel" is a hidden unit: a hidden Linear's output with the next Linear's input (the
network's inputs are never pruned). Channel groups are ranked by their L2 magnitude. The
classifier's outputs (the classes) are kept.
"""

from __future__ import annotations

import torch
import torch_pruning as tp
from torch import nn

from automl.config import fields as F
from automl.config.errors import ConfigError


def prune_channels(model: nn.Module, ratio: float, example_input: torch.Tensor,
                   round_to: int | None = None) -> nn.Module:
    """Remove the ``ratio`` least important channels of every prunable layer, in place.

    Args:
        model: The network; its last ``nn.Linear`` is taken as the classifier and its
            outputs are never pruned.
        ratio: Fraction of channels to remove per layer group, in ``[0, 1)``; 0 is a no-op.
        example_input: A batch of the model's input shape (any rank), used to trace the graph.
        round_to: keep a multiple of this many channels per layer (``None``: exactly the ratio).

    Returns:
        ``model``, smaller: fewer parameters and MACs, same input shape and output classes.

    Raises:
        ConfigError: ``ratio`` outside ``[0, 1)``.
    """
    ratio = F.number("ratio", ratio, 0.0, 1.0)
    if ratio >= 1.0:
        raise ConfigError("ratio", f"{ratio!r} is out of range (allowed: [0.0, 1.0))")
    if ratio == 0.0:
        return model
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    was_training = model.training
    model.eval()  # tracing runs a forward pass: leave BatchNorm statistics untouched
    pruner = tp.pruner.BasePruner(
        model,
        example_input,
        importance=tp.importance.MagnitudeImportance(p=2),
        pruning_ratio=ratio,
        ignored_layers=linears[-1:],
        round_to=round_to,
    )
    pruner.step()
    model.train(was_training)
    return model

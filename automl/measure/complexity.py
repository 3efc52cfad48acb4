"""Model complexity: multiply-accumulates of one forward pass and non-zero parameters.

MACs count only the multiply-accumulates of Conv1d, Conv2d and Linear layers (the kernel's
size times ``C_in / groups`` per convolution output element, ``in_features`` per linear
output), the usual definition; normalisation, activations, pooling and bias additions are
not counted.
"""

from __future__ import annotations

import math

import torch
from torch import nn

COUNTED = (nn.Conv1d, nn.Conv2d, nn.Linear)


def count_macs(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of ``model`` on one input of shape ``input_shape`` (batch 1), e.g.
    ``(F,)``, ``(C, L)`` or ``(C, H, W)``.

    Runs one forward pass in eval mode without gradients; the model's mode is restored.
    """
    total = 0

    def count(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, (nn.Conv1d, nn.Conv2d)):
            kernel = math.prod(module.kernel_size)
            total += output.numel() * kernel * module.in_channels // module.groups
        else:
            total += output.numel() * module.in_features

    handles = [m.register_forward_hook(count) for m in model.modules()
               if isinstance(m, COUNTED)]
    was_training = model.training
    reference = next(model.parameters(), None)
    device = reference.device if reference is not None else None
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, *input_shape, device=device))
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return int(total)


def count_params_nonzero(model: nn.Module) -> int:
    """Number of non-zero entries over all parameters of ``model`` (shared ones counted once)."""
    return sum(int(torch.count_nonzero(p)) for p in model.parameters())

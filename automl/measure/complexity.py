"""Model complexity: multiply-accumulates of one forward pass and non-zero parameters.

MACs count only the multiply-accumulates of Conv2d and Linear layers (``k_h * k_w *
C_in / groups`` per convolution output element, ``in_features`` per linear output), the
usual definition; normalisation, activations, pooling and bias additions are not counted.
"""

from __future__ import annotations

import torch
from torch import nn


def count_macs(model: nn.Module, input_shape: tuple[int, int, int]) -> int:
    """Multiply-accumulates of ``model`` on one input of shape ``(C, H, W)`` (batch 1).

    Runs one forward pass in eval mode without gradients; the model's mode is restored.
    """
    total = 0

    def count(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Conv2d):
            kernel = module.kernel_size[0] * module.kernel_size[1]
            total += output.numel() * kernel * module.in_channels // module.groups
        else:
            total += output.numel() * module.in_features

    handles = [m.register_forward_hook(count) for m in model.modules()
               if isinstance(m, (nn.Conv2d, nn.Linear))]
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

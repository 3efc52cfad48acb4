"""Post-training weight quantization in place (activations are calibrated at export by ORT)."""

from __future__ import annotations

import torch
from torch import nn

from automl.quantization.weights import dequantize_per_channel, quantize_per_channel

QUANT_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Linear)


def quantized_layers(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, QUANT_LAYERS)]


@torch.no_grad()
def quantize_weights_(model: nn.Module, bits: int) -> None:
    """Set every Conv1d/Conv2d/Linear weight to its quantized value, in place.

    2/4/8: ``q * scale`` (per-output-channel symmetric, round to nearest);
    16: rounded through float16; 32: nothing. The Parameter objects are kept (their
    ``.data`` is overwritten), so optimizer state and gradient hooks stay attached.
    """
    if bits == 32:
        return
    if bits not in (2, 4, 8, 16):
        raise ValueError(f"weight bits must be 2, 4, 8, 16 or 32, got {bits!r}")
    for layer in quantized_layers(model):
        w = layer.weight
        if bits == 16:
            w.copy_(w.to(torch.float16).to(w.dtype))
        else:
            q, scale = quantize_per_channel(w, bits)
            w.copy_(dequantize_per_channel(q, scale.to(w.device)).to(w.dtype))

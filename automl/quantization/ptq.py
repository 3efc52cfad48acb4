"""Post-training weight quantization in place (activations are calibrated at export by ORT)."""

from __future__ import annotations

import torch
from torch import nn

from automl.config.compression import QuantConfig
from automl.quantization.bits import SHARED, layer_bit_widths
from automl.quantization.weights import dequantize_per_channel, quantize_per_channel


@torch.no_grad()
def quantize_weights_(model: nn.Module, quant: QuantConfig | int) -> None:
    """Set every Conv/Linear weight to its quantized value, in place.

    ``quant``: a :class:`QuantConfig` (per-layer widths, see :mod:`automl.quantization.bits`)
    or one width for every layer. 2/4/8: ``q * scale`` (per-output-channel symmetric, round
    to nearest); 16: rounded through float16; 32: nothing. The Parameter objects are kept
    (their ``.data`` is overwritten), so optimizer state and gradient hooks stay attached.
    """
    if not isinstance(quant, QuantConfig):
        if quant not in (2, 4, 8, 16, 32):
            raise ValueError(f"weight bits must be 2, 4, 8, 16 or 32, got {quant!r}")
        quant = QuantConfig(weight_bits=quant)
    for layer, bits in layer_bit_widths(model, quant).items():
        w = layer.weight
        if bits == SHARED:
            continue  # shared values (automl.sharing) are stored as they are
        if bits == 16:
            w.copy_(w.to(torch.float16).to(w.dtype))
        elif bits <= 8:
            q, scale = quantize_per_channel(w, bits)
            w.copy_(dequantize_per_channel(q, scale.to(w.device)).to(w.dtype))

"""Weight quantization (per-channel symmetric integer grid), PTQ and QAT."""

from automl.quantization.bits import execution_order, layer_bit_widths, quantized_layers
from automl.quantization.ptq import quantize_weights_
from automl.quantization.qat import finalize_qat, prepare_qat
from automl.quantization.weights import (
    dequantize_per_channel,
    fake_quantize_weight,
    quantize_per_channel,
)

__all__ = [
    "dequantize_per_channel",
    "execution_order",
    "fake_quantize_weight",
    "finalize_qat",
    "layer_bit_widths",
    "prepare_qat",
    "quantize_per_channel",
    "quantized_layers",
    "quantize_weights_",
]

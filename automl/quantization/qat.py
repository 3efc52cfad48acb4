"""Quantization-aware training: fake-quantized weights (parametrizations) and, for 8-bit
activations, fake-quantized layer inputs (forward pre-hooks with EMA min/max observers).

``prepare_qat`` keeps each original weight Parameter object as
``layer.parametrizations.weight.original`` (torch moves the very same Parameter there), so
gradient hooks registered on it beforehand (e.g. to keep pruned zeros at zero) keep working.
``finalize_qat`` bakes the quantized values into plain weights and removes everything.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from automl.config.compression import QuantConfig
from automl.quantization.bits import layer_bit_widths, quantized_layers
from automl.quantization.weights import fake_quantize_weight

_HOOKS_ATTR = "_automl_qat_hooks"


class WeightFakeQuant(nn.Module):
    """Parametrization: per-output-channel symmetric fake quantization with STE."""

    def __init__(self, bits: int) -> None:
        super().__init__()
        self.bits = bits

    def forward(self, w: Tensor) -> Tensor:
        return fake_quantize_weight(w, self.bits)


class ActivationFakeQuant(nn.Module):
    """8-bit per-tensor asymmetric fake quantization of a layer input; the range is an EMA of
    the batch min/max while training, frozen in eval mode."""

    def __init__(self, momentum: float = 0.1) -> None:
        super().__init__()
        self.momentum = momentum
        self.register_buffer("min_val", torch.tensor(0.0))
        self.register_buffer("max_val", torch.tensor(0.0))
        self.register_buffer("initialized", torch.tensor(False))

    @torch.no_grad()
    def observe(self, x: Tensor) -> None:
        lo, hi = x.detach().min().float(), x.detach().max().float()
        if not bool(self.initialized):
            self.min_val.copy_(lo)
            self.max_val.copy_(hi)
            self.initialized.fill_(True)
        else:
            self.min_val.lerp_(lo, self.momentum)
            self.max_val.lerp_(hi, self.momentum)

    def forward(self, x: Tensor) -> Tensor:
        if self.training:
            self.observe(x)
        if not bool(self.initialized):
            return x
        lo = torch.clamp(self.min_val, max=0.0)  # the range always contains 0 (exact zero padding)
        hi = torch.clamp(self.max_val, min=0.0)
        scale = float((hi - lo) / 255.0)
        if scale <= 0:
            return x
        zero_point = int(torch.clamp(torch.round(-lo / scale), 0, 255))
        return torch.fake_quantize_per_tensor_affine(x, scale, zero_point, 0, 255)


def _input_hook(layer: nn.Module, args: tuple) -> tuple:
    return (layer.automl_act_fq(args[0]),) + tuple(args[1:])


def prepare_qat(model: nn.Module, quant: QuantConfig) -> None:
    """Register fake quantization on every Conv1d/Conv2d/Linear (in place).

    Weights, per layer (``quant.weight_bits``, or per-layer widths, see
    :mod:`automl.quantization.bits`): {2, 4, 8} -> per-channel integer grid; 16 -> float16
    rounding; 32 -> untouched. Inputs: 8-bit fake quantization when ``quant.activation_bits == 8``.
    """
    for layer, bits in layer_bit_widths(model, quant).items():
        if bits in (2, 4, 8) and not parametrize.is_parametrized(layer, "weight"):
            parametrize.register_parametrization(layer, "weight", WeightFakeQuant(bits))
        elif bits == 16 and not parametrize.is_parametrized(layer, "weight"):
            parametrize.register_parametrization(layer, "weight", _Fp16Round())
        if quant.activation_bits == 8 and not hasattr(layer, _HOOKS_ATTR):
            w = layer.parametrizations.weight.original if parametrize.is_parametrized(layer) else layer.weight
            layer.automl_act_fq = ActivationFakeQuant().to(w.device)
            setattr(layer, _HOOKS_ATTR, layer.register_forward_pre_hook(_input_hook))


class _Fp16Round(nn.Module):
    def forward(self, w: Tensor) -> Tensor:  # STE through the float16 rounding
        return w + (w.to(torch.float16).to(w.dtype) - w).detach()


def finalize_qat(model: nn.Module) -> None:
    """Bake fake-quantized weights in (weights then hold exactly ``q * scale``) and remove
    every parametrization, observer and hook that :func:`prepare_qat` added."""
    for layer in quantized_layers(model):
        if parametrize.is_parametrized(layer, "weight"):
            parametrize.remove_parametrizations(layer, "weight", leave_parametrized=True)
        handle = getattr(layer, _HOOKS_ATTR, None)
        if handle is not None:
            handle.remove()
            delattr(layer, _HOOKS_ATTR)
        if hasattr(layer, "automl_act_fq"):
            del layer.automl_act_fq

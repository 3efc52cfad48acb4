"""Per-output-channel symmetric integer weight quantization (the grid every encoding shares).

For ``bits`` in {2, 4, 8}: ``qmax = 2**(bits-1) - 1`` (1, 7, 127), integers lie in
``[-qmax, qmax]`` and the per-channel scale is ``max|w| / qmax`` over every axis but 0.
An all-zero channel gets scale 1.0 (its integers are 0, so it reconstructs to exactly 0).
"""

from __future__ import annotations

import torch
from torch import Tensor

INT_BITS = (2, 4, 8)


def qmax_for(bits: int) -> int:
    if bits not in INT_BITS:
        raise ValueError(f"integer weight bits must be one of {INT_BITS}, got {bits!r}")
    return 2 ** (bits - 1) - 1


def channel_scales(w: Tensor, bits: int) -> Tensor:
    """float32 per-output-channel (axis 0) symmetric scales, zero-safe (all-zero channel -> 1.0)."""
    qmax = qmax_for(bits)
    w = w.detach().float()
    amax = w.abs().reshape(w.shape[0], -1).amax(dim=1) if w.numel() else torch.zeros(w.shape[0])
    scale = amax / qmax
    return torch.where(amax > 0, scale, torch.ones_like(scale)).to(torch.float32)


def _bshape(w: Tensor) -> tuple[int, ...]:
    return (w.shape[0],) + (1,) * (w.dim() - 1)


def quantize_per_channel(w: Tensor, bits: int) -> tuple[Tensor, Tensor]:
    """Return ``(q, scale)``: int8 integers in [-qmax, qmax] (round to nearest) and float32
    per-output-channel scales, such that ``q * scale[:, None, ...]`` approximates ``w``."""
    qmax = qmax_for(bits)
    scale = channel_scales(w, bits)
    q = torch.round(w.detach().float() / scale.reshape(_bshape(w))).clamp_(-qmax, qmax)
    return q.to(torch.int8), scale


def dequantize_per_channel(q: Tensor, scale: Tensor) -> Tensor:
    return q.float() * scale.reshape((q.shape[0],) + (1,) * (q.dim() - 1))


def fake_quantize_weight(w: Tensor, bits: int) -> Tensor:
    """``q * scale`` with a straight-through estimator: the forward pass sees the quantized
    weight, the gradient flows to ``w`` unchanged inside the clamp range (here: everywhere,
    since the scale is taken from the current max)."""
    qmax = qmax_for(bits)
    scale = channel_scales(w, bits).to(w.device)
    zero = torch.zeros(w.shape[0], dtype=torch.int32, device=w.device)
    return torch.fake_quantize_per_channel_affine(w, scale, zero, 0, -qmax, qmax)

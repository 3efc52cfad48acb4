"""A shared layer's weight as stored: signed ``index_bits``-bit codes into a codebook.

A layer with k shared values stores ``ceil(log2 k)`` bits per weight, rounded up to an ONNX
integer type: 2 (INT2, k <= 4), 4 (INT4, k <= 16) or 8 (INT8). The codebook has ``K =
2**index_bits`` entries; code ``p`` is stored as the signed integer ``p`` (``p < K/2``) or ``p -
K``, which ONNX ``Gather`` reads as index ``p`` (negative indices count from the end), so the
decode is one Cast and one Gather. Zero, when it is a value, has code 0: a pruned weight's
code is the implicit value of the sparse encoding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch import nn

from automl.quantization.bits import SHARED_ATTR


def index_bits(k: int) -> int:
    """Bits per stored index for ``k`` shared values: 2, 4 or 8."""
    if not 2 <= k <= 256:
        raise ValueError(f"shared values per layer must be 2..256, got {k}")
    return 2 if k <= 4 else 4 if k <= 16 else 8


@dataclass(frozen=True)
class SharedCodes:
    """One layer's weight as codes into a codebook: ``weight == codebook[codes]``."""

    codebook: np.ndarray  # float32 [2**index_bits]; entries past the layer's values are 0
    codes: np.ndarray  # int8, the weight's shape: signed codes in [-K/2, K/2)
    k: int  # the layer's number of shared values (its setting)

    @property
    def index_bits(self) -> int:
        return index_bits(self.k)

    def decode(self) -> np.ndarray:
        return self.codebook[self.codes.astype(np.int64) % len(self.codebook)]


def shared_codes(layer: nn.Module) -> SharedCodes:
    """The codes of a layer marked shared by :func:`automl.sharing.finalize_sharing`.

    Raises ``ValueError`` when its weight holds more distinct values than its k allows
    (something changed it after sharing).
    """
    k = getattr(layer, SHARED_ATTR, 0)
    w = layer.weight.detach().float().cpu().numpy()
    values, inverse = np.unique(w, return_inverse=True)
    if len(values) > k:
        raise ValueError(f"a shared layer holds {len(values)} distinct weights, more than its k={k}")
    size = 2 ** index_bits(k)
    zero = np.flatnonzero(values == 0)
    order = list(zero) + [i for i in range(len(values)) if values[i] != 0]  # zero gets code 0
    position = np.empty(len(values), np.int64)
    position[order] = np.arange(len(values))
    codebook = np.zeros(size, np.float32)
    codebook[position] = values
    codes = position[inverse.reshape(w.shape)]
    signed = np.where(codes < size // 2, codes, codes - size).astype(np.int8)
    return SharedCodes(codebook=codebook, codes=signed, k=k)

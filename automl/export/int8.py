"""Real int8 models (8-bit activations) with ONNX Runtime's quantization tool.

``quantize_static``: QDQ format, per-channel symmetric int8 weights, uint8 asymmetric
activations (the u8s8 combination MLAS runs fastest on x86) calibrated with MinMax on the
caller's training tensor. ORT fuses DQ -> Conv -> Q into ``QLinearConv`` and DQ ->
MatMul/Gemm -> Q into ``QLinearMatMul``/``QGemm`` at session creation. (Integer weights with
float activations are not an ORT quantizer model: see :mod:`automl.export.weight_encoding`.)
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from torch import Tensor

from automl.export.onnx_export import INPUT_NAME

CALIB_BATCH = 128


class TensorReader(CalibrationDataReader):
    """Feeds a float tensor to the calibration session in fixed-size batches."""

    def __init__(self, x: Tensor, batch: int = CALIB_BATCH, input_name: str = INPUT_NAME) -> None:
        self.x = np.ascontiguousarray(x.detach().cpu().float().numpy())
        self.batch = batch
        self.input_name = input_name
        self.i = 0

    def get_next(self):
        if self.i >= len(self.x):
            return None
        chunk = self.x[self.i:self.i + self.batch]
        self.i += self.batch
        return {self.input_name: chunk}

    def rewind(self) -> None:
        self.i = 0


class _DropPreprocessAdvice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing" not in record.getMessage()


@contextlib.contextmanager
def _quiet():
    """ORT's quantizer logs a 'consider pre-processing' warning on the root logger for every
    call; the exported graphs are already shape-inferred and constant-folded."""
    flt = _DropPreprocessAdvice()
    root = logging.getLogger()
    root.addFilter(flt)
    try:
        yield
    finally:
        root.removeFilter(flt)


def quantize_static_qdq(proto: onnx.ModelProto, calib_x: Tensor) -> onnx.ModelProto:
    if len(calib_x) == 0:
        raise ValueError("static int8 quantization needs calibration data")
    with tempfile.TemporaryDirectory(prefix="automl-q8-") as tmp:
        out = Path(tmp) / "q.onnx"
        with _quiet():
            quantize_static(
                proto, out, TensorReader(calib_x), quant_format=QuantFormat.QDQ,
                per_channel=True, reduce_range=False,
                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                calibrate_method=CalibrationMethod.MinMax,
                extra_options={"WeightSymmetric": True, "ActivationSymmetric": False},
            )
        return onnx.load(out)

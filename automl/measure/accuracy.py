"""Accuracy of the deployable artifact itself, run in ONNX Runtime."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
from torch import Tensor


def onnx_predict(session: ort.InferenceSession, x: Tensor, batch_size: int = 256) -> np.ndarray:
    """Logits of ``session`` on ``x`` (float32, batched)."""
    name = session.get_inputs()[0].name
    xs = x.detach().cpu().float().numpy()
    outs = [session.run(None, {name: np.ascontiguousarray(xs[i:i + batch_size])})[0]
            for i in range(0, len(xs), batch_size)]
    return np.concatenate(outs) if outs else np.zeros((0, 0), np.float32)


def onnx_accuracy(session: ort.InferenceSession, x: Tensor, y: Tensor, batch_size: int = 256) -> float:
    """Top-1 accuracy (fraction in [0, 1]) of the ONNX model on ``(x, y)``."""
    if len(x) == 0:
        raise ValueError("accuracy needs at least one sample")
    pred = onnx_predict(session, x, batch_size).argmax(axis=1)
    return float((pred == y.detach().cpu().numpy().reshape(-1)).mean())

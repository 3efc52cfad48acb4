"""The deployment runtime's session: ONNX Runtime on the CPU, fixed threads, all graph
optimizations. Imports only onnxruntime, so a fresh timing process starts in a fraction of a
second (:mod:`automl.measure.latency` spawns some)."""

from __future__ import annotations

import onnxruntime as ort


def session_options(threads: int) -> ort.SessionOptions:
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    return so


def open_session(path, threads: int = 1) -> ort.InferenceSession:
    """ORT CPU session with fixed intra/inter-op threads and all graph optimizations."""
    return ort.InferenceSession(str(path), session_options(threads), providers=["CPUExecutionProvider"])

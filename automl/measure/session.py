"""The ONNX Runtime session every figure runs on: fixed threads, all graph optimizations, the
target's execution provider (CPU by default). Imports only onnxruntime, so a fresh timing process
starts in a fraction of a second (:mod:`automl.measure.latency` spawns some)."""

from __future__ import annotations

from typing import Mapping, Sequence

import onnxruntime as ort


def session_options(threads: int, options: Mapping[str, str] | None = None) -> ort.SessionOptions:
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    for key, value in (options or {}).items():
        so.add_session_config_entry(key, value)
    return so


def open_session(path, threads: int = 1, providers: Sequence[str] = ("CPUExecutionProvider",),
                 options: Mapping[str, str] | None = None) -> ort.InferenceSession:
    """ORT session with fixed intra/inter-op threads and all graph optimizations (CPU unless ``providers``)."""
    return ort.InferenceSession(str(path), session_options(threads, options), providers=list(providers))

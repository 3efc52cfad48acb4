"""Latency of the deployable artifact: ONNX Runtime, CPU, batch 1, fixed intra-op threads,
warm-up runs, then timed runs; the median is the headline number."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

MIN_RUNS = 50


@dataclass
class LatencyResult:
    median_ms: float
    p10_ms: float
    p90_ms: float
    runs: int
    warmup: int
    threads: int
    batch_size: int
    runtime: str  # e.g. "onnxruntime 1.32.0 CPUExecutionProvider"


def measure_latency(path: str | Path, input_shape, threads: int = 1, warmup: int = 20,
                    runs: int = 100) -> LatencyResult:
    """Time one batch-1 inference of the ONNX file at ``path``.

    ``input_shape`` is the per-sample shape (C, H, W); a batch dimension of 1 is added
    (a full shape of the model input's rank is accepted too; its batch is replaced by 1).
    ``runs`` below 50 is raised to 50. The input is fixed random data (seed 0).
    """
    from automl.export.artifact import open_session  # late: keep measure importable alone

    runs = max(int(runs), MIN_RUNS)
    warmup = max(int(warmup), 1)
    session = open_session(path, threads=threads)
    meta = session.get_inputs()[0]
    name = meta.name
    shape = tuple(int(s) for s in input_shape)
    if len(shape) == len(meta.shape):  # a full shape was given: force batch 1
        shape = shape[1:]
    shape = (1,) + shape
    feed = {name: np.random.default_rng(0).standard_normal(shape, dtype=np.float32)}
    run = session.run
    for _ in range(warmup):
        run(None, feed)
    times = np.empty(runs)
    clock = time.perf_counter
    for i in range(runs):
        t0 = clock()
        run(None, feed)
        times[i] = clock() - t0
    ms = times * 1e3
    return LatencyResult(
        median_ms=float(np.median(ms)), p10_ms=float(np.percentile(ms, 10)),
        p90_ms=float(np.percentile(ms, 90)), runs=runs, warmup=warmup, threads=threads,
        batch_size=1, runtime=f"onnxruntime {ort.__version__} {session.get_providers()[0]}",
    )

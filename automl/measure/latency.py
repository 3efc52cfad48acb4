"""Latency of the deployable artifact: ONNX Runtime, CPU, batch 1, fixed intra-op threads,
warm-up runs, then blocks of timed runs; the lowest block median is the headline number."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnxruntime as ort

MIN_RUNS = 50
BLOCKS = 5  # timed blocks; the lowest block median is reported


@dataclass
class LatencyResult:
    median_ms: float  # the headline: the lowest of the blocks' medians (see measure_latency)
    p10_ms: float  # over all timed runs
    p90_ms: float  # over all timed runs
    runs: int  # timed runs per block
    warmup: int
    threads: int
    batch_size: int
    runtime: str  # e.g. "onnxruntime 1.32.0 CPUExecutionProvider"
    blocks: int = 1  # blocks of ``runs`` timed runs
    block_medians_ms: list[float] = field(default_factory=list)


def measure_latency(path: str | Path, input_shape, threads: int = 1, warmup: int = 20,
                    runs: int = 100, blocks: int = BLOCKS) -> LatencyResult:
    """Time batch-1 inference of the ONNX file at ``path``.

    After ``warmup`` untimed runs, ``blocks`` blocks of ``runs`` timed runs each (``runs`` is
    raised to at least 50). Each block's median is a latency estimate; the reported
    ``median_ms`` is the lowest of them, because interference from other processes can only
    add time: a block that a context switch or a neighbour's burst landed on is discarded
    rather than averaged in. p10/p90 span all timed runs.

    ``input_shape`` is the per-sample shape (C, H, W) (a full shape with a leading batch
    dimension is also accepted; the batch is forced to 1). The input is fixed random data.
    """
    from automl.export.artifact import open_session  # late: keep measure importable alone

    runs = max(int(runs), MIN_RUNS)
    warmup = max(int(warmup), 1)
    session = open_session(path, threads=threads)
    meta = session.get_inputs()[0]
    shape = tuple(int(s) for s in input_shape)
    if len(shape) == len(meta.shape):  # a full shape was given: force batch 1
        shape = shape[1:]
    feed = {meta.name: np.random.default_rng(0).standard_normal((1,) + shape, dtype=np.float32)}
    run = session.run
    for _ in range(warmup):
        run(None, feed)
    times = np.empty((max(1, blocks), runs))
    clock = time.perf_counter
    for b in range(times.shape[0]):
        for i in range(runs):
            t0 = clock()
            run(None, feed)
            times[b, i] = clock() - t0
    ms = times * 1e3
    medians = [float(m) for m in np.median(ms, axis=1)]
    return LatencyResult(
        median_ms=min(medians), p10_ms=float(np.percentile(ms, 10)), p90_ms=float(np.percentile(ms, 90)),
        runs=runs, warmup=warmup, threads=threads, batch_size=1,
        runtime=f"onnxruntime {ort.__version__} {session.get_providers()[0]}",
        blocks=times.shape[0], block_medians_ms=medians)

"""Latency of deployable artifacts: ONNX Runtime, CPU, batch 1, fixed intra-op threads.

Several models are timed *interleaved* in one process: after a warm-up measured in time (not
runs: clocks, caches and ORT's allocator settle over tens of milliseconds), each round times
one block of consecutive runs of every model, the order rotating from round to round so no
model always goes first. A block lasts about ``block_s`` and a model's blocks add up to
``window_s``, hundreds of milliseconds: a burst of outside load lands on neighbouring blocks
of both models alike, and only a sustained one can move the result.

The first model is the *reference* (the teacher). For every other model each round gives a
ratio (its block median over the reference's block median in the same round); the reported
``ratio`` is the median over rounds, with the 25th and 75th percentiles as its spread. A
ratio measured this way survives load that moves absolute microseconds by 2x.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import onnxruntime as ort


@dataclass(frozen=True)
class LatencySettings:
    """How long and how a timing run measures (the defaults are the search-time figures)."""

    threads: int = 1  # ORT intra-op threads (inter-op is 1, sequential execution)
    warmup_s: float = 0.05  # untimed runs of each model for at least this long before timing
    block_s: float = 0.01  # one block: consecutive runs of one model lasting about this long
    window_s: float = 0.15  # timed seconds per model: rounds = max(min_rounds, window_s / block_s)
    min_rounds: int = 15

    def rounds(self) -> int:
        return max(self.min_rounds, math.ceil(self.window_s / self.block_s))


FINAL = LatencySettings(warmup_s=0.2, window_s=0.5)
"""Settings of the final re-timing of a front (and of the study's teacher figure)."""


@dataclass
class LatencyResult:
    latency_ms: float  # the headline: median_ms alone, or ratio x the study's teacher figure (see scaled)
    median_ms: float  # this model's own figure: the median of its block medians
    p10_ms: float  # over every timed run of this model
    p90_ms: float
    runs_per_block: int
    rounds: int
    warmup_s: float
    threads: int
    batch_size: int
    runtime: str  # e.g. "onnxruntime 1.32.0 CPUExecutionProvider"
    ratio: float | None = None  # to the reference timed interleaved with it (None: timed alone)
    ratio_p25: float | None = None  # spread of the per-round ratios
    ratio_p75: float | None = None
    reference_ms: float | None = None  # the reference's own median in the same run
    block_medians_ms: list[float] = field(default_factory=list)

    def scaled(self, baseline_ms: float) -> "LatencyResult":
        """This result with ``latency_ms = ratio x baseline_ms`` (the study's one teacher figure)."""
        if self.ratio is None:
            raise ValueError("only a result timed against a reference has a ratio to scale")
        return LatencyResult(**{**self.__dict__, "latency_ms": self.ratio * baseline_ms})


def measure_interleaved(paths: Sequence[str | Path], input_shape: Sequence[int],
                        settings: LatencySettings = LatencySettings()) -> list[LatencyResult]:
    """Time the ONNX files at ``paths`` interleaved; ratios are to ``paths[0]``.

    ``input_shape`` is the per-sample shape ((F,), (C, L) or (C, H, W)); a full shape with a leading batch
    dimension is accepted too (the batch is forced to 1). The input is fixed random data.
    """
    from automl.export.artifact import open_session  # late: keep measure importable alone

    sessions = [open_session(p, threads=settings.threads) for p in paths]
    feeds = [_feed(s, input_shape) for s in sessions]
    runs = [s.run for s in sessions]
    clock = time.perf_counter
    per_call = []
    for run, feed in zip(runs, feeds):  # warm-up by time, then the cost of one call
        end = clock() + settings.warmup_s
        while clock() < end:
            run(None, feed)
        t0 = clock()
        for _ in range(10):
            run(None, feed)
        per_call.append(max((clock() - t0) / 10, 1e-7))
    block_runs = [min(100_000, max(5, math.ceil(settings.block_s / t))) for t in per_call]
    n, rounds = len(sessions), settings.rounds()
    times = [np.empty((rounds, k)) for k in block_runs]
    for r in range(rounds):
        for i in (list(range(n))[r % n:] + list(range(n))[:r % n]):  # rotate who goes first
            run, feed, out = runs[i], feeds[i], times[i][r]
            for j in range(block_runs[i]):
                t0 = clock()
                run(None, feed)
                out[j] = clock() - t0
    medians = [np.median(t, axis=1) * 1e3 for t in times]  # per model, per round (ms)
    runtime = f"onnxruntime {ort.__version__} {sessions[0].get_providers()[0]}"
    results = []
    for i in range(n):
        own = float(np.median(medians[i]))
        ratio = p25 = p75 = ref = None
        if n > 1:
            per_round = medians[i] / medians[0]
            ratio, p25, p75 = (float(np.percentile(per_round, q)) for q in (50, 25, 75))
            ref = float(np.median(medians[0]))
        ms = times[i] * 1e3
        results.append(LatencyResult(
            latency_ms=own, median_ms=own, p10_ms=float(np.percentile(ms, 10)),
            p90_ms=float(np.percentile(ms, 90)), runs_per_block=block_runs[i], rounds=rounds,
            warmup_s=settings.warmup_s, threads=settings.threads, batch_size=1, runtime=runtime,
            ratio=ratio, ratio_p25=p25, ratio_p75=p75, reference_ms=ref,
            block_medians_ms=[round(float(m), 6) for m in medians[i]]))
    return results


def measure_latency(path: str | Path, input_shape: Sequence[int],
                    settings: LatencySettings = LatencySettings()) -> LatencyResult:
    """Time one ONNX file alone (no reference, so no ratio): see :func:`measure_interleaved`."""
    return measure_interleaved([path], input_shape, settings)[0]


def _feed(session: ort.InferenceSession, input_shape: Sequence[int]) -> dict[str, np.ndarray]:
    meta = session.get_inputs()[0]
    shape = tuple(int(s) for s in input_shape)
    if len(shape) == len(meta.shape):  # a full shape was given: force batch 1
        shape = shape[1:]
    return {meta.name: np.random.default_rng(0).standard_normal((1,) + shape, dtype=np.float32)}

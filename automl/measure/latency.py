"""Latency of deployable artifacts on a deployment target (default ONNX Runtime CPU), batch 1,
fixed intra-op threads. Each target's runtime is called its cheapest way
(:mod:`automl.measure.runtimes`); what follows holds for every target.

Several models are timed *interleaved* in one process: after a warm-up measured in time (not
runs: clocks, caches and ORT's allocator settle over tens of milliseconds), each round times
one block of consecutive runs of every model, the order rotating from round to round so no
model always goes first. A block lasts about ``block_s`` and a model's blocks add up to
``window_s``, hundreds of milliseconds: a burst of outside load lands on neighbouring blocks
of both models alike, and only a sustained one can move the result.

A model's figure is its **best window**: the lowest of its per-round block medians. Outside
load only ever adds time, and on a shared host it does not add it evenly: measured here, a
78 KB teacher's 10 ms block medians wandered between 10.4 and 16.7 µs within one run (and its
median between 10.6 and 14.8 µs from one run to the next) while a 1 KB student's stayed at
6.9–7.5 µs, so the median of per-round ratios moved from 0.48 to 0.58 between runs of the same
two files; the ratio of best windows stayed within 0.653–0.668 (idle, one or two busy-loop
processes, separate processes). The first model is the *reference* (the teacher); every other
model's ``ratio`` is its best window over the reference's, with a spread (25th and 75th
percentile of the same ratio over bootstrap resamples of the rounds) saying how many rounds
agree with it. Each model is loaded as ``instances`` separate sessions, created in turn across
models with a spacer allocation between them, and round r times instance r % instances: in some
processes one session placement of a model ran ~25 % slower for the whole process while the
teacher did not (1.98 against 1.57-1.61 in the other processes), and the fastest of several
placements is what repeats. That state can also hold for a whole process, for minutes at a
time (every session of a model slow in one process, none in the next), so the final figures
(:data:`FINAL`) time everything again in ``processes`` fresh processes, one after another, and
keep each model's best window over all of them; the spread is then the lowest and highest of
the per-process ratios.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from automl.measure.runtimes import runtime_for
from automl.measure.targets import DEFAULT_TARGET, Target


@dataclass(frozen=True)
class LatencySettings:
    """How long and how a timing run measures (the defaults are the search-time figures)."""

    threads: int = 1  # the study's intra-op threads (a target may set its own: Target.threads)
    warmup_s: float = 0.05  # untimed runs of each model for at least this long before timing
    block_s: float = 0.01  # one block: consecutive runs of one model lasting about this long
    window_s: float = 0.15  # timed seconds per model: rounds = max(min_rounds, window_s / block_s)
    min_rounds: int = 15
    instances: int = 3  # ORT sessions per model, each at other addresses; round r times instance r % instances
    processes: int = 1  # > 1: the whole timing again in that many fresh processes, best of all (see module doc)

    def rounds(self) -> int:
        return max(self.min_rounds, math.ceil(self.window_s / self.block_s))


FINAL = LatencySettings(warmup_s=0.05, window_s=0.2, processes=3)
"""Settings of the final re-timing of a front (and of the study's teacher figure)."""

PROBE = LatencySettings(warmup_s=0.02, window_s=0.04, min_rounds=4, instances=1)
"""Settings of the early-stopping probe's timing (:mod:`automl.candidate.probe`): its figure
only ranks candidates at a rung and is never reported, so it gets a third of the search-time
window. Measured on five digits artifacts (6-15 µs), six timings each: 0.06 s a timing instead
of 0.19 s, within 3 % of the search-time figure, spread (std) at most 0.1 µs for both."""


@dataclass
class LatencyResult:
    latency_ms: float  # the headline: best_ms alone, or ratio x the study's teacher figure (see scaled)
    best_ms: float  # this model's own figure: the lowest of its per-round block medians (best window)
    median_ms: float  # the median of its block medians (shows how much the load moved it)
    p10_ms: float  # over every timed run of this model
    p90_ms: float
    runs_per_block: int
    rounds: int
    warmup_s: float
    threads: int
    batch_size: int
    runtime: str  # e.g. "onnxruntime 1.32.0 CPUExecutionProvider"
    target: str = DEFAULT_TARGET.name  # the deployment target it was timed on
    ratio: float | None = None  # to the reference timed interleaved with it (None: timed alone)
    ratio_p25: float | None = None  # spread: the ratio's 25th/75th percentile over bootstrap resamples of
    ratio_p75: float | None = None  # the rounds; with several processes, the lowest/highest per-process ratio
    reference_ms: float | None = None  # the reference's own best window in the same run
    block_medians_ms: list[float] = field(default_factory=list)

    def scaled(self, baseline_ms: float) -> "LatencyResult":
        """This result with ``latency_ms = ratio x baseline_ms`` (the study's one teacher figure)."""
        if self.ratio is None:
            raise ValueError("only a result timed against a reference has a ratio to scale")
        return LatencyResult(**{**self.__dict__, "latency_ms": self.ratio * baseline_ms})


def measure_interleaved(paths: Sequence[str | Path], input_shape: Sequence[int],
                        settings: LatencySettings = LatencySettings(),
                        target: Target = DEFAULT_TARGET) -> list[LatencyResult]:
    """Time the ONNX files at ``paths`` interleaved on ``target``; ratios are to ``paths[0]``.

    ``input_shape`` is the per-sample shape ((F,), (C, L) or (C, H, W)); a full shape with a leading batch
    dimension is accepted too (the batch is forced to 1). The input is fixed random data.
    Raises :class:`~automl.measure.runtimes.TargetUnavailable` when the target cannot run a file.
    """
    if settings.processes > 1:
        return _in_fresh_processes(paths, input_shape, settings, target)
    runtime = runtime_for(target, settings.threads)

    k = max(1, settings.instances)
    spacers = []  # kept alive while timing: each instance's buffers land at other addresses
    rng = np.random.default_rng(len(paths))
    instances: list[list] = [[] for _ in paths]
    for _ in range(k):  # instance j of every model, then j + 1: no two instances of one model adjacent
        for i, p in enumerate(paths):
            spacers.append(np.ones(int(rng.integers(1, 30)) * 4096 + int(rng.integers(0, 64)) * 64, np.uint8))
            instances[i].append(runtime.timed_call(p, input_shape))
    clock = time.perf_counter
    per_call = []
    for model in instances:  # warm-up by time, then the cost of one call
        for run in model:
            end = clock() + settings.warmup_s / k
            while clock() < end:
                run()
        run = model[0]
        t0 = clock()
        for _ in range(10):
            run()
        per_call.append(max((clock() - t0) / 10, 1e-7))
    block_runs = [min(100_000, max(5, math.ceil(settings.block_s / t))) for t in per_call]
    n, rounds = len(paths), settings.rounds()
    times = [np.empty((rounds, b)) for b in block_runs]
    for r in range(rounds):
        for i in (list(range(n))[r % n:] + list(range(n))[:r % n]):  # rotate who goes first
            run, out = instances[i][r % k], times[i][r]
            for j in range(block_runs[i]):
                t0 = clock()
                run()
                out[j] = clock() - t0
    medians = np.stack([np.median(t, axis=1) * 1e3 for t in times], axis=1)  # (rounds, models), ms
    best = medians.min(axis=0)
    spread = _bootstrap_ratio_spread(medians) if n > 1 else None
    label = runtime.label()
    results = []
    for i in range(n):
        ratio = p25 = p75 = ref = None
        if n > 1:
            ratio, ref = float(best[i] / best[0]), float(best[0])
            p25, p75 = (float(v) for v in spread[:, i])
        ms = times[i] * 1e3
        results.append(LatencyResult(
            latency_ms=float(best[i]), best_ms=float(best[i]), median_ms=float(np.median(medians[:, i])),
            p10_ms=float(np.percentile(ms, 10)), p90_ms=float(np.percentile(ms, 90)), runs_per_block=block_runs[i],
            rounds=rounds, warmup_s=settings.warmup_s, threads=runtime.threads, batch_size=1, runtime=label,
            target=target.name,
            ratio=ratio, ratio_p25=p25, ratio_p75=p75, reference_ms=ref,
            block_medians_ms=[round(float(m), 6) for m in medians[:, i]]))
    return results


def measure_latency(path: str | Path, input_shape: Sequence[int],
                    settings: LatencySettings = LatencySettings(), target: Target = DEFAULT_TARGET) -> LatencyResult:
    """Time one ONNX file alone (no reference, so no ratio): see :func:`measure_interleaved`."""
    return measure_interleaved([path], input_shape, settings, target)[0]


def _in_fresh_processes(paths: Sequence[str | Path], input_shape: Sequence[int],
                        settings: LatencySettings, target: Target) -> list[LatencyResult]:
    """:func:`measure_interleaved` in ``settings.processes`` fresh processes (spawned one after
    another), combined: each model's best window over all, ratios of those, per-process ratios'
    lowest and highest as the spread."""
    import multiprocessing

    one = replace(settings, processes=1)
    runs = []
    for _ in range(settings.processes):
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            runs.append(pool.apply(measure_interleaved, ([str(p) for p in paths], tuple(input_shape), one, target)))
    best = [min(run[i].best_ms for run in runs) for i in range(len(paths))]
    out = []
    for i, first in enumerate(runs[0]):
        blocks = [m for run in runs for m in run[i].block_medians_ms]
        per_process = [run[i].ratio for run in runs if run[i].ratio is not None]
        ratio = None if first.ratio is None else best[i] / best[0]
        out.append(replace(
            first, latency_ms=best[i], best_ms=best[i], median_ms=float(np.median(blocks)),
            p10_ms=min(run[i].p10_ms for run in runs), p90_ms=max(run[i].p90_ms for run in runs),
            rounds=sum(run[i].rounds for run in runs), ratio=ratio,
            ratio_p25=min(per_process, default=None), ratio_p75=max(per_process, default=None),
            reference_ms=None if first.ratio is None else best[0], block_medians_ms=blocks))
    return out


def _bootstrap_ratio_spread(medians: np.ndarray, resamples: int = 400) -> np.ndarray:
    """25th and 75th percentile, per model, of best-window ratios over resamples of the rounds."""
    rounds = medians.shape[0]
    idx = np.random.default_rng(0).integers(0, rounds, size=(resamples, rounds))
    best = medians[idx].min(axis=1)  # (resamples, models)
    return np.percentile(best / best[:, :1], [25, 75], axis=0)

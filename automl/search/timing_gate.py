"""Latency isolation for concurrent trials: one timing worker that also gates compute.

Every latency figure of a study (the teacher's and each candidate's) is measured by ONE Ray
actor, one measurement at a time, in the same process and runtime, so ratios compare like
with like. Trials run their CPU work (each epoch, export, evaluation) under a *shared* hold
on the same actor; a measurement waits until no trial is inside a compute chunk, and
while it runs no new chunk can start (the actor's event loop is busy timing), so it sees
otherwise idle cores. A chunk is at most one epoch, so the wait is short.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import ray

from automl.measure.latency import LatencyResult, measure_latency
from automl.trial_hooks import TrialHooks

ISOLATION = "timing worker: measurements queued one at a time, other trials paused between compute chunks"


@ray.remote(num_cpus=0)
class TimingGate:
    """Counts shared (compute) holders and times artifacts when none is inside a chunk."""

    def __init__(self) -> None:
        from automl.export.artifact import open_session  # noqa: F401  (loaded now, during Ray's boot, not at the first timing)

        self._cond = asyncio.Condition()
        self._shared = 0
        self._waiting = 0  # measurements queued: new compute chunks wait behind them
        self.measurements = 0
        self.wait_s = 0.0

    async def acquire_shared(self) -> None:
        async with self._cond:
            await self._cond.wait_for(lambda: self._waiting == 0)
            self._shared += 1

    async def release_shared(self) -> None:
        async with self._cond:
            self._shared -= 1
            self._cond.notify_all()

    async def measure(self, artifact: bytes, input_shape: tuple[int, ...], threads: int,
                      runs: int) -> dict[str, Any]:
        start = time.perf_counter()
        async with self._cond:
            self._waiting += 1
            await self._cond.wait_for(lambda: self._shared == 0)
            waited = time.perf_counter() - start
            # Blocking on purpose: the event loop (every other call to this actor) waits
            # until the measurement is done, so no compute chunk starts meanwhile.
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "model.onnx"
                path.write_bytes(artifact)
                result = measure_latency(path, input_shape, threads=threads, runs=runs)
            self._waiting -= 1
            self.measurements += 1
            self.wait_s += waited
            self._cond.notify_all()
        return {**dataclasses.asdict(result), "timing_wait_s": round(waited, 4)}

    async def stats(self) -> dict[str, float]:
        return {"measurements": self.measurements, "wait_s": self.wait_s}


def gate_measure(gate: Any, path: str | Path, input_shape: tuple[int, ...], threads: int,
                 runs: int) -> tuple[LatencyResult, float]:
    """Time the artifact at ``path`` on the study's timing worker; returns (result, wait s)."""
    return latency_of(ray.get(start_measure(gate, path, input_shape, threads, runs)))


def start_measure(gate: Any, path: str | Path, input_shape: tuple[int, ...], threads: int,
                  runs: int) -> ray.ObjectRef:
    """Queue a timing run of the artifact at ``path``; read its reference with :func:`latency_of`."""
    return gate.measure.remote(Path(path).read_bytes(), tuple(input_shape), threads, runs)


def latency_of(raw: dict[str, Any]) -> tuple[LatencyResult, float]:
    """A finished timing run as (result, seconds it waited for the gate)."""
    raw = dict(raw)
    waited = raw.pop("timing_wait_s")
    return LatencyResult(**raw), waited


class GatedTrialHooks(TrialHooks):
    """Trial hooks that hold the study's :class:`TimingGate` and forward epoch results."""

    def __init__(self, gate: Any, report: Any = None) -> None:
        self._gate = gate
        self._report = report
        self._waited = 0.0

    @contextlib.contextmanager
    def compute(self) -> Iterator[None]:
        ray.get(self._gate.acquire_shared.remote())
        try:
            yield
        finally:
            ray.get(self._gate.release_shared.remote())

    def measure_latency(self, path: Path, input_shape: tuple[int, ...], threads: int, runs: int) -> LatencyResult:
        result, self._waited = gate_measure(self._gate, path, input_shape, threads, runs)
        return result

    def on_epoch(self, phase: str, epoch: int, metrics: dict[str, float]) -> None:
        if self._report is not None:
            self._report(phase, epoch, metrics)

    def info(self) -> dict[str, Any]:
        return {"timing_isolation": ISOLATION, "timing_wait_s": round(self._waited, 4)}

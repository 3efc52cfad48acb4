"""Latency isolation for concurrent trials: a reader-writer gate held by one Ray actor.

Trials run their CPU work (each epoch, export, evaluation) under a *shared* hold and time
their artifact under an *exclusive* hold: a measurement waits until no other trial is in
the middle of a compute chunk and blocks new chunks until it ends, so timings are taken on
otherwise idle cores. Timing requests queue one at a time (writer preference), and a chunk
is at most one epoch, so the wait is short.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any, Iterator

import ray

from automl.trial_hooks import TrialHooks


@ray.remote(num_cpus=0)
class TimingGate:
    """Counts shared holders; an exclusive holder waits for zero and blocks new ones."""

    def __init__(self) -> None:
        self._cond = asyncio.Condition()
        self._shared = 0
        self._exclusive = False
        self._waiting_exclusive = 0
        self.exclusive_wait_s = 0.0
        self.measurements = 0

    async def acquire_shared(self) -> None:
        async with self._cond:
            await self._cond.wait_for(lambda: not self._exclusive and self._waiting_exclusive == 0)
            self._shared += 1

    async def release_shared(self) -> None:
        async with self._cond:
            self._shared -= 1
            self._cond.notify_all()

    async def acquire_exclusive(self) -> float:
        start = time.perf_counter()
        async with self._cond:
            self._waiting_exclusive += 1
            await self._cond.wait_for(lambda: not self._exclusive and self._shared == 0)
            self._waiting_exclusive -= 1
            self._exclusive = True
        waited = time.perf_counter() - start
        self.exclusive_wait_s += waited
        return waited

    async def release_exclusive(self) -> None:
        async with self._cond:
            self._exclusive = False
            self.measurements += 1
            self._cond.notify_all()

    async def stats(self) -> dict[str, float]:
        return {"measurements": self.measurements, "exclusive_wait_s": self.exclusive_wait_s}


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

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        self._waited += ray.get(self._gate.acquire_exclusive.remote())
        try:
            yield
        finally:
            ray.get(self._gate.release_exclusive.remote())

    def on_epoch(self, phase: str, epoch: int, metrics: dict[str, float]) -> None:
        if self._report is not None:
            self._report(phase, epoch, metrics)

    def info(self) -> dict[str, Any]:
        return {"timing_isolation": "exclusive timing gate (other trials paused between compute chunks)",
                "timing_gate_wait_s": round(self._waited, 4)}

"""Latency isolation for concurrent trials: a timing worker that also gates compute.

Every latency figure of a study is measured by a Ray actor, one measurement at a time, in the
same process and runtime, so ratios compare like with like. Trials run their CPU work (each
epoch, export, evaluation) under a *shared* hold on the same actor; a measurement waits until
no trial is inside a compute chunk, and while it runs no new chunk can start (the actor's
event loop is busy timing), so it sees otherwise idle cores. A chunk is at most one epoch, so
the wait is short.

A study may run several timing workers (its ``timing_workers``, started by
:class:`~automl.search.ray_boot.RayBoot`): each Tune worker is bound to one of them for its
holds and all its timings (``trainable.bound_gate``), and a measurement waits only for the
workers bound to its own timing worker. Every timing worker holds its own copy of the teacher
(:meth:`TimingGate.set_reference`) and the study's one teacher figure per deployment target, so
a ratio from one is a ratio from any. A candidate is timed on each of the study's targets,
interleaved with the teacher on that same target.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import ray

from automl.candidate.hooks import RungCheck, TrialHooks
from automl.measure.latency import (
    LatencyResult,
    LatencySettings,
    measure_interleaved,
    measure_latency,
)
from automl.measure.runtimes import TargetUnavailable
from automl.measure.targets import DEFAULT_TARGET, Target

DRIVER = "driver"  # the driver's holder name (its bookkeeping holds the gate too)
ISOLATION = ("timing worker: interleaved with the teacher, measurements queued one at a time, "
             "other trials paused between compute chunks")


@ray.remote(num_cpus=0)
class TimingGate:
    """Counts shared (compute) holders and times artifacts when none is inside a chunk.

    Candidates are timed interleaved with the study's reference (the teacher, see
    :meth:`set_reference`): their ratio to it is the measurement, and their ``latency_ms`` is
    that ratio times the study's one teacher figure.
    """

    def __init__(self) -> None:
        from automl.measure.session import open_session  # noqa: F401  (loaded now, during Ray's boot, not at the first timing)

        self._cond = asyncio.Condition()
        self._shared = 0
        self._holds: Counter[str] = Counter()  # holder (a worker's id, or the driver) -> holds it has
        self._waiting = 0  # measurements queued: new compute chunks wait behind them
        self._reference: bytes | None = None  # written next to each candidate per measurement, so
        # nothing is left on disk when Ray ends the actor (it runs no finalizers)
        self._baseline_ms: dict[str, float] = {}  # target name -> the study's teacher figure there
        self.measurements = 0
        self.wait_s = 0.0

    async def set_reference(self, artifact: bytes, baseline_ms: dict[str, float] | None) -> None:
        """The teacher's artifact, and the study's teacher figure per target name (``None``: not known yet)."""
        self._reference = artifact
        self._baseline_ms = dict(baseline_ms or {})

    async def acquire_shared(self, holder: str = DRIVER) -> None:
        async with self._cond:
            await self._cond.wait_for(lambda: self._waiting == 0)
            self._shared += 1
            self._holds[holder] += 1

    async def release_shared(self, holder: str = DRIVER) -> None:
        async with self._cond:
            if self._holds[holder] > 0:
                self._holds[holder] -= 1
                self._shared -= 1
            self._cond.notify_all()

    async def drop_holder(self, holder: str) -> None:
        """Release what a lost worker held (it died inside a compute chunk: its node or process
        is gone), so measurements do not wait for it forever."""
        async with self._cond:
            self._shared -= self._holds.pop(holder, 0)
            self._cond.notify_all()

    async def measure(self, artifact: bytes | None, input_shape: tuple[int, ...],
                      settings: LatencySettings, target: Target = DEFAULT_TARGET) -> dict[str, Any]:
        """Time ``artifact`` interleaved with the reference on ``target``, or (``None``) the reference alone.
        A target that cannot run it answers ``{"unavailable": <one line>}``."""
        assert self._reference is not None, "set_reference first"
        start = time.perf_counter()
        async with self._cond:
            self._waiting += 1
            await self._cond.wait_for(lambda: self._shared == 0)
            waited = time.perf_counter() - start
            # Blocking on purpose: the event loop (every other call to this actor) waits
            # until the measurement is done, so no compute chunk starts meanwhile.
            try:
                with tempfile.TemporaryDirectory(prefix="automl-timing-") as folder:
                    reference = Path(folder) / "reference.onnx"
                    reference.write_bytes(self._reference)
                    if artifact is None:
                        result = measure_latency(reference, input_shape, settings, target)
                    else:
                        path = Path(folder) / "candidate.onnx"
                        path.write_bytes(artifact)
                        result = measure_interleaved([reference, path], input_shape, settings, target)[1]
                        if target.name in self._baseline_ms:
                            result = result.scaled(self._baseline_ms[target.name])
            except TargetUnavailable as err:
                return {"unavailable": str(err), "timing_wait_s": round(waited, 4)}
            finally:
                self._waiting -= 1
                self._cond.notify_all()
            self.measurements += 1
            self.wait_s += waited
        return {**dataclasses.asdict(result), "timing_wait_s": round(waited, 4)}

    async def where(self) -> dict[str, str]:
        """The node this timing worker measures on (recorded with the study)."""
        from automl.search.cluster import node_identity

        return node_identity()

    async def stats(self) -> dict[str, float]:
        return {"measurements": self.measurements, "wait_s": self.wait_s}


def gate_measure(gate: Any, path: str | Path | None, input_shape: tuple[int, ...],
                 settings: LatencySettings, target: Target = DEFAULT_TARGET) -> tuple[LatencyResult, float]:
    """Time the artifact at ``path`` (``None``: the reference alone) on ``target`` on the timing
    worker ``gate``; returns (result, seconds it waited for the gate). Raises
    :class:`TargetUnavailable` when the target cannot run it."""
    artifact = None if path is None else Path(path).read_bytes()
    raw = dict(ray.get(gate.measure.remote(artifact, tuple(input_shape), settings, target)))
    waited = raw.pop("timing_wait_s")
    if "unavailable" in raw:
        raise TargetUnavailable(target.name, raw["unavailable"].split(": ", 1)[-1])
    return LatencyResult(**raw), waited


@ray.remote(num_cpus=0)
def _interleaved_from_bytes(blobs: list[bytes], input_shape: tuple[int, ...],
                            settings: LatencySettings, target: Target) -> list[LatencyResult]:
    with tempfile.TemporaryDirectory(prefix="automl-retime-") as folder:
        paths = []
        for i, blob in enumerate(blobs):
            paths.append(Path(folder) / f"model-{i}.onnx")
            paths[-1].write_bytes(blob)
        return measure_interleaved(paths, input_shape, settings, target)


def interleaved_on(placement: dict[str, Any]):
    """``measure_interleaved`` run as a Ray task with ``placement`` (the study's timing node):
    the files are read here and sent as bytes, so that node needs no access to them."""

    def measure(paths, input_shape, settings, target=DEFAULT_TARGET):
        blobs = [Path(p).read_bytes() for p in paths]
        return ray.get(_interleaved_from_bytes.options(**placement).remote(blobs, tuple(input_shape), settings,
                                                                            target))

    return measure


class GatedTrialHooks(TrialHooks):
    """Trial hooks that hold the study's :class:`TimingGate` and forward epoch results."""

    def __init__(self, gate: Any, report: Any = None, holder: str = DRIVER, rungs: RungCheck | None = None) -> None:
        super().__init__(rungs)
        self._gate = gate
        self._report = report
        self._holder = holder  # who holds the gate during a chunk (dropped by the driver if it is lost)
        self._waited = 0.0

    @contextlib.contextmanager
    def compute(self) -> Iterator[None]:
        ray.get(self._gate.acquire_shared.remote(self._holder))
        try:
            yield
        finally:
            ray.get(self._gate.release_shared.remote(self._holder))

    def measure_latency(self, path: Path, input_shape: tuple[int, ...], settings: LatencySettings,
                        target: Target = DEFAULT_TARGET) -> LatencyResult:
        result, waited = gate_measure(self._gate, path, input_shape, settings, target)
        self._waited += waited  # the probe's timing (early stopping) and the final one
        return result

    def on_epoch(self, phase: str, epoch: int, metrics: dict[str, float]) -> None:
        if self._report is not None:
            self._report(phase, epoch, metrics)
        super().on_epoch(phase, epoch, metrics)

    def info(self) -> dict[str, Any]:
        return {"timing_isolation": ISOLATION, "timing_wait_s": round(self._waited, 4)}

"""The code a Ray Tune worker runs: take a candidate, build, train, compress, evaluate, report.

One Tune trial is one long-lived worker, not one candidate: Tune's start of a trial (actor
reset, thread start, result hand-off: about 0.1 s idle and 0.5 s on 2 busy cores) would be a
large share of a few-second candidate. A worker says it is free through ``tune.report`` (the
previous candidate's result, or ``ready``), and takes its next candidate from its mailbox
in the study's :class:`~automl.search.candidate_queue.CandidateQueue`, where the driver has
put it while handling that report; ``None`` means the study's budget is spent.

Per-epoch metrics are reported as they come (the driver logs them to MLflow as curves).
With early stopping, a candidate that reaches a rung (a training epoch listed in the study's
``early_stopping.rungs``) reports its vector there (the validation accuracy it would have
compressed now, and the size and latency of its compressed structure, probed once at the first rung) and waits in its mailbox for
the driver's decision (:mod:`automl.study.mo_asha`): go on, or stop (an Optuna PRUNED trial).
The last report of a candidate carries its final measurements, or the error that stopped it
(a Python error or a diverging loss is a failed candidate, not a crashed worker, so it is
recorded with its message, not retried, and the worker goes on to the next candidate).
Every message is one of :mod:`automl.search.protocol`'s.
"""

from __future__ import annotations

import contextlib
import functools
import tempfile
import time
import traceback
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Iterator

import ray
import torch
from ray import tune

from automl.candidate.config import CandidateConfig
from automl.candidate.evaluate import evaluate_candidate
from automl.candidate.hooks import CandidateStopped, RungCheck
from automl.candidate.teacher import Teacher
from automl.data import DatasetSplits
from automl.measure.targets import DEFAULT_TARGET, Target
from automl.search.artifact_delivery import pack_artifact
from automl.search.cluster import HOST, NODE_ID, node_identity
from automl.search.protocol import (
    EpochRows,
    Failed,
    FinalReport,
    Finished,
    Job,
    Node,
    Ready,
    RungReached,
    Stopped,
    Verdict,
)
from automl.search.timing_gate import GatedTrialHooks
from automl.search.worker_inputs import ShippedTeacher

REPORT_EVERY_S = 1.0  # curve points reach the driver (and MLflow) at most this often


@dataclass(frozen=True)
class WorkerContext:
    """What every worker of a study shares (passed once through ``tune.with_parameters``,
    so it reaches every node through Ray's object store: see :mod:`automl.search.worker_inputs`)."""

    splits: DatasetSplits  # the dataset, loaded and split by the driver
    teacher: ShippedTeacher  # the driver's teacher (distillation)
    gate_names: tuple[str, ...]  # the study's timing workers (a worker uses bound_gate's one)
    queue_name: str
    namespace: str
    threads: int
    trial_timeout_s: float | None = None  # a candidate past this many wall seconds fails ("timed out")
    rungs: tuple[int, ...] = ()  # training epochs at which the driver decides go on / stop (none: off)
    limits: dict[str, float] = field(default_factory=dict)  # early stopping's screen (mo_asha.screen_limits)
    predict: bool = False  # the screen also asks the driver's accuracy predictor (study/accuracy_screen.py)
    targets: tuple[Target, ...] = (DEFAULT_TARGET,)  # deployment targets every candidate is measured on


OUT_OF_MEMORY = "out of memory"  # how a failed candidate's error starts when it ran out of memory


class TrialTimeout(Exception):
    """A candidate ran past the study's ``trial_timeout_s``."""


class WorkerHooks(GatedTrialHooks):
    """The gate's hooks plus the study's per-candidate deadline.

    The deadline is checked where the candidate hands control back to its hooks: before
    every compute chunk (an epoch, the export, the evaluation) and after every epoch, so a
    candidate overruns it by at most one chunk; the worker process itself goes on.
    """

    def __init__(self, gate: Any, report: Any, timeout_s: float | None, holder: str,
                 rungs: RungCheck | None = None) -> None:
        super().__init__(gate, report, holder, rungs)  # rungs: early stopping asks the driver at each rung
        self._timeout_s = timeout_s
        self._deadline = None if timeout_s is None else time.monotonic() + timeout_s

    def _check(self) -> None:
        if self._deadline is not None and time.monotonic() > self._deadline:
            raise TrialTimeout(f"timed out: the candidate ran past trial_timeout_s={self._timeout_s:g} s")

    @contextlib.contextmanager
    def compute(self) -> Iterator[None]:
        self._check()
        with super().compute():
            yield

    def on_epoch(self, phase: str, epoch: int, metrics: dict[str, float]) -> None:
        self._check()
        super().on_epoch(phase, epoch, metrics)


def failure_reason(err: BaseException) -> str:
    """One line saying why a candidate failed (out of memory and timeouts named as such)."""
    text = f"{type(err).__name__}: {err}".splitlines()[0][:500]
    if isinstance(err, TrialTimeout):
        return str(err)
    if isinstance(err, MemoryError) or type(err).__name__ == "OutOfMemoryError":  # torch.OutOfMemoryError
        return f"{OUT_OF_MEMORY}: {text}"
    return text


@functools.lru_cache(maxsize=2)
def _teacher(shipped: ShippedTeacher, splits: DatasetSplits) -> Teacher:
    """One teacher per worker process, rebuilt from the weights the driver shipped."""
    return shipped.unpack(splits)


def run_worker(config: dict[str, Any], context: WorkerContext) -> None:
    """Ray Tune function trainable: evaluate candidates until the driver has no more."""

    torch.set_num_threads(context.threads)
    worker = tune.get_context().get_trial_id()
    queue = ray.get_actor(context.queue_name, namespace=context.namespace)
    gate = ray.get_actor(bound_gate(context.gate_names, worker), namespace=context.namespace)
    tune.report(Ready(node=_node()).encode())
    while (job := ray.get(queue.take.remote(worker))) is not None:
        tune.report(evaluate_job(job, context, gate, worker, queue).encode())


def bound_gate(gate_names: Sequence[str], worker: str) -> str:
    """The timing worker that ``worker`` (its Tune trial id) holds during compute and is timed
    by (final timings and the early-stopping probe's alike), one of ``gate_names``.

    Tune's trial ids end in the trial's number (``<prefix>_00003``, BasicVariantGenerator's
    counter), so workers are dealt out round-robin: balanced, known to the worker at once (no
    round trip to the driver), and the same when Tune restarts a crashed worker (same trial id).
    An id without that number falls back to a CRC32 of it (stable across processes).
    """
    tail = worker.rsplit("_", 1)[-1]
    index = int(tail) if tail.isdigit() else zlib.crc32(worker.encode())
    return gate_names[index % len(gate_names)]


def _node() -> Node:
    identity = node_identity()
    return Node(identity[NODE_ID], identity[HOST])


def evaluate_job(job: Job, context: WorkerContext, gate: Any, worker: str, queue: Any) -> FinalReport:
    """One candidate: its final report (curve points along the way go out through Tune).

    The artifact is exported into a scratch folder on this node and travels back to the
    driver as bytes in the report (:mod:`automl.search.artifact_delivery`); nothing is left here.
    """

    started_at = time.time()
    number = job.number
    curves = _CurveReporter(number)
    node = _node()
    try:
        candidate = CandidateConfig.from_dict(job.candidate)
        teacher = _teacher(context.teacher, context.splits) if candidate.needs_teacher else None
        rungs = (RungCheck(context.rungs, functools.partial(_ask_at_rung, curves, queue, worker), context.limits,
                           context.predict) if context.rungs or context.predict else None)
        hooks = WorkerHooks(gate, curves.add, context.trial_timeout_s, worker, rungs)
        with tempfile.TemporaryDirectory(prefix=f"automl-trial-{number:04d}-") as scratch:
            result = evaluate_candidate(
                candidate, context.splits, workdir=scratch, teacher=teacher, hooks=hooks, threads=context.threads,
                targets=context.targets,
                device="cuda" if ray.get_gpu_ids() and torch.cuda.is_available() else "cpu")
            artifact = pack_artifact(result.artifact_path)
    except CandidateStopped as stop:  # screened (with the figures that did it) or lost at a rung
        return Stopped(number=number, rows=curves.drain(), node=node, epoch=stop.epoch, screened=stop.vector)
    except Exception as err:  # a failed candidate is data, not a crash: report it and go on
        reason = failure_reason(err)
        if reason.startswith(OUT_OF_MEMORY):
            _release_memory()
        return Failed(number=number, rows=curves.drain(), node=node, error=reason,
                      traceback=traceback.format_exc()[-4000:])
    final = result.to_dict()
    final.pop("history")
    final.update(trial_started_at=started_at, trial_finished_at=time.time(),  # for the overhead benchmark
                 report_wait_s=curves.waited, **node.to_dict())
    return Finished(number=number, rows=curves.drain(), node=node, measured=final, artifact=artifact)


def _ask_at_rung(curves: "_CurveReporter", queue: Any, worker: str, epoch: int, vector: dict[str, float]) -> bool:
    """Report the candidate's vector at rung ``epoch`` and wait for the driver's decision
    (the wait counts as the candidate's ``report_wait_s``, the engine's time, not its work)."""
    start = time.perf_counter()
    tune.report(RungReached(number=curves.number, rows=curves.drain(), epoch=epoch, vector=vector).encode())
    verdict: Verdict = ray.get(queue.take.remote(worker))
    curves.waited += time.perf_counter() - start
    return verdict is Verdict.GO_ON


def _release_memory() -> None:
    """After an out-of-memory candidate: give its memory back before the next one."""
    import gc

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


class _CurveReporter:
    """Per-epoch metrics to Tune, at most once per ``REPORT_EVERY_S`` (every epoch is kept).

    ``tune.report`` blocks until the driver has taken the result, so reporting each epoch of
    a short candidate would spend much of its time waiting on the driver; epochs are batched.
    """

    def __init__(self, number: int) -> None:
        self.number = number
        self.pending: list[dict[str, Any]] = []
        self.step = 0
        self.waited = 0.0
        self._last = time.monotonic()

    def add(self, phase: str, epoch: int, metrics: dict[str, float]) -> None:
        self.step += 1
        self.pending.append({"phase": phase, "epoch": epoch, "step": self.step, **metrics})
        if time.monotonic() - self._last >= REPORT_EVERY_S:
            start = time.perf_counter()
            tune.report(EpochRows(number=self.number, rows=self.drain()).encode())
            self.waited += time.perf_counter() - start
            self._last = time.monotonic()

    def drain(self) -> list[dict[str, Any]]:
        out, self.pending = self.pending, []
        return out

"""The code a Ray Tune worker runs: take a candidate, build, train, compress, evaluate, report.

One Tune trial is one long-lived worker, not one candidate: Tune's start of a trial (actor
reset, thread start, result hand-off: about 0.1 s idle and 0.5 s on 2 busy cores) would be a
large share of a few-second candidate. A worker says it is free through ``tune.report`` (the
previous candidate's result, or ``ready``), and takes its next candidate from its mailbox
in the study's :class:`~automl.search.candidate_queue.CandidateQueue`, where the driver has
put it while handling that report; ``None`` means the study's budget is spent.

Per-epoch metrics are reported as they come (the driver logs them to MLflow as curves);
the last report of a candidate carries its final measurements, or the error that stopped it
(a Python error or a diverging loss is a failed candidate, not a crashed worker, so it is
recorded with its message, not retried, and the worker goes on to the next candidate).
"""

from __future__ import annotations

import functools
import json
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray
import torch
from ray import tune

from automl.config import CandidateConfig
from automl.data import DatasetConfig
from automl.pipeline import evaluate_candidate
from automl.search.timing_gate import GatedTrialHooks
from automl.teacher import Teacher, load_or_train_teacher

KIND = "kind"  # result key: "ready", "epochs" (a batch of curve points) or "final" (a candidate's end)
EPOCHS = "epochs_json"  # result key: the epochs since the last report, as JSON rows
REPORT_EVERY_S = 1.0  # curve points reach the driver (and MLflow) at most this often
RESULT = "result_json"  # result key of the final report: the CandidateResult as JSON
NUMBER = "optuna_trial"  # result and job key: the Optuna trial number of the candidate


@dataclass(frozen=True)
class WorkerContext:
    """What every worker of a study shares (passed once through ``tune.with_parameters``)."""

    dataset: dict[str, Any]
    teacher: dict[str, Any]
    teacher_cache: str
    artifacts_dir: str
    gate_name: str
    queue_name: str
    namespace: str
    threads: int


@functools.lru_cache(maxsize=4)
def _teacher(teacher: str, dataset: str, cache: str) -> Teacher:
    """One teacher per worker process (loaded from the on-disk cache the driver filled)."""

    return load_or_train_teacher(CandidateConfig.from_dict(json.loads(teacher), "teacher"),
                                 DatasetConfig.from_dict(json.loads(dataset)), cache)


def run_worker(config: dict[str, Any], context: WorkerContext) -> None:
    """Ray Tune function trainable: evaluate candidates until the driver has no more."""

    torch.set_num_threads(context.threads)
    worker = tune.get_context().get_trial_id()
    queue = ray.get_actor(context.queue_name, namespace=context.namespace)
    gate = ray.get_actor(context.gate_name, namespace=context.namespace)
    tune.report({KIND: "ready"})
    while (job := ray.get(queue.take.remote(worker))) is not None:
        tune.report(evaluate_job(job, context, gate))


def evaluate_job(job: dict[str, Any], context: WorkerContext, gate: Any) -> dict[str, Any]:
    """One candidate: its final report (curve points along the way go out through Tune)."""

    started_at = time.time()
    number = job[NUMBER]
    curves = _CurveReporter(number)
    try:
        candidate = CandidateConfig.from_dict(job["candidate"])
        teacher = None
        if candidate.distill.needs_teacher:
            teacher = _teacher(json.dumps(context.teacher, sort_keys=True),
                               json.dumps(context.dataset, sort_keys=True), context.teacher_cache)
        result = evaluate_candidate(
            candidate, DatasetConfig.from_dict(context.dataset),
            workdir=Path(context.artifacts_dir) / f"trial-{number:04d}", teacher=teacher,
            hooks=GatedTrialHooks(gate, curves.add), threads=context.threads,
            device="cuda" if ray.get_gpu_ids() and torch.cuda.is_available() else "cpu")
    except Exception as err:  # a failed candidate is data, not a crash: report it and go on
        return {KIND: "final", NUMBER: number, "failed": True, EPOCHS: curves.drain(),
                "error": f"{type(err).__name__}: {err}".splitlines()[0][:500],
                "traceback": traceback.format_exc()[-4000:]}
    final = result.to_dict()
    final.pop("history")
    final.update(trial_started_at=started_at, trial_finished_at=time.time(),  # for the overhead benchmark
                 report_wait_s=curves.waited)
    # as JSON text: Tune flattens nested result dicts
    return {KIND: "final", NUMBER: number, "failed": False, EPOCHS: curves.drain(), RESULT: json.dumps(final)}


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
            tune.report({KIND: "epochs", NUMBER: self.number, EPOCHS: self.drain()})
            self.waited += time.perf_counter() - start
            self._last = time.monotonic()

    def drain(self) -> str:
        out, self.pending = json.dumps(self.pending), []
        return out

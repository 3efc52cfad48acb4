"""The code a Ray Tune trial runs: build, train, compress, evaluate, report. Nothing else.

Per-epoch metrics are reported to Tune as they come (the driver logs them to MLflow as
curves); the last report carries the final measurements, or the error that stopped the
candidate (a Python error or a diverging loss is a failed candidate, not a crashed worker,
so it is recorded with its message and not retried).
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

KIND = "kind"  # result key: "epoch" for a curve point, "final" for the last report
RESULT = "result_json"  # result key of the final report: the CandidateResult as JSON


@dataclass(frozen=True)
class TrialContext:
    """What every trial of a study shares (passed once through ``tune.with_parameters``)."""

    dataset: dict[str, Any]
    teacher: dict[str, Any]
    teacher_cache: str
    artifacts_dir: str
    gate_name: str
    gate_namespace: str
    threads: int


@functools.lru_cache(maxsize=4)
def _teacher(teacher: str, dataset: str, cache: str) -> Teacher:
    """One teacher per worker process (loaded from the on-disk cache the driver filled)."""

    return load_or_train_teacher(CandidateConfig.from_dict(json.loads(teacher), "teacher"),
                                 DatasetConfig.from_dict(json.loads(dataset)), cache)


def run_trial(config: dict[str, Any], context: TrialContext) -> None:
    """Ray Tune function trainable for one candidate."""

    started_at = time.time()
    torch.set_num_threads(context.threads)
    number = config["optuna_trial"]
    step = {"n": 0}

    def report_epoch(phase: str, epoch: int, metrics: dict[str, float]) -> None:
        step["n"] += 1
        tune.report({KIND: "epoch", "phase": phase, "epoch": epoch, "step": step["n"], **metrics})

    try:
        candidate = CandidateConfig.from_dict(config["candidate"])
        gate = ray.get_actor(context.gate_name, namespace=context.gate_namespace)
        teacher = None
        if candidate.distill.needs_teacher:
            teacher = _teacher(json.dumps(context.teacher, sort_keys=True),
                               json.dumps(context.dataset, sort_keys=True), context.teacher_cache)
        result = evaluate_candidate(
            candidate, DatasetConfig.from_dict(context.dataset),
            workdir=Path(context.artifacts_dir) / f"trial-{number:04d}", teacher=teacher,
            hooks=GatedTrialHooks(gate, report_epoch), threads=context.threads,
            device="cuda" if ray.get_gpu_ids() and torch.cuda.is_available() else "cpu")
    except Exception as err:  # a failed candidate is data, not a crash: report it and end
        tune.report({KIND: "final", "failed": True, "step": step["n"] + 1,
                     "error": f"{type(err).__name__}: {err}".splitlines()[0][:500],
                     "traceback": traceback.format_exc()[-4000:]})
        return
    final = result.to_dict()
    final.pop("history")
    final.update(trial_started_at=started_at, trial_finished_at=time.time())  # for the overhead benchmark
    # as JSON text: Tune flattens nested result dicts
    tune.report({KIND: "final", "failed": False, "step": step["n"] + 1, RESULT: json.dumps(final)})

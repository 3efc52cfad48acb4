"""Search quality: joint search vs. the staged pipeline practitioners use, at an equal budget,
against trials and against wall-clock seconds.

    .venv/bin/python benchmarks/search_quality.py [--trials 48] [--seeds 0,1,2] [--epochs N]
        [--study studies/digits_joint.yaml] [--sampler S] [--out benchmarks/RESULTS.md | -]

The claim under test: searching every compression knob *jointly* (architecture x pruning x
quantization x distillation, one multi-objective study) beats tuning them one after another,
and multi-objective early stopping makes it cheaper still. For each seed, four methods get the
same trial budget, the same per-trial training budget (the study's ``train`` block; ``--epochs``
overrides its epochs), the same dataset splits and the same teacher (trained once with the
study's ``teacher`` config through :func:`automl.load_or_train_teacher` into a temporary cache,
shared by all methods and seeds):

``joint``
    the study's joint space with the study's sampler (``--sampler`` overrides it), every
    candidate trained to the end.
``joint + ES``
    the same sampler and space with multi-objective early stopping
    (:mod:`automl.study.mo_asha`, the study's ``early_stopping`` settings, or the defaults
    where the study has none), its screen included (limits from
    :func:`automl.study.mo_asha.screen_limits`: twice the teacher's size and latency, the
    hypervolume's reference point; the benchmark has no constraints): a candidate stopped at
    a rung, or by the screen before training, is told ``PRUNED``, costs the seconds it ran
    and adds no point. Early stopping trades full trainings for more
    candidates, so this method gets **the same wall time** as ``joint`` on the same seed
    (as many trials as fit, at most 4x the budget) rather than the same number of trials.
``joint + ES + predictor``
    joint + ES, and an accuracy predictor at the screen (:mod:`automl.study.accuracy_screen`,
    the study's ``predictor`` settings or the defaults): once ``min_trials`` candidates have
    finished, a candidate within the limits trains only if its optimistic predicted point
    (predicted validation accuracy + the trees' spread, probed size and latency) is dominated
    by no point of the front so far; otherwise it is told ``PRUNED`` after its probe. The same
    wall time as ``joint``, at most ``proposals`` x 4x the budget in trials. Kendall's tau of
    predicted against measured accuracy (trials predicted before they trained) is reported.
``random``
    the same space, uniform random sampling (``make_sampler("random", ...)``).
``staged``
    four stages, each with a quarter of the budget (the remainder of ``N / 4`` goes to the
    earliest stages), each searching one group of the joint space -- its params filtered by
    prefix ``arch.``, ``pruning.``, ``quant.``, ``distill.`` -- with the best of the previous
    stage fixed through the ``base`` dict given to ``SearchSpace.suggest``. Every stage is a
    single-objective TPE study (``make_sampler("tpe", seed, 1, n_trials=stage budget)``):

    1. *architecture*: maximise validation accuracy; pruning, quantization and distillation
       at the candidate defaults (no pruning, fp32, no distillation). Best: highest
       validation accuracy (ties: smaller artifact).
    2. *pruning* (ratio, granularity) on the stage-1 architecture, then 3. *quantization*
       (``quant.*``) on the stage-2 result. Best: among the stage's candidates within 1 pt
       of the previous best's validation accuracy (``acc >= prev_acc - 0.01``), the one
       with the smallest normalised ``size x latency`` (both as ratios to the teacher; ties:
       higher accuracy); if none qualifies, the previous best is kept. The stage's Optuna
       objective mirrors that rule: minimise ``size_ratio x latency_ratio`` for a qualifying
       candidate, ``1000 + (prev_acc - 0.01 - acc)`` otherwise. The 1-pt tolerance applies
       per stage, so the pipeline may give up to 1 pt at each of stages 2 and 3.
    4. *distillation* (enabled, alpha, T) on the stage-3 result. Best: the highest
       validation accuracy among candidates no larger than the previous best
       (``size_bytes <= 1.01 x`` previous: the artifact embeds its config as metadata, so
       distillation settings move its size by a few bytes); else the previous best. Optuna
       objective: maximise validation accuracy (0 for a larger candidate).

    All the staged pipeline's candidates (every stage) count as its evaluated points.

Every candidate is evaluated by :func:`automl.evaluate_candidate` (``teacher=teacher``)
**sequentially in this one process** with ``torch.set_num_threads(1)`` and one ONNX Runtime
thread: no two candidates ever run at once, so latency timings are free of interference from
the benchmark's own training (other processes on the machine can still disturb them; the
teacher's artifact is re-timed at the start and the end to show how much). Optuna runs
in-process (ask/tell, in-memory storage). A candidate that raises is told ``FAIL`` and still
counts towards the budget; a config proposed again within one method run is not retrained
(its first result is reused, and it still counts). Candidates keep the study's training seed:
a config gives the same model whichever method proposes it, and the seeds vary the samplers.

Objectives are the engine's: maximise validation accuracy, minimise ``size_bytes`` and
``latency_ms``. Wall-clock: every trial's seconds (ask, train/compress/measure, tell) are
summed in order, so "hypervolume after t seconds" is what a user waiting t seconds would have
(one candidate at a time, one core). Reported per method (mean +- sample std over seeds, per
seed in the details), and plotted against trials and seconds (``--plot``):

* **val HV**: hypervolume of the method's validation front, normalised as in
  :mod:`automl.study.pareto` (``1 - accuracy``; size and latency as ratios to the teacher),
  reference point ``(1, 2, 2)`` (accuracy 0, twice the teacher's size and latency); maximum 4.
  All finished candidates count (no accuracy constraint).
* **test HV**: the same front points re-scored with test accuracy instead of validation.
* **reaches staged**: the first trial (1-based) after which the method's validation
  hypervolume is at least the staged pipeline's final validation hypervolume of the same
  seed, ``never`` if it does not get there within the budget; and the seconds at which it
  got there, as a share of the staged pipeline's whole wall time on that seed.
* **best within 1 pt**: chosen on VALIDATION accuracy -- the smallest artifact among
  candidates with ``val acc >= teacher val acc - 0.01`` (ties: lower latency) -- reported by
  its test accuracy, test-accuracy delta to the teacher (pt), size ratio and latency ratio
  to the teacher.

Results are printed as markdown and written (with the command, date, machine and total wall
time) to the ``## Search quality: <study name>`` section of ``--out`` (replacing only that
section).
This is a benchmark, not a test: nothing asserts on times.
"""

from __future__ import annotations

import argparse
import atexit
import dataclasses
import functools
import json
import math
import os
import platform
import re
import shlex
import shutil
import statistics
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np
import onnxruntime
import optuna
import torch
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from automl import (
    CandidateConfig,
    evaluate_candidate,
    load_dataset,
    load_or_train_teacher,
)
from automl.candidate.config import with_teacher_arch
from automl.candidate.hooks import SCREEN_EPOCH, CandidateStopped, RungCheck, TrialHooks
from automl.measure.latency import measure_latency
from automl.space.search_space import SearchSpace
from automl.study.accuracy_predictor import kendall_tau
from automl.study.accuracy_screen import AccuracyScreen, PredictorConfig
from automl.study.attrs import PREDICTED_ATTR, RESULT_ATTR
from automl.study.config import load_study
from automl.study.mo_asha import EarlyStoppingConfig, RungBook, screen_limits
from automl.study.pareto import (
    MINIMIZE,
    hypervolume,
    normalise,
    pareto_mask,
    reference_point,
)
from automl.study.sampler import make_sampler

REPO = Path(__file__).resolve().parents[1]
SECTION = "## Search quality"
OBJECTIVES = ("accuracy", "size_bytes", "latency_ms")
DIRECTIONS = ["maximize", "minimize", "minimize"]
REF = tuple(reference_point(OBJECTIVES))  # (1.0, 2.0, 2.0)
GROUPS = ("arch", "pruning", "quant", "distill")
PREDICTOR = "joint + ES + predictor"
METHODS = (PREDICTOR, "joint + ES", "joint", "random", "staged")
RUN_ORDER = ("joint", "joint + ES", PREDICTOR, "random", "staged")  # the ES methods get joint's wall time
ES_TRIAL_CAP = 4  # joint + ES runs at most this many times the trial budget
ACC_TOL = 0.01  # "within 1 pt"
SIZE_TOL = 1.01  # distillation stage: "no larger than the previous best" (metadata jitter)
UNQUALIFIED = 1000.0  # stage objective offset for candidates outside the 1-pt tolerance


# --------------------------------------------------------------------------------------------
# Candidates
# --------------------------------------------------------------------------------------------


@dataclass
class Record:
    """One evaluated trial of one method."""

    number: int  # 0-based position in the method's trial sequence
    config: dict[str, Any]
    stage: str = ""
    val_acc: float = math.nan
    test_acc: float = math.nan
    size_bytes: float = math.nan
    latency_ms: float = math.nan
    macs: float = math.nan
    seconds: float = 0.0  # the candidate's own evaluation
    wall: float = 0.0  # the whole trial: ask, evaluation, tell
    cached: bool = False
    error: str | None = None
    pruned_at: int | None = None  # stopped early at this training epoch
    predicted: float | None = None  # the accuracy predictor's word before training (predictor method)

    @property
    def ok(self) -> bool:
        return self.error is None and self.pruned_at is None and not math.isnan(self.val_acc)

    def metrics(self, test: bool = False) -> dict[str, float]:
        return {"accuracy": self.test_acc if test else self.val_acc,
                "size_bytes": self.size_bytes, "latency_ms": self.latency_ms}


@dataclass
class Teacherish:
    val_acc: float
    test_acc: float
    size_bytes: float
    latency_ms: float

    @property
    def metrics(self) -> dict[str, float]:
        return {"accuracy": self.val_acc, "size_bytes": self.size_bytes, "latency_ms": self.latency_ms}


class Evaluator:
    """Runs candidates one at a time; caches identical configs within one method run."""

    def __init__(self, data, teacher, workdir: Path, on_done: Callable[[], None],
                 limits: dict[str, float] | None = None) -> None:
        self.data, self.teacher, self.workdir, self.on_done = data, teacher, workdir, on_done
        self.limits = limits  # early stopping's screen (screen_limits), for runs with rungs
        r = teacher.result  # the hypervolume's normaliser, as Teacherish.metrics
        self.teacher_metrics = {"accuracy": r.accuracy, "size_bytes": float(r.size_bytes), "latency_ms": r.latency_ms}
        self.cache: dict[str, Record] = {}
        self.count = 0
        self.seconds = 0.0  # wall time of real (uncached) evaluations

    def reset_cache(self) -> None:
        self.cache = {}

    def __call__(self, config: dict[str, Any], number: int, stage: str = "", rungs: RungBook | None = None,
                 screen: Callable[[dict[str, float]], bool] | None = None) -> Record:
        """``screen``: the accuracy predictor's decision on the probed figures (train it?)."""
        rec = Record(number=number, config=config, stage=stage)
        try:  # completed as the engine's dispatcher completes it (arch.init: teacher)
            cand = CandidateConfig.from_dict(with_teacher_arch(config, self.teacher.config.to_dict()["arch"]))
        except Exception as err:  # noqa: BLE001 - an invalid config is a failed trial
            rec.error = f"{type(err).__name__}: {err}"
            self.on_done()
            return rec
        key = cand.digest()
        hit = self.cache.get(key)
        if hit is not None:
            rec.val_acc, rec.test_acc, rec.size_bytes, rec.latency_ms, rec.macs, rec.error, rec.pruned_at = (
                hit.val_acc, hit.test_acc, hit.size_bytes, hit.latency_ms, hit.macs, hit.error, hit.pruned_at)
            rec.cached = True
            self.on_done()
            return rec
        start = time.perf_counter()
        self.count += 1
        slot = self.count  # the rung book's key: one per training, a repeat of a config is not a peer
        def decide(epoch: int, vector: dict[str, float]) -> bool:
            return screen(vector) if epoch == SCREEN_EPOCH and screen is not None else rungs.record(slot, epoch, vector)

        hooks = TrialHooks(None if rungs is None else RungCheck(  # in-process: probe and decision run here
            rungs.config.rungs, decide, self.limits, predict=screen is not None))
        try:
            res = evaluate_candidate(cand, self.data, workdir=self.workdir / f"c{self.count:05d}",
                                     teacher=self.teacher, threads=1, hooks=hooks)
            rec.val_acc, rec.test_acc = float(res.accuracy), float(res.test_accuracy)
            rec.size_bytes, rec.latency_ms, rec.macs = float(res.size_bytes), float(res.latency_ms), float(res.macs)
        except CandidateStopped as stop:
            rec.pruned_at = stop.epoch
        except Exception as err:  # noqa: BLE001 - a failed candidate is data
            rec.error = f"{type(err).__name__}: {err}".splitlines()[0][:300]
            if os.environ.get("SEARCH_QUALITY_DEBUG"):
                traceback.print_exc()
        rec.seconds = time.perf_counter() - start
        self.seconds += rec.seconds
        self.cache[key] = rec
        self.on_done()
        return rec


# --------------------------------------------------------------------------------------------
# Methods
# --------------------------------------------------------------------------------------------


def _new_study(sampler, directions: list[str]) -> optuna.Study:
    return optuna.create_study(storage=optuna.storages.InMemoryStorage(), sampler=sampler,
                               directions=directions)


def _tell(study: optuna.Study, trial: optuna.Trial, values: list[float] | float | None,
          pruned: bool = False) -> optuna.trial.FrozenTrial:
    if pruned:
        return study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    if values is None:
        return study.tell(trial, state=optuna.trial.TrialState.FAIL)
    return study.tell(trial, values)


def _screen(judge: AccuracyScreen, trial: optuna.Trial, probed: dict[str, float]) -> bool:
    """The accuracy screen's decision for ``trial``'s probed candidate, recorded on the trial."""
    judgement = judge.judge(trial.params, probed)
    trial.set_user_attr(PREDICTED_ATTR, judgement.to_attr())
    return judgement.go_on


def run_joint(sampler_name: str, space: SearchSpace, base: dict, n_trials: int, seed: int,
              evaluate: Evaluator, early_stopping: EarlyStoppingConfig | None = None,
              wall_budget: float | None = None,
              prepare: Callable[[optuna.Study], None] | None = None,
              predictor: PredictorConfig | None = None) -> list[Record]:
    """``n_trials`` trials, or (``wall_budget``) as many as fit in that many seconds, at most
    ``ES_TRIAL_CAP`` x ``n_trials`` (x ``predictor.proposals``). ``prepare``: called with the
    (empty) Optuna study first, and keeps it (benchmarks/warm_start.py adds priors there and
    reads the trials after). ``predictor``: the accuracy screen judges each probed candidate."""
    sampler = make_sampler(sampler_name, seed, 3, n_trials=n_trials)
    study = _new_study(sampler, DIRECTIONS)
    if prepare is not None:
        prepare(study)
    rungs = None if early_stopping is None else RungBook(early_stopping, list(zip(OBJECTIVES, DIRECTIONS)))
    records: list[Record] = []
    cap = n_trials if wall_budget is None else n_trials * ES_TRIAL_CAP * (predictor.proposals if predictor else 1)
    objectives = list(zip(OBJECTIVES, DIRECTIONS))
    judge = None if predictor is None else AccuracyScreen.from_study(predictor, objectives, evaluate.teacher_metrics,
                                                                     study)
    for i in range(cap):
        if wall_budget is not None and sum(r.wall for r in records) >= wall_budget:
            break
        start = time.perf_counter()
        trial = study.ask()
        try:
            config = space.suggest(trial, base)
        except Exception as err:  # noqa: BLE001
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            records.append(Record(number=i, config={}, error=f"{type(err).__name__}: {err}",
                                  wall=time.perf_counter() - start))
            evaluate.on_done()
            continue
        screen = None if judge is None else functools.partial(_screen, judge, trial)
        rec = evaluate(config, i, rungs=rungs, screen=screen)
        if rec.ok:
            trial.set_user_attr(RESULT_ATTR, {"accuracy": rec.val_acc, "size_bytes": rec.size_bytes,
                                              "latency_ms": rec.latency_ms, "macs": rec.macs})
        rec.predicted = (trial.user_attrs.get(PREDICTED_ATTR) or {}).get("accuracy")
        frozen = _tell(study, trial, [rec.val_acc, rec.size_bytes, rec.latency_ms] if rec.ok else None,
                       pruned=rec.pruned_at is not None)
        if judge is not None and not rec.cached:
            judge.learn(frozen)
        rec.wall = time.perf_counter() - start
        records.append(rec)
    return records


def subspace(space: SearchSpace, group: str, fixed: dict | None = None) -> SearchSpace:
    """The params of ``space`` whose path starts with ``group.``, in file order (the ``arch``
    stage also takes the ``train.*`` params: a teacher-initialised architecture sets
    ``train.epochs: 0``).

    A ``per_stage`` length naming a param of an earlier stage (``quant.layer_bits`` per
    ``arch.choices.stages``) becomes that stage's chosen value, read from ``fixed``.
    """
    prefixes = (group + ".", "train.") if group == "arch" else (group + ".",)
    params = {p: dict(spec) for p, spec in space.to_dict()["params"].items() if p.startswith(prefixes)}
    for spec in params.values():
        ref = spec.get("per_stage")
        if isinstance(ref, str) and not ref.startswith(group + "."):
            value: Any = fixed or {}
            for key in ref.split("."):
                value = value.get(key, {}) if isinstance(value, dict) else {}
            if not isinstance(value, int):
                raise SystemExit(f"staged: {ref!r} (per_stage of a {group}.* param) is not fixed by an earlier stage")
            spec["per_stage"] = value
    if not params:
        raise SystemExit(f"search space {space.name!r} has no {group}.* params: cannot run the staged pipeline")
    return SearchSpace.from_dict({"name": f"{space.name}[{group}]", "params": params}, source=space.source)


def stage_budgets(n_trials: int) -> list[int]:
    q, r = divmod(n_trials, len(GROUPS))
    return [q + (1 if i < r else 0) for i in range(len(GROUPS))]


def _cost(rec: Record, teacher: Teacherish) -> float:
    return (rec.size_bytes / teacher.size_bytes) * (rec.latency_ms / teacher.latency_ms)


def run_staged(space: SearchSpace, base: dict, n_trials: int, seed: int, evaluate: Evaluator,
               teacher: Teacherish) -> tuple[list[Record], list[str]]:
    """The staged pipeline (see the module docstring); returns its records and a log per stage."""
    records: list[Record] = []
    log: list[str] = []
    fixed = {k: v for k, v in base.items()}
    best: Record | None = None
    for group, budget in zip(GROUPS, stage_budgets(n_trials)):
        sub = subspace(space, group, fixed)
        prev = best
        study = _new_study(make_sampler("tpe", seed, 1, n_trials=max(budget, 1)),
                           ["minimize" if group in ("pruning", "quant") else "maximize"])
        stage_recs: list[Record] = []
        for _ in range(budget):
            start = time.perf_counter()
            trial = study.ask()
            config = sub.suggest(trial, fixed)
            rec = evaluate(config, len(records), stage=group)
            records.append(rec)
            stage_recs.append(rec)
            if not rec.ok:
                _tell(study, trial, None)
            elif group == "arch":
                _tell(study, trial, rec.val_acc)
            elif group in ("pruning", "quant"):
                floor = prev.val_acc - ACC_TOL
                _tell(study, trial, _cost(rec, teacher) if rec.val_acc >= floor
                      else UNQUALIFIED + (floor - rec.val_acc))
            else:  # distill
                _tell(study, trial, rec.val_acc if rec.size_bytes <= prev.size_bytes * SIZE_TOL else 0.0)
            rec.wall = time.perf_counter() - start
        ok = [r for r in stage_recs if r.ok]
        if group == "arch":
            chosen = max(ok, key=lambda r: (r.val_acc, -r.size_bytes)) if ok else None
        elif group in ("pruning", "quant"):
            good = [r for r in ok if r.val_acc >= prev.val_acc - ACC_TOL]
            chosen = min(good, key=lambda r: (_cost(r, teacher), -r.val_acc)) if good else None
        else:
            good = [r for r in ok if r.size_bytes <= prev.size_bytes * SIZE_TOL]
            chosen = max(good, key=lambda r: (r.val_acc, -r.size_bytes)) if good else None
        if chosen is None:
            if prev is None:
                raise RuntimeError("staged: every architecture candidate failed")
            log.append(f"{group}: none qualified, kept the previous best")
            chosen = prev
        else:
            log.append(f"{group}: trial {chosen.number} (val {chosen.val_acc:.4f}, "
                       f"size x{chosen.size_bytes / teacher.size_bytes:.3f}, "
                       f"lat x{chosen.latency_ms / teacher.latency_ms:.2f})")
        best = chosen
        # fix the chosen values of this group (for the architecture, with its train.*) for the later stages
        carried = (group, "train") if group == "arch" else (group,)
        fixed = _merge(fixed, {g: chosen.config[g] for g in carried if g in chosen.config})
    return records, log


def _merge(a: dict, b: dict) -> dict:
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in a.items()}
    for k, v in b.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


# --------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------


def _points(records: list[Record], teacher: Teacherish, test: bool = False) -> np.ndarray:
    pts = [normalise(r.metrics(test), teacher.metrics, OBJECTIVES) for r in records if r.ok]
    return np.asarray(pts, dtype=float).reshape(-1, 3)


def val_hv(records: list[Record], teacher: Teacherish) -> float:
    pts = _points(records, teacher)
    return hypervolume(pts, [MINIMIZE] * 3, REF) if len(pts) else 0.0


def test_hv(records: list[Record], teacher: Teacherish) -> float:
    ok = [r for r in records if r.ok]
    if not ok:
        return 0.0
    mask = pareto_mask(_points(ok, teacher), [MINIMIZE] * 3)
    front = [r for r, m in zip(ok, mask) if m]
    return hypervolume(_points(front, teacher, test=True), [MINIMIZE] * 3, REF)


def hv_trace(records: list[Record], teacher: Teacherish) -> list[float]:
    return [val_hv(records[: i + 1], teacher) for i in range(len(records))]


def wall_trace(records: list[Record]) -> list[float]:
    """Seconds since the method started, after each trial."""
    return list(np.cumsum([r.wall for r in records]))


def reach_trial(trace: list[float], target: float) -> int | None:
    """First 1-based trial whose running hypervolume reaches ``target`` (a zero HV reaches nothing)."""
    for i, hv in enumerate(trace):
        if hv > 0 and hv >= target - 1e-12:
            return i + 1
    return None


def best_within_1pt(records: list[Record], teacher: Teacherish) -> Record | None:
    good = [r for r in records if r.ok and r.val_acc >= teacher.val_acc - ACC_TOL]
    return min(good, key=lambda r: (r.size_bytes, r.latency_ms, -r.val_acc)) if good else None


@dataclass
class Outcome:
    method: str
    seed: int
    records: list[Record]
    val_hv: float
    test_hv: float
    trace: list[float]
    seconds: float
    best: Record | None
    reach: int | None = None
    reach_s: float | None = None  # seconds at which it reached the staged pipeline's final HV
    staged_s: float | None = None  # the staged pipeline's wall time on the same seed
    notes: list[str] = field(default_factory=list)

    @property
    def walls(self) -> list[float]:
        return wall_trace(self.records)

    @property
    def stopped(self) -> int:
        return sum(r.pruned_at is not None for r in self.records)

    @property
    def screened(self) -> int:
        """Candidates the accuracy predictor judged not worth training."""
        return sum(r.pruned_at == SCREEN_EPOCH and r.predicted is not None for r in self.records)

    @property
    def predicted(self) -> int:
        return len(self.pairs)

    @property
    def pairs(self) -> list[tuple[float, float]]:
        """(predicted before training, measured) validation accuracy of trained candidates."""
        return [(r.predicted, r.val_acc) for r in self.records if r.ok and r.predicted is not None and not r.cached]

    @property
    def reach_share(self) -> float | None:
        return None if self.reach_s is None or not self.staged_s else self.reach_s / self.staged_s


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def _ms(values: list[float], fmt: str) -> str:
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return "–"
    if len(values) == 1:
        return format(values[0], fmt)
    return f"{format(statistics.mean(values), fmt)} ± {format(statistics.stdev(values), fmt.lstrip('+'))}"


def _summary_arch(cfg: dict) -> str:
    arch = cfg.get("arch", {})
    ch = arch.get("choices", {})
    if arch.get("family", "cnn") == "cnn":
        parts = [f"w{'-'.join(str(w) for w in ch.get('widths', []))} k{ch.get('kernel_size', '?')}"
                 f" b{ch.get('blocks_per_stage', 1)}"]
    else:  # another family: its sampled choices as they are
        parts = [" ".join([arch["family"]] + (["from teacher"] if arch.get("init") == "teacher" else [])
                          + [f"{k} {v}" for k, v in ch.items()])]
    pr = cfg.get("pruning", {})
    if pr.get("ratio", 0) > 0:
        parts.append(f"{'ch' if pr.get('granularity') == 'channel' else 'unstr'} {pr['ratio']:.2f}")
    q = cfg.get("quant", {})
    wb = q.get("weight_bits", 32)
    if wb < 32:
        layers = q.get("layer_bits")
        widths = f"{q.get('edge_bits') or ''}:{','.join(map(str, layers))}:{q.get('edge_bits') or ''}" if layers else wb
        parts.append(f"W{widths}A{q.get('activation_bits', 32)}" + (f" {q.get('mode')}" if wb <= 8 else ""))
    d = cfg.get("distill", {})
    if d.get("enabled"):
        parts.append(f"KD a{d.get('alpha', 0.5):.2f} T{d.get('temperature', 4.0):.1f}")
    return ", ".join(parts)


def render(outcomes: list[Outcome], teacher: Teacherish, seeds: list[int]) -> tuple[str, str]:
    """(main table, details table) as markdown."""
    def some(cell: str, bests: list) -> str:  # say when only some seeds had a candidate
        have = sum(b is not None for b in bests)
        return cell if have in (0, len(bests)) or cell == "–" else f"{cell} ({have}/{len(bests)} seeds)"

    def reached(o: Outcome) -> str:
        if o.staged_s is None:
            return "–"  # no staged pipeline ran on this seed: nothing to reach
        return "never" if o.reach is None else f"{o.reach} / {o.reach_s:.0f} s ({o.reach_share:.0%})"

    main = ["| method | val HV ↑ | test HV ↑ | wall (s) | stopped early | reaches staged HV: trial / seconds "
            "(share of staged wall), per seed | best ≤1 pt: test acc | Δ test vs teacher (pt) | size × | latency × |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for m in (m for m in METHODS if any(o.method == m for o in outcomes)):
        rows = [o for o in outcomes if o.method == m]
        bests = [o.best for o in rows]
        main.append(
            f"| {m} | {_ms([o.val_hv for o in rows], '.4f')} | {_ms([o.test_hv for o in rows], '.4f')} | "
            f"{_ms([o.seconds for o in rows], '.0f')} | {_ms([float(o.stopped) for o in rows], '.1f')} | "
            f"{', '.join(reached(o) for o in rows)} | "
            f"{some(_ms([b.test_acc for b in bests if b], '.4f'), bests)} | "
            f"{_ms([(b.test_acc - teacher.test_acc) * 100 for b in bests if b], '+.2f')} | "
            f"{_ms([b.size_bytes / teacher.size_bytes for b in bests if b], '.3f')} | "
            f"{_ms([b.latency_ms / teacher.latency_ms for b in bests if b], '.2f')} |")
    details = ["| seed | method | trials | val HV | test HV | reaches staged HV | front | stopped | failed | reused | "
               "best ≤1 pt (val acc / test acc) | size × | latency × | best config | wall (s) |",
               "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for seed in seeds:
        for o in (o for m in METHODS for o in outcomes if o.method == m and o.seed == seed):
            m = o.method
            ok = [r for r in o.records if r.ok]
            front = int(pareto_mask(_points(ok, teacher), [MINIMIZE] * 3).sum()) if ok else 0
            b = o.best
            best = (f"{b.val_acc:.4f} / {b.test_acc:.4f} | {b.size_bytes / teacher.size_bytes:.3f} | "
                    f"{b.latency_ms / teacher.latency_ms:.2f} | {_summary_arch(b.config)}") if b else "none | – | – | –"
            details.append(
                f"| {seed} | {m} | {len(o.records)} | {o.val_hv:.4f} | {o.test_hv:.4f} | {reached(o)} | {front} | {o.stopped} | "
                f"{sum(r.error is not None for r in o.records)} | {sum(r.cached for r in o.records)} | {best} | "
                f"{o.seconds:.0f} |")
    return "\n".join(main), "\n".join(details)


def _tau(o: Outcome) -> str:
    tau = kendall_tau(o.pairs)
    return "n/a" if tau is None else f"{tau:.2f}"


def predictor_lines(outcomes: list[Outcome]) -> str:
    """One line per seed of the predictor method: screened, trained, Kendall's tau."""
    return "\n".join(f"- seed {o.seed}: {o.screened} screened of {len(o.records)} proposed, Kendall's tau {_tau(o)} "
                     f"on {o.predicted} trained after it was fitted" for o in outcomes if o.method == PREDICTOR)


def write_section(path: Path, body: str, title: str = SECTION) -> None:
    """Replace (or append) the ``title`` section of ``path``; create the file if absent."""
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    section = f"{title}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^{re.escape(title)}[ \t]*\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text, count=1).rstrip() + "\n"
    else:
        text = text.rstrip() + "\n\n" + section
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=48, help="trials per method and seed (default 48)")
    p.add_argument("--seeds", default="0,1,2", help="comma-separated sampler seeds (default 0,1,2)")
    p.add_argument("--epochs", type=int, default=None,
                   help="per-trial training epochs (default: the study's train.epochs)")
    p.add_argument("--study", default="studies/digits_joint.yaml", help="study file (default digits_joint)")
    p.add_argument("--sampler", default=None, help="the joint methods' sampler (default: the study's)")
    p.add_argument("--predictor-min-trials", type=int, default=None,
                   help="finished candidates before the predictor screens any (default: the study's, else 12)")
    p.add_argument("--predictor-proposals", type=int, default=None,
                   help="at most this many proposals per trained candidate (default: the study's, else 4)")
    p.add_argument("--methods", default=",".join(METHODS),
                   help=f"comma-separated subset of: {', '.join(METHODS)} (default: all)")
    p.add_argument("--plot", default=None,
                   help="PNG of hypervolume against trials and seconds (default: next to --out, "
                        "search_quality_<study>.png; '-': none)")
    p.add_argument("--out", default=str(REPO / "benchmarks" / "RESULTS.md"),
                   help="markdown file whose '## Search quality' section is (re)written; '-': don't write")
    args = p.parse_args(argv)
    if args.trials < len(GROUPS):
        p.error(f"--trials must be at least {len(GROUPS)} (one per staged-pipeline stage)")
    try:
        args.seed_list = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        p.error(f"--seeds: expected comma-separated integers, got {args.seeds!r}")
    if not args.seed_list:
        p.error("--seeds: give at least one seed")
    args.method_list = [m.strip() for m in args.methods.split(",") if m.strip()]
    if not args.method_list or any(m not in METHODS for m in args.method_list):
        p.error(f"--methods: expected a comma-separated subset of {', '.join(METHODS)}, got {args.methods!r}")
    if args.epochs is not None and args.epochs < 0:
        p.error("--epochs must be >= 0")
    return args


def _plot_path(args: argparse.Namespace, name: str) -> Path | None:
    if args.plot == "-" or (args.plot is None and args.out == "-"):
        return None
    return Path(args.plot) if args.plot else Path(args.out).parent / f"search_quality_{name}.png"


def plot_traces(outcomes: list[Outcome], path: Path, name: str) -> None:
    """Validation hypervolume against trials (left) and seconds (right), one line per method and seed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    colours = dict(zip(METHODS, ("tab:purple", "tab:green", "tab:blue", "tab:grey", "tab:red")))
    for o in outcomes:
        label = o.method if o.seed == min(x.seed for x in outcomes) else None
        x_trials = np.arange(1, len(o.trace) + 1)
        axes[0].step(x_trials, o.trace, where="post", color=colours[o.method], alpha=0.8, label=label)
        axes[1].step(o.walls, o.trace, where="post", color=colours[o.method], alpha=0.8, label=label)
    axes[0].set_xlabel("trials")
    axes[1].set_xlabel("wall-clock seconds (one candidate at a time)")
    axes[0].set_ylabel("validation hypervolume (max 4)")
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[1].legend(loc="lower right")
    fig.suptitle(f"search quality on {name}: every seed, every method")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _retime_teacher(path: str, input_shape, repeats: int = 5) -> list[float]:
    return [measure_latency(path, input_shape).best_ms for _ in range(repeats)]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wall0 = time.perf_counter()
    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    console = Console(highlight=False, soft_wrap=True)

    study_path = Path(args.study)
    if not study_path.exists() and (REPO / study_path).exists():
        study_path = REPO / study_path
    study = load_study(study_path)
    if list(study.objective_names) != list(OBJECTIVES):
        console.print(f"note: the study's objectives are {study.objective_names}; this benchmark always "
                      f"uses {list(OBJECTIVES)}")
    space = study.space
    if space.function is not None:
        raise SystemExit("the staged pipeline needs a YAML space with params, not a function space")
    base = study.base_candidate()
    if args.epochs is not None:
        base["train"]["epochs"] = args.epochs
    dataset = study.dataset
    data = load_dataset(dataset)

    work = Path(tempfile.mkdtemp(prefix="search_quality-"))
    atexit.register(shutil.rmtree, work, True)  # the teacher cache and trial folders: nothing is kept
    t0 = time.perf_counter()
    teacher_obj = load_or_train_teacher(study.teacher, dataset, work / "teacher-cache", threads=1)
    tr = teacher_obj.result
    teacher = Teacherish(tr.accuracy, tr.test_accuracy, float(tr.size_bytes), tr.latency_ms)
    console.print(f"teacher: val {tr.accuracy:.4f}, test {tr.test_accuracy:.4f}, {tr.size_bytes:,} B, "
                  f"{tr.latency_ms * 1000:.1f} µs ({time.perf_counter() - t0:.1f} s)")
    retime_start = _retime_teacher(tr.artifact_path, data.input_shape)

    sampler_name = args.sampler or study.sampler
    early_stopping = study.early_stopping or EarlyStoppingConfig()
    predictor = study.predictor or PredictorConfig()
    if args.predictor_min_trials is not None:
        predictor = dataclasses.replace(predictor, min_trials=args.predictor_min_trials)
    if args.predictor_proposals is not None:
        predictor = dataclasses.replace(predictor, proposals=args.predictor_proposals)
    n, seeds = args.trials, args.seed_list
    outcomes: list[Outcome] = []
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=console, transient=True)
    with progress:
        task = progress.add_task("candidates", total=n * len(seeds) * len(args.method_list))  # joint + ES may differ
        evaluate = Evaluator(data, teacher_obj, work / "candidates", lambda: progress.advance(task),
                             screen_limits(list(zip(OBJECTIVES, DIRECTIONS)), teacher.metrics))
        for seed in seeds:
            for method in (m for m in RUN_ORDER if m in args.method_list):
                progress.update(task, description=f"seed {seed} {method}")
                evaluate.reset_cache()
                start = time.perf_counter()
                notes: list[str] = []
                if method == "staged":
                    records, notes = run_staged(space, base, n, seed, evaluate, teacher)
                else:
                    es = method in ("joint + ES", PREDICTOR)
                    joint_wall = next((o.walls[-1] for o in outcomes if o.seed == seed and o.method == "joint"), None)
                    records = run_joint("random" if method == "random" else sampler_name, space, base, n, seed,
                                        evaluate, early_stopping if es else None, joint_wall if es else None,
                                        predictor=predictor if method == PREDICTOR else None)
                secs = time.perf_counter() - start
                o = Outcome(method, seed, records, val_hv(records, teacher), test_hv(records, teacher),
                            hv_trace(records, teacher), secs, best_within_1pt(records, teacher), notes=notes)
                outcomes.append(o)
                fails = sum(r.error is not None for r in records)
                progress.console.print(
                    f"seed {seed} {method:<13} done in {secs:6.1f} s (total {time.perf_counter() - wall0:6.0f} s): "
                    f"val HV {o.val_hv:.4f}, test HV {o.test_hv:.4f}"
                    + (f", {o.stopped} stopped early" if o.stopped else "")
                    + (f", {fails} failed" if fails else "")
                    + (f", predictor: {o.screened} screened, Kendall's tau {_tau(o)} on {o.predicted} trained"
                       if method == PREDICTOR else "")
                    + (f"  [{'; '.join(notes)}]" if notes else ""), markup=False)
            staged = next((o for o in outcomes if o.seed == seed and o.method == "staged"), None)
            for o in outcomes:
                if o.seed == seed and staged is not None:
                    o.reach = reach_trial(o.trace, staged.val_hv)
                    o.reach_s = None if o.reach is None else o.walls[o.reach - 1]
                    o.staged_s = staged.walls[-1]
    retime_end = _retime_teacher(tr.artifact_path, data.input_shape)
    total = time.perf_counter() - wall0

    main_table, details = render(outcomes, teacher, seeds)
    n_eval = evaluate.count
    per_cand = evaluate.seconds / max(n_eval, 1)
    all_lat = retime_start + retime_end
    staged_logs = [f"- seed {o.seed}: " + "; ".join(o.notes) for o in outcomes if o.method == "staged"]
    exe = sys.executable
    if not os.path.relpath(exe).startswith(".."):
        exe = os.path.relpath(exe)
    cmd = shlex.join([exe, os.path.relpath(Path(__file__).resolve())]
                     + (list(argv) if argv is not None else sys.argv[1:]))
    budgets = stage_budgets(n)
    plot = _plot_path(args, study.name)
    if plot is not None:
        plot_traces(outcomes, plot, study.name)
    es = early_stopping.to_dict()
    staged_text = (f"Staged: architecture → pruning →\nquantization → distillation, {'/'.join(map(str, budgets))} trials, "
                   f"best of each stage fixed for the\nnext" if "staged" in args.method_list
                   else f"Methods: {', '.join(args.method_list)} (no staged pipeline: `--methods`)")
    body = f"""Joint search vs. a staged pipeline at an equal budget: {n} trials per method and seed
(joint + ES: the wall time joint took on the same seed, as many trials as fit, at most {ES_TRIAL_CAP * n}),
seeds {', '.join(map(str, seeds))}, joint sampler `{sampler_name}`, early stopping (joint + ES) rungs
{es['rungs']}, reduction factor {es['reduction_factor']:g}, min peers {es['min_peers']},
study `{os.path.relpath(study_path.resolve(), REPO)}` (dataset
`{study.dataset.name}`, per-trial training {base['train'].get('epochs')} epochs, teacher
{study.teacher.arch.family} {json.dumps(study.teacher.arch.choices)}, trained once and shared). {staged_text}. Definitions (and how the staged pipeline chooses its "best"): the docstring of
`benchmarks/search_quality.py`.

- command: `{cmd}`
- date: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}
- machine: {platform.platform()}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs;
  Python {platform.python_version()}, torch {torch.__version__}, onnxruntime {onnxruntime.__version__},
  optuna {optuna.__version__}
- total wall time: {total / 60:.1f} min ({total:.0f} s); {n_eval} candidates trained and measured
  ({sum(len(o.records) for o in outcomes) - n_eval} repeats reused), {per_cand:.2f} s per candidate on average
- teacher: val acc {teacher.val_acc:.4f}, test acc {teacher.test_acc:.4f}, {int(teacher.size_bytes):,} B,
  {teacher.latency_ms * 1000:.1f} µs; its artifact re-timed 5× at the start and 5× at the end:
  {min(all_lat) * 1000:.1f}–{max(all_lat) * 1000:.1f} µs (median {statistics.median(all_lat) * 1000:.1f} µs)

Candidates run one at a time in one process (`torch.set_num_threads(1)`, ONNX Runtime 1 thread),
so no candidate is timed while another trains; other load on the machine is not controlled.
HV: normalised hypervolume (1 − accuracy, size and latency as ratios to the teacher), reference
point (1, 2, 2), maximum 4; test HV re-scores the validation front with test accuracy. "best ≤1 pt":
smallest artifact with val acc ≥ teacher val acc − 0.01, reported on test. Mean ± std over seeds.
Wall: each method's summed trial seconds; "reaches staged HV" gives the trial and the second at
which the method's val HV first reached the staged pipeline's final val HV, and that second as a
share of the staged pipeline's own wall time.
{f"{chr(10)}![hypervolume against trials and seconds]({os.path.relpath(plot, Path(args.out).parent)}){chr(10)}"
 if plot is not None and args.out != "-" else ""}
{main_table}

<details><summary>Per seed</summary>

{details}

Staged pipeline, chosen per stage:
{chr(10).join(staged_logs)}
{f"{chr(10)}Accuracy predictor ({json.dumps(predictor.to_dict())}):{chr(10)}{predictor_lines(outcomes)}{chr(10)}"
 if PREDICTOR in args.method_list else ""}

</details>
"""
    console.print()
    console.print(main_table, markup=False)
    console.print()
    console.print(details, markup=False)
    if PREDICTOR in args.method_list:
        console.print(predictor_lines(outcomes), markup=False)
    console.print(f"\ntotal wall time {total:.0f} s; {per_cand:.2f} s per candidate on average"
                  + ("  (> 2 s per candidate)" if per_cand > 2 else ""))
    if args.out != "-":
        title = f"{SECTION}: {study.name}"
        write_section(Path(args.out), body, title)
        console.print(f"wrote the '{title}' section of {args.out}")
    if plot is not None:
        console.print(f"plot: {plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

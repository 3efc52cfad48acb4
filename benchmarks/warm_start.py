"""Warm start across data splits: does a study seeded with an earlier study's trials get to a
good front sooner?

    .venv/bin/python benchmarks/warm_start.py [--trials 48] [--seeds 0,1,2,3,4,5]
        [--study studies/digits_joint.yaml] [--epochs N] [--noise] [--out benchmarks/RESULTS.md | -]

For each seed, three runs of the study's joint space with its sampler, every candidate trained
to the end (``run_joint`` of ``benchmarks/search_quality.py``: one candidate at a time, one
thread, in-process Optuna):

``source``
    the study on **another split of the data** (``dataset.seed`` + 1, its own teacher), sampler
    seed + 100: the earlier study.
``cold``
    the study on its own split, sampler seed ``seed``, from nothing.
``warm``
    the same, its sampler seeded by the source as ``automl launch --warm-start`` does it
    (``automl.study.warm_start``: every finished source candidate added as a prior with the
    values it measured there, its front points enqueued to be proposed first). Priors are not
    points: the warm study's hypervolume counts only what it measured itself.

Reported per seed: both final hypervolumes (normalised as in ``search_quality.py``, on the
target split's teacher), and the trial at which each run's validation hypervolume first reached
95 % of the cold run's final one (the issue's goal: the warm study within 25 % of its trials).
Hypervolumes also move from run to run with the latency measurements; the run-to-run noise is
measured here by evaluating the cold run's candidates a second time (``--noise``) and comparing
the two hypervolumes. This is a benchmark, not a test: nothing asserts.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import optuna
import torch
from rich.console import Console

sys.path.insert(0, str(Path(__file__).resolve().parent))
from search_quality import (  # noqa: E402 - the benchmark beside this one
    DIRECTIONS,
    OBJECTIVES,
    REPO,
    Evaluator,
    Teacherish,
    hv_trace,
    reach_trial,
    run_joint,
    val_hv,
    write_section,
)

from automl import load_dataset, load_or_train_teacher  # noqa: E402
from automl.study.config import load_study  # noqa: E402
from automl.study.pareto import pareto_mask  # noqa: E402
from automl.study.warm_start import prior_trials, propose_first  # noqa: E402

SECTION = "## Warm start across data splits"
GOAL = 0.95  # of the cold run's final hypervolume
FINISHED = (optuna.trial.TrialState.COMPLETE,)


def _teacher(cfg, dataset, cache: Path):
    data = load_dataset(dataset)
    obj = load_or_train_teacher(cfg.teacher, dataset, cache, threads=1)
    r = obj.result
    return data, obj, Teacherish(r.accuracy, r.test_accuracy, float(r.size_bytes), r.latency_ms)


def warm_from(source: optuna.Study, space):
    """A ``prepare`` for run_joint: the source's finished trials as priors, its front proposed first."""
    done = source.get_trials(deepcopy=False, states=FINISHED)
    measured = [(t, dict(zip(OBJECTIVES, t.values))) for t in done]
    priors, dropped, skipped = prior_trials(measured, OBJECTIVES, (), space.distribution_of, "source")
    values = np.array([t.values for t in done]).reshape(len(done), len(OBJECTIVES))
    front = [t.params for t, on in zip(done, pareto_mask(values, DIRECTIONS)) if on]

    def prepare(study: optuna.Study) -> None:
        study.add_trials(priors)
        propose_first(study, front, space.distribution_of)
    return prepare, len(priors), len(front)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--trials", type=int, default=48)
    p.add_argument("--seeds", default="0,1,2,3,4,5")
    p.add_argument("--study", default="studies/digits_joint.yaml")
    p.add_argument("--epochs", type=int, default=None, help="override the study's per-candidate training epochs")
    p.add_argument("--noise", action="store_true", help="evaluate each cold run's candidates twice")
    p.add_argument("--out", default=str(REPO / "benchmarks" / "RESULTS.md"))
    args = p.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    console = Console(highlight=False, soft_wrap=True)
    wall0 = time.perf_counter()
    study_path = Path(args.study) if Path(args.study).exists() else REPO / args.study
    cfg = load_study(study_path)
    space, base, n = cfg.space, cfg.base_candidate(), args.trials
    if args.epochs is not None:
        base["train"]["epochs"] = args.epochs
    sampler = cfg.sampler
    work = Path(tempfile.mkdtemp(prefix="warm_start-"))
    try:
        source_split = dataclasses.replace(cfg.dataset, seed=cfg.dataset.seed + 1)
        src_data, src_teacher, _ = _teacher(cfg, source_split, work / "teachers")
        data, teacher_obj, teacher = _teacher(cfg, cfg.dataset, work / "teachers")
        count = [0]
        rows = []
        for seed in seeds:
            src_eval = Evaluator(src_data, src_teacher, work / f"s{seed}-source", lambda: None)
            studies: list[optuna.Study] = []
            run_joint(sampler, space, base, n, seed + 100, src_eval, prepare=studies.append)
            prepare, added, proposed = warm_from(studies[0], space)
            evaluate = Evaluator(data, teacher_obj, work / f"s{seed}", lambda: None)
            cold = run_joint(sampler, space, base, n, seed, evaluate)
            evaluate.reset_cache()
            warm = run_joint(sampler, space, base, n, seed, evaluate, prepare=prepare)
            cold_hv, warm_hv = val_hv(cold, teacher), val_hv(warm, teacher)
            again = None
            if args.noise:  # the cold run's candidates, trained and measured a second time
                evaluate.reset_cache()
                again = val_hv([evaluate(r.config, r.number) for r in cold if r.config], teacher)
            row = {"seed": seed, "added": added, "proposed": proposed, "cold": cold_hv, "warm": warm_hv,
                   "cold_reach": reach_trial(hv_trace(cold, teacher), GOAL * cold_hv),
                   "warm_reach": reach_trial(hv_trace(warm, teacher), GOAL * cold_hv), "again": again}
            rows.append(row)
            count[0] += src_eval.count + evaluate.count
            console.print(f"seed {seed}: cold HV {cold_hv:.4f} (95 % at trial {row['cold_reach']}), warm HV "
                          f"{warm_hv:.4f} (95 % of cold at trial {row['warm_reach']}), {added} priors, "
                          f"{proposed} proposed first" + (f", cold re-measured {again:.4f}" if again else "")
                          + f"  [{time.perf_counter() - wall0:.0f} s]", markup=False)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    body = render(rows, n, cfg, args, time.perf_counter() - wall0, count[0], argv)
    console.print(body, markup=False)
    if args.out != "-":
        write_section(Path(args.out), body, SECTION)
    return 0


def _trial(t: int | None, n: int) -> str:
    return "never" if t is None else f"{t} ({100 * t / n:.0f} %)"


def render(rows: list[dict], n: int, cfg, args, total: float, trained: int, argv) -> str:
    cmd = " ".join([".venv/bin/python benchmarks/warm_start.py", *(argv if argv is not None else sys.argv[1:])])
    lines = [f"Study `{cfg.name}` ({cfg.sampler}, {n} trials per run, every candidate trained "
             f"{args.epochs or cfg.train.epochs} epochs, no early stopping); source: the same study on split "
             f"`dataset.seed` {cfg.dataset.seed + 1} with its own teacher, sampler seed + 100; cold and warm on "
             f"split {cfg.dataset.seed}. Reach: the first trial at which the run's validation HV is at least "
             f"{GOAL:.0%} of the cold run's final HV. Definitions: the docstring of `benchmarks/warm_start.py`.",
             "", f"- command: `{cmd}`", f"- total wall time {total / 60:.1f} min, {trained} candidates trained", "",
             "| seed | priors (proposed first) | cold HV | warm HV | cold reaches 95 % at | warm reaches 95 % of cold at |"
             + (" cold re-measured HV |" if args.noise else ""),
             "|---|---|---|---|---|---|" + ("---|" if args.noise else "")]
    for r in rows:
        lines.append(f"| {r['seed']} | {r['added']} ({r['proposed']}) | {r['cold']:.4f} | {r['warm']:.4f} | "
                     f"{_trial(r['cold_reach'], n)} | {_trial(r['warm_reach'], n)} |"
                     + (f" {r['again']:.4f} |" if args.noise else ""))
    reach = [r["warm_reach"] if r["warm_reach"] is not None else n + 1 for r in rows]
    lines += ["", f"Warm reaches 95 % of cold's final HV at a median trial {statistics.median(reach):g} of {n}; "
              f"within 25 % of its trials on {sum(x <= n / 4 for x in reach)} of {len(rows)} seeds; "
              f"final HV warm − cold: {statistics.mean(r['warm'] - r['cold'] for r in rows):+.4f} (mean)."]
    if args.noise:
        noise = [abs(r["again"] - r["cold"]) / r["cold"] for r in rows]
        lines.append(f"Run-to-run noise (the cold candidates measured twice): {100 * statistics.mean(noise):.1f} % "
                     f"mean, {100 * max(noise):.1f} % max of the HV.")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())

"""The engine's own cost on the default study, measured side by side in one run.

    .venv/bin/python benchmarks/engine_overhead.py [--trials 16] [--study studies/digits_joint.yaml]
        [--early-stopping off|on]

Launches the study through the real command line (local Ray, MLflow, Optuna) with 1 and
then 2 concurrent trials, both with the seeded random sampler (``--sampler random``): it draws
the same candidates in the same order at any concurrency, so the throughput ratio is the
parallel speed-up on identical work (a model-based sampler would pick different candidates
once results arrive in another order). Early stopping is off by default (``--early-stopping
off`` on both launches): its verdicts depend on which candidates have reached a rung first,
so at another concurrency it stops other candidates and the two launches no longer do the same
work; the table says whether they did. With ``--early-stopping on`` the stopped candidates'
epochs are work the table does not count (their reports carry no phase times), so
efficiency reads low. It reports from the stores it wrote:

- start-up: from ``automl launch`` to the first trial's code running (the 1-concurrent
  launch trains the teacher; the 2-concurrent one finds it cached), and when each of its
  phases ended (``<run_dir>/launch_timings.json``, written by the engine);
- per-trial overhead: a trial's wall time from Optuna ``ask`` to ``tell`` minus its training
  and evaluation (train, prune, fine-tune, weight sharing, quantize, evaluate, latency): Ray scheduling,
  actor hand-off, artifact export, waiting for the timing worker, blocking in ``tune.report``;
- core-time efficiency: training + evaluation seconds over (concurrency x the trial phase's
  wall time), which also counts the driver's MLflow logging and Optuna ask/tell between
  trials;
- the driver's bookkeeping per trial (MLflow child run creation; MLflow logging + front
  plot after the tell), from ``<run_dir>/engine_timings.json``; it runs after the next
  candidate is handed out, so it is not in a trial's wall time, but it takes driver CPU;
- trials per hour with 1 and 2 concurrent trials, and their ratio.

Goals (from the project's issue): overhead <= 5 % of trial time, start-up <= 15 s,
2 concurrent >= 1.7x of 1. This prints figures; it never fails on a time.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
from optuna.trial import TrialState
from report import (
    emit,  # benchmarks/report.py (this folder is on sys.path when run as a script)
)

from automl.study.attrs import measurements

REPO = Path(__file__).resolve().parents[1]
WORK_PHASES = ("train", "probe", "prune", "prune_finetune", "share", "quantize", "evaluate", "latency")


def launch(study: Path, trials: int, concurrency: int, run_dir: Path, early_stopping: str) -> dict:
    name = f"overhead_c{concurrency}"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    t0 = time.time()
    proc = subprocess.run([sys.executable, "-m", "automl", "launch", str(study), "--trials", str(trials),
                           "--concurrency", str(concurrency), "--sampler", "random", "--name", name,
                           "--run-dir", str(run_dir), "--early-stopping", early_stopping, "--quiet"], env=env, capture_output=True, text=True)
    t_end = time.time()
    if proc.returncode != 0:
        raise SystemExit(f"launch failed ({proc.returncode}): {proc.stderr[-2000:]}")
    storage = json.loads((run_dir / "study.json").read_text())["storage"]
    every = optuna.load_study(study_name=name, storage=storage).trials
    trials_done = [t for t in every if t.state == TrialState.COMPLETE]
    candidates = {t.number: t.user_attrs["candidate"] for t in trials_done}
    measured = [measurements(t) for t in trials_done]
    starts = [m["trial_started_at"] for m in measured]
    asked = [t.datetime_start.timestamp() for t in trials_done]
    told = [t.datetime_complete.timestamp() for t in trials_done]
    walls = [c - a for a, c in zip(asked, told)]
    report_wait = [m.get("report_wait_s", 0.0) for m in measured]  # blocked in tune.report
    work = [sum(m["phase_seconds"].get(k, 0.0) for k in WORK_PHASES) - w for m, w in zip(measured, report_wait)]
    export = [m["phase_seconds"].get("export", 0.0) for m in measured]
    gate_wait = [m["latency"].get("timing_wait_s", 0.0) for m in measured]
    to_code = [s - a for s, a in zip(starts, asked)]
    after_code = [c - m["trial_finished_at"] for c, m in zip(told, measured)]
    phase_wall = max(told) - min(asked)
    book = json.loads((run_dir / "engine_timings.json").read_text())
    phases = next(iter(json.loads((run_dir / "launch_timings.json").read_text()).values()))
    mean = statistics.fmean
    return {
        "concurrency": concurrency, "trials": len(trials_done), "launch_total_s": t_end - t0,
        "startup_s": min(starts) - t0, "phase_wall_s": phase_wall,
        **{f"at_{k}_s": v - t0 for k, v in phases.items()}, "at_first_ask_s": min(asked) - t0,
        "trial_wall_s": mean(walls), "trial_work_s": mean(work),
        "overhead_frac": 1 - sum(work) / sum(walls),
        "efficiency": sum(work) / (concurrency * phase_wall),
        "ask_to_code_s": mean(to_code), "code_to_tell_s": mean(after_code),
        "export_s": mean(export), "timing_wait_s": mean(gate_wait), "report_wait_s": mean(report_wait),
        "mlflow_start_s": mean(v.get("mlflow_start_s", 0.0) for v in book.values()),
        "mlflow_front_s": mean(v.get("mlflow_front_s", 0.0) for v in book.values()),
        "trials_per_hour": len(trials_done) / phase_wall * 3600, "candidates": candidates,
        "stopped": sum(t.state == TrialState.PRUNED for t in every),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--study", type=Path, default=REPO / "studies/digits_joint.yaml")
    parser.add_argument("--early-stopping", choices=["off", "on"], default="off",
                        help="off (default): both launches train the same candidates")
    parser.add_argument("--out", type=Path, default=None, help="also write the tables to this markdown file")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="engine_overhead-"))
    atexit.register(shutil.rmtree, work, True)  # two study folders: nothing is kept
    one = launch(args.study.resolve(), args.trials, 1, work / "c1", args.early_stopping)
    (work / "c2").mkdir()
    shutil.copytree(work / "c1/teachers", work / "c2/teachers")  # the second launch finds the teacher cached
    two = launch(args.study.resolve(), args.trials, 2, work / "c2", args.early_stopping)
    rows = [
        ("start-up: launch -> first trial code (s)", "startup_s", "{:.1f}"),
        ("  imports and study file read (s after launch)", "at_run_study_s", "{:.1f}"),
        ("  Optuna study open (Ray starts now, beside what follows)", "at_study_opened_s", "{:.1f}"),
        ("  dataset, teacher and MLflow ready", "at_prepared_s", "{:.1f}"),
        ("  Ray and its timing workers up", "at_ray_ready_s", "{:.1f}"),
        ("  teacher timed (a study's first launch)", "at_teacher_timed_s", "{:.1f}"),
        ("  Tune starts the workers", "at_workers_starting_s", "{:.1f}"),
        ("  first worker booted, first candidate asked", "at_first_ask_s", "{:.1f}"),
        ("trial wall, ask -> tell (s)", "trial_wall_s", "{:.2f}"),
        ("  of which training + evaluation (s)", "trial_work_s", "{:.2f}"),
        ("  ask -> trial code running (s)", "ask_to_code_s", "{:.3f}"),
        ("  trial code done -> tell (s)", "code_to_tell_s", "{:.3f}"),
        ("  artifact export (s)", "export_s", "{:.3f}"),
        ("  waiting for the timing worker (s)", "timing_wait_s", "{:.3f}"),
        ("  blocked in tune.report (curve points) (s)", "report_wait_s", "{:.3f}"),
        ("per-trial overhead (1 - work / wall)", "overhead_frac", "{:.1%}"),
        ("driver: MLflow child run at ask (s)", "mlflow_start_s", "{:.3f}"),
        ("driver: MLflow + front plot after the tell (s)", "mlflow_front_s", "{:.3f}"),
        ("core-time efficiency (work / (concurrency x wall))", "efficiency", "{:.1%}"),
        ("trial phase wall (s)", "phase_wall_s", "{:.1f}"),
        ("trials / hour", "trials_per_hour", "{:.0f}"),
        ("candidates stopped early (their work not counted)", "stopped", "{:d}"),
    ]
    lines = [f"`{' '.join(sys.argv)}` — {time.strftime('%Y-%m-%d')}, {platform.machine()}, "
             f"{os.cpu_count()} CPUs, {args.trials} trials per launch, study {args.study.name}, "
             f"early stopping {args.early_stopping}", "",
             "| measure | 1 concurrent | 2 concurrent |", "|---|---|---|"]
    lines += [f"| {label} | {fmt.format(one[key])} | {fmt.format(two[key])} |" for label, key, fmt in rows]
    same = one["candidates"] == two["candidates"]
    lines += ["", f"2 concurrent / 1 concurrent throughput: **{two['trials_per_hour'] / one['trials_per_hour']:.2f}x** "
                  f"({'the same' if same else 'NOT the same'} {len(one['candidates'])} candidates in both launches)"]
    emit(lines, args.out)


if __name__ == "__main__":
    main()

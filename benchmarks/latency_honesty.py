"""Do a study's latency ratios survive an independent re-timing?

    .venv/bin/python benchmarks/latency_honesty.py [--study studies/digits_joint.yaml] [--trials 32]
    .venv/bin/python benchmarks/latency_honesty.py --run-dir runs/digits_joint   # an existing study
    .venv/bin/python benchmarks/latency_honesty.py --burst    # the launch under bursty outside load

Launches the study through the real command line (or reads one that ran, by its run folder,
also one written by an older version), then times every front artifact against the teacher's
with code other than the study's, as an outside checker would: ``automl verify --json`` (its
own loop, shuffled block order, fastest block of each model over several sessions and fresh
processes), ``--repeats`` times, each in a
fresh process, ``--pause`` seconds apart, every other one with busy-loop processes beside it;
it prints for each front point the ratio the product reports, the search-time ratio and
every re-timed ratio.

Second table: a byte-identical copy of the teacher timed against the teacher, idle and with a
busy-loop process per core, by the study's timer (``measure_interleaved``) and by verify's.
A ratio measured as a ratio should read 1.00 in every cell.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import burst_load  # benchmarks/burst_load.py (this folder is on sys.path when run as a script)
import optuna
from report import emit

from automl.export import read_metadata
from automl.measure.latency import FINAL, measure_interleaved
from automl.study.front import pareto_front
from automl.verify import TOLERANCES, latency_ratios

REPO = Path(__file__).resolve().parents[1]


def launch(study: Path, trials: int, run_dir: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "automl", "launch", str(study), "--trials", str(trials),
                           "--run-dir", str(run_dir), "--quiet"], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"launch failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return time.perf_counter() - t0


def verify_in_fresh_process(name: str, run_dir: Path, busy: int) -> dict[str, float]:
    """``automl verify NAME --json`` in a new process (with ``busy`` busy-loop processes beside it):
    trial -> re-timed ratio, and "teacher_ms" -> the teacher's absolute figure now."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(busy)]
    try:
        proc = subprocess.run([sys.executable, "-m", "automl", "verify", name, "--run-dir", str(run_dir), "--json"],
                              env=env, capture_output=True, text=True)
    finally:
        for p in procs:
            p.kill()
    if proc.returncode not in (0, 3):  # 3: some figure outside its tolerance (still a table to read)
        raise SystemExit(f"verify failed ({proc.returncode}): {proc.stderr[-2000:]}")
    checks = json.loads(proc.stdout)["checks"]
    out = {c["trial"]: c["ratio_measured"] for c in checks if c["ratio_measured"] is not None}
    return {**out, "teacher_ms": checks[0]["latency_ms_measured"]}


def front_table(run_dir: Path, repeats: int, pause_s: float) -> list[str]:
    record = json.loads((run_dir / "study.json").read_text())
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=record["name"], storage=record["storage"])
    objectives = [tuple(o) for o in record["objectives"]]
    front = pareto_front(study, objectives)
    teacher = record["teacher"]
    loads = [0 if r % 2 == 0 else (os.cpu_count() or 2) - 1 for r in range(repeats)]
    runs = []
    for r, busy in enumerate(loads):
        if r:
            time.sleep(pause_s)
        runs.append(verify_in_fresh_process(record["name"], run_dir, busy))
    heads = [f"re-timed #{r + 1} ({busy} busy)" for r, busy in enumerate(loads)]
    lines = [f"study `{record['name']}` in `{run_dir}`: {len(front)} front points; re-timed {repeats}× by "
             f"`automl verify --json`, each in a fresh process, {pause_s:.0f} s apart, with 0 or "
             f"{(os.cpu_count() or 2) - 1} busy-loop processes beside it (`automl.verify.latency_ratios_fresh`: "
             "its own loop, shuffled block order, fastest block of each model over 3 sessions × 3 fresh processes)", "",
             "| trial | reported latency × | search-time latency × | " + " | ".join(heads) + " | worst reported / re-timed |",
             "|---|---|---|" + "---|" * len(heads) + "---|",
             f"| teacher | 1.000 ({teacher['latency_ms'] * 1000:.1f} µs) | | "
             + " | ".join(f"1.000 ({run['teacher_ms'] * 1000:.1f} µs)" for run in runs) + " | |"]
    deviations = []
    for p in front:
        reported = p.latency_ratio if p.latency_ratio is not None else p.metrics["latency_ms"] / teacher["latency_ms"]
        search = p.extra.get("search_latency_ratio")
        if search is None:  # written by a version without ratios: its figure over its teacher figure
            search = p.extra["search_latency_ms"] / teacher["latency_ms"]
        now = [run[str(p.trial)] for run in runs]
        worst = max(now, key=lambda v: abs(reported / v - 1))
        deviations += [abs(reported / v - 1) for v in now]
        lines.append(f"| {p.trial} | {reported:.3f} | {search:.3f} | " + " | ".join(f"{v:.3f}" for v in now)
                     + f" | {reported / worst:.2f} |")
    lines += ["", f"largest deviation of a reported ratio from any re-timing: **{max(deviations):.1%}**; "
                  f"median {statistics.median(deviations):.1%}; verify's tolerance "
                  f"{TOLERANCES['latency_ratio_rel']:.0%}"]
    return lines


def identical_table(run_dir: Path) -> list[str]:
    record = json.loads((run_dir / "study.json").read_text())
    teacher = Path(record["teacher"]["artifact_path"])
    copy = Path(tempfile.mkdtemp(prefix="latency_honesty-")) / "copy.onnx"
    atexit.register(shutil.rmtree, copy.parent, True)
    shutil.copyfile(teacher, copy)
    shape = tuple(read_metadata(teacher)["input_shape"])
    lines = ["", "A byte-identical copy of the teacher against the teacher (should be 1.00):", "",
             "| load | study's timer (ratio, p25–p75) | verify's timer |", "|---|---|---|"]
    for busy in (0, os.cpu_count() or 2):
        procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(busy)]
        try:
            _, timed = measure_interleaved([teacher, copy], shape, FINAL)
            _, (checked,) = latency_ratios(teacher, [copy], shape)
        finally:
            for proc in procs:
                proc.kill()
        lines.append(f"| {busy} busy-loop processes | {timed.ratio:.3f} ({timed.ratio_p25:.3f}–{timed.ratio_p75:.3f}) "
                     f"| {checked:.3f} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", type=Path, default=REPO / "studies/digits_joint.yaml")
    parser.add_argument("--trials", type=int, default=32)
    parser.add_argument("--run-dir", type=Path, help="an existing study's run folder (no launch)")
    parser.add_argument("--repeats", type=int, default=4, help="fresh-process re-timings (odd ones under load)")
    parser.add_argument("--pause", type=float, default=20.0, help="seconds between re-timings")
    parser.add_argument("--burst", action="store_true",
                        help="launch under bursty outside load (benchmarks/burst_load.py: 0.3 s busy, 0.7 s idle)")
    parser.add_argument("--out", type=Path, default=None, help="also write the tables to this markdown file")
    args = parser.parse_args()
    head = [f"`{' '.join(sys.argv)}` — {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs", ""]
    run_dir = args.run_dir
    if run_dir is None:
        run_dir = Path(tempfile.mkdtemp(prefix="latency_honesty-")) / "run"
        atexit.register(shutil.rmtree, run_dir.parent, True)  # a study launched here is not kept
        load = burst_load.start(3600) if args.burst else []
        try:
            took = launch(args.study.resolve(), args.trials, run_dir)
        finally:
            for proc in load:
                proc.kill()
        head += [f"launch: {took:.0f} s for {args.trials} trials" + (" under burst load" if args.burst else ""), ""]
    emit(head + front_table(run_dir.resolve(), args.repeats, args.pause) + identical_table(run_dir.resolve()), args.out)


if __name__ == "__main__":
    main()

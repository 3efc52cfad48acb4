"""Is a latency measured while a study runs the same as one on an idle machine?

    .venv/bin/python benchmarks/latency_isolation.py [--trials 16] [--study studies/digits_joint.yaml]

Runs the study through the real command line (2 concurrent trials on this machine). The
study's timing worker times the teacher's artifact before the first trial (idle) and again
while trials run (after a trial finishes, at most every 10 s), and logs both to MLflow as
``reference_latency_ms``. For contrast, this script times the same artifact itself, in its
own process without the timing gate, repeatedly while the study runs and then on the idle
machine after it. It prints the medians and the spread of each, and the ratio to idle.

Goal (from the project's issue): gated timings during the study within 15 % of idle.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mlflow.tracking import MlflowClient

from automl.export.artifact import read_metadata
from automl.measure.latency import LatencySettings, measure_latency
from report import emit  # benchmarks/report.py (this folder is on sys.path when run as a script)

REPO = Path(__file__).resolve().parents[1]
NAIVE = LatencySettings(threads=1)  # one plain timing run in this process (no interleaving, no gate)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--study", type=Path, default=REPO / "studies/digits_joint.yaml")
    parser.add_argument("--out", type=Path, default=None, help="also write the table to this markdown file")
    args = parser.parse_args()
    run_dir = Path(tempfile.mkdtemp(prefix="latency_isolation-")) / "run"
    cmd = [sys.executable, "-m", "automl", "launch", str(args.study.resolve()), "--trials", str(args.trials),
           "--concurrency", "2", "--name", "latency_isolation", "--run-dir", str(run_dir), "--quiet"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    teachers = run_dir / "teachers"
    while proc.poll() is None and not list(teachers.glob("teacher-*/result.json")):
        time.sleep(0.2)
    result = json.loads(next(teachers.glob("teacher-*/result.json")).read_text())
    artifact = Path(result["artifact_path"])
    shape = tuple(read_metadata(artifact)["input_shape"])
    naive_busy = []
    while proc.poll() is None:  # ungated: timed while the study starts and its trials train
        naive_busy.append(measure_latency(artifact, shape, NAIVE).median_ms)
        time.sleep(0.5)
    if proc.returncode != 0:
        raise SystemExit(f"study failed: {proc.stderr.read()[-2000:]}")
    time.sleep(2)
    naive_idle = [measure_latency(artifact, shape, NAIVE).median_ms for _ in range(10)]
    record = json.loads((run_dir / "study.json").read_text())
    client = MlflowClient(record["tracking_uri"])
    exp = client.get_experiment_by_name("latency_isolation")
    parent = client.search_runs([exp.experiment_id], "tags.`automl.role` = 'study'")[0]
    probes = sorted(client.get_metric_history(parent.info.run_id, "reference_latency_ms"), key=lambda m: m.step)
    # the timing worker's idle figure is the study's teacher figure, timed once before any trial
    gated_idle = [record["teacher"]["latency_ms"]]
    gated_busy = [m.value for m in probes if m.step > 0]
    rows = [("timing worker (gated), idle, before trials", gated_idle),
            ("timing worker (gated), study running", gated_busy),
            ("this process (ungated), idle", naive_idle),
            ("this process (ungated), study running", naive_busy)]
    base_g, base_n = statistics.median(gated_idle), statistics.median(naive_idle)
    lines = [f"`{' '.join(sys.argv)}` — {time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs; model: the study's "
             f"teacher artifact ({result['size_bytes']:,} B), ONNX Runtime, 1 thread, batch 1, median of block medians "
             "per sample", "",
             "| timed by | samples | median (µs) | min–max (µs) | median / idle | worst / idle |", "|---|---|---|---|---|---|"]
    for label, vals in rows:
        base = base_g if "gated)" in label else base_n
        lines.append(f"| {label} | {len(vals)} | {statistics.median(vals) * 1000:.2f} | "
                     f"{min(vals) * 1000:.2f}–{max(vals) * 1000:.2f} | {statistics.median(vals) / base:.3f} | "
                     f"{max(vals, key=lambda v: abs(v / base - 1)) / base:.3f} |")
    emit(lines, args.out)


if __name__ == "__main__":
    main()

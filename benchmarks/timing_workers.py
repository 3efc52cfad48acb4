"""How many candidates a second a study can time with one timing worker, and with several.

    .venv/bin/python benchmarks/timing_workers.py [--gates 1 2] [--measurements 24] [--out FILE]

Starts a local Ray the way a launch does (:class:`~automl.search.ray_boot.RayBoot`, with as
many timing workers as the largest ``--gates``), fixes the teacher figure the way a launch
does (:func:`~automl.search.teacher_figures.teacher_figures`: the first timing worker times it,
every one gets the teacher and that figure), then for each ``--gates`` N submits
``--measurements`` timings of a candidate at once, dealt round-robin over the first N timing
workers, and reports the timed candidates a second. Each timing is interleaved with the teacher
(short windows, so the script runs in about a minute). Last, per timing worker: the ratio of a
byte-identical copy of the teacher (median of three, all timing workers at once, as in a study),
which should read 1.00: timing workers side by side must not bias their ratios.

Timing workers on one node time at once: the speed-up is bounded by the node's free cores.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import optuna
import ray
import torch
from report import emit  # benchmarks/report.py (this folder is on sys.path when run as a script)
from torch import nn

from automl.config.compression import QuantConfig
from automl.export import export_artifact
from automl.measure.latency import LatencySettings
from automl.measure.targets import DEFAULT_TARGET
from automl.search.teacher_figures import teacher_figures
from automl.search.ray_boot import RayBoot

SHAPE = (1, 8, 8)  # digits
WINDOW = LatencySettings(warmup_s=0.05, window_s=0.2)  # a search-time timing, about 0.4 s with its reference


def _export(width: int, folder: Path, name: str) -> Path:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, width, 3, padding=1), nn.ReLU(), nn.Flatten(),
                          nn.Linear(width * 64, 10)).eval()
    return export_artifact(model, QuantConfig(), torch.randn(8, *SHAPE), folder / f"{name}.onnx", {}).path


def throughput(gates: list, candidate: bytes, count: int) -> tuple[float, list[int]]:
    """Seconds for ``count`` timings dealt round-robin over ``gates`` at once; timings per gate."""
    before = [s["measurements"] for s in ray.get([g.stats.remote() for g in gates])]
    start = time.perf_counter()
    ray.get([gates[i % len(gates)].measure.remote(candidate, SHAPE, WINDOW) for i in range(count)])
    seconds = time.perf_counter() - start
    after = [s["measurements"] for s in ray.get([g.stats.remote() for g in gates])]
    return seconds, [int(a - b) for a, b in zip(after, before)]


def copy_ratios(gates: list, copy: bytes, repeats: int = 3) -> list[list[float]]:
    """Per gate: the ratio of a byte-identical copy of the teacher, ``repeats`` times (all gates at once)."""
    refs = [[g.measure.remote(copy, SHAPE, WINDOW) for g in gates] for _ in range(repeats)]
    results = [ray.get(row) for row in refs]
    return [[results[r][i]["ratio"] for r in range(repeats)] for i in range(len(gates))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gates", type=int, nargs="+", default=[1, 2], help="timing workers per row")
    parser.add_argument("--measurements", type=int, default=24, help="candidate timings per row")
    parser.add_argument("--out", type=Path, default=None, help="also write the table here")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="timing_workers-"))
    teacher, candidate = _export(16, folder, "teacher"), _export(8, folder, "candidate")
    copy = Path(shutil.copyfile(teacher, folder / "copy.onnx"))
    boot = RayBoot("automl-bench-timing-workers", None, timing_workers=max(args.gates))
    try:
        gates = list(boot.timing_gates())
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        figure = teacher_figures(optuna.create_study(), str(teacher), (DEFAULT_TARGET,), tuple(gates), SHAPE,
                                 1)[DEFAULT_TARGET.name]
        ray.get([g.measure.remote(candidate.read_bytes(), SHAPE, WINDOW) for g in gates])  # each one warm
        rows = []
        for n in args.gates:
            seconds, per_gate = throughput(gates[:n], candidate.read_bytes(), args.measurements)
            rate = args.measurements / seconds
            ratios = copy_ratios(gates[:n], copy.read_bytes())
            rows.append((n, rate, seconds, per_gate, ratios))
    finally:
        boot.shutdown()
        shutil.rmtree(folder, ignore_errors=True)

    lines = [f"{args.measurements} candidate timings submitted at once, dealt round-robin over the timing workers; "
             f"each timing interleaved with the teacher (warm-up {WINDOW.warmup_s} s, window {WINDOW.window_s} s "
             f"per model, 1 thread); all timing workers on this node ({os.cpu_count()} cores, shared); "
             f"teacher figure {figure['latency_ms'] * 1000:.1f} µs (timed once by the first timing worker)", "",
             "| gates | timed candidates/s | speed-up over 1 gate | timings per gate | per gate: ratio of a "
             "byte-identical copy of the teacher (median of 3, lowest–highest) |",
             "|---|---|---|---|---|"]
    one = next((rate for n, rate, *_ in rows if n == 1), rows[0][1])
    for n, rate, seconds, per_gate, ratios in rows:
        cells = "; ".join(f"{statistics.median(r):.3f} ({min(r):.3f}–{max(r):.3f})" for r in ratios)
        lines.append(f"| {n} | {rate:.2f} ({seconds:.1f} s) | {rate / one:.2f}× | "
                     f"{', '.join(map(str, per_gate))} | {cells} |")
    worst = max(abs(statistics.median(r) - 1) for *_, ratios in rows for r in ratios)
    lines += ["", f"largest deviation of a copy's median ratio from 1.0: {worst:.1%} (must be within 5 %)"]
    emit(lines, args.out)


if __name__ == "__main__":
    main()

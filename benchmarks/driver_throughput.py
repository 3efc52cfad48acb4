"""How many candidates per second the driver sustains: the one serial part of a study.

    .venv/bin/python benchmarks/driver_throughput.py [--workers 8 32 128] [--candidates 200]
        [--postgres] [--server] [--out benchmarks/driver_throughput.md]

No Ray: N simulated workers send instant candidates (a final report with made-up metrics and
a 4 KB artifact) straight into the real driver path: ``WorkerPoolCallback`` -> the dispatcher
(Optuna ask/tell, NSGA-II, artifact written to the run folder) -> the bookkeeper (MLflow child
run, metrics, artifact, Pareto tags, front table; the front plot at most every 10 s). The
timing worker is a stub (the driver only takes and releases its shared hold). Candidates per
second = candidates / wall seconds, after the workers' "ready" reports.

Configurations: Optuna storage SQLite (always) and PostgreSQL (``--postgres``: a throwaway
server started with ``initdb``/``pg_ctl`` as the ``postgres`` user on a free loopback port,
when the binaries and psycopg2 are present); MLflow SQLite store (always) and an ``mlflow
server`` on loopback (``--server``). From the rate R, a cluster of W workers running D-second
candidates saturates the driver at W = R x D.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import optuna
from throwaway_postgres import (  # benchmarks/ (on sys.path when run as a script)
    free_port,
    start_postgres,
)

from automl.search import bookkeeping
from automl.search.bookkeeping import StudyBookkeeper
from automl.search.dispatcher import CandidateDispatcher
from automl.search.progress import StudyProgress
from automl.search.protocol import Artifact, Finished, Node, Ready
from automl.search.tune_callback import WorkerPoolCallback
from automl.space.search_space import load_space
from automl.study.objectives import parse_constraint
from automl.study.sampler import make_sampler
from automl.tracking import StudyTracker

REPO = Path(__file__).resolve().parents[1]
OBJECTIVES = [("accuracy", "maximize"), ("size_bytes", "minimize"), ("latency_ms", "minimize")]
TEACHER = {"accuracy": 0.98, "test_accuracy": 0.98, "size_bytes": 80_000, "latency_ms": 0.01,
           "params_nonzero": 20_000, "macs": 100_000}
DURATIONS = {"2-second": 2.0, "1-minute": 60.0, "1-hour": 3600.0}


class _Gate:  # the timing worker's shared hold, as the driver calls it (ray.get is stubbed below)
    acquire_shared = release_shared = SimpleNamespace(remote=lambda: None)


def _report(number: int, rng: random.Random) -> dict:
    blob = rng.randbytes(4096)
    measured = {"accuracy": rng.uniform(0.5, 1.0), "test_accuracy": rng.uniform(0.5, 1.0), "size_bytes": len(blob),
                "latency_ms": rng.uniform(0.005, 0.02), "latency_ratio": 1.0, "params_nonzero": 1000, "macs": 5000,
                "kernels": "fp32", "latency": {"runtime": "onnxruntime", "reference_ms": 0.01}}
    return Finished(number=number, rows=[{"step": 1, "loss": 1.0}], node=Node("sim", "sim"), measured=measured,
                    artifact=Artifact(blob, hashlib.sha256(blob).hexdigest())).encode()


def measure(workers: int, candidates: int, storage: str, tracking_uri: str, work: Path, name: str) -> float:
    """Candidates per second through the real driver path with ``workers`` simulated workers."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=name, storage=storage, directions=[d for _, d in OBJECTIVES],
                                sampler=make_sampler("nsga2", 0, len(OBJECTIVES), n_trials=candidates))
    tracker = StudyTracker(tracking_uri, name, work / "mlflow-artifacts")
    books = StudyBookkeeper(study, OBJECTIVES, tracker, StudyProgress(name, candidates, enabled=False), _Gate(),
                            TEACHER, 0.0)
    dispatcher = CandidateDispatcher(study, load_space(REPO / "search_spaces/cnn_joint.yaml"), {}, OBJECTIVES,
                                     [parse_constraint("accuracy >= 0.8")], candidates, artifacts_dir=work / "artifacts")
    held: dict[str, int] = {}
    queue = SimpleNamespace(put=SimpleNamespace(remote=lambda w, job: held.__setitem__(w, job and job.number)))
    pool = WorkerPoolCallback(dispatcher, queue, on_asked=books.asked, on_told=books.told, on_epochs=books.epochs)
    rng = random.Random(0)
    ids = [f"w{i}" for i in range(workers)]
    for w in ids:
        pool.on_trial_result(0, [], SimpleNamespace(trial_id=w), Ready().encode())
    pool.on_step_end(0, [])
    start, step = time.perf_counter(), 0
    while any(held.get(w) is not None for w in ids):
        for w in ids:  # every worker finishes its candidate at once: the driver is the bottleneck
            if held.get(w) is not None:
                step += 1
                pool.on_trial_result(step, [], SimpleNamespace(trial_id=w), _report(held[w], rng))
                pool.on_step_end(step, [])
    return len(study.trials) / (time.perf_counter() - start)


def start_mlflow_server(work: Path) -> tuple[str, subprocess.Popen]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
                             "--backend-store-uri", f"sqlite:///{work / 'server.db'}", "--artifacts-destination",
                             str(work / "server-artifacts"), "--workers", "1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    uri = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            urllib.request.urlopen(uri + "/health", timeout=2)
            return uri, proc
        except OSError:
            time.sleep(1)
    proc.kill()
    raise SystemExit("mlflow server did not start")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, nargs="+", default=[8, 32, 128])
    ap.add_argument("--candidates", type=int, default=200, help="candidates per configuration (at least 2x workers)")
    ap.add_argument("--postgres", action="store_true", help="also Optuna on a throwaway PostgreSQL")
    ap.add_argument("--server", action="store_true", help="also MLflow through an mlflow server")
    ap.add_argument("--out", default=None, help="write the markdown table here")
    args = ap.parse_args()
    bookkeeping.ray = SimpleNamespace(get=lambda ref: ref)  # no Ray: the gate stub's calls return at once
    work = Path(tempfile.mkdtemp(prefix="driver-throughput-"))
    stops = []
    storages = {"SQLite": f"sqlite:///{work / 'optuna.db'}"}
    trackers = {"MLflow SQLite store": f"sqlite:///{work / 'mlflow.db'}"}
    try:
        if args.postgres:
            pg = start_postgres()
            if pg is None:
                print("PostgreSQL: not measured (initdb or psycopg2 missing)", file=sys.stderr)
            else:
                storages["PostgreSQL"], stop = pg
                stops.append(stop)
        if args.server:
            uri, proc = start_mlflow_server(work)
            trackers["mlflow server"] = uri
            stops.append(proc.kill)
        rows = []
        for storage_name, storage in storages.items():
            for tracker_name, uri in trackers.items():
                for n in args.workers:
                    name = f"s{len(rows)}"
                    rate = measure(n, max(args.candidates, 2 * n), storage, uri, work / name, name)
                    rows.append((storage_name, tracker_name, n, rate))
                    print(f"{storage_name:10s} {tracker_name:20s} {n:4d} workers: {rate:6.1f} candidates/s",
                          flush=True)
    finally:
        for stop in stops:
            stop()
        shutil.rmtree(work, ignore_errors=True)
    lines = ["| Optuna storage | MLflow | simulated workers | candidates / s | saturates at (workers) for "
             + " / ".join(DURATIONS) + " candidates |", "|---|---|---|---|---|"]
    for storage_name, tracker_name, n, rate in rows:
        sat = " / ".join(f"{rate * d:,.0f}" for d in DURATIONS.values())
        lines.append(f"| {storage_name} | {tracker_name} | {n} | {rate:.1f} | {sat} |")
    table = "\n".join(lines)
    print(table)
    if args.out:
        Path(args.out).write_text(table + "\n")


if __name__ == "__main__":
    main()

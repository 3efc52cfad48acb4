"""How many candidates per second the driver sustains: the one serial part of a study.

    .venv/bin/python benchmarks/driver_throughput.py [--workers 8 128 1024] [--candidates 2000]
        [--sampler tpe] [--storages journal sqlite] [--postgres] [--server] [--no-mlflow] [--ray]
        [--kill-at K] [--out benchmarks/driver_throughput.md]

No Ray: N simulated workers send instant candidates (a final report with made-up metrics and
a 4 KB artifact) straight into the real driver path: ``WorkerPoolCallback`` -> the dispatcher
(Optuna ask/tell with the study's sampler, default TPE, over search_spaces/cnn_joint.yaml;
artifact written to the run folder) -> the bookkeeper (MLflow child run, metrics, artifact,
the front kept incrementally, re-logged when it changed at most every 2 s, the plot at most
every 10 s). The timing worker is a stub (the driver only takes and releases its shared hold).
Candidates per second = candidates / wall seconds, after the workers' "ready" reports; also
per band of 1,000 candidates told, so a cost that grows with the study shows ("last 1k": the
last band before the budget runs out, after which tells ask nothing more).

Configurations: Optuna storage on a journal file (``storage: journal``) and SQLite, PostgreSQL
(``--postgres``: a throwaway server started with ``initdb``/``pg_ctl`` as the ``postgres`` user
on a free loopback port, when the binaries and psycopg2 are present); MLflow SQLite store
(always), an ``mlflow server`` on loopback (``--server``), or none (``--no-mlflow``: the
Optuna side alone, MLflow calls answered at once). From the rate R, a cluster of W workers
running D-second candidates saturates the driver at W = R x D.

``--ray`` measures each configuration also through the whole engine: a local Ray started as a
launch starts it (``RayBoot``: the mailboxes' actor, the timing worker), W real Tune workers on
1/W CPU each, running :func:`instant_worker` (``run_worker``'s loop with an instant candidate:
one compute hold on its timing worker, a made-up report) through the real callback, dispatcher
and bookkeeper. Its rate counts from the first result (Tune's start of the workers is once per
launch). Every Tune worker is a process: W is bounded by the machine's memory.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import optuna
import ray
from optuna.trial import TrialState
from throwaway_postgres import (  # benchmarks/ (on sys.path when run as a script)
    free_port,
    start_postgres,
)

from automl.search import bookkeeping
from automl.search.bookkeeping import StudyBookkeeper
from automl.search.engine import close_interrupted
from automl.search.dispatcher import CandidateDispatcher
from automl.search.progress import StudyProgress
from automl.search.protocol import Artifact, Finished, Node, Ready
from automl.search.tune_callback import WorkerPoolCallback
from automl.space.search_space import load_space
from automl.study.objectives import parse_constraint
from automl.study.sampler import make_sampler
from automl.study.storage import open_storage, resolve_storage
from automl.study.attrs import interrupted_numbers, measurements
from automl.study.front import finished_trials
from automl.tracking import StudyTracker
from automl.tracking.study_tracker import TRIAL_TAG

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


class _NoTracker:
    """``--no-mlflow``: every tracker call answered at once (the Optuna side alone)."""

    def __getattr__(self, name: str):
        return lambda *a, **k: "run" if name == "start_trial" else 0.0


BAND = 1000


def _driver(candidates: int, storage: str, tracking_uri: str | None, work: Path, name: str, sampler: str,
            gate: object) -> tuple[StudyBookkeeper, CandidateDispatcher]:
    """The driver's bookkeeper and dispatcher over the study in ``storage``, created or resumed
    as a launch resumes it: the candidates a killed driver left running are closed as
    interrupted (and MLflow runs it left open closed), the rest of the budget is to run."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=name, storage=open_storage(storage), directions=[d for _, d in OBJECTIVES],
                                sampler=make_sampler(sampler, 0, len(OBJECTIVES), n_trials=candidates),
                                load_if_exists=True)
    tracker = _NoTracker() if tracking_uri is None else StudyTracker(tracking_uri, name, work / "mlflow-artifacts")
    close_interrupted(study, tracker)
    books = StudyBookkeeper(study, OBJECTIVES, tracker, StudyProgress(name, candidates, enabled=False), gate, TEACHER)
    if tracking_uri is not None:
        books.outage.close_left_running()
    dispatcher = CandidateDispatcher(study, load_space(REPO / "search_spaces/cnn_joint.yaml"), {}, OBJECTIVES,
                                     [parse_constraint("accuracy >= 0.8")], candidates - books.n_finished,
                                     artifacts_dir=work / "artifacts")
    return books, dispatcher


def measure(workers: int, candidates: int, storage: str, tracking_uri: str | None, work: Path, name: str,
            sampler: str, told_log: Path | None = None) -> tuple[float, list[float]]:
    """(candidates per second, per band of BAND) through the real driver path with ``workers``
    simulated workers. A study already in ``storage`` is resumed as a launch resumes it: the
    candidates a killed driver left running are closed as interrupted, the rest of the budget
    runs. ``told_log``: each candidate's number is appended once its tell has returned."""
    books, dispatcher = _driver(candidates, storage, tracking_uri, work, name, sampler, _Gate())
    remaining = dispatcher.remaining
    told = told_log.open("a") if told_log else None
    held: dict[str, int] = {}
    queue = SimpleNamespace(put=SimpleNamespace(remote=lambda w, job: held.__setitem__(w, job and job.number)))
    pool = WorkerPoolCallback(dispatcher, queue, on_asked=books.asked, on_told=books.told, on_epochs=books.epochs)
    rng = random.Random(0)
    ids = [f"w{i}" for i in range(workers)]
    for w in ids:
        pool.on_trial_result(0, [], SimpleNamespace(trial_id=w), Ready().encode())
    pool.on_step_end(0, [])
    start, step = time.perf_counter(), 0
    marks = [start]
    while any(held.get(w) is not None for w in ids):
        for w in ids:  # every worker finishes its candidate at once: the driver is the bottleneck
            if held.get(w) is not None:
                step += 1
                number = held[w]
                pool.on_trial_result(step, [], SimpleNamespace(trial_id=w), _report(number, rng))
                pool.on_step_end(step, [])
                if told:
                    told.write(f"{number}\n")
                    told.flush()
                if step % BAND == 0:
                    marks.append(time.perf_counter())
    books.flush_front()
    total = time.perf_counter() - start
    return remaining / total, [BAND / (b - a) for a, b in zip(marks, marks[1:])]


def instant_worker(config: dict, context: SimpleNamespace) -> None:
    """``--ray``: a Tune worker as ``automl.search.trainable.run_worker`` is (its mailbox, its
    bound timing worker, ``tune.report`` of typed messages), whose candidates are instant: each
    takes and releases one compute hold on its timing worker (as an epoch does) and reports a
    made-up result with a 4 KB artifact."""
    from ray import tune

    from automl.search.trainable import bound_gate

    worker = tune.get_context().get_trial_id()
    queue = ray.get_actor(context.queue_name, namespace=context.namespace)
    gate = ray.get_actor(bound_gate(context.gate_names, worker), namespace=context.namespace)
    rng = random.Random(worker)
    tune.report(Ready(node=Node("sim", "sim")).encode())
    while (job := ray.get(queue.take.remote(worker))) is not None:
        ray.get(gate.acquire_shared.remote(worker))
        ray.get(gate.release_shared.remote(worker))
        tune.report(_report(job.number, rng))


def measure_ray(workers: int, candidates: int, storage: str, tracking_uri: str | None, work: Path, name: str,
                sampler: str) -> tuple[float, list[float]]:
    """(candidates per second, per band of BAND) through the whole engine: a local Ray started
    as a launch starts it (RayBoot: mailboxes, timing worker), ``workers`` Tune workers on
    fractional CPUs running :func:`instant_worker`, the real callback, dispatcher and bookkeeper."""
    from ray import tune

    from automl.search.ray_boot import QUEUE_NAME, RayBoot

    boot = RayBoot(f"driver-throughput-{name}", None)
    try:
        gate, queue = boot.handles()
        books, dispatcher = _driver(candidates, storage, tracking_uri, work, name, sampler, gate)
        marks: list[float] = []

        def told(frozen: optuna.trial.FrozenTrial) -> None:
            books.told(frozen)
            if books.n_finished == 1 or books.n_finished % BAND == 0:
                marks.append(time.perf_counter())

        pool = WorkerPoolCallback(dispatcher, queue, on_asked=books.asked, on_told=told, on_epochs=books.epochs,
                                  on_lost=boot.drop_holder)
        context = SimpleNamespace(queue_name=QUEUE_NAME, namespace=boot.namespace, gate_names=boot.gate_names)
        trainable = tune.with_resources(tune.with_parameters(instant_worker, context=context),
                                        {"cpu": 1.0 / workers})
        os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "600")  # as engine.execute sets them
        os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
        tune.Tuner(trainable, tune_config=tune.TuneConfig(num_samples=workers, max_concurrent_trials=workers),
                   run_config=tune.RunConfig(name=name, storage_path=str(work / "ray_results"), verbose=0,
                                             callbacks=[pool])).fit()
        pool.flush()
        books.flush_front()
        end = time.perf_counter()
    finally:
        boot.shutdown()
    done = books.n_finished - 1  # from the first result on (the workers' start-up is Tune's, once)
    return done / (end - marks[0]), [BAND / (b - a) for a, b in zip(marks, marks[1:])]


def kill_and_resume(workers: int, candidates: int, kill_at: int, tracking: bool, work: Path) -> dict[str, int]:
    """Run the driver in a child process, SIGKILL it once ``kill_at`` candidates were told,
    relaunch (resume) it to the budget, and check that no told candidate was lost and none
    duplicated: returns the counts (``lost`` and ``duplicated`` must be 0)."""
    work.mkdir(parents=True, exist_ok=True)
    storage = resolve_storage("journal", work)
    uri = f"sqlite:///{work / 'mlflow.db'}" if tracking else None
    told_log = work / "told.txt"
    child = subprocess.Popen([sys.executable, __file__, "--child", str(work), "--workers", str(workers),
                              "--candidates", str(candidates)] + ([] if tracking else ["--no-mlflow"]))
    while child.poll() is None and (not told_log.exists() or len(told_log.read_text().split()) < kill_at):
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait()
    told_before = [int(n) for n in told_log.read_text().split()]
    study = optuna.load_study(study_name="resume", storage=open_storage(storage))
    states = {t.number: t.state for t in study.trials}
    lost = sum(states.get(n) != TrialState.COMPLETE for n in told_before)
    running = sum(s == TrialState.RUNNING for s in states.values())
    measure(workers, candidates, storage, uri, work, "resume", "tpe")
    study = optuna.load_study(study_name="resume", storage=open_storage(storage))
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    params = [tuple(sorted(t.params.items())) for t in complete]
    out = {"told before the kill": len(told_before), "running at the kill": running, "lost": lost,
           "finished after resume": len(finished_trials(study)), "complete": len(complete),
           "interrupted (re-sampled)": len(interrupted_numbers(study)),
           "complete without artifact": sum(not Path(measurements(t)["artifact_path"]).exists() for t in complete),
           "duplicated": len(told_before) - len(set(told_before)) + len(complete) - len({t.number for t in complete})}
    if tracking:
        tracker = StudyTracker(uri, "resume", work / "mlflow-artifacts")
        runs = tracker.client.search_runs([tracker.experiment_id], f"tags.`{TRIAL_TAG}` != ''", max_results=50000)
        numbers = [r.data.tags[TRIAL_TAG] for r in runs if r.info.status == "FINISHED"]
        out["MLflow runs finished"] = len(numbers)
        out["MLflow runs left open"] = sum(r.info.status == "RUNNING" for r in runs)
        out["duplicated"] += len(numbers) - len(set(numbers))
    return out


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
    ap.add_argument("--workers", type=int, nargs="+", default=[8, 128, 1024])
    ap.add_argument("--candidates", type=int, default=2000, help="candidates per configuration (at least 2x workers)")
    ap.add_argument("--sampler", default="tpe", help="the study's sampler (default: the studies' default, tpe)")
    ap.add_argument("--storages", nargs="+", default=["journal", "sqlite"], choices=["journal", "sqlite"])
    ap.add_argument("--no-mlflow", action="store_true", help="the Optuna side alone (MLflow calls stubbed)")
    ap.add_argument("--kill-at", type=int, default=None,
                    help="instead: SIGKILL the driver once this many candidates were told, resume, check nothing "
                         "was lost or duplicated (journal storage, the first --workers)")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)  # the driver --kill-at kills
    ap.add_argument("--postgres", action="store_true", help="also Optuna on a throwaway PostgreSQL")
    ap.add_argument("--server", action="store_true", help="also MLflow through an mlflow server")
    ap.add_argument("--ray", action="store_true",
                    help="also through the whole engine: a local Ray, real Tune workers on fractional CPUs with "
                         "instant candidates, mailboxes and timing worker")
    ap.add_argument("--out", default=None, help="write the markdown table here")
    args = ap.parse_args()
    no_ray = bookkeeping.ray
    bookkeeping.ray = SimpleNamespace(get=lambda ref: ref)  # no Ray: the gate stub's calls return at once
    if args.child:
        child = Path(args.child)
        measure(args.workers[0], args.candidates, resolve_storage("journal", child),
                None if args.no_mlflow else f"sqlite:///{child / 'mlflow.db'}", child, "resume", args.sampler,
                told_log=child / "told.txt")
        return
    work = Path(tempfile.mkdtemp(prefix="driver-throughput-"))
    if args.kill_at is not None:
        try:
            out = kill_and_resume(args.workers[0], args.candidates, args.kill_at, not args.no_mlflow, work / "k")
        finally:
            shutil.rmtree(work, ignore_errors=True)
        print("| " + " | ".join(out) + " |\n|" + "---|" * len(out) + "\n| " + " | ".join(map(str, out.values())) + " |")
        raise SystemExit(1 if out["lost"] or out["duplicated"] or out["complete without artifact"]
                         or out.get("MLflow runs left open") or out["finished after resume"] != args.candidates else 0)
    stops = []
    storages = {{"journal": "journal file", "sqlite": "SQLite"}[k]: resolve_storage(None if k == "sqlite" else k, work)
                for k in args.storages}
    trackers = {"none": None} if args.no_mlflow else {"MLflow SQLite store": f"sqlite:///{work / 'mlflow.db'}"}
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
        paths = ["simulated"] + (["Ray workers"] if args.ray else [])
        for storage_name, storage in storages.items():
            for tracker_name, uri in trackers.items():
                for n in args.workers:
                    for path in paths:
                        name = f"s{len(rows)}"
                        count = max(args.candidates, 2 * n)
                        if path == "simulated":
                            bookkeeping.ray = SimpleNamespace(get=lambda ref: ref)
                            rate, bands = measure(n, count, storage, uri, work / name, name, args.sampler)
                        else:
                            bookkeeping.ray = no_ray
                            rate, bands = measure_ray(n, count, storage, uri, work / name, name, args.sampler)
                        rows.append((path, storage_name, tracker_name, n, count, rate, bands))
                        print(f"{path:11s} {storage_name:10s} {tracker_name:20s} {n:4d} workers: {rate:6.1f} "
                              f"candidates/s (per {BAND}: {', '.join(f'{b:.0f}' for b in bands)})", flush=True)
    finally:
        for stop in stops:
            stop()
        shutil.rmtree(work, ignore_errors=True)
    lines = [f"Sampler: {args.sampler}.", "",
             "| workers are | Optuna storage | MLflow | workers | candidates | candidates / s | 1k-2k | last 1k "
             "| slowest 1k | saturates at (workers) for " + " / ".join(DURATIONS) + " candidates |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for path, storage_name, tracker_name, n, count, rate, bands in rows:
        sat = " / ".join(f"{rate * d:,.0f}" for d in DURATIONS.values())
        # the last `workers` tells ask nothing more (the budget is spent): bands before them only
        asking = [b for i, b in enumerate(bands) if (i + 1) * BAND <= count - n]
        early = f"{asking[1]:.1f}" if len(asking) > 1 else "-"
        last = f"{asking[-1]:.1f}" if len(asking) > 2 else "-"
        slowest = f"{min(asking):.1f}" if asking else "-"
        lines.append(f"| {path} | {storage_name} | {tracker_name} | {n} | {count:,} | {rate:.1f} | {early} | {last} "
                     f"| {slowest} "
                     f"| {sat} |")
    table = "\n".join(lines)
    print(table)
    if args.out:
        Path(args.out).write_text(table + "\n")


if __name__ == "__main__":
    main()

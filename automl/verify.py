"""``automl verify NAME``: re-check every front point's figures from its exported file.

The checks use code of their own, not the code that produced the figures: the file's size is
``os.stat``; accuracy comes from a plain ONNX Runtime session (default options) fed one
sample at a time; latency is timed by a separate loop (its own input, warm-up, block sizes
and clock; the models' blocks in a shuffled order each round rather than a rotation; the
median call of each block, each model's fastest block over :data:`INSTANCES` sessions of it created
in a shuffled order, in each of :data:`PROCESSES` fresh processes; the ratio of the fastest).
Tolerances
(:data:`TOLERANCES`):

- size: exact (bytes on disk);
- validation and test accuracy: 0.1 pt or one sample of the split, whichever is larger (the
  same file on the same data; ONNX Runtime may sum a batch of 256 and a single sample in a
  different order, which can flip a near-tie between two classes);
- latency ratio to the teacher: 15 % relative (two timing runs on a shared CPU). A
  byte-identical copy of the teacher is timed beside the front as a control; when it does
  not read 1 within 5 %, a latency failure says the re-timing itself is inconclusive. The
  control cannot see load that slows models unevenly (a teacher that does not fit the cache
  slows with a busy host, a student that fits does not), so when the teacher's own time moved
  by more than the tolerance since the study, a latency failure says so.

The teacher's own absolute latency is shown re-measured beside its study figure for
information only: absolute microseconds move with the machine's load; ratios should not.

A study with several deployment targets is verified on each (``--target T``: one): that
target's own front, accuracy run by the target's runtime and latency timed on it, each opened
here with its own settings (threads, provider, precision) and called through the runtime's
plain API (ONNX Runtime's ``session.run``, OpenVINO's ``CompiledModel.__call__``), not the
bound-tensor call the search timed with.
"""

from __future__ import annotations

import os
import random
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import onnxruntime as ort

from automl.config import ConfigError

TOLERANCES = {"size_bytes": 0, "accuracy_pt": 0.1, "accuracy_samples": 1, "latency_ratio_rel": 0.15,
              "control_rel": 0.05}
ROUNDS = 30
BLOCK_S = 0.01
WARMUP_S = 0.3
INSTANCES = 3  # sessions per model: a model can run ~25 % slower for a whole process in one placement
PROCESSES = 3  # ... and in every placement of one process: the timing runs in this many fresh processes


@dataclass
class Check:
    """One front point (or the teacher) re-measured beside what was reported."""

    trial: str  # trial number, or "teacher"
    size_reported: int
    size_on_disk: int
    val_reported: float
    val_measured: float
    test_reported: float
    test_measured: float
    ratio_reported: float | None  # latency / teacher's (None for the teacher)
    ratio_measured: float | None
    latency_ms_reported: float
    latency_ms_measured: float  # absolute, this process, informational
    samples: dict[str, int]  # split -> number of samples (for the one-sample tolerance)
    control_ratio: float | None = None  # a byte-identical copy of the teacher, timed as one more candidate
    teacher_drift: float | None = None  # the teacher's time now over its study figure (the machine's load then and now)

    def timing_trusted(self) -> bool:
        """The control read 1 within ``control_rel``: the re-timing itself can be believed."""
        return self.control_ratio is None or abs(self.control_ratio - 1) <= TOLERANCES["control_rel"]

    def failures(self) -> list[str]:
        out = []
        if self.size_on_disk != self.size_reported:
            out.append(f"size {self.size_on_disk} B on disk, {self.size_reported} B reported")
        for split in ("val", "test"):
            rep, got = getattr(self, f"{split}_reported"), getattr(self, f"{split}_measured")
            allowed = max(TOLERANCES["accuracy_pt"] / 100, TOLERANCES["accuracy_samples"] / self.samples[split])
            if abs(rep - got) > allowed + 1e-9:
                out.append(f"{split} accuracy {got:.4f} measured, {rep:.4f} reported")
        if self.ratio_reported is not None and self.ratio_measured is not None:
            if abs(self.ratio_measured / self.ratio_reported - 1) > TOLERANCES["latency_ratio_rel"]:
                why = "" if self.timing_trusted() else (
                    f" (inconclusive: a copy of the teacher timed {self.control_ratio:.3f}x the teacher in the "
                    "same run; the machine is noisy now, re-run later)")
                drift = self.teacher_drift
                if not why and drift is not None and abs(drift - 1) > TOLERANCES["latency_ratio_rel"]:
                    why = (f" (the teacher ran {drift:.2f}x its study time: outside load slows a large "
                           "model more than a small one, so ratios taken under other load differ; re-time both "
                           "in a quiet hour: automl pareto NAME --retime, then verify)")
                out.append(f"latency ratio {self.ratio_measured:.3f} measured, {self.ratio_reported:.3f} reported{why}")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "failures": self.failures()}


def accuracy_of(path: str | Path, x: np.ndarray, y: np.ndarray, target: dict[str, Any] | None = None) -> float:
    """Top-1 accuracy of the ONNX file on ``(x, y)`` on ``target`` (a ``Target.to_dict``; default
    ONNX Runtime CPU), one sample per call."""
    run = _opened(path, target, threads=1)
    correct = 0
    for i in range(len(x)):
        correct += int(np.argmax(run(x[i:i + 1])[0]) == y[i])
    return correct / len(x)


def _opened(path: str | Path, target: dict[str, Any] | None, threads: int, batch_one: bool = False) -> Any:
    """``x -> logits`` of the file on ``target``, opened with the target's settings by this
    module's own code (default options otherwise). ``batch_one``: OpenVINO compiled for batch 1,
    its input bound once and its output read in place (a per-call dict and copy would add ~10 µs
    to every model alike and pull every ratio towards 1)."""
    target = target or {"runtime": "onnxruntime"}
    if target["runtime"] == "openvino":
        import openvino as ov

        config = {"INFERENCE_NUM_THREADS": str(threads), **(target.get("options") or {})}
        if target.get("precision"):
            config["INFERENCE_PRECISION_HINT"] = target["precision"]
        core = ov.Core()
        model = core.read_model(str(path))
        device = "GPU" if target.get("device") == "gpu" else "CPU"
        if not batch_one:
            compiled = core.compile_model(model, device, config)
            return lambda x: compiled(x)[0]
        model.reshape({0: ov.PartialShape([1, *list(model.input(0).get_partial_shape())[1:]])})
        request = core.compile_model(model, device, config).create_infer_request()
        bound: dict[str, Any] = {}

        def run(x: np.ndarray) -> np.ndarray:
            if bound.get("x") is not x:  # the timing loop feeds one array: bind it once
                bound["x"] = x
                request.set_input_tensor(ov.Tensor(x, shared_memory=True))
            request.infer()
            return request.get_output_tensor(0).data
        return run
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    provider = target.get("provider") or ("CUDAExecutionProvider" if target.get("device") == "gpu"
                                          else "CPUExecutionProvider")
    session = ort.InferenceSession(str(path), options, providers=[provider])
    name = session.get_inputs()[0].name
    return lambda x: session.run(None, {name: x})[0]


def latency_ratios(teacher: str | Path, candidates: Sequence[str | Path], input_shape: Sequence[int],
                   threads: int = 1, rounds: int = ROUNDS, seed: int = 0,
                   target: dict[str, Any] | None = None) -> tuple[float, list[float]]:
    """(teacher's ms, each candidate's latency ratio to it), timed interleaved in this process on
    ``target`` (a ``Target.to_dict``; default ONNX Runtime CPU)."""
    paths = [teacher, *candidates]
    x = np.random.default_rng(seed).standard_normal((1, *input_shape)).astype(np.float32)
    pick = random.Random(seed)
    padding, copies = [], [[] for _ in paths]  # INSTANCES sessions per model, created in a shuffled order
    creation = list(range(len(paths))) * INSTANCES
    pick.shuffle(creation)
    for i in creation:
        padding.append(bytearray(pick.randrange(4096, 200_000)))  # the next session sits elsewhere
        run, feed = _opened(paths[i], target, threads, batch_one=True), x.copy()
        copies[i].append((run, feed))
        started = time.perf_counter_ns()
        while time.perf_counter_ns() - started < WARMUP_S / INSTANCES * 1e9:
            run(feed)
    calls = [c[0] for c in copies]
    per_call = [_block_median(run, feed, 20) for run, feed in calls]
    sizes = [max(5, int(BLOCK_S / t)) for t in per_call]
    medians = np.zeros((rounds, len(calls)))
    order = list(range(len(calls)))
    shuffle = random.Random(seed).shuffle
    for r in range(rounds):
        shuffle(order)
        for i in order:
            medians[r, i] = _block_median(*copies[i][(r + i) % INSTANCES], sizes[i])
    fastest = medians.min(axis=0)  # outside load only adds time, and not evenly across models
    return float(fastest[0] * 1e3), [float(v) for v in fastest[1:] / fastest[0]]


def latency_ratios_fresh(teacher: str | Path, candidates: Sequence[str | Path], input_shape: Sequence[int],
                         threads: int = 1, processes: int = PROCESSES,
                         target: dict[str, Any] | None = None) -> tuple[float, list[float]]:
    """:func:`latency_ratios` in ``processes`` fresh processes, one after another; each model's
    fastest figure over all of them (its absolute time: ratio x that process's teacher)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    runs = []
    for seed in range(processes):
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            runs.append(pool.submit(latency_ratios, str(teacher), [str(c) for c in candidates], tuple(input_shape),
                                    threads, ROUNDS, seed, target).result())
    teacher_ms = min(t for t, _ in runs)
    fastest = [min(t * r[i] for t, r in runs) for i in range(len(candidates))]
    return teacher_ms, [f / teacher_ms for f in fastest]


def _block_median(run: Any, feed: np.ndarray, n: int) -> float:
    """Seconds of the median of ``n`` consecutive calls."""
    ns = []
    for _ in range(n):
        start = time.perf_counter_ns()
        run(feed)
        ns.append(time.perf_counter_ns() - start)
    return float(np.median(ns)) / 1e9


def verify_study(name: str, run_dir: str | None = None, scratch: str | Path | None = None,
                 target: str | None = None) -> list[Check]:
    """Re-measure the teacher and every front point of study ``name`` (see module doc); with
    ``target``, that target's front and figures, measured on it.

    Artifacts fetched from MLflow and the teacher's timed copy go to ``scratch``; without one,
    to a temporary folder removed on return."""
    import tempfile

    if scratch is None:
        with tempfile.TemporaryDirectory(prefix=f"automl-verify-{name}-") as tmp:
            return verify_study(name, run_dir, tmp, target)

    from automl.data import load_dataset
    from automl.study.artifacts import point_artifact
    from automl.study.front import pareto_front
    from automl.study.record import open_launched
    from automl.study.target_view import point_on, target_front, teacher_on

    launched = open_launched(name, run_dir)
    record, study = launched.record, launched.study
    dataset = record.require_dataset("name")
    front = pareto_front(study, record.objectives)
    on = None
    if target is not None:
        on = next((t for t in record.target_list if t.name == target), None)
        if on is None:
            raise ConfigError("--target", f"study '{name}' does not measure {target!r} (its targets: "
                                          f"{', '.join(t.name for t in record.target_list)})")
        front = target_front(study, record.objectives, target)
    data = load_dataset(dataset)
    splits = {split: (getattr(data, f"x_{split}").numpy().astype(np.float32),
                      getattr(data, f"y_{split}").numpy().reshape(-1)) for split in ("val", "test")}
    scratch = Path(scratch)
    teacher = record.teacher
    files = [point_artifact(p, record.tracking_uri, scratch) for p in front]
    control = scratch / "teacher-copy.onnx"  # timed as one more candidate: it should read 1
    shutil.copyfile(teacher.artifact_path, control)
    spec = None if on is None else {**on.to_dict(), "threads": on.resolved_threads(record.threads)}
    teacher_ms, ratios = latency_ratios_fresh(teacher.artifact_path, [*files, control], data.input_shape,
                                              threads=record.threads if spec is None else spec["threads"], target=spec)
    *ratios, control_ratio = ratios
    reported_teacher = teacher.metrics() if on is None else _on_target(teacher_on(teacher, target), teacher)
    rows = [_check("teacher", reported_teacher, Path(teacher.artifact_path), splits, None, None, teacher_ms, spec)]
    for p, path, ratio in zip(front, files, ratios):
        if on is None:
            rows.append(_check(str(p.trial), p.metrics, path, splits, p.latency_ratio, ratio, ratio * teacher_ms))
        else:
            there = point_on(p, target)
            rows.append(_check(str(p.trial), _on_target(there, p.metrics), path, splits, there.ratio, ratio,
                               ratio * teacher_ms, spec))
    figure = reported_teacher["latency_ms"]
    drift = teacher_ms / figure if figure > 0 else None
    for row in rows:
        row.control_ratio, row.teacher_drift = control_ratio, drift
    return rows


def verify_targets(name: str, run_dir: str | None = None, target: str | None = None) -> dict[str, list[Check]]:
    """Target name -> its checks: the study's front (on the primary target's figures), then every
    other target's own front; with ``target``, that one only."""
    from automl.study.record import read_record

    names = [t.name for t in read_record(name, run_dir).target_list]
    if target is not None:
        return {target: verify_study(name, run_dir, target=target)}
    return {names[0]: verify_study(name, run_dir), **{t: verify_study(name, run_dir, target=t) for t in names[1:]}}


def _on_target(there: Any, metrics: Any) -> dict[str, Any]:
    """What was reported on one target, in the shape :func:`_check` reads (size is the file's)."""
    size = metrics.size_bytes if hasattr(metrics, "size_bytes") else metrics["size_bytes"]
    return {"size_bytes": size, "accuracy": there.accuracy, "test_accuracy": there.test_accuracy,
            "latency_ms": there.latency_ms}


def _check(label: str, reported: dict[str, Any], path: Path, splits: dict[str, tuple[np.ndarray, np.ndarray]],
           ratio_reported: float | None, ratio_measured: float | None, measured_ms: float,
           target: dict[str, Any] | None = None) -> Check:
    return Check(trial=label, size_reported=int(reported["size_bytes"]), size_on_disk=os.stat(path).st_size,
                 val_reported=float(reported["accuracy"]), val_measured=accuracy_of(path, *splits["val"], target),
                 test_reported=float(reported["test_accuracy"]),
                 test_measured=accuracy_of(path, *splits["test"], target),
                 ratio_reported=ratio_reported, ratio_measured=ratio_measured,
                 latency_ms_reported=float(reported["latency_ms"]), latency_ms_measured=measured_ms,
                 samples={split: len(y) for split, (_, y) in splits.items()})

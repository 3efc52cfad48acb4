"""A study's several timing workers on a real local Ray: each gets the teacher and the study's one
figure, each worker holds and is timed by its own, and a lost worker's holds go on every one.

Ratios are asserted loosely (0.7-1.4): timing is for the benchmarks (benchmarks/timing_workers.py),
these tests assert behaviour on a noisy machine.
"""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import optuna
import pytest
import ray
import torch
from torch import nn

from automl.config.compression import QuantConfig
from automl.export import export_artifact
from automl.measure import latency
from automl.measure.latency import LatencySettings
from automl.measure.targets import DEFAULT_TARGET
from automl.search.cluster import NODE_ID, node_identity, timing_nodes
from automl.search.ray_boot import GATE_NAME, RayBoot, gate_placements, spread_over
from automl.search.teacher_figures import teacher_figures
from automl.search.timing_gate import GatedTrialHooks, gate_measure
from automl.search.trainable import bound_gate
from automl.search.tune_callback import WorkerPoolCallback
from automl.study.attrs import teacher_latency

pytestmark = pytest.mark.e2e
QUICK = LatencySettings(warmup_s=0.05, window_s=0.2)
SHAPE = (1, 8, 8)


@pytest.fixture(scope="module")
def boot():
    """Ray as a launch starts it (one timing worker), grown to the study's two as record_launch does."""
    boot = RayBoot("automl-test-timing-workers", None)
    try:
        assert len(boot.timing_gates()) == 1
        boot.timing_gates(2)
        yield boot
    finally:
        boot.shutdown()


@pytest.fixture(scope="module")
def teacher(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(16 * 64, 10)).eval()
    folder = tmp_path_factory.mktemp("teacher")
    return export_artifact(model, QuantConfig(), torch.randn(8, 1, 8, 8), folder / "t.onnx", {}).path


@pytest.fixture()
def copy(teacher: Path, tmp_path: Path) -> Path:
    """A byte-identical copy of the teacher: its ratio to the teacher is 1."""
    return Path(shutil.copyfile(teacher, tmp_path / "copy.onnx"))


def _ignore(*args) -> None:
    pass


def _measurements(gates) -> list[int]:
    return [int(s["measurements"]) for s in ray.get([g.stats.remote() for g in gates])]


def test_timing_workers_are_named_and_run_on_the_drivers_node(boot) -> None:
    gates = boot.timing_gates(2)
    assert len(gates) == 2 and boot.timing_gates(1) == gates  # asking for fewer starts and stops nothing
    assert boot.gate_names == (GATE_NAME, f"{GATE_NAME}-1")
    assert [ray.get_actor(n, namespace=boot.namespace) for n in boot.gate_names]  # what a worker looks up
    here = node_identity()[NODE_ID]
    assert [n[NODE_ID] for n in timing_nodes(gates)] == [here, here]  # no timing_resource: the driver's node
    assert boot.handles()[0] == gates[0]  # the bookkeeper's gate is the first


def test_every_timing_worker_times_against_the_teacher_with_the_one_figure(
        boot, teacher: Path, copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(latency, "FINAL", QUICK)  # the teacher figure's settings, short (one process)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study()
    gates = boot.timing_gates()
    before = _measurements(gates)
    figure = teacher_figures(study, str(teacher), (DEFAULT_TARGET,), gates, SHAPE, 1)["ort-cpu"]
    assert teacher_latency(study)["targets"]["ort-cpu"] == figure and figure["latency_ms"] > 0
    assert [a - b for a, b in zip(_measurements(gates), before)] == [1, 0]  # timed once, by the first
    for gate in gates:  # each one: its own copy of the teacher, scaled by the study's one figure
        result, _ = gate_measure(gate, copy, SHAPE, QUICK)
        assert 0.7 <= result.ratio <= 1.4, result
        assert result.latency_ms == pytest.approx(result.ratio * figure["latency_ms"])


def test_workers_bound_to_different_timing_workers_hold_and_are_timed_by_their_own(boot, teacher: Path,
                                                                                   copy: Path) -> None:
    gates = boot.timing_gates()
    ray.get([g.set_reference.remote(teacher.read_bytes(), {"ort-cpu": 0.25}) for g in gates])
    names = boot.gate_names
    workers = ["a1b2c_00000", "a1b2c_00001"]  # Tune's trial ids: <prefix>_<trial number>
    assert [bound_gate(names, w) for w in workers] == list(names)
    before = _measurements(gates)
    for worker in workers:
        gate = ray.get_actor(bound_gate(names, worker), namespace=boot.namespace)
        hooks = GatedTrialHooks(gate, holder=worker)
        with hooks.compute():
            pass
        hooks.measure_latency(copy, SHAPE, QUICK)  # the final timing's and the probe's way in
    assert [a - b for a, b in zip(_measurements(gates), before)] == [1, 1]


def test_binding_is_round_robin_and_stable() -> None:
    names = ("g0", "g1", "g2")
    dealt = Counter(bound_gate(names, f"f00d1_{i:05d}") for i in range(7))
    assert dealt == {"g0": 3, "g1": 2, "g2": 2}
    assert bound_gate(names, "no-number") == bound_gate(names, "no-number")  # CRC32: the same in every process
    assert bound_gate(("only",), "anything_00042") == "only"


def test_a_lost_workers_holds_are_dropped_on_every_timing_worker(boot, teacher: Path) -> None:
    gates = boot.timing_gates()
    ray.get([g.set_reference.remote(teacher.read_bytes(), {"ort-cpu": 0.25}) for g in gates])
    worker = "dead0_00001"
    ray.get([g.acquire_shared.remote(worker) for g in gates])  # it died inside compute chunks
    pending = [g.measure.remote(None, SHAPE, QUICK) for g in gates]
    ready, _ = ray.wait(pending, num_returns=len(pending), timeout=1.0)
    assert not ready  # every timing waits for it
    pool = WorkerPoolCallback(SimpleNamespace(lost=lambda worker, why: None),
                              SimpleNamespace(clear=SimpleNamespace(remote=lambda worker: None)),
                              on_asked=_ignore, on_told=_ignore, on_epochs=_ignore, on_lost=boot.drop_holder)  # as execute
    pool.on_trial_error(0, [], SimpleNamespace(trial_id=worker))  # Tune: the worker's process is gone
    assert all(r["best_ms"] > 0 for r in ray.get(pending, timeout=60))


def test_several_timing_workers_spread_over_the_nodes_offering_the_resource(monkeypatch: pytest.MonkeyPatch) -> None:
    assert spread_over(["a", "b"], ["a"], 3) == ["b", "a", "b"]  # the fewest first, ties in node order
    assert spread_over(["a", "b", "c"], [], 2) == ["a", "b"]
    n1, n2, n3, n4 = (str(i) * 56 for i in range(1, 5))  # Ray node ids: 28 bytes, in hex
    nodes = [{"NodeID": n2, "Alive": True, "Resources": {"timing": 1.0}},
             {"NodeID": n1, "Alive": True, "Resources": {"timing": 1.0}},
             {"NodeID": n3, "Alive": True, "Resources": {"CPU": 4.0}},
             {"NodeID": n4, "Alive": False, "Resources": {"timing": 1.0}}]
    monkeypatch.setattr(ray, "nodes", lambda: nodes)
    monkeypatch.setattr(ray, "cluster_resources", lambda: {"timing": 2.0, "CPU": 4.0})
    placed = gate_placements("timing", 3)
    assert [p["scheduling_strategy"].node_id for p in placed] == [n1, n2, n1]
    assert all(p["scheduling_strategy"].soft is False and p["resources"]["timing"] > 0 for p in placed)
    assert gate_placements("timing", 1) == [{"resources": placed[0]["resources"]}]  # one: as before

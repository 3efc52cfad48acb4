"""The study's timing worker on a real local Ray: paired timing against the teacher, the study's
teacher figure, and the gate that keeps compute off the cores while it times."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import ray
import torch
from torch import nn

from automl.config.compression import QuantConfig
from automl.export import export_artifact
from automl.measure.latency import LatencySettings
from automl.measure.runtimes import TargetUnavailable
from automl.measure.targets import BUILTIN, Target
from automl.search.timing_gate import TimingGate, gate_measure

pytestmark = pytest.mark.e2e
QUICK = LatencySettings(warmup_s=0.05, window_s=0.2)


@pytest.fixture(scope="module")
def gate():
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        yield TimingGate.remote()
    finally:
        ray.shutdown()


@pytest.fixture()
def teacher(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(16 * 64, 10)).eval()
    return export_artifact(model, QuantConfig(), torch.randn(8, 1, 8, 8), tmp_path / "t.onnx", {}).path


def test_candidate_is_timed_against_the_teacher_and_scaled_to_the_study_figure(gate, teacher, tmp_path):
    ray.get(gate.set_reference.remote(teacher.read_bytes(), None))
    alone, _ = gate_measure(gate, None, (1, 8, 8), QUICK)  # the teacher alone: its own figure, no ratio
    assert alone.ratio is None and alone.latency_ms == alone.best_ms > 0
    copy = tmp_path / "copy.onnx"
    shutil.copyfile(teacher, copy)
    unscaled, _ = gate_measure(gate, copy, (1, 8, 8), QUICK)  # no study figure yet: its own best window
    assert unscaled.latency_ms == unscaled.best_ms and abs(unscaled.ratio - 1) <= 0.05
    ray.get(gate.set_reference.remote(teacher.read_bytes(), {"ort-cpu": 0.25}))
    scaled, _ = gate_measure(gate, copy, (1, 8, 8), QUICK)
    assert abs(scaled.ratio - 1) <= 0.05 and scaled.latency_ms == pytest.approx(scaled.ratio * 0.25)
    assert scaled.reference_ms > 0


def test_each_target_is_timed_on_its_runtime_and_scaled_by_its_own_teacher_figure(gate, teacher, tmp_path):
    copy = tmp_path / "copy.onnx"
    shutil.copyfile(teacher, copy)
    ray.get(gate.set_reference.remote(teacher.read_bytes(), {"ort-cpu": 0.25, "openvino-cpu-f32": 0.5}))
    on_ov, _ = gate_measure(gate, copy, (1, 8, 8), QUICK, BUILTIN["openvino-cpu-f32"])
    assert on_ov.target == "openvino-cpu-f32" and on_ov.runtime.startswith("openvino")
    assert on_ov.latency_ms == pytest.approx(on_ov.ratio * 0.5)  # that target's figure, not ort-cpu's
    broken = Target("openvino-broken", "openvino", options={"NOT_A_PROPERTY": "1"})
    with pytest.raises(TargetUnavailable, match="^openvino-broken: "):  # the actor answers, it does not die
        gate_measure(gate, copy, (1, 8, 8), QUICK, broken)
    assert gate_measure(gate, copy, (1, 8, 8), QUICK)[0].target == "ort-cpu"


def test_timing_waits_for_running_compute(gate, teacher):
    ray.get(gate.set_reference.remote(teacher.read_bytes(), None))
    ray.get(gate.acquire_shared.remote())  # a trial is inside a compute chunk
    pending = gate.measure.remote(None, (1, 8, 8), QUICK)
    try:
        ready, _ = ray.wait([pending], timeout=1.0)
        assert not ready  # held back while the chunk runs
    finally:
        ray.get(gate.release_shared.remote())
    result = ray.get(pending)
    assert result["timing_wait_s"] >= 1.0 and result["best_ms"] > 0


def test_an_ended_timing_worker_leaves_no_files_behind(gate, teacher, tmp_path):  # gate: Ray is up
    import tempfile

    before = set(Path(tempfile.gettempdir()).glob("automl-timing-*"))
    worker = TimingGate.remote()
    ray.get(worker.set_reference.remote(teacher.read_bytes(), None))
    copy = tmp_path / "copy.onnx"
    shutil.copyfile(teacher, copy)
    gate_measure(worker, copy, (1, 8, 8), QUICK)
    ray.kill(worker)  # what Ray does to a study's actors at shutdown: no finalizer runs
    assert set(Path(tempfile.gettempdir()).glob("automl-timing-*")) == before

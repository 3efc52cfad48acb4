"""A candidate measured on several deployment targets: each target's own accuracy, latency and
kernels; a target that cannot run it is recorded with the runtime's error, never a number."""

from __future__ import annotations

import math

import pytest

from automl import CandidateConfig, DatasetConfig, evaluate_candidate
from automl.candidate.hooks import TrialHooks
from automl.candidate.result import CandidateResult, metric_values
from automl.measure.latency import LatencySettings
from automl.measure.runtimes import TargetUnavailable
from automl.measure.targets import BUILTIN, Target

QUICK = LatencySettings(warmup_s=0.01, window_s=0.03, min_rounds=4, instances=1)
BROKEN = Target("openvino-broken", "openvino", options={"NOT_A_PROPERTY": "1"})  # the plugin refuses it


class QuickHooks(TrialHooks):
    """Default hooks with a short timing window."""

    def measure_latency(self, path, input_shape, settings, target=BUILTIN["ort-cpu"]):
        return super().measure_latency(path, input_shape, QUICK, target)


@pytest.fixture(scope="module")
def int8_config():
    return CandidateConfig.from_dict({"arch": {"family": "mlp", "choices": {"layers": 1, "widths": [32]}},
                                      "quant": {"weight_bits": 8, "activation_bits": 8}, "train": {"epochs": 1}})


def test_each_target_has_its_own_figures_and_the_primary_fills_the_plain_ones(tmp_path, int8_config):
    targets = (BUILTIN["ort-cpu"], BUILTIN["openvino-cpu-f32"], BROKEN)
    result = evaluate_candidate(int8_config, DatasetConfig("digits"), workdir=tmp_path, hooks=QuickHooks(),
                                targets=targets)
    assert list(result.targets) == ["ort-cpu", "openvino-cpu-f32", "openvino-broken"]
    ort_, ov, broken = (result.targets[t.name] for t in targets)
    assert (result.accuracy, result.latency_ms) == (ort_.accuracy, ort_.latency_ms)
    assert ov.runtime.startswith("openvino") and ov.latency_ms > 0 and 0 < ov.accuracy <= 1
    assert ov.kernels and ov.kernels != "none"  # read from the plugin's executed graph
    assert "QGemm" in ort_.kernels or "int8" in ort_.kernels
    assert broken.error.startswith("openvino-broken: ") and broken.latency_ms is None and broken.accuracy is None
    metrics = result.metrics()
    assert metrics["latency_ms@openvino-cpu-f32"] == ov.latency_ms
    assert math.isnan(metrics["latency_ms@openvino-broken"])  # never a fast or slow number
    again = CandidateResult.from_dict(result.to_dict())  # how it crosses Ray and JSON
    assert again.targets["openvino-cpu-f32"] == ov and metric_values(result.to_dict())["accuracy@ort-cpu"] == ort_.accuracy


def test_a_primary_target_that_cannot_run_the_candidate_fails_it_in_one_line(tmp_path, int8_config):
    with pytest.raises(TargetUnavailable, match="^openvino-broken: "):
        evaluate_candidate(int8_config, DatasetConfig("digits"), workdir=tmp_path, hooks=QuickHooks(),
                           targets=(BROKEN, BUILTIN["ort-cpu"]))

"""Deployment targets as data, and the runtimes behind them (ONNX Runtime, OpenVINO)."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper
from torch import nn

from automl.config import ConfigError
from automl.config.compression import QuantConfig
from automl.export import export_artifact
from automl.measure.latency import LatencySettings, measure_interleaved
from automl.measure.runtimes import TargetUnavailable, runtime_for, target_accuracy
from automl.measure.targets import BUILTIN, DEFAULT_TARGET, Target, parse_targets, register_target

QUICK = LatencySettings(warmup_s=0.01, window_s=0.03, min_rounds=4, instances=1)


def _artifacts(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(8, 4)).eval()
    x = torch.randn(32, 3, 8, 8)
    fp32 = export_artifact(model, QuantConfig(), x, tmp_path / "fp32.onnx", {})
    int8 = export_artifact(model, QuantConfig(weight_bits=8, activation_bits=8), x, tmp_path / "int8.onnx", {})
    return model, x, fp32.path, int8.path


def test_a_study_names_targets_or_defines_its_own():
    assert parse_targets(None) == (DEFAULT_TARGET,)
    mine = parse_targets(["openvino-cpu", {"name": "ort-2t", "runtime": "onnxruntime", "threads": 2}])
    assert [t.name for t in mine] == ["openvino-cpu", "ort-2t"] and mine[1].resolved_threads(1) == 2
    assert BUILTIN["ort-cpu"].resolved_threads(3) == 3  # the study's threads
    assert BUILTIN["ort-cpu-all-cores"].resolved_threads(1) >= 1


@pytest.mark.parametrize("raw, message", [
    (["tflite"], "unknown target 'tflite'"),
    (["ort-cpu", "ort-cpu"], "duplicate target"),
    ([{"name": "x", "runtime": "tvm"}], "'tvm' is not allowed"),
    ([{"name": "x", "runtime": "onnxruntime", "precision": "bf16"}], "only an openvino target"),
    ([{"name": "x", "runtime": "openvino", "threads": 0}], "threads"),
    ([{"name": "x", "runtime": "openvino", "speed": 1}], "unknown key"),
    ([{"name": "ort-cpu", "runtime": "onnxruntime", "threads": 4}], "already a target with other settings"),
    ([], "non-empty list"),
])
def test_a_bad_target_is_one_line_naming_what_is_wrong(raw, message):
    with pytest.raises(ConfigError, match=message) as err:
        parse_targets(raw)
    assert "\n" not in str(err.value)


def test_a_registered_target_is_nameable_but_cannot_shadow_a_builtin():
    register_target(Target("ort-cpu-3t", "onnxruntime", threads=3))
    assert parse_targets(["ort-cpu-3t"])[0].threads == 3
    with pytest.raises(ConfigError, match="built-in"):
        register_target(Target("openvino-cpu", "openvino"))


def test_every_cpu_target_scores_and_times_the_same_file(tmp_path):
    model, x, fp32, int8 = _artifacts(tmp_path)
    y = model(x).argmax(1)
    for name in ("ort-cpu", "ort-cpu-all-cores", "openvino-cpu-f32"):
        runtime = runtime_for(BUILTIN[name], 1)
        assert target_accuracy(runtime, fp32, x, y) == 1.0  # labels are the model's own predictions
        results = measure_interleaved([fp32, int8, fp32], (3, 8, 8), QUICK, BUILTIN[name])
        assert [r.target for r in results] == [name] * 3
        assert results[0].runtime.startswith(BUILTIN[name].runtime)
        assert 0.5 < results[2].ratio < 2.0  # the same file against itself
    threads = measure_interleaved([fp32], (3, 8, 8), QUICK, BUILTIN["ort-cpu-all-cores"])[0].threads
    assert threads == BUILTIN["ort-cpu-all-cores"].resolved_threads(1)


def test_openvino_logits_match_onnxruntime_at_f32_and_its_kernels_are_read_from_it(tmp_path):
    _, x, fp32, int8 = _artifacts(tmp_path)
    xs = x.numpy()
    ort_logits = runtime_for(DEFAULT_TARGET, 1).predict(fp32, xs)
    ov_logits = runtime_for(BUILTIN["openvino-cpu-f32"], 1).predict(fp32, xs)
    np.testing.assert_allclose(ov_logits, ort_logits, atol=1e-4)
    f32 = runtime_for(BUILTIN["openvino-cpu-f32"], 1)
    assert "Convolution x1 (f32)" in f32.kernels(fp32)
    assert "(u8)" in f32.kernels(int8) or "(i8)" in f32.kernels(int8)  # real integer kernels in the int8 file
    assert runtime_for(DEFAULT_TARGET, 1).kernels(fp32) is None  # ORT's account is the export's own


def test_a_file_a_runtime_cannot_run_is_one_line_naming_the_target(tmp_path):
    node = helper.make_node("Foo", ["x"], ["y"], domain="my.ops")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    path = tmp_path / "custom.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("my.ops", 1)]),
              path)
    for name in ("openvino-cpu", "ort-cpu"):
        with pytest.raises(TargetUnavailable, match=f"^{name}: ") as err:
            runtime_for(BUILTIN[name], 1).timed_call(path, (4,))
        assert "\n" not in str(err.value) and "src/" not in str(err.value)


def test_a_gpu_target_without_its_provider_is_refused_not_timed_on_the_cpu(tmp_path):
    _, _, fp32, _ = _artifacts(tmp_path)
    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime has CUDA: the GPU targets run (checked on a GPU machine)")
    for name in ("ort-cuda", "ort-tensorrt"):
        with pytest.raises(TargetUnavailable, match="has no"):
            runtime_for(BUILTIN[name], 1).timed_call(fp32, (3, 8, 8))


@pytest.mark.skipif("CUDAExecutionProvider" not in ort.get_available_providers(),
                    reason="no CUDA execution provider here (CPU onnxruntime or no GPU): the GPU targets are refused, "
                           "see the test above")
def test_gpu_targets_score_and_time_where_a_gpu_exists(tmp_path):
    model, x, fp32, int8 = _artifacts(tmp_path)
    y = model(x).argmax(1)
    for name in ("ort-cuda", "ort-tensorrt"):
        if BUILTIN[name].ort_provider not in ort.get_available_providers():
            continue
        runtime = runtime_for(BUILTIN[name], 1)
        assert target_accuracy(runtime, fp32, x, y) == 1.0
        results = measure_interleaved([fp32, int8], (3, 8, 8), QUICK, BUILTIN[name])
        assert results[1].runtime.endswith(BUILTIN[name].ort_provider) and results[1].ratio > 0

"""evaluate_candidate end to end on digits: real training, pruning, ONNX Runtime kernels."""

from __future__ import annotations

import pytest

from automl import CandidateConfig, evaluate_candidate, load_or_train_teacher
from automl.export import open_session
from automl.measure.accuracy import onnx_accuracy
from automl.data import load_dataset
from tests.conftest import candidate_dict


@pytest.fixture(scope="module")
def fp32(digits, tmp_path_factory):
    cfg = CandidateConfig.from_dict(candidate_dict())
    return evaluate_candidate(cfg, digits, workdir=tmp_path_factory.mktemp("fp32"))


def test_fp32_candidate_is_measured_on_its_artifact(fp32):
    import os

    assert fp32.accuracy > 0.9 and fp32.test_accuracy > 0.9
    assert fp32.size_bytes == os.path.getsize(fp32.artifact_path)
    assert fp32.latency_ms > 0 and fp32.latency["rounds"] >= 15 and fp32.latency["threads"] == 1
    assert fp32.macs > 0 and fp32.params_nonzero > 0
    assert not fp32.int8_kernels
    assert [h["phase"] for h in fp32.history] == ["train"] * 8


def test_export_load_evaluate_reproduces_reported_test_accuracy(fp32, digits):
    data = load_dataset(digits)
    session = open_session(fp32.artifact_path)
    assert abs(onnx_accuracy(session, data.x_test, data.y_test) - fp32.test_accuracy) <= 0.001


def test_int8_candidate_runs_real_int8_kernels_close_to_fp32(fp32, digits, tmp_path):
    cfg = CandidateConfig.from_dict(candidate_dict(quant={"weight_bits": 8, "activation_bits": 8, "mode": "ptq"}))
    res = evaluate_candidate(cfg, digits, workdir=tmp_path)
    assert res.int8_kernels
    assert abs(res.test_accuracy - fp32.test_accuracy) <= 0.015
    assert res.size_bytes < fp32.size_bytes


def test_same_config_gives_same_numbers(digits, tmp_path):
    cfg = CandidateConfig.from_dict(candidate_dict(train={"epochs": 2},
                                                   pruning={"ratio": 0.5, "granularity": "unstructured"}))
    a = evaluate_candidate(cfg, digits, workdir=tmp_path / "a")
    b = evaluate_candidate(cfg, digits, workdir=tmp_path / "b")
    assert (a.accuracy, a.test_accuracy, a.size_bytes, a.params_nonzero) == \
           (b.accuracy, b.test_accuracy, b.size_bytes, b.params_nonzero)


def test_all_techniques_together_with_a_teacher(digits, tmp_path, fp32):
    teacher = load_or_train_teacher(CandidateConfig.from_dict(candidate_dict(train={"epochs": 6})),
                                    digits, tmp_path / "teachers")
    cfg = CandidateConfig.from_dict(candidate_dict(
        pruning={"ratio": 0.5, "granularity": "channel", "finetune_epochs": 2},
        quant={"weight_bits": 4, "activation_bits": 32, "mode": "qat", "qat_epochs": 2},
        distill={"enabled": True, "alpha": 0.3, "temperature": 4.0}))
    res = evaluate_candidate(cfg, digits, workdir=tmp_path / "c", teacher=teacher)
    phases = [h["phase"] for h in res.history]
    assert phases.count("prune_finetune") == 2 and phases.count("qat") == 2
    assert res.macs < fp32.macs and res.params_nonzero < 0.6 * fp32.params_nonzero
    assert res.size_bytes < fp32.size_bytes / 6
    assert res.accuracy > 0.8
    assert "decoded from int4" in res.kernels


def test_distillation_without_teacher_is_a_clear_error(digits, tmp_path):
    cfg = CandidateConfig.from_dict(candidate_dict(distill={"enabled": True, "alpha": 0.5}))
    with pytest.raises(ValueError, match="needs a teacher"):
        evaluate_candidate(cfg, digits, workdir=tmp_path)


def test_layer_bits_the_model_cannot_take_fail_before_training(digits, tmp_path):
    from automl.config import ConfigError

    cfg = CandidateConfig.from_dict(candidate_dict(train={"epochs": 500},  # would take minutes
                                                   quant={"weight_bits": 8, "layer_bits": [4] * 20}))
    with pytest.raises(ConfigError, match="quant.layer_bits: has 20 entries"):
        evaluate_candidate(cfg, digits, workdir=tmp_path)
    assert not (tmp_path / "model.onnx").exists()

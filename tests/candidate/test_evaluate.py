"""evaluate_candidate end to end on digits: real training, pruning, ONNX Runtime kernels."""

from __future__ import annotations

import pytest

from automl import CandidateConfig, evaluate_candidate, load_or_train_teacher
from automl.data import load_dataset
from automl.measure.runtimes import runtime_for, target_accuracy
from automl.measure.targets import DEFAULT_TARGET
from tests.conftest import SMALL_CNN, candidate_dict


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
    rerun = target_accuracy(runtime_for(DEFAULT_TARGET, 1), fp32.artifact_path, data.x_test, data.y_test)
    assert abs(rerun - fp32.test_accuracy) <= 0.001


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


def test_weight_sharing_composes_with_pruning_distillation_and_int8_activations(digits, tmp_path, fp32):
    teacher = load_or_train_teacher(CandidateConfig.from_dict(candidate_dict(train={"epochs": 6})),
                                    digits, tmp_path / "teachers")
    cfg = CandidateConfig.from_dict(candidate_dict(
        pruning={"ratio": 0.5, "granularity": "unstructured", "finetune_epochs": 1},
        share={"clusters": 16, "finetune_epochs": 2},
        quant={"weight_bits": 8, "activation_bits": 8, "mode": "qat", "qat_epochs": 1},
        distill={"enabled": True, "alpha": 0.3, "temperature": 4.0}))
    res = evaluate_candidate(cfg, digits, workdir=tmp_path / "c", teacher=teacher)
    phases = [h["phase"] for h in res.history]
    assert phases.count("share_finetune") == 2 and phases.index("share_finetune") < phases.index("qat")
    assert res.encodings.get("shared") == 3 and res.int8_kernels  # every layer shared, int8 kernels run
    assert res.params_nonzero <= 0.55 * fp32.params_nonzero  # pruned zeros kept through sharing
    assert res.accuracy > 0.8
    assert "shared weights decoded" in res.kernels


def test_distillation_without_teacher_is_a_clear_error(digits, tmp_path):
    cfg = CandidateConfig.from_dict(candidate_dict(distill={"enabled": True, "alpha": 0.5}))
    with pytest.raises(ValueError, match="needs a teacher"):
        evaluate_candidate(cfg, digits, workdir=tmp_path)
    with pytest.raises(ValueError, match="needs a teacher"):
        evaluate_candidate(CandidateConfig.from_dict(candidate_dict(arch={**SMALL_CNN, "init": "teacher"})), digits,
                           workdir=tmp_path)


def test_a_candidate_from_the_teacher_starts_where_the_teacher_is(digits, tmp_path):
    from automl.config import ConfigError

    teacher = load_or_train_teacher(CandidateConfig.from_dict(candidate_dict(train={"epochs": 4})), digits,
                                    tmp_path / "teachers")
    arch = {**teacher.config.to_dict()["arch"], "init": "teacher"}
    as_is = evaluate_candidate(CandidateConfig.from_dict(candidate_dict(arch=arch, train={"epochs": 0})), digits,
                               workdir=tmp_path / "as_is", teacher=teacher)
    assert as_is.history == []  # nothing trained: the teacher's own weights, exported
    assert (as_is.accuracy, as_is.test_accuracy) == (teacher.result.accuracy, teacher.result.test_accuracy)
    pruned = {"train": {"epochs": 0}, "pruning": {"ratio": 0.5, "granularity": "channel", "finetune_epochs": 1}}
    warm = evaluate_candidate(CandidateConfig.from_dict(candidate_dict(arch=arch, **pruned)), digits,
                              workdir=tmp_path / "warm", teacher=teacher)
    cold = evaluate_candidate(CandidateConfig.from_dict(candidate_dict(**pruned)), digits, workdir=tmp_path / "cold")
    assert warm.params_nonzero == cold.params_nonzero < teacher.result.params_nonzero  # the same pruned shapes ...
    assert warm.accuracy > cold.accuracy + 0.1, (warm.accuracy, cold.accuracy)  # ... far ahead from the teacher
    other = {"family": "cnn", "choices": {"stages": 2, "widths": [8, 32]}, "init": "teacher"}
    with pytest.raises(ConfigError, match=r"arch\.init: 'teacher' needs the teacher's shapes"):
        evaluate_candidate(CandidateConfig.from_dict(candidate_dict(arch=other)), digits, workdir=tmp_path / "x",
                           teacher=teacher)


def test_layer_bits_the_model_cannot_take_fail_before_training(digits, tmp_path):
    from automl.config import ConfigError

    cfg = CandidateConfig.from_dict(candidate_dict(train={"epochs": 500},  # would take minutes
                                                   quant={"weight_bits": 8, "layer_bits": [4] * 20}))
    with pytest.raises(ConfigError, match="quant.layer_bits: has 20 entries"):
        evaluate_candidate(cfg, digits, workdir=tmp_path)
    assert not (tmp_path / "model.onnx").exists()

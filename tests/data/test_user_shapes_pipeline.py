"""User datasets of feature vectors (N,F) and signals (N,C,L) through evaluate_candidate:
train, prune, quantize, export, ONNX Runtime accuracy and latency, deploy metadata."""

from __future__ import annotations

import pytest

from automl import CandidateConfig, DatasetConfig, evaluate_candidate
from automl.config.errors import ConfigError
from automl.data import load_dataset
from automl.export.artifact import read_metadata
from automl.measure.runtimes import runtime_for, target_accuracy
from automl.measure.targets import DEFAULT_TARGET

FEATURES = "tests.data.user_dataset:load_features"
SIGNALS = "tests.data.user_dataset:load_signals"


def _candidate(family: str, choices: dict, **groups) -> CandidateConfig:
    return CandidateConfig.from_dict({"arch": {"family": family, "choices": choices},
                                      "train": {"epochs": 15, "batch_size": 32, "lr": 1e-2, "seed": 0}, **groups})


CHANNEL = {"ratio": 0.25, "granularity": "channel", "finetune_epochs": 1}
UNSTRUCTURED = {"ratio": 0.5, "granularity": "unstructured", "finetune_epochs": 1}
INT8 = {"weight_bits": 8, "activation_bits": 8}
QAT4 = {"weight_bits": 4, "activation_bits": 8, "mode": "qat", "qat_epochs": 1}


@pytest.mark.parametrize("name, family, choices, pruning, quant, int8_op", [
    (FEATURES, "mlp", {"layers": 1, "widths": [16]}, CHANNEL, INT8, "QGemm"),
    (SIGNALS, "cnn1d", {"stages": 2, "widths": [8, 8]}, CHANNEL, INT8, "QLinearConv"),
    (SIGNALS, "cnn1d", {"stages": 2, "widths": [8, 8]}, UNSTRUCTURED, QAT4, "QLinearConv"),
    (SIGNALS, "mlp", {"layers": 1, "widths": [16]}, UNSTRUCTURED, QAT4, "QGemm"),
])
def test_user_dataset_of_any_rank_is_a_candidate_end_to_end(name, family, choices, pruning, quant, int8_op,
                                                            tmp_path):
    dataset = DatasetConfig(name=name)
    data = load_dataset(dataset)
    cfg = _candidate(family, choices, pruning=pruning, quant=quant)
    result = evaluate_candidate(cfg, dataset, workdir=tmp_path)

    assert result.accuracy > 0.6 and result.test_accuracy > 0.6  # 3 classes: chance is 1/3
    assert result.int8_kernels and int8_op in result.kernels
    assert result.latency_ms > 0 and result.macs > 0
    rerun = target_accuracy(runtime_for(DEFAULT_TARGET, 1), result.artifact_path, data.x_test, data.y_test)
    assert abs(rerun - result.test_accuracy) <= 1e-9
    meta = read_metadata(result.artifact_path)
    assert meta["input_shape"] == list(data.input_shape) and meta["num_classes"] == 3
    assert len(meta["mean"]) == len(meta["std"]) == data.input_shape[0]
    assert meta["mean"] == [round(v, 6) for v in data.mean] and meta["std"] == [round(v, 6) for v in data.std]


def test_image_family_on_feature_vectors_fails_in_one_line(tmp_path):
    with pytest.raises(ConfigError) as err:
        evaluate_candidate(_candidate("cnn", {}), DatasetConfig(name=FEATURES), workdir=tmp_path)
    assert err.value.field == "input_shape"
    assert "family 'cnn' takes images (C, H, W), got (5,)" in err.value.message and "mlp" in err.value.message


def test_a_teacher_that_does_not_fit_the_dataset_is_named(tmp_path):
    from automl import load_or_train_teacher

    with pytest.raises(ConfigError) as err:
        load_or_train_teacher(_candidate("cnn", {}), DatasetConfig(name=FEATURES), tmp_path)
    assert err.value.field == "teacher.arch.family"
    assert "family 'cnn' takes images (C, H, W), got (5,)" in err.value.message
    assert not list(tmp_path.glob("teacher-*/result.json"))  # nothing was trained

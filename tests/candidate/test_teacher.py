from __future__ import annotations

import pytest

import automl.candidate.teacher as teacher_mod
from automl import CandidateConfig, ConfigError, load_or_train_teacher
from tests.conftest import candidate_dict


def test_teacher_is_cached_and_reused(digits, tmp_path, monkeypatch):
    cfg = CandidateConfig.from_dict(candidate_dict(train={"epochs": 2}))
    first = load_or_train_teacher(cfg, digits, tmp_path)

    def no_training(*args, **kwargs):
        raise AssertionError("the cached teacher was trained again")

    monkeypatch.setattr(teacher_mod, "compress_model", no_training)
    second = load_or_train_teacher(cfg, digits, tmp_path)
    assert second.key == first.key
    assert second.result == first.result
    for a, b in zip(first.model.state_dict().values(), second.model.state_dict().values()):
        assert (a == b).all()


def test_cache_key_depends_on_config_and_dataset(digits):
    from automl.data import DatasetConfig

    a = CandidateConfig.from_dict(candidate_dict(train={"epochs": 2}))
    b = CandidateConfig.from_dict(candidate_dict(train={"epochs": 3}))
    assert teacher_mod.teacher_key(a, digits) != teacher_mod.teacher_key(b, digits)
    assert teacher_mod.teacher_key(a, digits) != teacher_mod.teacher_key(a, DatasetConfig(name="digits", seed=1))


def test_compressed_teacher_is_rejected(digits, tmp_path):
    cfg = CandidateConfig.from_dict(candidate_dict(quant={"weight_bits": 8}))
    with pytest.raises(ConfigError, match="teacher.quant"):
        load_or_train_teacher(cfg, digits, tmp_path)
    with pytest.raises(ConfigError, match="teacher.arch.init: a teacher is trained from scratch"):
        load_or_train_teacher(CandidateConfig.from_dict(candidate_dict(arch={"init": "teacher"})), digits, tmp_path)

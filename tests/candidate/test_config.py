"""CandidateConfig's ``arch.init`` and how a teacher-initialised candidate's arch is completed."""

from __future__ import annotations

import pytest

from automl.candidate.config import CandidateConfig, with_teacher_arch
from automl.config import ConfigError

TEACHER_ARCH = {"family": "mobilenet_v2", "choices": {"width_mult": 1.0, "depths": [1] * 7, "expansion": 6,
                                                      "cifar_strides": True}, "init": "scratch"}


def test_init_defaults_to_scratch_and_round_trips():
    assert CandidateConfig().arch.init == "scratch" and not CandidateConfig().needs_teacher
    cfg = CandidateConfig.from_dict({"arch": {**TEACHER_ARCH, "init": "teacher"}})
    assert cfg.needs_teacher and CandidateConfig.from_dict(cfg.to_dict()) == cfg


def test_an_unknown_init_is_a_one_line_error():
    with pytest.raises(ConfigError, match=r"arch\.init: .*'pretrained'.*scratch, teacher"):
        CandidateConfig.from_dict({"arch": {"init": "pretrained"}})


def test_a_teacher_initialised_candidate_takes_the_teachers_family_and_unset_choices():
    sampled = {"arch": {"init": "teacher", "choices": {"cifar_strides": False}}, "pruning": {"ratio": 0.75}}
    done = with_teacher_arch(sampled, TEACHER_ARCH)
    cfg = CandidateConfig.from_dict(done)
    assert cfg.arch.family == "mobilenet_v2" and cfg.arch.init == "teacher"
    assert cfg.arch.choices["width_mult"] == 1.0 and cfg.arch.choices["cifar_strides"] is False  # sampled wins
    assert sampled["arch"] == {"init": "teacher", "choices": {"cifar_strides": False}}  # not mutated


def test_other_candidates_are_left_alone():
    sampled = {"arch": {"family": "cnn", "choices": {"stages": 2}}}
    assert with_teacher_arch(sampled, TEACHER_ARCH) is sampled
    assert with_teacher_arch({"quant": {"weight_bits": 8}}, None) == {"quant": {"weight_bits": 8}}


def test_another_family_or_no_teacher_is_refused():
    with pytest.raises(ConfigError, match=r"arch\.family: 'cnn' with init: teacher, but the teacher is 'mobilenet_v2'"):
        with_teacher_arch({"arch": {"init": "teacher", "family": "cnn"}}, TEACHER_ARCH)
    with pytest.raises(ConfigError, match=r"arch\.init: 'teacher' needs the study's teacher"):
        with_teacher_arch({"arch": {"init": "teacher"}}, None)


def test_weight_sharing_off_leaves_the_recorded_config_and_digest_as_before_the_knob() -> None:
    off = CandidateConfig.from_dict({"quant": {"weight_bits": 8}})
    assert "share" not in off.to_dict()  # old studies' configs, digests and teacher cache keys hold
    on = CandidateConfig.from_dict({"quant": {"weight_bits": 8}, "share": {"clusters": 16}})
    assert on.to_dict()["share"]["clusters"] == 16 and on.digest() != off.digest()
    assert CandidateConfig.from_dict(on.to_dict()) == on


@pytest.mark.parametrize("share", [{"clusters": 2}, {"layer_clusters": [16, 2]}, {"edge_clusters": 2}])
def test_two_shared_values_beside_unstructured_pruning_are_refused(share) -> None:
    # zero is one of a pruned layer's k values: with k = 2 every surviving weight would get the
    # one value left, its sign lost (a [16, 16] net fell to chance accuracy that way)
    with pytest.raises(ConfigError, match=r"^share: k = 2 beside unstructured pruning"):
        CandidateConfig.from_dict({"pruning": {"ratio": 0.3}, "share": share})
    assert CandidateConfig.from_dict({"pruning": {"ratio": 0.3, "granularity": "channel"}, "share": share}).share.enabled
    assert CandidateConfig.from_dict({"share": share}).share.enabled
    three = {key: [3 if k == 2 else k for k in v] if isinstance(v, list) else 3 for key, v in share.items()}
    assert CandidateConfig.from_dict({"pruning": {"ratio": 0.3}, "share": three}).share.enabled

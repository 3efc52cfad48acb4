"""The shipped 32x32 workload: its study file and spaces load, validate and contain the goal point."""

from __future__ import annotations

from pathlib import Path

import optuna

from automl.candidate.config import CandidateConfig, with_teacher_arch
from automl.space.search_space import load_space
from automl.study.config import load_study

REPO = Path(__file__).resolve().parents[2]
STUDY = REPO / "studies" / "digits32_mobilenet.yaml"
SPACE = REPO / "search_spaces" / "digits32_teacher_or_student.yaml"
FROM_TEACHER = REPO / "search_spaces" / "mobilenet32_from_teacher.yaml"
JOINT = REPO / "search_spaces" / "mobilenet32_joint.yaml"

optuna.logging.set_verbosity(optuna.logging.WARNING)

# The goal point of benchmarks/RESULTS.md, issue 22 (>= 10x faster, >= 20x smaller than the
# teacher within 1 pt of its test accuracy), as Optuna parameters of the study's space: a
# 4-stage CNN student distilled from the teacher (8 epochs, int8 weights decoded at load).
GOAL_PARAMS = {"arch.family": "cnn", "arch.choices.widths.0": 64, "arch.choices.widths.1": 8,
               "arch.choices.widths.2": 8, "arch.choices.widths.3": 32, "arch.choices.kernel_size": 3,
               "share.clusters": 0, "distill.alpha": 0.5, "distill.temperature": 4.0}


def _sample(space_path: Path, n: int):
    """``n`` candidates of a space, completed as the dispatcher completes them."""
    study_cfg = load_study(STUDY)
    teacher_arch = study_cfg.teacher.to_dict()["arch"]
    space, study = load_space(space_path), optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(n):
        trial = study.ask()
        yield CandidateConfig.from_dict(with_teacher_arch(space.suggest(trial, study_cfg.base_candidate()),
                                                          teacher_arch)), teacher_arch
        study.tell(trial, 0.0)


def test_study_file_loads_the_builtin_32x32_workload():
    cfg = load_study(STUDY)
    assert cfg.name == "digits32_mobilenet" and cfg.dataset.name == "digits32"
    assert Path(cfg.space_path) == SPACE and cfg.space.name == "digits32_teacher_or_student"
    assert cfg.objective_names == ["accuracy", "size_bytes", "latency_ms"] and cfg.concurrency == 2
    teacher = cfg.teacher  # a plain, uncompressed CIFAR-style MobileNetV2 at width 1.0
    assert teacher.arch.family == "mobilenet_v2" and teacher.arch.choices["cifar_strides"] is True
    assert teacher.arch.choices["width_mult"] == 1.0 and teacher.arch.init == "scratch"
    assert not (teacher.pruning.enabled or teacher.quant.enabled or teacher.distill.enabled)


def test_study_space_is_the_pruned_int8_teacher_or_a_small_distilled_cnn():
    kinds, widths = set(), set()
    for cfg, teacher_arch in _sample(SPACE, 80):
        assert cfg.distill.enabled and cfg.quant.weight_bits == 8 and cfg.quant.mode == "qat"
        if cfg.arch.family == "mobilenet_v2":  # the teacher's layers, pruned, int8 kernels
            assert cfg.arch.init == "teacher" and cfg.train.epochs == 0
            assert cfg.arch.choices == {**teacher_arch["choices"], "cifar_strides": cfg.arch.choices["cifar_strides"]}
            assert cfg.pruning.granularity == "channel" and cfg.quant.activation_bits == 8
            assert not cfg.share.enabled
        else:  # a 4-stage CNN student trained from scratch with the teacher's soft labels
            assert cfg.arch.family == "cnn" and cfg.arch.init == "scratch" and cfg.train.epochs == 8
            assert cfg.arch.choices["stages"] == 4 and not cfg.pruning.enabled
            assert cfg.quant.activation_bits == 32 and cfg.share.clusters in (0, 16)
            widths.add(tuple(cfg.arch.choices["widths"]))
        kinds.add((cfg.arch.family, cfg.share.enabled))
    assert kinds == {("mobilenet_v2", False), ("cnn", False), ("cnn", True)} and len(widths) > 10


def test_teacher_only_space_compresses_the_trained_teacher_into_int8_kernels():
    seen = set()
    for cfg, teacher_arch in _sample(FROM_TEACHER, 60):
        assert cfg.arch.init == "teacher" and cfg.train.epochs == 0  # nothing trained from scratch
        strides = cfg.arch.choices["cifar_strides"]
        assert cfg.arch.choices == {**teacher_arch["choices"], "cifar_strides": strides}  # the teacher's layers
        assert (cfg.pruning.granularity, cfg.pruning.round_to) == ("channel", 8)
        assert (cfg.quant.weight_bits, cfg.quant.activation_bits, cfg.quant.mode) == (8, 8, "qat")
        assert cfg.distill.enabled
        seen.add((cfg.pruning.ratio, strides))
    assert len(seen) == 6  # every pruning ratio with either strides is reachable


def test_joint_space_offers_only_compression_that_onnx_runtime_turns_into_time():
    seen = set()
    for cfg, teacher_arch in _sample(JOINT, 200):
        if cfg.pruning.enabled:
            assert cfg.pruning.granularity == "channel"  # unstructured sparsity keeps dense kernels
        assert (cfg.quant.weight_bits, cfg.quant.activation_bits) in {(8, 8), (32, 32)}  # QLinearConv or fp32
        if cfg.arch.init == "teacher":  # the teacher's layers (strides aside), trained already
            assert cfg.train.epochs == 0
            assert cfg.arch.choices == {**teacher_arch["choices"], "cifar_strides": cfg.arch.choices["cifar_strides"]}
        else:
            assert cfg.train.epochs > 0 and cfg.arch.choices["width_mult"] <= 0.5
        seen.add((cfg.arch.init, cfg.pruning.enabled, cfg.quant.weight_bits, cfg.arch.choices["cifar_strides"]))
    assert len(seen) == 16  # every combination of init x channel pruning x int8 x strides is reachable


def test_goal_point_is_in_the_space():
    space = load_space(SPACE)
    cand = CandidateConfig.from_dict(space.suggest(optuna.trial.FixedTrial(GOAL_PARAMS),
                                                   load_study(STUDY).base_candidate()))
    assert cand.arch.family == "cnn" and cand.arch.choices["widths"] == [64, 8, 8, 32]
    assert cand.train.epochs == 8 and cand.distill.needs_teacher
    assert (cand.quant.weight_bits, cand.quant.activation_bits, cand.quant.mode) == (8, 32, "qat")

"""The shipped 32x32 workload: its study file and spaces load, validate and contain the goal point."""

from __future__ import annotations

from pathlib import Path

import optuna

from automl.candidate.config import CandidateConfig, with_teacher_arch
from automl.space.search_space import load_space
from automl.study.config import load_study

REPO = Path(__file__).resolve().parents[2]
STUDY = REPO / "studies" / "digits32_mobilenet.yaml"
SPACE = REPO / "search_spaces" / "mobilenet32_from_teacher.yaml"
JOINT = REPO / "search_spaces" / "mobilenet32_joint.yaml"

optuna.logging.set_verbosity(optuna.logging.WARNING)

# The point of README "The 32x32 workload" (>= 5x faster, >= 10x smaller than the teacher
# within 1 pt of its test accuracy), as Optuna parameters of the study's space: the trained
# teacher, 75 % of its channels pruned, CIFAR strides kept (int8 QAT and distillation are fixed).
GOAL_PARAMS = {"arch.choices.cifar_strides": True, "pruning.ratio": 0.75,
               "distill.alpha": 0.5, "distill.temperature": 4.0}


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
    assert Path(cfg.space_path) == SPACE and cfg.space.name == "mobilenet32_from_teacher"
    assert cfg.objective_names == ["accuracy", "size_bytes", "latency_ms"] and cfg.concurrency == 2
    teacher = cfg.teacher  # a plain, uncompressed CIFAR-style MobileNetV2 at width 1.0
    assert teacher.arch.family == "mobilenet_v2" and teacher.arch.choices["cifar_strides"] is True
    assert teacher.arch.choices["width_mult"] == 1.0 and teacher.arch.init == "scratch"
    assert not (teacher.pruning.enabled or teacher.quant.enabled or teacher.distill.enabled)


def test_study_space_compresses_the_trained_teacher_into_int8_kernels():
    seen = set()
    for cfg, teacher_arch in _sample(SPACE, 60):
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
    params = {p.path: p for p in space.params}
    for name, value in GOAL_PARAMS.items():
        p = params[name]
        if p.kind == "categorical":
            assert value in p.values, name
        else:
            assert p.low <= value <= p.high, name
    teacher_arch = load_study(STUDY).teacher.to_dict()["arch"]
    cand = CandidateConfig.from_dict(with_teacher_arch(space.suggest(optuna.trial.FixedTrial(GOAL_PARAMS)),
                                                       teacher_arch))
    assert cand.arch.init == "teacher" and cand.arch.choices == teacher_arch["choices"] and cand.train.epochs == 0
    assert (cand.quant.weight_bits, cand.quant.activation_bits, cand.quant.mode) == (8, 8, "qat")
    assert (cand.pruning.ratio, cand.pruning.round_to) == (0.75, 8) and cand.distill.needs_teacher

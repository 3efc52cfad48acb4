"""The shipped 32x32 workload: its study file and space load, validate and contain the goal point."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from automl.config import CandidateConfig
from automl.search.space import load_space
from automl.study.config import load_study

REPO = Path(__file__).resolve().parents[2]
STUDY = REPO / "studies" / "digits32_mobilenet.yaml"
SPACE = REPO / "search_spaces" / "mobilenet32_joint.yaml"

optuna.logging.set_verbosity(optuna.logging.WARNING)

# The hand-picked point of README "The 32x32 workload" (>= 5x faster, >= 10x smaller than the
# teacher within 1 pt of its test accuracy), as Optuna parameters of the space.
GOAL_PARAMS = {
    "arch.choices.width_mult": 0.5, "arch.choices.expansion": 4, "arch.choices.cifar_strides": False,
    **{f"arch.choices.depths.{i}": 1 for i in range(7)},
    "pruning.ratio": 0.0, "quant.weight_bits": 8, "quant.mode": "qat",
    "distill.enabled": True, "distill.alpha": 0.5, "distill.temperature": 4.0,
}


def test_study_file_loads_the_builtin_32x32_workload():
    cfg = load_study(STUDY)
    assert cfg.name == "digits32_mobilenet" and cfg.dataset_config().name == "digits32"
    assert Path(cfg.space_path) == SPACE and cfg.space.name == "mobilenet32_joint"
    assert cfg.objective_names == ["accuracy", "size_bytes", "latency_ms"] and cfg.concurrency == 2
    teacher = cfg.teacher_config()  # a plain, uncompressed CIFAR-style MobileNetV2 at width 1.0
    assert teacher.arch.family == "mobilenet_v2" and teacher.arch.choices["cifar_strides"] is True
    assert teacher.arch.choices["width_mult"] == 1.0
    assert not (teacher.pruning.enabled or teacher.quant.enabled or teacher.distill.enabled)


def test_space_offers_only_compression_that_onnx_runtime_turns_into_time():
    space = load_space(SPACE)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    base, seen = load_study(STUDY).base_candidate(), set()
    for _ in range(150):
        trial = study.ask()
        cfg = CandidateConfig.from_dict(space.suggest(trial, base))
        if cfg.pruning.enabled:
            assert cfg.pruning.granularity == "channel"  # unstructured sparsity keeps dense kernels
        assert (cfg.quant.weight_bits, cfg.quant.activation_bits) in {(8, 8), (32, 32)}  # QLinearConv or fp32
        seen.add((cfg.pruning.enabled, cfg.quant.weight_bits, cfg.arch.choices["cifar_strides"]))
        study.tell(trial, 0.0)
    assert len(seen) == 8  # every combination of channel pruning x int8 x strides is reachable


def test_goal_point_is_in_the_space():
    space = load_space(SPACE)
    params = {p.path: p for p in space.params}
    for name, value in GOAL_PARAMS.items():
        p = params[name.rsplit(".", 1)[0] if name.startswith("arch.choices.depths.") else name]
        if p.kind == "categorical":
            assert value in p.values, name
        else:
            assert p.low <= value <= p.high and (not p.step or round((value - p.low) / p.step, 9).is_integer()), name
    cand = CandidateConfig.from_dict(space.suggest(optuna.trial.FixedTrial(GOAL_PARAMS)))
    assert cand.arch.choices["depths"] == [1] * 7 and cand.arch.choices["width_mult"] == 0.5
    assert (cand.quant.weight_bits, cand.quant.activation_bits, cand.quant.mode) == (8, 8, "qat")
    assert not cand.pruning.enabled and cand.distill.needs_teacher

"""The teacher: trained once per (teacher config, dataset), cached on disk, reused by every
candidate, and measured exactly like a candidate so every ratio has a baseline.

Cache layout (``<cache_dir>/teacher-<key>/``): ``weights.pt`` (a plain state dict, loaded with
``weights_only=True``), ``model.onnx`` (its fp32 artifact) and ``result.json``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from filelock import FileLock
from torch import nn

from automl.candidate.config import CandidateConfig
from automl.candidate.evaluate import compress_model, measure_model
from automl.candidate.hooks import TrialHooks
from automl.candidate.result import CandidateResult
from automl.candidate.timer import PhaseTimer
from automl.config import ConfigError
from automl.data import DatasetConfig, load_dataset
from automl.measure.latency import FINAL
from automl.models.registry import check_rank, create_model

CACHE_VERSION = 2  # bump when training or measurement changes, to invalidate old teachers


@dataclass
class Teacher:
    config: CandidateConfig
    model: nn.Module  # eval mode, fp32
    result: CandidateResult  # same measurements as a candidate
    key: str


def teacher_key(config: CandidateConfig, dataset: DatasetConfig) -> str:
    blob = json.dumps({"teacher": config.to_dict(), "dataset": dataset.to_dict(),
                       "version": CACHE_VERSION}, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def check_teacher_config(config: CandidateConfig) -> CandidateConfig:
    """A teacher is an uncompressed network: reject compression or distillation settings."""
    if config.arch.init != "scratch":
        raise ConfigError("teacher.arch.init", "a teacher is trained from scratch; remove the init setting")
    if config.pruning.enabled:
        raise ConfigError("teacher.pruning", "a teacher is not pruned; remove the pruning settings")
    if config.quant.enabled:
        raise ConfigError("teacher.quant", "a teacher is not quantized; remove the quant settings")
    if config.share.enabled:
        raise ConfigError("teacher.share", "a teacher's weights are not shared; remove the share settings")
    if config.distill.enabled:
        raise ConfigError("teacher.distill", "a teacher is not distilled; remove the distill settings")
    return config


def load_or_train_teacher(config: CandidateConfig, dataset: DatasetConfig, cache_dir: str | Path,
                          hooks: TrialHooks | None = None, threads: int = 1) -> Teacher:
    """The cached teacher for ``(config, dataset)``, training and measuring it on a miss.

    Safe to call from several processes at once: a file lock makes one of them train.
    """
    check_teacher_config(config)
    key = teacher_key(config, dataset)
    folder = Path(cache_dir) / f"teacher-{key}"
    folder.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder) + ".lock"):
        data = load_dataset(dataset)
        try:
            check_rank(config.arch.family, data.input_shape)
        except ConfigError as err:  # say that it is the teacher that does not fit the dataset
            raise ConfigError("teacher.arch.family", f"{err.message}; the teacher must take the dataset's "
                                                     "input shape") from None
        if (folder / "result.json").exists():
            model = create_model(config.arch.family, config.arch.choices,
                                 num_classes=data.num_classes, input_shape=data.input_shape)
            model.load_state_dict(torch.load(folder / "weights.pt", weights_only=True))
            result = CandidateResult.from_dict(json.loads((folder / "result.json").read_text()))
            return Teacher(config, model.eval(), result, key)
        hooks = hooks or TrialHooks()
        timer = PhaseTimer()
        model, history = compress_model(config, data, None, hooks, timer)
        result = measure_model(model, config, data, folder, hooks=hooks, threads=threads, history=history,
                               timer=timer, latency=replace(FINAL, threads=threads))
        torch.save(model.state_dict(), folder / "weights.pt")
        (folder / "result.json").write_text(json.dumps(result.to_dict(), indent=1))
        return Teacher(config, model.eval(), result, key)

"""One candidate, end to end: build -> (distill-)train -> prune (+recover) -> share weights
(+ train the shared values) -> quantize -> export -> measure. This is the function the search engine calls once per trial.

Example:
    >>> from automl import CandidateConfig, DatasetConfig, evaluate_candidate
    >>> cfg = CandidateConfig.from_dict({"quant": {"weight_bits": 8, "activation_bits": 8}})
    >>> result = evaluate_candidate(cfg, DatasetConfig("digits"), workdir="/tmp/cand")  # doctest: +SKIP
    >>> result.accuracy, result.size_bytes, result.latency_ms  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Protocol

import torch
from torch import nn

from automl.candidate.config import CandidateConfig
from automl.candidate.hooks import TrialHooks
from automl.candidate.probe import probe_accuracy, probe_objectives
from automl.candidate.result import CandidateResult, TargetResult
from automl.candidate.timer import PhaseTimer
from automl.candidate.training import train_epochs
from automl.data import DatasetConfig, DatasetSplits, load_dataset
from automl.export import export_artifact
from automl.measure.complexity import count_macs, count_params_nonzero
from automl.measure.latency import LatencySettings
from automl.measure.runtimes import TargetUnavailable, runtime_for, target_accuracy
from automl.measure.targets import DEFAULT_TARGET, Target
from automl.models.inherit import inherit_weights
from automl.models.registry import create_model
from automl.pruning import prune_structure
from automl.quantization.bits import layer_bit_widths
from automl.quantization.ptq import quantize_weights_
from automl.quantization.qat import finalize_qat, prepare_qat
from automl.sharing import finalize_sharing, layer_clusters, share_weights

ARTIFACT_NAME = "model.onnx"
CALIBRATION_SAMPLES = 256  # training samples ORT calibrates activation ranges on (PTQ and QAT)
FINETUNE_LR_FACTOR = 1 / 3  # recovery and QAT phases train at lr / 3


class TrainedTeacher(Protocol):
    """What a candidate uses of the study's teacher (:class:`automl.candidate.teacher.Teacher` is one)."""

    model: nn.Module


def evaluate_candidate(candidate: CandidateConfig, dataset: DatasetConfig | DatasetSplits, *,
                       workdir: str | Path, teacher: TrainedTeacher | None = None,
                       hooks: TrialHooks | None = None, threads: int = 1,
                       device: str = "cpu", targets: tuple[Target, ...] = (DEFAULT_TARGET,)) -> CandidateResult:
    """Train, compress, export and measure one candidate.

    Args:
        candidate: what to build and how to compress it.
        dataset: a dataset config (loaded, cached per process) or already-loaded splits.
        workdir: folder for the exported artifact (``model.onnx``).
        teacher: the trained teacher; required when ``candidate.needs_teacher`` (distillation,
            or ``arch.init: teacher``).
        hooks: per-epoch reporting and timing isolation (see :class:`TrialHooks`).
        threads: intra-op threads of the timed runtime (training uses the caller's torch setting).
        device: where training runs ("cpu", "cuda"); export is on CPU, accuracy and timing on
            each deployment target.
        targets: the deployment targets (:mod:`automl.measure.targets`); the first is the
            primary one, whose figures are the result's ``accuracy`` and ``latency_ms``.

    Returns:
        Measurements of the exported artifact; validation accuracy is the search metric.
    """
    hooks = hooks or TrialHooks()
    data = load_dataset(dataset) if isinstance(dataset, DatasetConfig) else dataset
    if candidate.needs_teacher and teacher is None:
        raise ValueError("this candidate needs a teacher (distill.enabled with alpha < 1, or arch.init: teacher): "
                         "pass teacher=")
    timer = PhaseTimer()
    model, history = compress_model(candidate, data, teacher.model if teacher else None, hooks, timer, device,
                                    threads=threads, targets=targets)
    return measure_model(model, candidate, data, Path(workdir), hooks=hooks, threads=threads,
                         history=history, timer=timer, targets=targets)


def compress_model(candidate: CandidateConfig, data: DatasetSplits, teacher: nn.Module | None,
                   hooks: TrialHooks, timer: "PhaseTimer", device: str = "cpu",
                   threads: int = 1, targets: tuple[Target, ...] = (DEFAULT_TARGET,)) -> tuple[nn.Module, list[dict]]:
    """Build and train the candidate, then prune and quantize it (returned on the CPU)."""
    cfg = candidate
    torch.manual_seed(cfg.train.seed)
    model = create_model(cfg.arch.family, cfg.arch.choices, num_classes=data.num_classes,
                         input_shape=data.input_shape)
    if cfg.arch.init == "teacher":
        if teacher is None:
            raise ValueError("arch.init: teacher needs the teacher: pass teacher=")
        inherit_weights(model, teacher)
    model = model.to(device)
    layer_bit_widths(model, cfg.quant)  # a layer_bits list the model cannot take fails now, not after training
    layer_clusters(model, cfg.share)
    if teacher is not None:
        teacher.to(device).eval()
    finetune_lr = cfg.train.lr * FINETUNE_LR_FACTOR
    hooks.bind_probe(lambda built=model: probe_objectives(built, cfg, data, hooks, threads, deploy_metadata(data),
                                                          timer, targets), cfg.train.epochs,
                     lambda built=model: probe_accuracy(built, cfg, data, teacher, finetune_lr, timer, hooks))
    val = (data.x_val, data.y_val)
    fit = dict(train=cfg.train, distill=cfg.distill, teacher=teacher, val=val, hooks=hooks)
    with timer("train"):
        history = train_epochs(model, data.x_train, data.y_train, epochs=cfg.train.epochs,
                               lr=cfg.train.lr, phase="train", **fit)
    masks = None
    if cfg.pruning.enabled:
        with timer("prune"), hooks.compute():
            model, masks = prune_structure(model, cfg.pruning, data.x_train[:1].to(device))
        with timer("prune_finetune"):
            history += train_epochs(model, data.x_train, data.y_train, epochs=cfg.pruning.finetune_epochs,
                                    lr=finetune_lr, phase="prune_finetune", seed_offset=1, **fit)
    if cfg.share.enabled:
        with timer("share"):
            with hooks.compute():
                share_weights(model, cfg.share, seed=cfg.train.seed)
            history += train_epochs(model, data.x_train, data.y_train, epochs=cfg.share.finetune_epochs,
                                    lr=finetune_lr, phase="share_finetune", seed_offset=3, **fit)
            finalize_sharing(model)  # shared weights are frozen from here on: QAT trains the rest
    with timer("quantize"):
        if cfg.quant.mode == "qat" and cfg.quant.integer_weights:
            prepare_qat(model, cfg.quant)
            history += train_epochs(model, data.x_train, data.y_train, epochs=cfg.quant.qat_epochs,
                                    lr=finetune_lr, phase="qat", seed_offset=2, **fit)
            finalize_qat(model)
        else:
            with hooks.compute():
                quantize_weights_(model, cfg.quant)
    if masks is not None:
        masks.reapply(model)
    model = model.cpu().eval()
    return model, history


def measure_model(model: nn.Module, candidate: CandidateConfig, data: DatasetSplits, workdir: Path, *,
                  hooks: TrialHooks, threads: int, history: list[dict] | None = None,
                  timer: "PhaseTimer | None" = None, latency: LatencySettings | None = None,
                  targets: tuple[Target, ...] = (DEFAULT_TARGET,)) -> CandidateResult:
    """Export ``model`` as the deployable artifact and measure that artifact on every target.

    The primary target (``targets[0]``) must run it (else :class:`TargetUnavailable`, the
    candidate fails with the runtime's one-line error); another target that cannot is recorded
    with that error and no figures."""
    timer = timer or PhaseTimer()
    workdir.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(candidate.train.seed)
    calib = data.x_train[torch.randperm(len(data.x_train), generator=gen)[:CALIBRATION_SAMPLES]]
    with timer("export"), hooks.compute():
        info = export_artifact(model, candidate.quant, calib, workdir / ARTIFACT_NAME, deploy_metadata(data))
    with timer("evaluate"), hooks.compute():
        macs = count_macs(model, data.input_shape)
        nonzero = count_params_nonzero(model)
    settings = latency or LatencySettings(threads=threads)
    on = {}
    for i, target in enumerate(targets):
        try:
            on[target.name] = measure_on_target(target, info.path, data, hooks, settings, timer, info.kernels)
        except TargetUnavailable as err:
            if i == 0:
                raise
            on[target.name] = TargetResult(error=str(err))
    first = on[targets[0].name]
    return CandidateResult(
        accuracy=first.accuracy, test_accuracy=first.test_accuracy, size_bytes=info.size_bytes,
        latency_ms=first.latency_ms, latency_ratio=first.latency_ratio, params_nonzero=nonzero, macs=macs,
        kernels=first.kernels or info.kernels, int8_kernels=info.int8_kernels, latency={**first.latency, **hooks.info()},
        artifact_path=str(info.path), encodings=dict(info.encodings), history=list(history or []),
        phase_seconds=dict(timer.seconds), targets=on)


def measure_on_target(target: Target, path: Path, data: DatasetSplits, hooks: TrialHooks,
                      settings: LatencySettings, timer: PhaseTimer, onnx_kernels: str) -> TargetResult:
    """Validation and test accuracy of the artifact run by ``target``'s runtime, and its latency
    there (timed by ``hooks``, interleaved with the teacher on the same target)."""
    runtime = runtime_for(target, settings.threads)
    with timer("evaluate"), hooks.compute():
        val_acc = target_accuracy(runtime, path, data.x_val, data.y_val)
        test_acc = target_accuracy(runtime, path, data.x_test, data.y_test)
        kernels = runtime.kernels(path) or onnx_kernels
    with timer("latency"):
        lat = hooks.measure_latency(path, data.input_shape, settings, target)
    return TargetResult(accuracy=val_acc, test_accuracy=test_acc, latency_ms=lat.latency_ms,
                        latency_ratio=lat.ratio, kernels=kernels, runtime=lat.runtime,
                        latency=dataclasses.asdict(lat))


def deploy_metadata(data: DatasetSplits) -> dict:
    """What a user needs to run the artifact, stored in it (compact; the candidate's config
    lives in MLflow and beside an exported file, not in the deployable bytes).

    ``input_shape`` is one sample's shape, ``(F,)``, ``(C, L)`` or ``(C, H, W)``; ``mean`` and
    ``std`` have one entry per index of its first axis (channel, or feature for ``(F,)``):
    the model's input is ``(x - mean) / std`` broadcast along that axis."""
    return {"input_shape": list(data.input_shape), "num_classes": data.num_classes,
            "mean": [round(float(v), 6) for v in data.mean], "std": [round(float(v), 6) for v in data.std]}

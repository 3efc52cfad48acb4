"""The size, latency and accuracy a candidate will have, estimated long before it finishes training.

Bytes on disk and latency are fixed by the architecture, the pruning ratio and the bit
widths, not by how well the weights are trained. Multi-objective early stopping
(:mod:`automl.study.mo_asha`) needs them before training (its screen) and at every rung, so
a copy of the model is compressed the way the candidate will be (pruned without recovery, weights
shared without training, quantized post-training), exported as the same ONNX artifact, and that file is weighed and timed like
the final one. The figures are the final ones up to what depends on trained values (the
sparse encoding's share of zeros, calibrated activation ranges): close, not equal, and only
used to screen and rank candidates, never reported as the candidate's result.

Accuracy is the one figure that changes while the candidate trains, and what the search
needs is the *deployed* candidate's, not the uncompressed network's: a network that trains
to 97 % can fall to 20 % once 75 % of its channels are removed, and on training accuracy alone
such a candidate, small and seemingly accurate, would pass every rung. :func:`probe_accuracy`
compresses a copy at each rung the way the candidate will be compressed, with the part of the
recovery the candidate is sure to get (its first recovery epoch), and scores that copy.
"""

from __future__ import annotations

import copy
import tempfile
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

from automl.candidate.config import CandidateConfig
from automl.candidate.hooks import TrialHooks
from automl.candidate.timer import PhaseTimer
from automl.candidate.training import accuracy, train_epochs
from automl.data import DatasetSplits
from automl.export import export_artifact
from automl.measure.complexity import count_macs, count_params_nonzero
from automl.measure.latency import PROBE
from automl.measure.runtimes import TargetUnavailable
from automl.measure.targets import DEFAULT_TARGET, Target
from automl.pruning import prune_structure
from automl.quantization.ptq import quantize_weights_
from automl.sharing import finalize_sharing, share_weights

PROBE_CALIBRATION = 32  # training samples for the probe's int8 calibration (ranges only shape the file a little)


def probe_objectives(model: nn.Module, candidate: CandidateConfig, data: DatasetSplits, hooks: TrialHooks,
                     threads: int, deploy_metadata: dict, timer: PhaseTimer,
                     targets: tuple[Target, ...] = (DEFAULT_TARGET,)) -> dict[str, float]:
    """``size_bytes``, ``latency_ms``, ``params_nonzero`` and ``macs`` of ``model`` compressed as
    ``candidate`` says (``model`` itself is untouched), and ``latency_ms@<target>`` on every one of
    ``targets`` (``inf`` where a target cannot run it: beyond any limit); ``latency_ms`` is the
    first target's. Its seconds go to ``timer``'s "probe" phase."""
    cfg = candidate
    with timer("probe"):
        with hooks.compute():
            probe = copy.deepcopy(model).cpu().eval()
            if cfg.pruning.enabled:
                probe, _ = prune_structure(probe, cfg.pruning, data.x_train)  # no recovery: masks stay applied
            if cfg.share.enabled:
                share_weights(probe, cfg.share, seed=cfg.train.seed)
                finalize_sharing(probe)
            with torch.no_grad():
                quantize_weights_(probe, cfg.quant)
        with tempfile.TemporaryDirectory(prefix="automl-probe-") as folder:
            with hooks.compute():
                info = export_artifact(probe, cfg.quant, data.x_train[:PROBE_CALIBRATION],
                                       Path(folder) / "probe.onnx", deploy_metadata)
            on: dict[str, float] = {}
            for i, target in enumerate(targets):
                try:
                    on[f"latency_ms@{target.name}"] = float(hooks.measure_latency(
                        info.path, data.input_shape, replace(PROBE, threads=threads), target).latency_ms)
                except TargetUnavailable:
                    if i == 0:
                        raise
                    on[f"latency_ms@{target.name}"] = float("inf")
    return {"size_bytes": float(info.size_bytes), "latency_ms": on[f"latency_ms@{targets[0].name}"], **on,
            "params_nonzero": float(count_params_nonzero(probe)), "macs": float(count_macs(probe, data.input_shape))}


def probe_accuracy(model: nn.Module, candidate: CandidateConfig, data: DatasetSplits, teacher: nn.Module | None,
                   recovery_lr: float, timer: PhaseTimer, hooks: TrialHooks) -> float:
    """Validation accuracy of ``model`` compressed now as ``candidate`` will be (``model`` is untouched).

    A copy is pruned as the candidate says and recovered for one epoch (the first of its
    ``pruning.finetune_epochs``, at ``recovery_lr``, distilled as it will be); then, for
    post-training quantization, its weights are quantized (and shared, when sharing has no
    epochs of its own). Quantization-aware training and trained shared values are not
    simulated: they train that loss back. The global random state is left as it was, so a
    candidate trains the same whether or not it was probed. The work runs inside
    ``hooks.compute()``; its seconds go to ``timer``'s "probe" phase.
    """
    cfg = candidate
    device = next(model.parameters()).device
    with timer("probe"), hooks.compute(), torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        probe = copy.deepcopy(model)
        masks = None
        if cfg.pruning.enabled:
            probe, masks = prune_structure(probe, cfg.pruning, data.x_train[:1].to(device))
            if cfg.pruning.finetune_epochs:
                train_epochs(probe, data.x_train, data.y_train, epochs=1, train=cfg.train, lr=recovery_lr,
                             phase="probe_recovery", distill=cfg.distill, teacher=teacher, seed_offset=1)
        if cfg.share.enabled and not cfg.share.finetune_epochs:  # trained shared values train the loss back
            share_weights(probe, cfg.share, seed=cfg.train.seed)
            finalize_sharing(probe)
        if cfg.quant.mode != "qat" or not cfg.quant.integer_weights:
            with torch.no_grad():
                quantize_weights_(probe, cfg.quant)
        if masks is not None:
            masks.reapply(probe)
        return accuracy(probe, data.x_val, data.y_val)

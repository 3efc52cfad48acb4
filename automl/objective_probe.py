"""The size and latency a candidate will have, measured long before it finishes training.

Bytes on disk and latency are fixed by the architecture, the pruning ratio and the bit
widths, not by how well the weights are trained. Multi-objective early stopping
(:mod:`automl.search.mo_asha`) needs them at the first rung, so a copy of the model in
training is compressed the way the candidate will be (pruned without recovery, quantized
post-training), exported as the same ONNX artifact, and that file is weighed and timed like
the final one. The figures are the final ones up to what depends on trained values (the
sparse encoding's share of zeros, calibrated activation ranges): close, not equal, and only
used to rank candidates at rungs, never reported as the candidate's result.
"""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from automl.config import CandidateConfig
from automl.data import DatasetSplits
from automl.export import export_artifact
from automl.measure.complexity import count_macs, count_params_nonzero
from automl.measure.latency import LatencySettings
from automl.pruning import prune_structure
from automl.quantization.ptq import quantize_weights_
from automl.trial_hooks import TrialHooks

if TYPE_CHECKING:
    from automl.pipeline import PhaseTimer

PROBE_CALIBRATION = 32  # training samples for the probe's int8 calibration (ranges only shape the file a little)


def probe_objectives(model: nn.Module, candidate: CandidateConfig, data: DatasetSplits, hooks: TrialHooks,
                     threads: int, deploy_metadata: dict, timer: "PhaseTimer") -> dict[str, float]:
    """``size_bytes``, ``latency_ms``, ``params_nonzero`` and ``macs`` of ``model`` compressed as
    ``candidate`` says (``model`` itself is untouched); its seconds go to ``timer``'s "probe" phase."""
    cfg = candidate
    with timer("probe"):
        with hooks.compute():
            probe = copy.deepcopy(model).cpu().eval()
            if cfg.pruning.enabled:
                probe, _ = prune_structure(probe, cfg.pruning, data.x_train)  # no recovery: masks stay applied
            with torch.no_grad():
                quantize_weights_(probe, cfg.quant)
        with tempfile.TemporaryDirectory(prefix="automl-probe-") as folder:
            with hooks.compute():
                info = export_artifact(probe, cfg.quant, data.x_train[:PROBE_CALIBRATION],
                                       Path(folder) / "probe.onnx", deploy_metadata)
            latency = hooks.measure_latency(info.path, data.input_shape, LatencySettings(threads=threads))
    return {"size_bytes": float(info.size_bytes), "latency_ms": float(latency.latency_ms),
            "params_nonzero": float(count_params_nonzero(probe)), "macs": float(count_macs(probe, data.input_shape))}

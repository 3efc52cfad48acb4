"""The probe early stopping ranks by: the compressed structure's size and MACs, measured
before training ends, agree with the finished candidate's; its accuracy is the accuracy of
the network in training compressed as the candidate will be."""

from __future__ import annotations

import pytest

from automl import CandidateConfig, evaluate_candidate
from automl.candidate.hooks import (
    SCREEN_EPOCH,
    SCREEN_MARGIN,
    CandidateStopped,
    RungCheck,
    TrialHooks,
)
from automl.measure.latency import PROBE, LatencySettings
from automl.measure.targets import DEFAULT_TARGET
from tests.conftest import candidate_dict


class _Recorder(TrialHooks):
    """Probes at epoch 1, like a worker at its first rung, and stops at ``stop_at``."""

    def __init__(self, stop_at: int | None = None, rungs: tuple[int, ...] = (1, 2),
                 limits: dict[str, float] | None = None, predict: bool = False) -> None:
        super().__init__(RungCheck(rungs, self._decide, limits, predict))
        self.vectors: dict[int, dict[str, float]] = {}
        self.stop_at = stop_at
        self.timings: list[LatencySettings] = []
        self.epochs: list[tuple[str, int]] = []

    def on_epoch(self, phase, epoch, metrics):
        self.epochs.append((phase, epoch))
        super().on_epoch(phase, epoch, metrics)

    def measure_latency(self, path, input_shape, settings, target=DEFAULT_TARGET):
        self.timings.append(settings)
        return super().measure_latency(path, input_shape, settings, target)

    def _decide(self, epoch: int, vector: dict[str, float]) -> bool:
        self.vectors[epoch] = vector
        return epoch != self.stop_at


@pytest.mark.parametrize("overrides", [
    {"pruning": {"ratio": 0.5, "granularity": "channel", "finetune_epochs": 1},
     "quant": {"weight_bits": 8, "layer_bits": [4, 8], "edge_bits": 8}},
    {"quant": {"weight_bits": 8, "activation_bits": 8, "mode": "ptq"}},
    {"share": {"layer_clusters": [4, 16], "edge_clusters": 16, "finetune_epochs": 1}},
])
def test_probe_weighs_what_the_finished_candidate_weighs(digits, tmp_path, overrides):
    hooks = _Recorder()
    result = evaluate_candidate(CandidateConfig.from_dict(candidate_dict(**overrides)), digits,
                                workdir=tmp_path, hooks=hooks)
    first, second = hooks.vectors[1], hooks.vectors[2]
    # measured once (the structure does not change while training), accuracy taken each rung
    fixed = [{k: v for k, v in vector.items() if not k.startswith("accuracy")} for vector in (first, second)]
    assert fixed[0] == fixed[1] and fixed[0]["latency_ms@ort-cpu"] == fixed[0]["latency_ms"]  # one per target
    assert first["accuracy@ort-cpu"] == first["accuracy"]
    assert first["macs"] == result.macs  # params_nonzero: values that quantize to 0 differ a little
    assert abs(first["params_nonzero"] - result.params_nonzero) <= 0.02 * result.params_nonzero
    # dense weights: the file's bytes do not depend on trained values (per-layer INT4/INT8, QDQ int8,
    # or shared: codes at log2 k bits + k values)
    assert abs(first["size_bytes"] - result.size_bytes) <= 0.01 * result.size_bytes
    assert first["latency_ms"] > 0
    # the probe's figure only ranks: it is timed with the short probe window, the result with the search one
    assert [(t.window_s, t.instances) for t in hooks.timings] == [(PROBE.window_s, PROBE.instances),
                                                                  (LatencySettings().window_s, LatencySettings().instances)]


def test_a_stopped_candidate_ends_at_its_rung(digits, tmp_path):
    hooks = _Recorder(stop_at=2)
    with pytest.raises(CandidateStopped) as info:
        evaluate_candidate(CandidateConfig.from_dict(candidate_dict()), digits, workdir=tmp_path, hooks=hooks)
    assert info.value.epoch == 2 and sorted(hooks.vectors) == [1, 2]
    assert not (tmp_path / "model.onnx").exists()  # nothing was exported


def test_the_screen_stops_a_candidate_beyond_its_limits_before_it_trains(digits, tmp_path):
    cfg = CandidateConfig.from_dict(candidate_dict())
    within = _Recorder(rungs=(1,), limits={"size_bytes": 1e9, "latency_ms": 1e3})
    result = evaluate_candidate(cfg, digits, workdir=tmp_path / "within", hooks=within)
    # within its limits: probed once, before training (one short timing, then the final one), rung as usual
    assert len(within.timings) == 2 and sorted(within.vectors) == [1] and result.size_bytes > 0
    assert abs(within.vectors[1]["size_bytes"] - result.size_bytes) <= 0.01 * result.size_bytes

    beyond = _Recorder(rungs=(1,), limits={"size_bytes": result.size_bytes / 2, "latency_ms": 1e3})
    with pytest.raises(CandidateStopped) as info:
        evaluate_candidate(cfg, digits, workdir=tmp_path / "beyond", hooks=beyond)
    assert info.value.epoch == SCREEN_EPOCH and beyond.epochs == [] and not beyond.vectors  # not one epoch
    assert info.value.vector["size_bytes"] == pytest.approx(within.vectors[1]["size_bytes"], rel=0.01)
    assert not (tmp_path / "beyond" / "model.onnx").exists()
    # inside the margin (the probe reads close to, not exactly, the final figure): it trains
    near = _Recorder(rungs=(1,), limits={"size_bytes": result.size_bytes / (1 + (SCREEN_MARGIN - 1) / 2)})
    evaluate_candidate(cfg, digits, workdir=tmp_path / "near", hooks=near)
    assert sorted(near.vectors) == [1]


def test_with_a_predictor_the_screen_asks_with_the_probed_figures_and_may_stop_it(digits, tmp_path):
    cfg = CandidateConfig.from_dict(candidate_dict())
    asked = _Recorder(stop_at=SCREEN_EPOCH, rungs=(), predict=True)  # no rungs, no limits: the predictor alone
    with pytest.raises(CandidateStopped, match="predicted point would add too little to the front") as info:
        evaluate_candidate(cfg, digits, workdir=tmp_path / "screened", hooks=asked)
    assert list(asked.vectors) == [SCREEN_EPOCH] and asked.epochs == [] and info.value.epoch == SCREEN_EPOCH
    assert set(asked.vectors[SCREEN_EPOCH]) >= {"size_bytes", "macs", "latency_ms"}
    assert info.value.vector == asked.vectors[SCREEN_EPOCH]
    passed = _Recorder(rungs=(), predict=True)
    result = evaluate_candidate(cfg, digits, workdir=tmp_path / "trained", hooks=passed)
    assert list(passed.vectors) == [SCREEN_EPOCH] and passed.epochs and result.size_bytes > 0


def test_a_rung_at_the_last_training_epoch_never_fires(digits, tmp_path):
    """Stopping a candidate whose training is over would throw its training away."""
    cfg = CandidateConfig.from_dict(candidate_dict(train={"epochs": 2}))
    hooks = _Recorder(stop_at=2, rungs=(1, 2))
    result = evaluate_candidate(cfg, digits, workdir=tmp_path, hooks=hooks)
    assert sorted(hooks.vectors) == [1] and result.size_bytes > 0  # asked at 1, not at 2; finished


def _train_accuracy(result, epoch: int) -> float:
    return next(r["val_accuracy"] for r in result.history if r["phase"] == "train" and r["epoch"] == epoch)


@pytest.mark.parametrize("overrides", [
    {},  # fp32, unpruned: the compressed copy is the network itself
    {"quant": {"weight_bits": 2, "mode": "qat", "qat_epochs": 1}},  # QAT trains its loss back: not simulated
])
def test_rung_accuracy_is_the_training_accuracy_when_nothing_is_simulated(digits, tmp_path, overrides):
    hooks = _Recorder()
    result = evaluate_candidate(CandidateConfig.from_dict(candidate_dict(**overrides)), digits,
                                workdir=tmp_path, hooks=hooks)
    assert [hooks.vectors[e]["accuracy"] for e in (1, 2)] == [_train_accuracy(result, e) for e in (1, 2)]


@pytest.mark.parametrize("overrides", [
    # a network that trains well and loses most of it when three quarters of its channels go
    {"arch": {"choices": {"stages": 2, "widths": [16, 16], "kernel_size": 5}},
     "pruning": {"ratio": 0.75, "granularity": "channel", "finetune_epochs": 2}},
    {"quant": {"weight_bits": 2, "mode": "ptq"}},  # post-training 2-bit weights
])
def test_rung_accuracy_is_the_compressed_networks(digits, tmp_path, overrides):
    """Ranked on the network in training, such a candidate looks accurate and small at every rung."""
    hooks = _Recorder(rungs=(3, 4))
    result = evaluate_candidate(CandidateConfig.from_dict(candidate_dict(**overrides)), digits,
                                workdir=tmp_path, hooks=hooks)
    for epoch in (3, 4):
        assert _train_accuracy(result, epoch) > 0.8
        assert hooks.vectors[epoch]["accuracy"] < _train_accuracy(result, epoch) - 0.2
    assert result.accuracy < 0.8  # ... and the finished candidate shows the loss the rungs saw


@pytest.mark.parametrize("overrides", [
    {"pruning": {"ratio": 0.5, "granularity": "unstructured", "finetune_epochs": 1},
     "distill": {"enabled": False}, "quant": {"weight_bits": 8, "mode": "ptq"}},
    {"pruning": {"ratio": 0.5, "granularity": "channel", "finetune_epochs": 1}},
])
def test_probing_does_not_change_the_candidate(digits, tmp_path, overrides):
    """The probe compresses and trains a copy: the candidate ends exactly as it would unprobed."""
    cfg = CandidateConfig.from_dict(candidate_dict(**overrides))
    probed = evaluate_candidate(cfg, digits, workdir=tmp_path / "probed", hooks=_Recorder(rungs=(1, 2, 3)))
    plain = evaluate_candidate(cfg, digits, workdir=tmp_path / "plain")
    assert (probed.accuracy, probed.test_accuracy, probed.size_bytes) == (plain.accuracy, plain.test_accuracy,
                                                                          plain.size_bytes)
    assert [r["val_accuracy"] for r in probed.history] == [r["val_accuracy"] for r in plain.history]

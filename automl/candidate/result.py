"""What evaluating one candidate returns: honest measurements of its deployable artifact."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

# The metric names a study may optimise or constrain.
METRICS = ("accuracy", "test_accuracy", "size_bytes", "latency_ms", "params_nonzero", "macs")
TARGET_METRICS = ("accuracy", "test_accuracy", "latency_ms")  # measured per deployment target: "<metric>@<target>"


@dataclass(frozen=True)
class TargetResult:
    """One candidate on one deployment target (:mod:`automl.measure.targets`): its accuracy run by
    that target's runtime and its latency timed there, interleaved with the teacher on the same
    target. A target that cannot run the artifact has ``error`` (the runtime's, one line) and no figures."""

    accuracy: float | None = None
    test_accuracy: float | None = None
    latency_ms: float | None = None  # in a study: latency_ratio x the study's teacher figure on this target
    latency_ratio: float | None = None
    kernels: str | None = None  # what this runtime executes (read from the runtime)
    runtime: str | None = None
    error: str | None = None
    latency: dict[str, Any] = field(default_factory=dict)  # the timing's details (LatencyResult fields)


def base_metric(name: str) -> str:
    """``latency_ms@openvino-cpu`` -> ``latency_ms`` (a metric named on a target is that metric)."""
    return name.split("@", 1)[0]


def target_metrics(measured: dict[str, Any]) -> dict[str, float]:
    """``<metric>@<target>`` for every target of a result (its dict form); NaN where the target
    could not run it."""
    out = {}
    for name, t in (measured.get("targets") or {}).items():
        for m in TARGET_METRICS:
            v = t.get(m)
            out[f"{m}@{name}"] = float("nan") if v is None else float(v)
    return out


def metric_values(measured: dict[str, Any]) -> dict[str, float]:
    """Every metric a study may name, from a result's dict form: :data:`METRICS` (the primary
    target's figures) and ``<metric>@<target>`` per target."""
    return {**{name: measured[name] for name in METRICS if name in measured}, **target_metrics(measured)}


@dataclass(frozen=True)
class CandidateResult:
    """Measurements of one candidate, all taken on its exported artifact.

    ``accuracy`` is on the validation split (the only split a search may use to choose);
    ``test_accuracy`` is reported, never optimised. Both come from running the artifact file
    on the study's primary deployment target (ONNX Runtime CPU by default), so re-loading the
    artifact reproduces them; ``targets`` holds every target's own figures, the primary's included.
    """

    accuracy: float  # validation accuracy of the artifact, in [0, 1]
    test_accuracy: float  # test accuracy of the artifact, in [0, 1]
    size_bytes: int  # bytes of the artifact file on disk
    latency_ms: float  # batch-1 CPU latency in ONNX Runtime; in a study: latency_ratio x the study's teacher figure
    params_nonzero: int  # non-zero parameters of the compressed network
    macs: int  # multiply-accumulates per sample of the (physically pruned) network
    kernels: str  # which kernels the timed model ran (int8, or fp32 on decoded weights)
    int8_kernels: bool
    latency: dict[str, Any]  # runs, warm-up, threads, batch size, runtime, p10/p90
    artifact_path: str
    encodings: dict[str, int] = field(default_factory=dict)  # weight encodings in the artifact
    history: list[dict[str, Any]] = field(default_factory=list)  # per-epoch curves
    phase_seconds: dict[str, float] = field(default_factory=dict)  # wall time per phase
    latency_ratio: float | None = None  # latency / the teacher's, timed interleaved with it (None: timed alone)
    targets: dict[str, TargetResult] = field(default_factory=dict)  # per deployment target, in the study's order

    def metrics(self) -> dict[str, float]:
        """The scalar metrics: :data:`METRICS` and ``<metric>@<target>`` (see :func:`metric_values`)."""
        return metric_values(self.to_dict())

    def latency_by_target(self) -> dict[str, float]:
        """Target name -> latency there (a result from before targets: ``{"ort-cpu": latency_ms}``)."""
        if not self.targets:
            return {"ort-cpu": self.latency_ms}
        return {name: t.latency_ms for name, t in self.targets.items() if t.latency_ms is not None}

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "CandidateResult":
        targets = {k: v if isinstance(v, TargetResult) else TargetResult(**v)
                   for k, v in (data.get("targets") or {}).items()}
        return cls(**{**data, "targets": targets})

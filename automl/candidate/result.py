"""What evaluating one candidate returns: honest measurements of its deployable artifact."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

# The metric names a study may optimise or constrain.
METRICS = ("accuracy", "test_accuracy", "size_bytes", "latency_ms", "params_nonzero", "macs")


@dataclass(frozen=True)
class CandidateResult:
    """Measurements of one candidate, all taken on its exported artifact.

    ``accuracy`` is on the validation split (the only split a search may use to choose);
    ``test_accuracy`` is reported, never optimised. Both come from running the artifact file
    in ONNX Runtime, so re-loading the artifact reproduces them.
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

    def metrics(self) -> dict[str, float]:
        """The scalar metrics, keyed by the names in :data:`METRICS`."""
        return {name: getattr(self, name) for name in METRICS}

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "CandidateResult":
        return cls(**data)

"""How a running candidate talks to whoever runs it (the search engine, a benchmark, a test).

:func:`automl.evaluate_candidate` is a pure function of its config; the only side channel is
a :class:`TrialHooks` object. The default does nothing special and times the artifact in
this process. The search engine passes one that reports per-epoch metrics to Ray Tune and
sends the artifact to the study's single timing worker, so a candidate is never timed
while another one trains on the same cores.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Iterator

from automl.measure.latency import LatencyResult, LatencySettings, measure_latency


class TrialHooks:
    """Default hooks; subclass and override what you need."""

    def on_epoch(self, phase: str, epoch: int, metrics: dict[str, float]) -> None:
        """Called after each epoch of ``phase`` ("train", "prune_finetune", "qat")."""

    @contextlib.contextmanager
    def compute(self) -> Iterator[None]:
        """Wraps each chunk of CPU work (an epoch, an export, an evaluation)."""
        yield

    def measure_latency(self, path: Path, input_shape: tuple[int, ...], settings: LatencySettings) -> LatencyResult:
        """Time the deployable artifact at ``path`` (batch 1, ONNX Runtime CPU), here and alone."""
        return measure_latency(path, input_shape, settings)

    def info(self) -> dict[str, Any]:
        """Facts about how timing was isolated, recorded with the result."""
        return {"timing_isolation": "none (timed in the calling process)"}

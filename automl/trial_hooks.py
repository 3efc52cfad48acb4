"""How a running candidate talks to whoever runs it (the search engine, a benchmark, a test).

:func:`automl.evaluate_candidate` is a pure function of its config; the only side channel is
a :class:`TrialHooks` object. The default does nothing. The search engine passes one that
reports per-epoch metrics to Ray Tune and serialises latency timing across trials so that a
candidate is never timed while another one trains on the same cores.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator


class TrialHooks:
    """No-op hooks; subclass and override what you need."""

    def on_epoch(self, phase: str, epoch: int, metrics: dict[str, float]) -> None:
        """Called after each epoch of ``phase`` ("train", "prune_finetune", "qat")."""

    @contextlib.contextmanager
    def compute(self) -> Iterator[None]:
        """Wraps each chunk of CPU work (an epoch, an export, an evaluation)."""
        yield

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """Wraps latency timing: no other trial's :meth:`compute` runs inside it."""
        yield

    def info(self) -> dict[str, Any]:
        """Facts about how timing was isolated, recorded with the result."""
        return {"timing_isolation": "none"}

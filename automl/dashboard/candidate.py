"""One finished trial as the dashboard draws it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from automl.study.front import TrialPoint


@dataclass
class Candidate:
    """One finished trial as the dashboard draws it."""

    point: TrialPoint
    config: dict[str, Any]  # the candidate config (nested dict)
    size_ratio: float
    latency_ratio: float

    def value(self, axis: str) -> float:
        if axis in ("size_ratio", "latency_ratio"):
            return getattr(self, axis)
        return float(self.point.metrics[axis])

    def knob(self, dotted: str) -> Any:
        """A dotted key of the config (``pruning.granularity`` is "none" when not pruned)."""
        if dotted == "pruning.granularity" and not self.config.get("pruning", {}).get("ratio"):
            return "none"
        node: Any = self.config
        for part in dotted.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        return node

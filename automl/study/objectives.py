"""What a study optimises and constrains: objectives, constraints and the metrics they may name.

Metrics are every measured figure but test accuracy, which the search never sees. Each has one
natural direction (accuracy up, everything else down). A constraint is ``"<metric> <= <number>"``
or ``"<metric> >= <number>"``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Mapping

from automl.candidate.result import METRICS as RESULT_METRICS
from automl.config.errors import ConfigError

METRICS = tuple(m for m in RESULT_METRICS if m != "test_accuracy")
NATURAL_DIRECTION = {"accuracy": "maximize", "size_bytes": "minimize", "latency_ms": "minimize",
                     "params_nonzero": "minimize", "macs": "minimize"}
DIRECTIONS = ("maximize", "minimize")
DEFAULT_OBJECTIVES = (("accuracy", "maximize"), ("size_bytes", "minimize"), ("latency_ms", "minimize"))
_CONSTRAINT = re.compile(r"^\s*([A-Za-z_]\w*)\s*(<=|>=)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$")


@dataclass(frozen=True)
class Objective:
    name: str
    direction: str  # "maximize" | "minimize"

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "direction": self.direction}


@dataclass(frozen=True)
class Constraint:
    """``metric op value``; satisfied when the inequality holds. ``str()`` gives it back."""

    metric: str
    op: str  # "<=" | ">="
    value: float

    def __str__(self) -> str:
        v = int(self.value) if float(self.value).is_integer() and abs(self.value) < 1e15 else self.value
        return f"{self.metric} {self.op} {v}"

    def satisfied(self, metrics: Mapping[str, Any]) -> bool:
        m = metrics.get(self.metric)
        if m is None or (isinstance(m, float) and math.isnan(m)):
            return False
        return m <= self.value if self.op == "<=" else m >= self.value


def parse_constraint(text: Any, field_name: str = "constraints") -> Constraint:
    """Parse ``"size_bytes <= 20000"`` (metric from :data:`METRICS`, op ``<=`` or ``>=``)."""
    if not isinstance(text, str):
        raise ConfigError(field_name, f"expected a string like 'size_bytes <= 20000', got {text!r}")
    m = _CONSTRAINT.match(text)
    if m is None:
        raise ConfigError(field_name, f"cannot parse {text!r} (expected '<metric> <= <number>' or "
                                      f"'<metric> >= <number>')")
    metric, op, value = m.group(1), m.group(2), float(m.group(3))
    if metric not in METRICS:
        raise ConfigError(field_name, f"unknown metric {metric!r} in {text!r} (allowed: {', '.join(METRICS)})")
    return Constraint(metric, op, value)



def parse_objectives(raw: Any) -> tuple[Objective, ...]:
    """The ``objectives`` list of a study file (``None``: accuracy, size and latency)."""
    if raw is None:
        return tuple(Objective(n, d) for n, d in DEFAULT_OBJECTIVES)
    if not isinstance(raw, list) or not raw:
        raise ConfigError("objectives", f"expected a non-empty list, got {raw!r}")
    out: list[Objective] = []
    for i, item in enumerate(raw):
        where = f"objectives[{i}]"
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, Mapping):
            raise ConfigError(where, f"expected {{name, direction}} or a metric name, got {item!r}")
        bad = [k for k in item if k not in ("name", "direction")]
        if bad:
            raise ConfigError(f"{where}.{bad[0]}", "unknown key (allowed: name, direction)")
        name = item.get("name")
        if name not in METRICS:
            raise ConfigError(f"{where}.name", f"{name!r} is not allowed (allowed: {', '.join(METRICS)})")
        direction = item.get("direction", NATURAL_DIRECTION[name])
        if direction not in DIRECTIONS:
            raise ConfigError(f"{where}.direction", f"{direction!r} is not allowed (allowed: maximize, minimize)")
        if direction != NATURAL_DIRECTION[name]:
            raise ConfigError(f"{where}.direction",
                              f"{name} can only be {NATURAL_DIRECTION[name]}d, got {direction!r}")
        if any(o.name == name for o in out):
            raise ConfigError(f"{where}.name", f"duplicate objective {name!r}")
        out.append(Objective(name, direction))
    return tuple(out)

"""What a study optimises and constrains: objectives, constraints and the metrics they may name.

Metrics are every measured figure but test accuracy, which the search never sees. Each has one
natural direction (accuracy up, everything else down). A constraint is ``"<metric> <= <number>"``
or ``"<metric> >= <number>"``. Accuracy and latency may name one of the study's deployment
targets, ``latency_ms@openvino-cpu``; unnamed, they are the primary (first) target's.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Mapping

from automl.candidate.result import METRICS as RESULT_METRICS
from automl.candidate.result import TARGET_METRICS, base_metric
from automl.config.errors import ConfigError

METRICS = tuple(m for m in RESULT_METRICS if m != "test_accuracy")
NATURAL_DIRECTION = {"accuracy": "maximize", "size_bytes": "minimize", "latency_ms": "minimize",
                     "params_nonzero": "minimize", "macs": "minimize"}
DIRECTIONS = ("maximize", "minimize")
DEFAULT_OBJECTIVES = (("accuracy", "maximize"), ("size_bytes", "minimize"), ("latency_ms", "minimize"))
ON_TARGET = tuple(m for m in TARGET_METRICS if m in METRICS)  # what may be named on a target
_CONSTRAINT = re.compile(r"^\s*([A-Za-z_]\w*(?:@[a-z0-9][a-z0-9_.-]*)?)\s*(<=|>=)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$")


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


def check_metric(name: Any, field_name: str, targets: tuple[str, ...] | None) -> str:
    """``name`` if a study with ``targets`` (names; ``None``: any) measures it: one of
    :data:`METRICS`, or ``<metric>@<target>`` with a metric of :data:`ON_TARGET` and one of ``targets``."""
    allowed = ", ".join(METRICS) + f"; {'/'.join(ON_TARGET)}@<target>"
    if not isinstance(name, str):
        raise ConfigError(field_name, f"{name!r} is not allowed (allowed: {allowed})")
    base, _, target = name.partition("@")
    if not target:
        if name not in METRICS:
            raise ConfigError(field_name, f"unknown metric {name!r} (allowed: {allowed})")
        return name
    if base not in ON_TARGET:
        raise ConfigError(field_name, f"{base!r} is not measured per target in {name!r} "
                                      f"(per target: {', '.join(ON_TARGET)})")
    if targets is not None and target not in targets:
        raise ConfigError(field_name, f"{name!r} names target {target!r}, which the study does not measure "
                                      f"(its targets: {', '.join(targets)}; add it to targets)")
    return name


def parse_constraint(text: Any, field_name: str = "constraints", targets: tuple[str, ...] | None = None) -> Constraint:
    """Parse ``"size_bytes <= 20000"`` or ``"latency_ms@ort-cpu <= 0.01"`` (see :func:`check_metric`)."""
    if not isinstance(text, str):
        raise ConfigError(field_name, f"expected a string like 'size_bytes <= 20000', got {text!r}")
    m = _CONSTRAINT.match(text)
    if m is None:
        raise ConfigError(field_name, f"cannot parse {text!r} (expected '<metric> <= <number>' or "
                                      f"'<metric> >= <number>')")
    metric, op, value = m.group(1), m.group(2), float(m.group(3))
    return Constraint(check_metric(metric, field_name, targets), op, value)



def parse_objectives(raw: Any, targets: tuple[str, ...] | None = None) -> tuple[Objective, ...]:
    """The ``objectives`` list of a study file (``None``: accuracy, size and latency), for a study
    measuring ``targets`` (names)."""
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
        name = check_metric(item.get("name"), f"{where}.name", targets)
        natural = NATURAL_DIRECTION[base_metric(name)]
        direction = item.get("direction", natural)
        if direction not in DIRECTIONS:
            raise ConfigError(f"{where}.direction", f"{direction!r} is not allowed (allowed: maximize, minimize)")
        if direction != natural:
            raise ConfigError(f"{where}.direction", f"{name} can only be {natural}d, got {direction!r}")
        if any(o.name == name for o in out):
            raise ConfigError(f"{where}.name", f"duplicate objective {name!r}")
        out.append(Objective(name, direction))
    return tuple(out)

"""The dashboard's panel list, read from ``dashboards/study.yaml`` (data a user edits)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from automl.config import ConfigError
from automl.config.yaml_file import read_yaml_mapping

KINDS = ("scatter", "hypervolume", "curves", "importance", "groups")
AXES = ("accuracy", "test_accuracy", "size_ratio", "latency_ratio", "size_bytes", "latency_ms", "macs",
        "params_nonzero")
DEFAULT_FILE = Path(__file__).resolve().parents[2] / "dashboards" / "study.yaml"


@dataclass(frozen=True)
class Panel:
    kind: str  # one of KINDS
    title: str
    x: str | None = None  # scatter: one of AXES
    y: str | None = None
    log_x: bool = False


@dataclass(frozen=True)
class DashboardSpec:
    title: str  # "{study}" is replaced by the study's name
    colour: str  # dotted key of the candidate config
    marker: str
    toggle: str
    panels: tuple[Panel, ...]


def load_spec(path: str | Path | None = None) -> DashboardSpec:
    """The panels in ``path`` (default: the repository's ``dashboards/study.yaml``)."""
    path = Path(path) if path else DEFAULT_FILE
    src = str(path)
    if not path.is_file():
        raise ConfigError("--panels", f"no dashboard file at {path} (pass --panels dashboards/study.yaml)")
    data = read_yaml_mapping(path)
    unknown = sorted(set(data) - {"title", "colour", "marker", "toggle", "panels"})
    if unknown:
        raise ConfigError(unknown[0], "unknown key (allowed: title, colour, marker, toggle, panels)", src)
    panels = []
    for i, raw in enumerate(data.get("panels") or []):
        panels.append(_panel(raw, f"panels[{i}]", src))
    if not panels:
        raise ConfigError("panels", "list at least one panel", src)
    return DashboardSpec(title=str(data.get("title", "{study}")), colour=_key(data, "colour", src),
                         marker=_key(data, "marker", src), toggle=_key(data, "toggle", src), panels=tuple(panels))


def _key(data: dict[str, Any], name: str, src: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise ConfigError(name, f"expected a dotted key of the candidate config, got {value!r}", src)
    return value


def _panel(raw: Any, where: str, src: str) -> Panel:
    if not isinstance(raw, dict):
        raise ConfigError(where, f"expected a mapping, got {raw!r}", src)
    unknown = sorted(set(raw) - {"kind", "title", "x", "y", "log_x"})
    if unknown:
        raise ConfigError(f"{where}.{unknown[0]}", "unknown key (allowed: kind, title, x, y, log_x)", src)
    kind = raw.get("kind")
    if kind not in KINDS:
        raise ConfigError(f"{where}.kind", f"{kind!r} is not allowed (allowed: {', '.join(KINDS)})", src)
    if kind == "scatter":
        for axis in ("x", "y"):
            if raw.get(axis) not in AXES:
                raise ConfigError(f"{where}.{axis}", f"{raw.get(axis)!r} is not allowed (allowed: {', '.join(AXES)})",
                                  src)
    return Panel(kind=kind, title=str(raw.get("title", kind)), x=raw.get("x"), y=raw.get("y"),
                 log_x=bool(raw.get("log_x", False)))

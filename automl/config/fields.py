"""Validation helpers shared by the typed config dataclasses.

Every check raises :class:`ConfigError` naming the field and the allowed values, so a bad
study file or a bad programmatic call fails with one readable line.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Iterable, Mapping, TypeVar

from automl.config.errors import ConfigError

T = TypeVar("T")


def one_of(field: str, value: Any, allowed: Iterable[Any]) -> Any:
    allowed = tuple(allowed)
    # bool is an int subclass: True must not pass for 1.
    if isinstance(value, bool) and not any(isinstance(a, bool) for a in allowed):
        raise ConfigError(field, f"{value!r} is not allowed (allowed: {', '.join(map(str, allowed))})")
    if value not in allowed:
        raise ConfigError(field, f"{value!r} is not allowed (allowed: {', '.join(map(str, allowed))})")
    return value


def number(field: str, value: Any, lo: float | None = None, hi: float | None = None,
           *, integer: bool = False, lo_open: bool = False) -> Any:
    """``value`` as an int/float within ``[lo, hi]`` (``(lo, hi]`` when ``lo_open``)."""
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(field, f"expected {kind}, got {value!r}")
    if integer and not float(value).is_integer():
        raise ConfigError(field, f"expected {kind}, got {value!r}")
    if not integer and not math.isfinite(value):
        raise ConfigError(field, f"expected a finite number, got {value!r}")
    low_bad = lo is not None and (value <= lo if lo_open else value < lo)
    if low_bad or (hi is not None and value > hi):
        left = "(" if lo_open else "["
        rng = f"{left}{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}]"
        raise ConfigError(field, f"{value!r} is out of range (allowed: {rng})")
    return int(value) if integer else float(value)


def boolean(field: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(field, f"expected true or false, got {value!r}")
    return value


def text(field: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(field, f"expected a non-empty string, got {value!r}")
    return value


def from_mapping(cls: type[T], data: Any, prefix: str) -> T:
    """Build dataclass ``cls`` from a plain mapping, rejecting unknown keys by name.

    Nested dataclass fields are built recursively when their declared default is a
    dataclass (``field(default_factory=Sub)``); values are validated by ``cls.__post_init__``.
    """
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(prefix, f"expected a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        where = f"{prefix}.{unknown[0]}" if prefix else str(unknown[0])
        raise ConfigError(where, f"unknown key (allowed: {', '.join(fields)})")
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        f = fields[name]
        sub = _nested_type(f)
        path = f"{prefix}.{name}" if prefix else name
        kwargs[name] = from_mapping(sub, value, path) if sub is not None else value
    try:
        return cls(**kwargs)
    except ConfigError as err:
        raise err.within(prefix) from None


def switch(cls: type[T], value: Any, prefix: str) -> T | None:
    """An on/off block: ``None``/``false``/``off`` -> ``None``; ``true``/``on`` -> ``cls()`` (the
    defaults); a mapping -> :func:`from_mapping` (checked field by field)."""
    if value is None or value is False or value == "off":
        return None
    if value is True or value == "on":
        return cls()
    if not isinstance(value, Mapping):
        keys = ", ".join(f.name for f in dataclasses.fields(cls))
        raise ConfigError(prefix, f"expected off, on or a mapping ({keys}), got {value!r}")
    return from_mapping(cls, dict(value), prefix)


def _nested_type(f: dataclasses.Field) -> type | None:
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        probe = f.default_factory()  # type: ignore[misc]
        if dataclasses.is_dataclass(probe):
            return type(probe)
    return None


def to_plain(obj: Any) -> Any:
    """A dataclass tree as plain dicts/lists (JSON- and YAML-safe)."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_plain(v) for k, v in obj.items()}
    return obj

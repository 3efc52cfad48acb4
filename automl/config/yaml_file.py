"""Reading a YAML file into a mapping, with one-line errors naming the file and line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from automl.config.errors import ConfigError


def read_yaml_mapping(path: str | Path, what: str = "file") -> dict[str, Any]:
    """The top-level mapping of a YAML file; missing file / bad YAML -> one-line ConfigError."""
    p = Path(path)
    src = str(p)
    if not p.is_file():
        raise ConfigError("", f"{what} not found", src)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError("", f"cannot read {what}: {err}", src) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err)
        problem = " ".join(str(problem).split())
        raise ConfigError("", f"malformed YAML{where}: {problem}", src) from None
    if data is None:
        raise ConfigError("", f"{what} is empty", src)
    if not isinstance(data, dict):
        raise ConfigError("", f"expected a mapping at the top level, got {type(data).__name__}", src)
    bad = [k for k in data if not isinstance(k, str)]
    if bad:
        raise ConfigError(str(bad[0]), "keys must be strings", src)
    return data

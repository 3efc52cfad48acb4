"""The string-keyed model registry: one factory for every architecture family.

A family is either a built-in name listed in :data:`_BUILTIN` (no registration by import
side effects) or a user import path ``package.module:function``. A user function is called
as ``fn(num_classes=..., input_shape=shape, **choices)`` and must return a
:class:`torch.nn.Module`; ``shape`` is one sample's shape, of whatever rank the dataset has:
``(F,)`` feature vectors, ``(C, L)`` signals or ``(C, H, W)`` images.

Built-in families and the input ranks they take: ``cnn`` and ``mobilenet_v2`` images
``(C, H, W)``, ``cnn1d`` signals ``(C, L)``, ``mlp`` any of the three (it flattens).

Example:
    >>> from automl.models.registry import create_model, validate_choices
    >>> validate_choices("cnn", {"stages": 1, "widths": [8]})
    {'stages': 1, 'widths': [8], 'kernel_size': 3, 'blocks_per_stage': 1}
    >>> model = create_model("cnn", {}, num_classes=10, input_shape=(1, 8, 8))
    >>> model = create_model("mlp", {"layers": 1, "widths": [32]}, num_classes=3, input_shape=(20,))
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass
from typing import Any, Callable

from torch import nn

from automl.config import fields as F
from automl.config.errors import ConfigError
from automl.models import cnn, cnn1d, mlp, mobilenet

SHAPES = {1: "feature vectors (F,)", 2: "signals (C, L)", 3: "images (C, H, W)"}
"""What one sample of each input rank is; ranks 1 to 3 are supported."""


@dataclass(frozen=True)
class Family:
    """A built-in family: its typed choices dataclass, its builder and the input ranks it takes."""

    choices_type: type
    build: Callable[[Any, int, tuple[int, ...]], nn.Module]
    ranks: tuple[int, ...]  # accepted ranks of one sample's shape (keys of SHAPES)


_BUILTIN: dict[str, Family] = {
    "cnn": Family(cnn.CNNChoices, cnn.build, (3,)),
    "mobilenet_v2": Family(mobilenet.MobileNetV2Choices, mobilenet.build, (3,)),
    "cnn1d": Family(cnn1d.CNN1DChoices, cnn1d.build, (2,)),
    "mlp": Family(mlp.MLPChoices, mlp.build, (1, 2, 3)),
}


def families() -> list[str]:
    """The names of the built-in families."""
    return list(_BUILTIN)


def validate_choices(family: str, choices: dict) -> dict:
    """Validate ``choices`` for ``family`` and return them normalised.

    Args:
        family: A built-in family name or a user import path ``package.module:function``.
        choices: The family's keyword arguments.

    Returns:
        A plain, JSON/YAML-safe dict: defaults filled in, sequences as lists.

    Raises:
        ConfigError: ``family`` for an unknown family or an import path that cannot be
            imported; ``choices.<key>`` for an unknown key or a bad value.
    """
    if _is_import_path(family):
        _import_user_function(family)
        if not isinstance(choices, dict):
            raise ConfigError("choices", f"expected a mapping, got {choices!r}")
        return {_str_key(k): _json_safe(f"choices.{k}", v) for k, v in choices.items()}
    spec = _family(family)
    return F.to_plain(F.from_mapping(spec.choices_type, choices, "choices"))


def create_model(family: str, choices: dict, *, num_classes: int,
                 input_shape: tuple[int, ...]) -> nn.Module:
    """Build a fresh, randomly initialised network.

    Args:
        family: A built-in family name or a user import path ``package.module:function``.
        choices: The family's keyword arguments (validated here).
        num_classes: Number of output logits.
        input_shape: Shape of one sample: ``(F,)``, ``(C, L)`` or ``(C, H, W)`` (see
            :data:`SHAPES`); a built-in family accepts only the ranks it is made for.

    Returns:
        The network; its output for a batch ``[N, *input_shape]`` is ``[N, num_classes]``.

    Raises:
        ConfigError: for a bad family, choices, ``num_classes`` or ``input_shape`` (also an
            input rank the built-in family does not take), or a user function that does not
            return a :class:`torch.nn.Module`.
    """
    num_classes = F.number("num_classes", num_classes, 1, None, integer=True)
    if (not isinstance(input_shape, (list, tuple)) or len(input_shape) not in SHAPES
            or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in input_shape)):
        raise ConfigError("input_shape", f"expected 1 to 3 positive integers, (F,), (C, L) or (C, H, W), "
                                         f"got {input_shape!r}")
    input_shape = tuple(input_shape)
    choices = validate_choices(family, choices)
    check_rank(family, input_shape)
    if _is_import_path(family):
        model = _import_user_function(family)(num_classes=num_classes, input_shape=input_shape, **choices)
        if not isinstance(model, nn.Module):
            raise ConfigError("family", f"{family!r} returned {type(model).__name__}, expected a torch.nn.Module")
        return model
    spec = _family(family)
    return spec.build(spec.choices_type(**choices), num_classes, input_shape)


def check_rank(family: str, input_shape: tuple[int, ...]) -> None:
    """Raise a one-line ConfigError (``input_shape``) when built-in ``family`` does not take
    inputs of ``input_shape``'s rank; user families take any rank."""
    if _is_import_path(family):
        return
    ranks = _family(family).ranks
    if len(input_shape) not in ranks:
        takes = " or ".join(SHAPES[r] for r in ranks)
        fits = ", ".join(name for name, spec in _BUILTIN.items() if len(input_shape) in spec.ranks)
        raise ConfigError("input_shape", f"family {family!r} takes {takes}, got {tuple(input_shape)!r} "
                                         f"(families for {SHAPES.get(len(input_shape), 'it')}: {fits or 'none'})")


def _family(name: str) -> Family:
    if name not in _BUILTIN:
        allowed = ", ".join(_BUILTIN)
        raise ConfigError("family", f"unknown family {name!r} (allowed: {allowed}, "
                                    "or an import path pkg.module:function)")
    return _BUILTIN[name]


def _is_import_path(family: str) -> bool:
    return ":" in family


def _import_user_function(path: str) -> Callable[..., nn.Module]:
    module_name, _, attr = path.partition(":")
    try:
        if not module_name or not attr or ":" in attr:
            raise ValueError("expected exactly one ':' between a module and a function name")
        function = getattr(importlib.import_module(module_name), attr)
        if not callable(function):
            raise TypeError(f"{attr!r} is a {type(function).__name__}, not a function")
    except Exception as err:  # any import-time failure of user code is a config error
        raise ConfigError("family", f"cannot import {path!r}: {type(err).__name__}: {err}") from err
    return function


def _str_key(key: Any) -> str:
    if not isinstance(key, str) or not key.isidentifier():
        raise ConfigError("choices", f"keys must be identifier strings, got {key!r}")
    return key


def _json_safe(field: str, value: Any) -> Any:
    """``value`` as plain JSON data (tuples become lists), or a ConfigError naming ``field``."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ConfigError(field, f"expected a finite number, got {value!r}")
        return value
    if isinstance(value, (list, tuple)):
        return [_json_safe(field, v) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise ConfigError(field, f"mapping keys must be strings, got {list(value)!r}")
        return {k: _json_safe(f"{field}.{k}", v) for k, v in value.items()}
    raise ConfigError(field, f"expected JSON data (null, bool, number, string, list, mapping), "
                             f"got {type(value).__name__}")

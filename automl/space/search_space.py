"""Joint search spaces (architecture x pruning x quantization x distillation) as YAML data.

A space file is a mapping::

    name: cnn_joint                      # required, non-empty
    description: small CNNs on digits    # optional
    params:                              # ordered: the file order is the sampling order
      arch.family: {fixed: cnn}
      arch.choices.stages: {int: [1, 3]}
      arch.choices.widths: {categorical: [8, 16, 32], per_stage: arch.choices.stages}
      pruning.ratio: {float: [0.0, 0.9], step: 0.05}
      pruning.granularity: {categorical: [unstructured, channel], when: "pruning.ratio > 0"}
      quant.weight_bits: {categorical: [2, 4, 8, 16, 32]}
      quant.activation_bits: {categorical: [8, 32], when: "quant.weight_bits <= 8"}
      distill.enabled: {categorical: [true, false]}
      distill.temperature: {float: [1.0, 8.0], log: true, when: distill.enabled}

Each key is a dotted path into the nested candidate dict (``arch.family``, ``arch.init``,
``arch.choices.<name>``, or ``<group>.<field>`` for the fields of ``PruningConfig``,
``QuantConfig``, ``DistillConfig`` and ``TrainConfig``). Each spec has exactly one type key:

* ``categorical: [v, ...]`` -- scalars (str, int, float, bool, null);
* ``int: [low, high]`` -- optional ``step`` (int > 0) or ``log: true``;
* ``float: [low, high]`` -- optional ``step`` (> 0) or ``log: true``;
* ``fixed: value`` -- any YAML value, not an Optuna parameter;

and optionally ``when: <condition>`` (the param is sampled only when the condition holds,
otherwise it is absent and the candidate's default applies) and, for ``arch.choices.*``
and list-valued config fields (``quant.layer_bits``) that are categorical/int/float,
``per_stage: <int param> | <length>`` (sample one value per
stage: a list whose length is that earlier unconditional int param's value, or a fixed
length such as 7; Optuna names the elements ``<path>.0``, ``<path>.1``, ...).

Conditions use the tiny, safe grammar of :mod:`automl.space.conditions` (never ``eval``).
A NAME must be a param listed *earlier* in the file.

Instead of ``params`` a space may name a Python function ``function: pkg.module:define``;
``define(trial)`` returns the nested candidate dict (define-by-run, no static validation).

Every problem raises :class:`~automl.config.ConfigError` with the file as ``source`` and the
offending field (``params.quant.weight_bits``) in one line. Values of knobs that are
``CandidateConfig`` fields are checked by the config dataclasses themselves, so the allowed
values live in one place (:mod:`automl.config.compression`).
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from automl.candidate.config import INITS
from automl.config import compression as C
from automl.config import fields as F
from automl.config.errors import ConfigError
from automl.config.yaml_file import read_yaml_mapping
from automl.space.conditions import Condition, parse_condition, same_value

GROUPS = ("arch", "pruning", "quant", "share", "distill")
"""The knob groups a joint space can cover (``train`` may also be tuned, but is no group)."""

_GROUP_CLASSES: dict[str, type] = {
    "pruning": C.PruningConfig,
    "quant": C.QuantConfig,
    "share": C.ShareConfig,
    "distill": C.DistillConfig,
    "train": C.TrainConfig,
}
# Other fields set while checking one field, so that cross-field rules (8-bit activations need
# weight_bits <= 8) do not fire on a value that is fine on its own.
_PERMISSIVE_BASE: dict[str, dict[str, Any]] = {"quant": {"weight_bits": 8}}

_TYPE_KEYS = ("categorical", "int", "float", "fixed")
_SPEC_KEYS = _TYPE_KEYS + ("step", "log", "when", "per_stage")
_TOP_KEYS = ("name", "description", "params", "function")
_SCALAR = (str, int, float, bool, type(None))


# --------------------------------------------------------------------------------------------
# --------------------------------------------------------------------------------------------
# Params
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    """One knob of the space: its dotted path, its distribution and its conditions."""

    path: str
    kind: str  # categorical | int | float | fixed
    values: tuple[Any, ...] = ()  # categorical choices
    low: float | int | None = None
    high: float | int | None = None
    step: float | int | None = None
    log: bool = False
    fixed: Any = None
    when: Condition | None = None
    per_stage: str | int | None = None  # length of the sampled list: an earlier int param or a number

    def candidates(self) -> list[Any]:
        """The values whose validity decides the domain: choices, range endpoints or the fixed value."""
        if self.kind == "categorical":
            return list(self.values)
        if self.kind in ("int", "float"):
            return [self.low, self.high] if self.low != self.high else [self.low]
        return [self.fixed]

    def first(self) -> Any:
        return self.candidates()[0]

    def suggest_one(self, trial: Any, name: str) -> Any:
        if self.kind == "categorical":
            return trial.suggest_categorical(name, list(self.values))
        if self.kind == "int":
            if self.log:
                return trial.suggest_int(name, self.low, self.high, log=True)
            return trial.suggest_int(name, self.low, self.high, step=self.step or 1)
        if self.kind == "float":
            if self.log:
                return trial.suggest_float(name, self.low, self.high, log=True)
            value = trial.suggest_float(name, self.low, self.high, step=self.step)
            return round(value, 10) if self.step else value  # 0.30000000000000004 -> 0.3
        return copy.deepcopy(self.fixed)

    def distribution(self) -> Any:
        """The Optuna distribution :meth:`suggest_one` samples from (``None`` for a fixed value)."""
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        if self.kind == "categorical":
            return CategoricalDistribution(list(self.values))
        if self.kind == "int":
            return IntDistribution(self.low, self.high, log=self.log, step=1 if self.log else self.step or 1)
        if self.kind == "float":
            return FloatDistribution(self.low, self.high, log=self.log, step=None if self.log else self.step)
        return None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.kind == "categorical":
            out["categorical"] = list(self.values)
        elif self.kind in ("int", "float"):
            out[self.kind] = [self.low, self.high]
            if self.step is not None:
                out["step"] = self.step
            if self.log:
                out["log"] = True
        else:
            out["fixed"] = copy.deepcopy(self.fixed)
        if self.per_stage is not None:
            out["per_stage"] = self.per_stage
        if self.when is not None:
            out["when"] = self.when.text
        return out


def _parse_param(path: Any, spec: Any, src: str | None) -> Param:
    where = f"params.{path}"
    if not isinstance(path, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)+", path):
        raise ConfigError(f"params.{path}", "expected a dotted knob path such as quant.weight_bits", src)
    _check_path(path, where, src)
    if not isinstance(spec, dict):
        raise ConfigError(where, f"expected a mapping with one of {', '.join(_TYPE_KEYS)}, "
                                 f"got {spec!r}", src)
    unknown = [k for k in spec if k not in _SPEC_KEYS]
    if unknown:
        raise ConfigError(f"{where}.{unknown[0]}",
                          f"unknown key (allowed: {', '.join(_SPEC_KEYS)})", src)
    kinds = [k for k in _TYPE_KEYS if k in spec]
    if len(kinds) != 1:
        got = "none" if not kinds else ", ".join(kinds)
        raise ConfigError(where, f"expected exactly one type key ({', '.join(_TYPE_KEYS)}), got {got}",
                          src)
    kind = kinds[0]
    raw = spec[kind]
    step, log = spec.get("step"), spec.get("log", False)
    if kind not in ("int", "float") and ("step" in spec or "log" in spec):
        raise ConfigError(f"{where}.{'step' if 'step' in spec else 'log'}",
                          f"only int and float params take step/log, not {kind}", src)
    if not isinstance(log, bool):
        raise ConfigError(f"{where}.log", f"expected true or false, got {log!r}", src)
    when = None
    if "when" in spec:
        when = parse_condition(spec["when"], f"{where}.when", src)
    per_stage = spec.get("per_stage")
    if per_stage is not None and not (
            isinstance(per_stage, str)
            or (isinstance(per_stage, int) and not isinstance(per_stage, bool) and 1 <= per_stage <= C.MAX_LAYER_GROUPS)):
        raise ConfigError(f"{where}.per_stage", f"expected the name of an earlier int param or a "
                                                f"fixed length 1..{C.MAX_LAYER_GROUPS}, got {per_stage!r}", src)
    if per_stage is not None and not (path.startswith("arch.choices.") or path in _list_fields()):
        raise ConfigError(f"{where}.per_stage", "only arch.choices.<name> params and list fields "
                                                f"({', '.join(sorted(_list_fields()))}) can be per_stage", src)
    if kind == "fixed":
        if per_stage is not None:
            raise ConfigError(f"{where}.per_stage", "a fixed value cannot be per_stage; "
                                                    "write the whole list as the fixed value", src)
        return Param(path, kind, fixed=raw, when=when)
    if kind == "categorical":
        if not isinstance(raw, list) or not raw:
            raise ConfigError(f"{where}.categorical", f"expected a non-empty list, got {raw!r}", src)
        for v in raw:
            if not isinstance(v, _SCALAR):
                raise ConfigError(f"{where}.categorical",
                                  f"choices must be scalars (text, number, bool, null), got {v!r}", src)
        for a_i, a in enumerate(raw):
            if any(same_value(a, b) and type(a) is type(b) for b in raw[:a_i]):
                raise ConfigError(f"{where}.categorical", f"duplicate choice {a!r}", src)
        return Param(path, kind, values=tuple(raw), when=when, per_stage=per_stage)
    # int / float range
    if not isinstance(raw, list) or len(raw) != 2:
        raise ConfigError(f"{where}.{kind}", f"expected [low, high], got {raw!r}", src)
    lo, hi = raw
    for v in (lo, hi):
        ok = (isinstance(v, int) if kind == "int" else isinstance(v, (int, float)))
        if isinstance(v, bool) or not ok or (isinstance(v, float) and not math.isfinite(v)):
            what = "integers" if kind == "int" else "finite numbers"
            raise ConfigError(f"{where}.{kind}", f"expected [low, high] as {what}, got {raw!r}", src)
    if lo > hi:
        raise ConfigError(f"{where}.{kind}", f"low {lo!r} is greater than high {hi!r}", src)
    if step is not None:
        ok = isinstance(step, int) if kind == "int" else isinstance(step, (int, float))
        if isinstance(step, bool) or not ok or not step > 0:
            raise ConfigError(f"{where}.step", f"expected a positive {'integer' if kind == 'int' else 'number'}, "
                                               f"got {step!r}", src)
        if log:
            raise ConfigError(f"{where}.step", "step and log cannot be combined", src)
    if log and lo <= 0:
        raise ConfigError(f"{where}.log", f"a log scale needs low > 0, got {lo!r}", src)
    if kind == "float":
        lo, hi = float(lo), float(hi)
        step = float(step) if step is not None else None
    return Param(path, kind, low=lo, high=hi, step=step, log=log, when=when, per_stage=per_stage)


def _list_fields() -> set[str]:
    """``group.field`` paths of the config fields that hold a list (e.g. quant.layer_bits)."""
    return {f"{g}.{f.name}" for g, cls_ in _GROUP_CLASSES.items() for f in dataclasses.fields(cls_)
            if "tuple[" in str(f.type) or "list[" in str(f.type)}


def _check_path(path: str, where: str, src: str | None) -> None:
    parts = path.split(".")
    group = parts[0]
    allowed_groups = ("arch",) + tuple(_GROUP_CLASSES)
    if group not in allowed_groups:
        raise ConfigError(where, f"unknown knob group {group!r} (allowed: {', '.join(allowed_groups)})",
                          src)
    if group == "arch":
        if path in ("arch.family", "arch.init") or (len(parts) == 3 and parts[1] == "choices"):
            return
        raise ConfigError(where, "unknown arch knob (allowed: arch.family, arch.init, arch.choices.<name>)", src)
    names = [f.name for f in dataclasses.fields(_GROUP_CLASSES[group])]
    if len(parts) != 2 or parts[1] not in names:
        raise ConfigError(where, f"unknown knob (allowed: {', '.join(group + '.' + n for n in names)})",
                          src)


# --------------------------------------------------------------------------------------------
# The space
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchSpace:
    """A joint search space; :meth:`suggest` turns an Optuna trial into a nested candidate dict."""

    name: str
    description: str = ""
    params: tuple[Param, ...] = ()
    function: str | None = None  # "pkg.module:define" for a define-by-run user space
    source: str | None = field(default=None, compare=False)

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Any, source: str | None = None) -> "SearchSpace":
        src = source
        if not isinstance(data, Mapping):
            raise ConfigError("", f"expected a mapping, got {type(data).__name__}", src)
        unknown = [k for k in data if k not in _TOP_KEYS]
        if unknown:
            raise ConfigError(str(unknown[0]), f"unknown key (allowed: {', '.join(_TOP_KEYS)})", src)
        name = data.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ConfigError("name", f"expected a non-empty string, got {name!r}", src)
        description = data.get("description", "") or ""
        if not isinstance(description, str):
            raise ConfigError("description", f"expected a string, got {description!r}", src)
        has_params, has_fn = "params" in data, "function" in data
        if has_params == has_fn:
            raise ConfigError("params", "give exactly one of 'params' (a mapping of knobs) or "
                                        "'function' (pkg.module:define)", src)
        if has_fn:
            fn = data["function"]
            if not isinstance(fn, str) or not re.fullmatch(r"[\w.]+:[\w.]+", fn):
                raise ConfigError("function", f"expected 'pkg.module:function', got {fn!r}", src)
            _resolve_function(fn, src)
            return cls(name=name, description=description, function=fn, source=src)
        raw = data["params"]
        if not isinstance(raw, Mapping):
            raise ConfigError("params", f"expected a mapping of knob path -> spec, got "
                                        f"{type(raw).__name__}", src)
        if not raw:
            raise ConfigError("params", "is empty: list at least one knob", src)
        params: list[Param] = []
        seen: dict[str, Param] = {}
        for path, spec in raw.items():
            p = _parse_param(path, spec, src)
            where = f"params.{path}"
            if p.when is not None:
                for ref in p.when.names:
                    if ref == path:
                        raise ConfigError(f"{where}.when", "a param cannot depend on itself", src)
                    if ref not in seen:
                        later = ref in raw
                        raise ConfigError(f"{where}.when",
                                          f"refers to {ref!r}, which is "
                                          + ("listed later (params are sampled in file order)"
                                             if later else "not a param of this space"), src)
            if isinstance(p.per_stage, str):
                ref = seen.get(p.per_stage)
                if ref is None:
                    raise ConfigError(f"{where}.per_stage",
                                      f"{p.per_stage!r} must be an int param listed earlier", src)
                ok = (ref.kind == "int" or (ref.kind == "fixed" and isinstance(ref.fixed, int)
                                            and not isinstance(ref.fixed, bool)))
                if not ok or ref.when is not None or ref.per_stage is not None:
                    raise ConfigError(f"{where}.per_stage",
                                      f"{p.per_stage!r} must be an unconditional int (or fixed int) param",
                                      src)
                if (ref.low if ref.kind == "int" else ref.fixed) < 0:
                    raise ConfigError(f"{where}.per_stage", f"{p.per_stage!r} can be negative", src)
            # A nested path must not clash with a leaf (arch.choices vs arch.choices.x is fine).
            for other in seen:
                if other.startswith(path + ".") or path.startswith(other + "."):
                    raise ConfigError(where, f"overlaps with {other!r}", src)
            seen[path] = p
            params.append(p)
        space = cls(name=name, description=description, params=tuple(params), source=src)
        space._check_domains()
        return space

    def _check_domains(self) -> None:
        """Every candidate value / endpoint must pass the CandidateConfig field it feeds."""
        src = self.source
        for p in self.params:
            group, _, rest = p.path.partition(".")
            if p.path == "arch.init":
                for v in p.candidates():
                    try:
                        F.one_of("init", v, INITS)
                    except ConfigError as err:
                        raise ConfigError("params.arch.init", err.message, src) from None
            if group not in _GROUP_CLASSES:
                continue
            cls_ = _GROUP_CLASSES[group]
            for v in p.candidates():
                kwargs = {k: b for k, b in _PERMISSIVE_BASE.get(group, {}).items() if k != rest}
                kwargs[rest] = [v] if p.per_stage is not None else v
                try:
                    cls_(**kwargs)
                except ConfigError as err:
                    raise ConfigError(f"params.{p.path}", err.message, src) from None
        self._check_arch()

    def _check_arch(self) -> None:
        """Validate arch choices through the family's own validator (when the family is fixed)."""
        by_path = {p.path: p for p in self.params}
        fam = by_path.get("arch.family")
        if fam is not None:
            for v in fam.candidates():
                if not isinstance(v, str) or not v:
                    raise ConfigError("params.arch.family", f"expected a family name, got {v!r}",
                                      self.source)
        if fam is None or fam.kind != "fixed":
            return
        try:
            from automl.models.registry import validate_choices
        except ImportError:  # the registry is not importable here: the trial will validate
            return
        arch = [p for p in self.params if p.path.startswith("arch.choices.")]
        if not arch:
            return

        def corner(overrides: dict[str, Any]) -> dict[str, Any]:
            vals: dict[str, Any] = {}
            for p in arch:
                key = p.path.split(".", 2)[2]
                vals[key] = overrides.get(p.path, p.first())
            for p in arch:
                if p.per_stage is not None:
                    key = p.path.split(".", 2)[2]
                    n = p.per_stage if isinstance(p.per_stage, int) else \
                        overrides.get(p.per_stage, by_path[p.per_stage].first())
                    vals[key] = [vals[key]] * int(n)
            return vals

        for p in arch:
            for v in p.candidates():
                choices = corner({p.path: v})
                try:
                    validate_choices(fam.fixed, choices)
                except ConfigError as err:
                    key = p.path.split(".", 2)[2]
                    msg = err.message if (err.field or "").endswith(key) or not err.field \
                        else f"{err.field}: {err.message}"
                    raise ConfigError(f"params.{p.path}", f"{msg} (with choices {choices})",
                                      self.source) from None

    # -- use ----------------------------------------------------------------------------------

    def suggest(self, trial: Any, base: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Sample one candidate: the nested dict ``CandidateConfig.from_dict`` takes.

        ``base`` (e.g. ``{"train": {...}}``, the study's per-trial budget) is deep-merged
        under the sampled values.
        """
        if self.function is not None:
            fn = _resolve_function(self.function, self.source)
            made = fn(trial)
            if not isinstance(made, Mapping):
                raise ConfigError("function", f"{self.function} returned {type(made).__name__}, "
                                              "expected the nested candidate dict", self.source)
            sampled = copy.deepcopy(dict(made))
        else:
            flat: dict[str, Any] = {}
            for p in self.params:
                if p.when is not None and not p.when.holds(flat):
                    continue
                if p.per_stage is not None:
                    n = p.per_stage if isinstance(p.per_stage, int) else int(flat[p.per_stage])
                    flat[p.path] = [p.suggest_one(trial, f"{p.path}.{i}") for i in range(n)]
                else:
                    flat[p.path] = p.suggest_one(trial, p.path)
            sampled = {}
            for path, value in flat.items():
                _set_path(sampled, path, value)
        return _deep_merge(copy.deepcopy(dict(base or {})), sampled)

    def distribution_of(self, name: str) -> Any:
        """The Optuna distribution of parameter ``name`` (``<path>`` or, per stage, ``<path>.<i>``);
        ``None`` when the space does not sample it (or is a function: unknown until it runs)."""
        for p in self.params:
            stem, _, index = name.rpartition(".")
            if p.path == name and p.per_stage is None or p.per_stage is not None and p.path == stem and index.isdigit():
                return p.distribution()
        return None

    def groups(self) -> tuple[str, ...]:
        """Which of ``arch``, ``pruning``, ``quant``, ``share``, ``distill`` the space samples or fixes."""
        if self.function is not None:
            return tuple(g for g in GROUPS if g in self._probe_function())
        tops = {p.path.split(".", 1)[0] for p in self.params}
        return tuple(g for g in GROUPS if g in tops)

    def _probe_function(self) -> dict[str, Any]:
        import optuna

        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
        return self.suggest(study.ask())

    def param_names(self) -> list[str]:
        """The knob paths in sampling order."""
        return [p.path for p in self.params]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.description:
            out["description"] = self.description
        if self.function is not None:
            out["function"] = self.function
        else:
            out["params"] = {p.path: p.to_dict() for p in self.params}
        return out


def load_space(path: str | Path) -> SearchSpace:
    """Load and validate a search-space YAML file (see the module docstring for the format)."""
    data = read_yaml_mapping(path, "search space file")
    return SearchSpace.from_dict(data, source=str(path))


def _resolve_function(spec: str, src: str | None) -> Callable[[Any], Any]:
    module_name, _, attr = spec.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as err:
        raise ConfigError("function", f"cannot import {module_name!r}: {err}", src) from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ConfigError("function", f"{module_name!r} has no attribute {attr!r}", src)
        obj = getattr(obj, part)
    if not callable(obj):
        raise ConfigError("function", f"{spec} is not callable", src)
    return obj


def _set_path(tree: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    node = tree
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def _deep_merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(base.get(k), dict):
            base[k] = _deep_merge(base[k], v)
        else:
            base[k] = copy.deepcopy(v)
    return base

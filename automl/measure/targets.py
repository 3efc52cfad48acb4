"""Deployment targets: the runtime, device and settings a compressed model will ship on.

A study names its targets (``targets: [ort-cpu, openvino-cpu]``, default ``[ort-cpu]``); every
candidate is scored (validation and test accuracy) and timed (interleaved with the teacher on
the same target) on each. A target is data: the built-ins below, or a mapping in a study file
with the same fields (``{name: ort-2t, runtime: onnxruntime, threads: 2}``), or one registered
from Python with :func:`register_target`. The runtime code behind a target's ``runtime`` lives in
:mod:`automl.measure.runtimes`.

Fields:

* ``runtime``: ``onnxruntime`` or ``openvino`` (see :data:`RUNTIMES`);
* ``device``: ``cpu`` or ``gpu``; a ``gpu`` target needs an NVIDIA GPU and the runtime's GPU
  support on the timing node (checked when a study starts, one line if missing);
* ``threads``: intra-op threads; ``null`` (default) is the study's (``resources_per_trial.cpu``,
  1 by default: today's figures), ``all`` every core of the timing node;
* ``provider``: ONNX Runtime execution provider (default ``CPUExecutionProvider``);
* ``precision``: OpenVINO's ``INFERENCE_PRECISION_HINT`` (``f32``, ``bf16``, ``f16``; ``null``:
  the plugin's default, which is bf16 on CPUs that have it). Precision is part of a target:
  accuracy is measured per target, never assumed equal to another's;
* ``options``: extra runtime settings as strings (ORT session config entries, OpenVINO
  properties), recorded with every figure.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

from automl.config.errors import ConfigError

RUNTIMES = ("onnxruntime", "openvino")
DEVICES = ("cpu", "gpu")
PRECISIONS = ("f32", "bf16", "f16")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_KEYS = ("name", "runtime", "device", "threads", "provider", "precision", "options", "description")


@dataclass(frozen=True)
class Target:
    """One deployment target (see module doc)."""

    name: str
    runtime: str
    device: str = "cpu"
    threads: int | str | None = None  # None: the study's threads; "all": every core of the timing node
    provider: str | None = None  # ONNX Runtime execution provider
    precision: str | None = None  # OpenVINO inference precision hint (None: the plugin's default)
    options: dict[str, str] = field(default_factory=dict)
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ConfigError("targets.name", f"expected lower-case letters, digits, '_', '.', '-', got {self.name!r}")
        where = f"targets[{self.name}]"
        if self.runtime not in RUNTIMES:
            raise ConfigError(f"{where}.runtime", f"{self.runtime!r} is not allowed (allowed: {', '.join(RUNTIMES)})")
        if self.device not in DEVICES:
            raise ConfigError(f"{where}.device", f"{self.device!r} is not allowed (allowed: {', '.join(DEVICES)})")
        t = self.threads
        if not (t is None or t == "all" or (isinstance(t, int) and not isinstance(t, bool) and 1 <= t <= 1024)):
            raise ConfigError(f"{where}.threads", f"expected null, 'all' or an integer in [1, 1024], got {t!r}")
        if self.precision is not None and self.precision not in PRECISIONS:
            raise ConfigError(f"{where}.precision",
                              f"{self.precision!r} is not allowed (allowed: null, {', '.join(PRECISIONS)})")
        if self.precision is not None and self.runtime != "openvino":
            raise ConfigError(f"{where}.precision", "only an openvino target takes a precision hint")
        if self.provider is not None and self.runtime != "onnxruntime":
            raise ConfigError(f"{where}.provider", "only an onnxruntime target takes an execution provider")
        if not isinstance(self.options, Mapping) or not all(isinstance(k, str) for k in self.options):
            raise ConfigError(f"{where}.options", f"expected a mapping of setting names to values, got {self.options!r}")
        object.__setattr__(self, "options", {k: str(v) for k, v in self.options.items()})

    def resolved_threads(self, study_threads: int) -> int:
        """The intra-op threads this target runs with, on this machine."""
        if self.threads is None:
            return max(1, int(study_threads))
        if self.threads == "all":
            return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        return int(self.threads)

    @property
    def ort_provider(self) -> str:
        return self.provider or ("CUDAExecutionProvider" if self.device == "gpu" else "CPUExecutionProvider")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Target":
        bad = [k for k in data if k not in _KEYS]
        if bad:
            raise ConfigError(f"targets.{bad[0]}", f"unknown key (allowed: {', '.join(_KEYS)})")
        if "name" not in data or "runtime" not in data:
            raise ConfigError("targets", f"a target needs at least a name and a runtime, got {dict(data)!r}")
        return cls(**{k: (dict(v) if k == "options" else v) for k, v in data.items()})


BUILTIN: dict[str, Target] = {t.name: t for t in (
    Target("ort-cpu", "onnxruntime", description="ONNX Runtime, CPU execution provider, the study's threads (1)"),
    Target("ort-cpu-all-cores", "onnxruntime", threads="all",
           description="ONNX Runtime, CPU execution provider, every core of the timing node"),
    Target("openvino-cpu", "openvino", description="OpenVINO CPU plugin at its default precision (bf16 where the "
                                                   "CPU has it), the study's threads (1)"),
    Target("openvino-cpu-f32", "openvino", precision="f32",
           description="OpenVINO CPU plugin held to f32, the study's threads (1)"),
    Target("ort-cuda", "onnxruntime", device="gpu", provider="CUDAExecutionProvider",
           description="ONNX Runtime, CUDA execution provider (needs an NVIDIA GPU and onnxruntime-gpu)"),
    Target("ort-tensorrt", "onnxruntime", device="gpu", provider="TensorrtExecutionProvider",
           description="ONNX Runtime, TensorRT execution provider (needs an NVIDIA GPU, onnxruntime-gpu and TensorRT)"),
)}
DEFAULT_TARGET = BUILTIN["ort-cpu"]
_REGISTERED: dict[str, Target] = {}


def register_target(target: Target) -> Target:
    """Make ``target`` nameable in any study file of this process (a name may not shadow a built-in)."""
    if target.name in BUILTIN:
        raise ConfigError("targets.name", f"{target.name!r} is a built-in target; give yours another name")
    _REGISTERED[target.name] = target
    return target


def known_targets() -> dict[str, Target]:
    return {**BUILTIN, **_REGISTERED}


def parse_targets(raw: Any) -> tuple[Target, ...]:
    """A study's ``targets`` list: names of known targets and/or target mappings (``None``: ``[ort-cpu]``).
    The first is the study's primary target: plain ``accuracy`` and ``latency_ms`` are its figures."""
    if raw is None:
        return (DEFAULT_TARGET,)
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise ConfigError("targets", f"expected a non-empty list of target names or mappings, got {raw!r}")
    known = known_targets()
    out: list[Target] = []
    for i, item in enumerate(raw):
        if isinstance(item, str):
            if item not in known:
                raise ConfigError(f"targets[{i}]", f"unknown target {item!r} (known: {', '.join(known)}; or give "
                                                   "a mapping with name and runtime)")
            target = known[item]
        elif isinstance(item, Mapping):
            target = Target.from_dict(item)
            if target.name in known and known[target.name] != target:
                raise ConfigError(f"targets[{i}].name", f"{target.name!r} is already a target with other settings; "
                                                        "give yours another name")
        else:
            raise ConfigError(f"targets[{i}]", f"expected a target name or a mapping, got {item!r}")
        if any(t.name == target.name for t in out):
            raise ConfigError(f"targets[{i}]", f"duplicate target {target.name!r}")
        out.append(target)
    return tuple(out)


def targets_from_record(raw: list[Mapping[str, Any]] | None) -> tuple[Target, ...]:
    """The targets a launched study recorded (``None``: a study from before targets: ``[ort-cpu]``)."""
    return tuple(Target.from_dict(t) for t in raw) if raw else (DEFAULT_TARGET,)

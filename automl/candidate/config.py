"""The typed, validated description of ONE candidate: what to build and how to compress it.

A :class:`CandidateConfig` is everything :func:`automl.evaluate_candidate` needs besides the
data: architecture choices, pruning, quantization, distillation and the training budget.
It round-trips through a plain dict (``to_dict`` / ``from_dict``) so a trial can be logged
and rebuilt exactly.

Example:
    >>> from automl.candidate.config import CandidateConfig
    >>> cfg = CandidateConfig.from_dict({
    ...     "arch": {"family": "cnn", "choices": {"stages": 2, "widths": [16, 32]}},
    ...     "pruning": {"ratio": 0.5, "granularity": "channel"},
    ...     "quant": {"weight_bits": 8, "activation_bits": 8, "mode": "ptq"},
    ...     "distill": {"enabled": True, "alpha": 0.3, "temperature": 4.0},
    ... })
    >>> CandidateConfig.from_dict(cfg.to_dict()) == cfg
    True
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from automl.config import fields as F
from automl.config.compression import (
    DistillConfig,
    PruningConfig,
    QuantConfig,
    ShareConfig,
    TrainConfig,
)
from automl.config.errors import ConfigError
from automl.models.registry import validate_choices

INITS = ("scratch", "teacher")


@dataclass(frozen=True)
class ArchConfig:
    """Which network to build.

    ``family`` is a registered name (``cnn``, ``mobilenet_v2``) or an import path
    ``package.module:function`` for a user family; ``choices`` are that family's keyword
    arguments, validated by the family (see :mod:`automl.models.registry`).

    ``init: teacher`` starts the candidate from the study's trained teacher instead of random
    weights: the architecture must take the teacher's weights layer for layer (its family and
    shapes; choices that keep every shape, such as strides, may differ), and pruning then
    removes the teacher's least important channels (:mod:`automl.models.inherit`).
    """

    family: str = "cnn"  # registry key, or "pkg.module:build" for a user family
    choices: dict[str, Any] = field(default_factory=dict)  # the family's sampled choices
    init: str = "scratch"  # "scratch": random weights; "teacher": the trained teacher's weights

    def __post_init__(self) -> None:
        F.text("family", self.family)
        F.one_of("init", self.init, INITS)
        if not isinstance(self.choices, dict):
            raise ConfigError("choices", f"expected a mapping, got {self.choices!r}")
        object.__setattr__(self, "choices", validate_choices(self.family, dict(self.choices)))


@dataclass(frozen=True)
class CandidateConfig:
    arch: ArchConfig = field(default_factory=ArchConfig)
    pruning: PruningConfig = field(default_factory=PruningConfig)
    quant: QuantConfig = field(default_factory=QuantConfig)
    share: ShareConfig = field(default_factory=ShareConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        share = self.share
        if (self.pruning.enabled and self.pruning.granularity == "unstructured"
                and 2 in (share.clusters, *(share.layer_clusters or ()), share.edge_clusters)):
            raise ConfigError("share", "k = 2 beside unstructured pruning leaves one value besides the pruned "
                                       "zeros (every surviving weight would get one sign and size): use k >= 3, "
                                       "or channel pruning")

    @classmethod
    def from_dict(cls, data: Any, prefix: str = "") -> "CandidateConfig":
        return F.from_mapping(cls, data, prefix)

    def to_dict(self) -> dict[str, Any]:
        plain = F.to_plain(self)
        if self.share == ShareConfig():  # weight sharing off: the dict (and every digest, cache key
            del plain["share"]           # and recorded config) reads as before the knob existed
        return plain

    @property
    def needs_teacher(self) -> bool:
        """Whether building this candidate needs the study's teacher (distillation or init)."""
        return self.distill.needs_teacher or self.arch.init == "teacher"

    def digest(self) -> str:
        """A stable short hash of the config (cache keys, artifact names)."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def with_teacher_arch(candidate: dict[str, Any], teacher_arch: dict[str, Any] | None) -> dict[str, Any]:
    """A sampled candidate dict with ``arch.init: teacher`` completed from the teacher's arch.

    A space leaves the architecture of such candidates out (or samples only choices that keep
    the teacher's shapes): the family and every choice it does not set are the teacher's, so
    the candidate's recorded config still describes exactly what was built. Other candidates
    are returned unchanged.

    Raises:
        ConfigError: the candidate names another family than the teacher's, or there is no teacher.
    """
    arch = candidate.get("arch")
    if not isinstance(arch, dict) or arch.get("init") != "teacher":
        return candidate
    if teacher_arch is None:
        raise ConfigError("arch.init", "'teacher' needs the study's teacher, and there is none")
    family = arch.get("family", teacher_arch["family"])
    if family != teacher_arch["family"]:
        raise ConfigError("arch.family", f"{family!r} with init: teacher, but the teacher is "
                                         f"{teacher_arch['family']!r}; a teacher-initialised candidate has its family")
    choices = {**teacher_arch.get("choices", {}), **(arch.get("choices") or {})}
    return {**candidate, "arch": {**arch, "family": family, "choices": choices}}

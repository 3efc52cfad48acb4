"""The typed, validated description of ONE candidate: what to build and how to compress it.

A :class:`CandidateConfig` is everything :func:`automl.evaluate_candidate` needs besides the
data: architecture choices, pruning, quantization, distillation and the training budget.
It round-trips through a plain dict (``to_dict`` / ``from_dict``) so a trial can be logged
and rebuilt exactly.

Example:
    >>> from automl.config import CandidateConfig
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
from automl.config.errors import ConfigError

WEIGHT_BITS = (2, 4, 8, 16, 32)
ACTIVATION_BITS = (8, 32)
QUANT_MODES = ("ptq", "qat")
GRANULARITIES = ("unstructured", "channel")
MAX_PRUNING_RATIO = 0.95
LAYER_BITS = (2, 4, 8)  # per-layer widths (integer weights only)
MAX_LAYER_GROUPS = 64
SCHEDULES = ("constant", "cosine")
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
        from automl.models.registry import validate_choices  # late: models import config

        object.__setattr__(self, "choices", validate_choices(self.family, dict(self.choices)))


@dataclass(frozen=True)
class PruningConfig:
    ratio: float = 0.0  # fraction removed: weights (unstructured) or channels (channel); 0 = off
    granularity: str = "unstructured"  # "unstructured" magnitude, or "channel" (structured)
    finetune_epochs: int = 2  # recovery epochs after pruning (with the teacher when distilling)
    # channel pruning keeps a multiple of this many channels per layer (Torch-Pruning's round_to):
    # ORT's kernels run odd channel counts slower (a MobileNetV2 pruned 30% to 11/67/33
    # channels ran 1.65x slower than unpruned; rounded to 8, 1.3x faster); None: no rounding
    round_to: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "ratio", F.number("ratio", self.ratio, 0.0, MAX_PRUNING_RATIO))
        F.one_of("granularity", self.granularity, GRANULARITIES)
        if self.round_to is not None:
            object.__setattr__(self, "round_to", F.number("round_to", self.round_to, 1, 1024, integer=True))
        object.__setattr__(self, "finetune_epochs",
                           F.number("finetune_epochs", self.finetune_epochs, 0, 100, integer=True))

    @property
    def enabled(self) -> bool:
        return self.ratio > 0


@dataclass(frozen=True)
class QuantConfig:
    """How weights (and activations) are quantized; see :mod:`automl.export.artifact` for the
    stored form of each width.

    Per-layer widths (both optional; ``None`` keeps every layer at ``weight_bits``, exactly
    as before they existed): ``layer_bits`` gives the quantizable layers (Conv/Linear, in
    module order) their widths in contiguous groups, one entry per group (one per layer when
    the lengths match; for the ``cnn`` family a list of ``stages`` entries is one per stage,
    the classifier going with the last); ``edge_bits`` then overrides the first and the last
    layer, which are small and the most sensitive. Both need integer weights
    (``weight_bits <= 8``); a list longer than the model's layers is a ConfigError raised
    when the model is known (:func:`automl.quantization.bits.layer_bit_widths`).
    """

    weight_bits: int = 32  # 2/4: ONNX INT4/INT2 + per-channel scales; 8: int8; 16: fp16; 32: off
    activation_bits: int = 32  # 8 (needs weight_bits <= 8) or 32
    mode: str = "ptq"  # "ptq": calibrate on training data; "qat": fake-quant fine-tuning
    qat_epochs: int = 2  # fake-quantized training epochs when mode == "qat"
    layer_bits: tuple[int, ...] | None = None  # 2/4/8 per group of layers in module order; None = weight_bits
    edge_bits: int | None = None  # 2/4/8 for the first and last layer; None = as the others

    def __post_init__(self) -> None:
        F.one_of("weight_bits", self.weight_bits, WEIGHT_BITS)
        F.one_of("activation_bits", self.activation_bits, ACTIVATION_BITS)
        F.one_of("mode", self.mode, QUANT_MODES)
        object.__setattr__(self, "qat_epochs",
                           F.number("qat_epochs", self.qat_epochs, 0, 100, integer=True))
        if self.activation_bits == 8 and self.weight_bits > 8:
            raise ConfigError("activation_bits",
                              f"8-bit activations need weight_bits <= 8, got weight_bits={self.weight_bits}")
        if self.layer_bits is not None:
            lb = self.layer_bits
            if isinstance(lb, (str, bytes)) or not isinstance(lb, (list, tuple)) or not 1 <= len(lb) <= MAX_LAYER_GROUPS:
                raise ConfigError("layer_bits", f"expected a list of 1..{MAX_LAYER_GROUPS} widths "
                                                f"from {LAYER_BITS}, got {lb!r}")
            object.__setattr__(self, "layer_bits", tuple(F.one_of("layer_bits", b, LAYER_BITS) for b in lb))
        if self.edge_bits is not None:
            F.one_of("edge_bits", self.edge_bits, LAYER_BITS)
        if self.per_layer and self.weight_bits > 8:
            field_ = "layer_bits" if self.layer_bits is not None else "edge_bits"
            raise ConfigError(field_, f"per-layer widths need integer weights (weight_bits <= 8), "
                                      f"got weight_bits={self.weight_bits}")

    @property
    def enabled(self) -> bool:
        return self.weight_bits < 32 or self.activation_bits < 32

    @property
    def integer_weights(self) -> bool:
        return self.weight_bits <= 8

    @property
    def per_layer(self) -> bool:
        """Whether layer widths may differ from ``weight_bits`` (``layer_bits``/``edge_bits`` set)."""
        return self.layer_bits is not None or self.edge_bits is not None


@dataclass(frozen=True)
class DistillConfig:
    enabled: bool = False  # train against the teacher's soft labels
    alpha: float = 0.5  # weight of the hard-label CE; 1 - alpha weights T^2 * KL
    temperature: float = 4.0  # softmax temperature T > 0

    def __post_init__(self) -> None:
        F.boolean("enabled", self.enabled)
        object.__setattr__(self, "alpha", F.number("alpha", self.alpha, 0.0, 1.0))
        object.__setattr__(self, "temperature",
                           F.number("temperature", self.temperature, 0.0, 100.0, lo_open=True))

    @property
    def needs_teacher(self) -> bool:
        """alpha == 1 means pure hard-label training: no teacher is loaded or run."""
        return self.enabled and self.alpha < 1.0


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 10  # training epochs before compression
    batch_size: int = 64
    lr: float = 3e-3  # Adam learning rate (fine-tuning uses lr / 3)
    weight_decay: float = 0.0
    seed: int = 0  # seeds init, data order and calibration: a candidate is a pure function of its config
    # learning rate over each phase's steps: "constant", or "cosine" (annealed to 0 by the phase's last
    # step, so the weights a phase ends with are not one noisy Adam step away from a good point)
    schedule: str = "constant"

    def __post_init__(self) -> None:
        F.one_of("schedule", self.schedule, SCHEDULES)
        object.__setattr__(self, "epochs", F.number("epochs", self.epochs, 0, 1000, integer=True))
        object.__setattr__(self, "batch_size", F.number("batch_size", self.batch_size, 1, 65536, integer=True))
        object.__setattr__(self, "lr", F.number("lr", self.lr, 0.0, 10.0, lo_open=True))
        object.__setattr__(self, "weight_decay", F.number("weight_decay", self.weight_decay, 0.0, 1.0))
        object.__setattr__(self, "seed", F.number("seed", self.seed, 0, 2**31 - 1, integer=True))


@dataclass(frozen=True)
class CandidateConfig:
    arch: ArchConfig = field(default_factory=ArchConfig)
    pruning: PruningConfig = field(default_factory=PruningConfig)
    quant: QuantConfig = field(default_factory=QuantConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    @classmethod
    def from_dict(cls, data: Any, prefix: str = "") -> "CandidateConfig":
        return F.from_mapping(cls, data, prefix)

    def to_dict(self) -> dict[str, Any]:
        return F.to_plain(self)

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

"""The compression and training settings of a candidate: what the ground-floor techniques read.

:class:`PruningConfig` (read by :mod:`automl.pruning`), :class:`QuantConfig`
(:mod:`automl.quantization`, :mod:`automl.export`), :class:`DistillConfig` and
:class:`TrainConfig` (the candidate's training loop). Each validates itself and
round-trips through a plain dict (:mod:`automl.config.fields`). The whole candidate,
architecture included, is :class:`automl.candidate.config.CandidateConfig`.
"""

from __future__ import annotations

from dataclasses import dataclass

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
MAX_CLUSTERS = 256  # shared values per layer: indices stored at ceil(log2 k) <= 8 bits


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
class ShareConfig:
    """Weight sharing: each layer's weights clustered into ``k`` shared values (k-means), the
    shared values then fine-tuned with the summed gradients of their members (Deep
    Compression). Stored as ``ceil(log2 k)``-bit indices plus a k-entry codebook per layer;
    see :mod:`automl.sharing` and :mod:`automl.export.weight_encoding`.

    Layers (Conv/Linear, module order) are chosen like the per-layer quantization widths
    (:mod:`automl.quantization.bits`): ``clusters`` for every layer, or ``layer_clusters``
    in contiguous groups, then ``edge_clusters`` for the first and the last layer. ``0`` leaves
    a layer unshared (it is quantized as ``quant`` says); a shared layer's weights are not
    quantized further (its codebook is stored in float32, or on the int8 grid of a layer
    with 8-bit activations). With unstructured pruning, zero is one of the k values.
    """

    clusters: int = 0  # k shared values per layer, 2..256; 0 = off
    layer_clusters: tuple[int, ...] | None = None  # k (or 0) per group of layers in module order
    edge_clusters: int | None = None  # k (or 0) for the first and the last layer
    finetune_epochs: int = 2  # epochs that train the shared values (with the teacher when distilling)

    def __post_init__(self) -> None:
        object.__setattr__(self, "clusters", _clusters("clusters", self.clusters))
        if self.layer_clusters is not None:
            lc = self.layer_clusters
            if isinstance(lc, (str, bytes)) or not isinstance(lc, (list, tuple)) or not 1 <= len(lc) <= MAX_LAYER_GROUPS:
                raise ConfigError("layer_clusters", f"expected a list of 1..{MAX_LAYER_GROUPS} cluster counts "
                                                    f"(0 or 2..{MAX_CLUSTERS}), got {lc!r}")
            object.__setattr__(self, "layer_clusters", tuple(_clusters("layer_clusters", k) for k in lc))
        if self.edge_clusters is not None:
            object.__setattr__(self, "edge_clusters", _clusters("edge_clusters", self.edge_clusters))
        object.__setattr__(self, "finetune_epochs",
                           F.number("finetune_epochs", self.finetune_epochs, 0, 100, integer=True))

    @property
    def enabled(self) -> bool:
        return bool(self.clusters or any(self.layer_clusters or ()) or self.edge_clusters)


def _clusters(field_: str, k) -> int:
    k = F.number(field_, k, 0, MAX_CLUSTERS, integer=True)
    if k == 1:
        raise ConfigError(field_, f"1 is not allowed (0 = off, or 2..{MAX_CLUSTERS} shared values)")
    return k


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

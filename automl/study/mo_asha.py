"""Multi-objective early stopping: asynchronous successive halving on a non-dominated order.

MO-ASHA (Schmucker et al., 2021, as in Syne Tune's ``MOASHA``) in its *stopping* form, the
one Ray Tune's ``ASHAScheduler`` uses too: a candidate reports at rungs (training epochs, e.g.
3, or 1, 3, 9); when it reaches a rung it is ranked against every candidate that reached the same
rung before it, and goes on only if it is in the best ``ceil(n / reduction_factor)`` of the
``n`` candidates there. No candidate waits for others (asynchronous), and nothing is ever
promoted back.

The rank is multi-objective. A candidate's vector at a rung is the validation accuracy it
would have if it were compressed now (a copy pruned, recovered for one epoch and, for
post-training quantization, quantized: :func:`automl.candidate.probe.probe_accuracy`; the
network in training can be accurate while its compressed form is not, and the compressed form
is what the search is after) together with the size and latency its compressed artifact will
have; those two do not depend on training (they are fixed by architecture, pruning ratio and
bit widths) and are measured once on a compressed copy, before the first epoch (at the first
rung for a study with nothing to screen): :func:`automl.candidate.probe.probe_objectives`.
The vectors are sorted into non-dominated fronts; within a front, points are taken in
ε-net order (greedy max-min distance in the normalised objective space, starting from the
most accurate), so that the kept share spreads along the front instead of clustering at
one end.

Before that, a *screen*: bytes on disk and latency do not change with training, so a
candidate whose compressed figures (probed before its first epoch) are already beyond
what can count -- the study's reference point, twice the teacher's size or latency, past
which a point adds no hypervolume, or a ``<=`` constraint on such a figure
(:func:`screen_limits`) -- is stopped before it trains. A random start in a joint space
proposes such candidates often (the widest, deepest networks with 8-bit activations), and
they are the slowest to train.

Optuna stays the decision-maker's record: the engine stores each rung vector on the trial
(user attribute ``rung:<epoch>``), a stopped candidate is told ``PRUNED`` and the sampler
sees it (TPE counts pruned trials among the worse ones).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import numpy as np

from automl.candidate.hooks import SCREEN_EPOCH
from automl.candidate.result import base_metric
from automl.config import fields as F
from automl.config.errors import ConfigError
from automl.study.pareto import REFERENCE_BY_METRIC

FIXED_BY_STRUCTURE = ("size_bytes", "latency_ms", "params_nonzero", "macs")  # what the probe measures



@dataclass(frozen=True)
class EarlyStoppingConfig:
    """The ``early_stopping`` block of a study file.

    ``rungs``: training epochs at which candidates are compared (ascending; rungs at or past
    the study's training epochs never fire). ``reduction_factor``: keep the best
    ``1 / reduction_factor`` at each rung. ``min_peers``: a rung stops nobody until this many
    candidates (the newcomer included) have reached it.
    """

    # defaults from benchmarks/search_quality.py on digits (15 training epochs): one rung keeping
    # half beat three rungs keeping a third each, which left the sampler too few finished trials
    rungs: tuple[int, ...] = (3,)
    reduction_factor: float = 2.0
    min_peers: int = 4

    def __post_init__(self) -> None:
        rungs = self.rungs
        if isinstance(rungs, (str, bytes)) or not isinstance(rungs, Sequence) or not rungs:
            raise ConfigError("rungs", f"expected a non-empty list of training epochs, got {rungs!r}")
        checked = tuple(F.number(f"rungs[{i}]", r, 1, 10_000, integer=True) for i, r in enumerate(rungs))
        if list(checked) != sorted(set(checked)):
            raise ConfigError("rungs", f"epochs must be strictly ascending, got {list(checked)}")
        object.__setattr__(self, "rungs", checked)
        object.__setattr__(self, "reduction_factor",
                           F.number("reduction_factor", self.reduction_factor, 1.0, 100.0, lo_open=True))
        object.__setattr__(self, "min_peers", F.number("min_peers", self.min_peers, 1, 10_000, integer=True))

    @classmethod
    def from_setting(cls, value: object, prefix: str = "early_stopping") -> "EarlyStoppingConfig | None":
        """``None``/``false``/``off`` -> no early stopping; ``true``/``on`` -> the defaults; a mapping -> checked."""
        return F.switch(cls, value, prefix)

    def to_dict(self) -> dict:
        return {"rungs": list(self.rungs), "reduction_factor": self.reduction_factor, "min_peers": self.min_peers}


def nondominated_fronts(losses: np.ndarray) -> list[list[int]]:
    """Indices of ``losses`` (n x k, all minimised) grouped into successive non-dominated fronts."""
    n = len(losses)
    remaining = list(range(n))
    fronts: list[list[int]] = []
    while remaining:
        sub = losses[remaining]
        front = [remaining[i] for i in range(len(remaining))
                 if not np.any(np.all(sub <= sub[i], axis=1) & np.any(sub < sub[i], axis=1))]
        fronts.append(front)
        taken = set(front)
        remaining = [i for i in remaining if i not in taken]
    return fronts


def epsilon_net_order(points: np.ndarray) -> list[int]:
    """Greedy max-min (ε-net) order of ``points`` (already normalised): the first is the
    best in the first objective, each next one the farthest from those already taken."""
    n = len(points)
    if n == 0:
        return []
    first = int(np.lexsort(points.T[::-1])[0])
    order = [first]
    dist = np.linalg.norm(points - points[first], axis=1)
    dist[first] = -1.0
    while len(order) < n:
        nxt = int(np.argmax(dist))
        order.append(nxt)
        dist = np.minimum(dist, np.linalg.norm(points - points[nxt], axis=1))
        dist[order] = -1.0
    return order


def ranked(losses: np.ndarray) -> list[int]:
    """All indices, best first: front by front, ε-net order within a front."""
    if len(losses) == 0:
        return []
    ok = np.isfinite(losses)  # an inf (a figure a grace-period peer lacked) must not set the scale
    lo = np.array([col[m].min() if m.any() else 0.0 for col, m in zip(losses.T, ok.T)])
    hi = np.array([col[m].max() if m.any() else 0.0 for col, m in zip(losses.T, ok.T)])
    span = np.where(hi > lo, hi - lo, 1.0)
    scaled = np.where(ok, (losses - lo) / span, 2.0)  # non-finite: beyond the worst finite point
    out: list[int] = []
    for front in nondominated_fronts(losses):
        out.extend(front[i] for i in epsilon_net_order(scaled[front]))
    return out


def screen_limits(objectives: Sequence[tuple[str, str]], teacher: Mapping[str, float],
                  constraints: Iterable[object] = ()) -> dict[str, float]:
    """The largest value of each figure fixed by structure that can still count: for a cost
    objective, the reference point times the teacher's figure (beyond it a point adds no
    hypervolume); for a ``metric <= value`` constraint on such a figure, ``value`` (the
    smaller of the two where both apply)."""
    limits: dict[str, float] = {}
    for name, direction in objectives:
        base = base_metric(name)
        if base in FIXED_BY_STRUCTURE and direction == "minimize" and float(teacher.get(name) or 0) > 0:
            limits[name] = REFERENCE_BY_METRIC[base] * float(teacher[name])
    for c in constraints:
        metric, op, value = getattr(c, "metric", None), getattr(c, "op", None), getattr(c, "value", None)
        if metric is not None and base_metric(metric) in FIXED_BY_STRUCTURE and op == "<=":
            limits[metric] = min(limits.get(metric, math.inf), float(value))
    return limits


@dataclass
class RungBook:
    """Every candidate's vector at every rung, and the go-on / stop rule.

    ``objectives``: ``(name, direction)`` pairs, the study's; rung vectors are mappings by
    name. Keys are trial numbers (or any hashable). Pure Python: the engine's driver holds
    one, filled from the study's stored rung attributes at launch; the search-quality
    benchmark holds one in-process.
    """

    config: EarlyStoppingConfig
    objectives: Sequence[tuple[str, str]]
    seen: dict[int, dict[object, tuple[float, ...]]] = field(default_factory=dict)  # epoch -> key -> vector

    def record(self, key: object, epoch: int, values: Mapping[str, float]) -> bool:
        """Add ``key``'s vector at rung ``epoch``; ``True`` if it goes on, ``False`` if it stops."""
        vector = tuple(float(values[name]) for name, _ in self.objectives)
        peers = self.seen.setdefault(epoch, {})
        peers[key] = vector
        n = len(peers)
        if n < self.config.min_peers:
            return True  # too few to compare yet (ASHA's grace)
        if not all(math.isfinite(v) for v in vector):
            return False
        keys = list(peers)
        signs = np.array([-1.0 if d == "maximize" else 1.0 for _, d in self.objectives])
        losses = np.array([peers[k] for k in keys], dtype=float) * signs
        losses = np.where(np.isfinite(losses), losses, np.inf)
        keep = max(1, math.ceil(n / self.config.reduction_factor))
        return keys.index(key) in ranked(losses)[:keep]

    def load(self, entries: Iterable[tuple[object, int, Mapping[str, float]]]) -> None:
        """Rung vectors recorded earlier (a resumed study), without deciding anything."""
        for key, epoch, values in entries:
            if epoch == SCREEN_EPOCH:
                continue  # a screened candidate's figures: not a rung peer
            self.seen.setdefault(epoch, {})[key] = tuple(float(values[n]) for n, _ in self.objectives)

"""The messages between a study's workers and its driver, typed, in one place.

Worker -> driver: a report, sent with ``tune.report`` (a worker blocks there until the
driver's Tune callbacks have run, see :mod:`automl.search.tune_callback`)::

    Ready          a worker started and is free
    EpochRows      per-epoch curve points of the candidate it runs
    RungReached    the candidate reached an early-stopping rung; the worker waits for a Verdict
    Finished       the candidate's measurements and its artifact's bytes
    Stopped        the candidate lost at a rung, or was screened before training
    Failed         the candidate raised (its one-line error and traceback)

Driver -> worker: mail, put in the worker's mailbox (:class:`~automl.search.candidate_queue.CandidateQueue`):
a :class:`Job` (the next candidate), a :class:`Verdict` at a rung, or ``None`` (no more work).

Tune flattens nested result dicts and keeps a worker's last result, so a report crosses as a
flat dict of strings, numbers and bytes: :meth:`Report.encode` and :func:`decode` are the only
code that knows its keys. :func:`decode` takes the artifact's bytes out of the dict Tune keeps.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Union

_KIND = "kind"
_NUMBER = "optuna_trial"  # the Optuna trial number of the candidate
_ROWS = "epochs_json"  # curve points since the last report, as JSON rows
_NODE = "ray_node_id"
_HOST = "host"
_RUNG_EPOCH = "rung_epoch"
_VECTOR = "rung_json"  # an objective vector (at a rung, or the screen's), as JSON
_RESULT = "result_json"  # a finished candidate's measurements, as JSON
_PRUNED_AT = "pruned_at"
_ERROR = "error"
_TRACEBACK = "traceback"
_FAILED = "failed"
ARTIFACT_BYTES = "artifact_bytes"
ARTIFACT_SHA256 = "artifact_sha256"


@dataclass(frozen=True)
class Job:
    """The next candidate for a worker: its Optuna trial and its config (a plain dict)."""

    number: int
    candidate: dict[str, Any]


class Verdict(Enum):
    """The driver's decision for a candidate waiting at a rung."""

    GO_ON = "go_on"
    STOP = "stop"

    @classmethod
    def of(cls, go_on: bool) -> "Verdict":
        return cls.GO_ON if go_on else cls.STOP


Mail = Union[Job, Verdict, None]


@dataclass(frozen=True)
class Node:
    """The Ray node and host a worker reports from."""

    ray_node_id: str | None = None
    host: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {_NODE: self.ray_node_id, _HOST: self.host}


@dataclass(frozen=True)
class Artifact:
    """A candidate's artifact file as bytes, with the SHA-256 the worker computed."""

    blob: bytes
    sha256: str


@dataclass(frozen=True)
class Report:
    """Base of every worker -> driver message."""

    kind = ""

    def encode(self) -> dict[str, Any]:
        """The flat dict handed to ``tune.report``."""
        return {_KIND: self.kind, **self._fields()}

    def _fields(self) -> dict[str, Any]:
        raise NotImplementedError


@dataclass(frozen=True)
class Ready(Report):
    kind = "ready"
    node: Node = field(default_factory=Node)

    def _fields(self) -> dict[str, Any]:
        return self.node.to_dict()


@dataclass(frozen=True)
class CandidateReport(Report):
    """A report about one candidate: its trial number and the curve points since the last one."""

    number: int
    rows: list[dict[str, Any]] = field(default_factory=list)

    def _fields(self) -> dict[str, Any]:
        return {_NUMBER: self.number, _ROWS: json.dumps(self.rows)}


@dataclass(frozen=True)
class EpochRows(CandidateReport):
    kind = "epochs"


@dataclass(frozen=True)
class RungReached(CandidateReport):
    kind = "rung"
    epoch: int = 0
    vector: dict[str, float] = field(default_factory=dict)

    def _fields(self) -> dict[str, Any]:
        return {**super()._fields(), _RUNG_EPOCH: self.epoch, _VECTOR: json.dumps(self.vector)}


@dataclass(frozen=True)
class FinalReport(CandidateReport):
    """A candidate's last report (finished, stopped or failed); the worker is free again."""

    kind = "final"
    node: Node = field(default_factory=Node)

    def _fields(self) -> dict[str, Any]:
        return {**super()._fields(), **self.node.to_dict()}


@dataclass(frozen=True)
class Finished(FinalReport):
    measured: dict[str, Any] = field(default_factory=dict)  # CandidateResult fields (no history) and timings
    artifact: Artifact | None = None

    def _fields(self) -> dict[str, Any]:
        out = {**super()._fields(), _FAILED: False, _RESULT: json.dumps(self.measured)}
        if self.artifact is not None:
            out.update({ARTIFACT_BYTES: self.artifact.blob, ARTIFACT_SHA256: self.artifact.sha256})
        return out


@dataclass(frozen=True)
class Stopped(FinalReport):
    epoch: int = 0  # the rung it lost at (0: screened before training)
    screened: dict[str, float] | None = None  # the screen's figures that stopped it

    def _fields(self) -> dict[str, Any]:
        out = {**super()._fields(), _FAILED: False, _PRUNED_AT: self.epoch}
        if self.screened is not None:
            out[_VECTOR] = json.dumps(self.screened)
        return out


@dataclass(frozen=True)
class Failed(FinalReport):
    error: str = "unknown error"
    traceback: str = ""

    def _fields(self) -> dict[str, Any]:
        return {**super()._fields(), _FAILED: True, _ERROR: self.error, _TRACEBACK: self.traceback}


def decode(result: dict[str, Any]) -> Report | None:
    """The message in a Tune result (``None`` for a result no worker of this package sent).

    A :class:`Finished` report's artifact bytes are taken out of ``result`` (in place), so that
    the dict Tune keeps as the worker's last result holds no copy of them.
    """
    kind = result.get(_KIND)
    node = Node(result.get(_NODE), result.get(_HOST))
    if kind == Ready.kind:
        return Ready(node=node)
    if kind not in (EpochRows.kind, RungReached.kind, FinalReport.kind):
        return None
    number, rows = int(result[_NUMBER]), json.loads(result.get(_ROWS) or "[]")
    if kind == EpochRows.kind:
        return EpochRows(number=number, rows=rows)
    if kind == RungReached.kind:
        return RungReached(number=number, rows=rows, epoch=int(result[_RUNG_EPOCH]),
                           vector=json.loads(result[_VECTOR]))
    blob, digest = result.pop(ARTIFACT_BYTES, None), result.pop(ARTIFACT_SHA256, None)
    if result.get(_PRUNED_AT) is not None:
        screened = json.loads(result[_VECTOR]) if result.get(_VECTOR) else None
        return Stopped(number=number, rows=rows, node=node, epoch=int(result[_PRUNED_AT]), screened=screened)
    if result.get(_FAILED):
        return Failed(number=number, rows=rows, node=node, error=result.get(_ERROR) or "unknown error",
                      traceback=result.get(_TRACEBACK, ""))
    return Finished(number=number, rows=rows, node=node, measured=json.loads(result[_RESULT]),
                    artifact=None if blob is None else Artifact(blob, digest))

"""The worker <-> driver messages survive the flat dict Tune carries, and nothing else decodes."""

from __future__ import annotations

import hashlib

import pytest

from automl.search.protocol import (
    Artifact,
    EpochRows,
    Failed,
    Finished,
    Node,
    Ready,
    RungReached,
    Stopped,
    Verdict,
    decode,
)

NODE = Node("node-1", "host-1")
BLOB = b"onnx" * 100

MESSAGES = [
    Ready(node=NODE),
    EpochRows(number=3, rows=[{"phase": "train", "epoch": 1, "step": 1, "loss": 0.5}]),
    RungReached(number=3, rows=[], epoch=3, vector={"accuracy": 0.9, "size_bytes": 1200.0}),
    Stopped(number=4, rows=[], node=NODE, epoch=0, screened={"size_bytes": 9e9}),
    Stopped(number=5, rows=[{"epoch": 3}], node=NODE, epoch=3),
    Failed(number=6, node=NODE, error="DivergedError: loss is nan", traceback="Traceback ..."),
    Finished(number=7, node=NODE, measured={"accuracy": 0.95, "size_bytes": 400},
             artifact=Artifact(BLOB, hashlib.sha256(BLOB).hexdigest())),
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_every_message_round_trips_through_a_flat_dict(message) -> None:
    result = message.encode()
    assert all(isinstance(v, (str, int, float, bool, bytes, type(None))) for v in result.values())  # Tune-safe
    assert decode(result) == message


def test_decode_takes_the_artifact_bytes_out_of_the_dict_tune_keeps() -> None:
    result = MESSAGES[-1].encode()
    assert decode(result).artifact.blob == BLOB
    assert not any(isinstance(v, bytes) for v in result.values())


def test_a_result_no_worker_sent_decodes_to_nothing_and_verdicts_read_as_booleans() -> None:
    assert decode({"training_iteration": 1}) is None
    assert Verdict.of(True) is Verdict.GO_ON and Verdict.of(False) is Verdict.STOP

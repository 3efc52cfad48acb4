"""A candidate's artifact goes back to the driver as bytes, through Ray; the driver writes it.

No node shares a disk with the driver: a worker exports the artifact into a scratch folder
on its own node, puts the file's bytes and their SHA-256 in its final report
(:func:`pack_artifact`), and deletes the folder. The report travels through ``tune.report``
and Ray's object store (a result over 100 KB is stored there, not inlined; Ray sets no other
size limit, so a MobileNet of a few MB is fine). The driver takes the bytes out of the report
before Tune keeps it as the worker's last result (:func:`receive_artifact`), checks them
against the hash and the measured size, and writes
``<run_dir>/artifacts/trial-NNNN/model.onnx``, the one copy the study's records point at.
A report whose bytes are missing or do not match is a failed candidate, never a success.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

ARTIFACT_BYTES = "artifact_bytes"  # final-report key: the artifact file's bytes
ARTIFACT_SHA256 = "artifact_sha256"  # final-report key: their SHA-256, hex
ARTIFACT_FILE = "model.onnx"


class ArtifactNotDelivered(Exception):
    """The driver did not receive the artifact a worker reported (its candidate fails)."""


def pack_artifact(path: str | Path) -> dict[str, Any]:
    """The report entries that carry the artifact at ``path`` to the driver."""
    blob = Path(path).read_bytes()
    return {ARTIFACT_BYTES: blob, ARTIFACT_SHA256: hashlib.sha256(blob).hexdigest()}


def trial_artifact_path(artifacts_dir: str | Path, number: int) -> Path:
    """Where the driver keeps trial ``number``'s artifact."""
    return Path(artifacts_dir) / f"trial-{number:04d}" / ARTIFACT_FILE


def receive_artifact(report: dict[str, Any], artifacts_dir: str | Path, number: int, size_bytes: int) -> Path:
    """Take the artifact out of ``report`` (in place) and write it under ``artifacts_dir``.

    Raises:
        ArtifactNotDelivered: no bytes, a hash that does not match them, or a length other than
            the ``size_bytes`` the worker measured.
    """
    blob, digest = report.pop(ARTIFACT_BYTES, None), report.pop(ARTIFACT_SHA256, None)
    if not isinstance(blob, (bytes, bytearray)) or not blob:
        raise ArtifactNotDelivered("the worker's report carried no artifact bytes")
    if digest != hashlib.sha256(blob).hexdigest():
        raise ArtifactNotDelivered("the artifact bytes received do not match the worker's SHA-256")
    if len(blob) != int(size_bytes):
        raise ArtifactNotDelivered(f"received {len(blob)} artifact bytes, the worker measured {size_bytes}")
    path = trial_artifact_path(artifacts_dir, number)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_bytes(blob)
    os.replace(partial, path)  # a crash never leaves a truncated model.onnx
    return path


def discard_artifact(report: dict[str, Any]) -> None:
    """Drop the bytes of a report that will not be recorded (Tune keeps no copy)."""
    report.pop(ARTIFACT_BYTES, None)
    report.pop(ARTIFACT_SHA256, None)

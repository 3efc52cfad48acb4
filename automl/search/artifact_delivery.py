"""A candidate's artifact goes back to the driver as bytes, through Ray; the driver writes it.

No node shares a disk with the driver: a worker exports the artifact into a scratch folder
on its own node, puts the file's bytes and their SHA-256 in its final report
(:func:`pack_artifact`, a :class:`~automl.search.protocol.Artifact`), and deletes the folder.
The report travels through ``tune.report``
and Ray's object store (a result over 100 KB is stored there, not inlined; Ray sets no other
size limit, so a MobileNet of a few MB is fine). The driver takes the bytes out of the report
before Tune keeps it as the worker's last result (:func:`automl.search.protocol.decode`), checks them
against the hash and the measured size, and writes
``<run_dir>/artifacts/trial-NNNN/model.onnx``, the one copy the study's records point at.
A report whose bytes are missing or do not match is a failed candidate, never a success.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from automl.search.protocol import Artifact

ARTIFACT_FILE = "model.onnx"


class ArtifactNotDelivered(Exception):
    """The driver did not receive the artifact a worker reported (its candidate fails)."""


def pack_artifact(path: str | Path) -> Artifact:
    """The artifact at ``path``, as the bytes that carry it to the driver."""
    blob = Path(path).read_bytes()
    return Artifact(blob, hashlib.sha256(blob).hexdigest())


def trial_artifact_path(artifacts_dir: str | Path, number: int) -> Path:
    """Where the driver keeps trial ``number``'s artifact."""
    return Path(artifacts_dir) / f"trial-{number:04d}" / ARTIFACT_FILE


def receive_artifact(artifact: Artifact | None, artifacts_dir: str | Path, number: int, size_bytes: int) -> Path:
    """Write the ``artifact`` a worker reported under ``artifacts_dir``.

    Raises:
        ArtifactNotDelivered: no bytes, a hash that does not match them, or a length other than
            the ``size_bytes`` the worker measured.
    """
    if artifact is None or not isinstance(artifact.blob, (bytes, bytearray)) or not artifact.blob:
        raise ArtifactNotDelivered("the worker's report carried no artifact bytes")
    if artifact.sha256 != hashlib.sha256(artifact.blob).hexdigest():
        raise ArtifactNotDelivered("the artifact bytes received do not match the worker's SHA-256")
    if len(artifact.blob) != int(size_bytes):
        raise ArtifactNotDelivered(f"received {len(artifact.blob)} artifact bytes, the worker measured {size_bytes}")
    path = trial_artifact_path(artifacts_dir, number)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_bytes(artifact.blob)
    os.replace(partial, path)  # a crash never leaves a truncated model.onnx
    return path

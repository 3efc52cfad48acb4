"""Where a finished trial's artifact is: its file in the run folder, or MLflow's copy."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def local_artifact(artifact_path: str | None, tracking_uri: str, run_id: str | None, scratch: str | Path) -> Path:
    """The artifact file: ``artifact_path`` if it exists here, else the copy logged to the
    trial's MLflow run, downloaded into ``scratch`` (e.g. a trial trained on another node)."""
    if artifact_path and Path(artifact_path).exists():
        return Path(artifact_path)
    if not run_id:
        raise FileNotFoundError(f"artifact {artifact_path} is missing and the trial has no MLflow run to fetch it from")
    from mlflow.tracking import MlflowClient

    Path(scratch).mkdir(parents=True, exist_ok=True)
    return Path(MlflowClient(tracking_uri).download_artifacts(run_id, "model/model.onnx", str(scratch)))


def point_artifact(point: Any, tracking_uri: str, scratch: str | Path) -> Path:
    """A front point's (:class:`~automl.study.front.TrialPoint`) artifact file, fetched from
    MLflow into ``scratch/<trial>`` when it is not on this machine."""
    return local_artifact(point.extra.get("artifact_path"), tracking_uri, point.extra.get("mlflow_run_id"),
                          Path(scratch) / str(point.trial))

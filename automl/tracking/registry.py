"""Register an exported candidate in MLflow's model registry (ONNX flavour)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

REGISTERED_METRICS = ("accuracy", "test_accuracy", "size_bytes", "latency_ms")


def register_candidate(tracking_uri: str, run_id: str | None, artifact: Path, model_name: str,
                       metrics: dict[str, Any], candidate: dict[str, Any], kernels: str | None,
                       latency_ratio: float | None) -> int:
    """Log ``artifact`` with the ONNX flavour (input example, signature) into the trial's run and
    register it as a version of ``model_name``; returns the version number.

    The version's tags carry the candidate's metrics, its config (JSON) and ``kernels``.
    """
    import mlflow
    import onnx
    import onnxruntime as ort
    from mlflow.models import infer_signature
    from mlflow.tracking import MlflowClient

    from automl.export import read_metadata

    model = onnx.load(str(artifact))
    shape = read_metadata(artifact)["input_shape"]
    session = ort.InferenceSession(str(artifact), providers=["CPUExecutionProvider"])
    name_in, name_out = session.get_inputs()[0].name, session.get_outputs()[0].name
    example = np.random.default_rng(0).standard_normal((1, *shape)).astype(np.float32)
    signature = infer_signature({name_in: example}, {name_out: session.run(None, {name_in: example})[0]})
    mlflow.set_tracking_uri(tracking_uri)
    with mlflow.start_run(run_id=run_id) if run_id else mlflow.start_run():
        info = mlflow.onnx.log_model(model, name="registered_model", input_example={name_in: example},
                                     signature=signature, registered_model_name=model_name,
                                     onnx_execution_providers=["CPUExecutionProvider"],
                                     save_as_external_data=False)
    version = int(info.registered_model_version)
    client = MlflowClient(tracking_uri)
    tags = {**{k: str(metrics[k]) for k in REGISTERED_METRICS}, "latency_ratio": str(latency_ratio),
            "kernels": str(kernels), "candidate": json.dumps(candidate, sort_keys=True)}
    for key, value in tags.items():
        client.set_model_version_tag(model_name, str(version), key, value[:5000])
    return version

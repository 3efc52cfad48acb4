"""The deployable artifact: one ONNX file per candidate (see :mod:`automl.export.artifact`)."""

from automl.export.artifact import (
    ArtifactInfo,
    export_artifact,
    open_session,
    optimized_graph,
    optimized_ops,
    read_metadata,
)

__all__ = ["ArtifactInfo", "export_artifact", "open_session", "optimized_graph", "optimized_ops", "read_metadata"]

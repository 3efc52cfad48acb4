"""Saved views of the MLflow UI's runs table, so the first page a reviewer opens is the review.

MLflow's UI shares a view (filter, sort, visible columns) through an experiment tag
``mlflow.sharedViewState.<key>`` holding the view as JSON, opened with
``#/experiments/<id>/runs?viewStateShareKey=<key>``. Each study gets two: ``front`` (exactly
the Pareto front, best accuracy first) and ``candidates`` (every candidate run).
"""

from __future__ import annotations

import json

SHARED_VIEW_PREFIX = "mlflow.sharedViewState."
COLUMNS = ("accuracy", "test_accuracy", "size_ratio", "latency_ratio", "size_bytes", "latency_ms")
VIEWS = {"front": "tags.pareto = 'true'", "candidates": "tags.`automl.role` = 'trial'"}


def view_tags() -> dict[str, str]:
    """Experiment tags defining the study's shared views."""
    columns = [f"metrics.`{m}`" for m in COLUMNS] + ["tags.`kernels`"]
    return {SHARED_VIEW_PREFIX + key: json.dumps({"searchFilter": search, "orderByKey": "metrics.`accuracy`",
                                                  "orderByAsc": False, "selectedColumns": columns})
            for key, search in VIEWS.items()}


def view_url(base: str, experiment_id: str, key: str = "front") -> str:
    """The UI address of one of the study's views."""
    return f"{base.rstrip('/')}/#/experiments/{experiment_id}/runs?viewStateShareKey={key}"

"""A candidate's figures per deployment target, as MLflow metrics and tags.

MLflow metric names cannot hold ``@``, so ``latency_ms@openvino-cpu`` is logged as
``openvino-cpu/latency_ms`` (the MLflow UI groups metrics by what precedes the ``/``); a
target's kernels and, where it could not run the candidate, its one-line error are tags
``kernels/<target>`` and ``error/<target>``.
"""

from __future__ import annotations

from typing import Any

from mlflow.entities import Metric, RunTag

PER_TARGET = ("accuracy", "test_accuracy", "latency_ms", "latency_ratio")


def mlflow_name(metric: str) -> str:
    """``latency_ms@openvino-cpu`` -> ``openvino-cpu/latency_ms`` (plain names stay)."""
    base, _, target = metric.partition("@")
    return f"{target}/{base}" if target else metric


def target_run_metrics(measured: dict[str, Any], now: int, step: int = 0, prefix: str = "") -> list[Metric]:
    """``<target>/<prefix><metric>`` for every target of a result (its dict form); none for a
    result on one target (its plain metrics are that target's)."""
    targets = measured.get("targets") or {}
    if len(targets) < 2:
        return []
    return [Metric(f"{target}/{prefix}{k}", float(on[k]), now, step)
            for target, on in targets.items() for k in PER_TARGET if on.get(k) is not None]


def target_run_tags(measured: dict[str, Any]) -> list[RunTag]:
    tags = []
    targets = measured.get("targets") or {}
    for target, on in targets.items() if len(targets) > 1 else ():
        if on.get("kernels"):
            tags.append(RunTag(f"kernels/{target}", str(on["kernels"])[:5000]))
        if on.get("error"):
            tags.append(RunTag(f"error/{target}", str(on["error"])[:5000]))
    return tags

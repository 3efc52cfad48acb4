"""Readable run names and the MLflow UI's saved review views."""

from __future__ import annotations

import json

from automl.tracking.review_views import SHARED_VIEW_PREFIX, view_tags, view_url
from automl.tracking.run_names import run_name


def test_run_names_summarise_the_candidate() -> None:
    cand = {"arch": {"family": "cnn", "choices": {"widths": [8, 16]}},
            "pruning": {"ratio": 0.5, "granularity": "channel"},
            "quant": {"weight_bits": 4, "activation_bits": 8, "mode": "qat"}, "distill": {"enabled": True}}
    assert run_name(7, cand) == "trial-0007 · cnn[8,16] · prune 0.5 ch · w4a8 qat · kd"
    plain = {"arch": {"family": "mobilenet_v2", "choices": {}}, "pruning": {"ratio": 0.0},
             "quant": {"weight_bits": 32, "activation_bits": 32, "mode": "ptq"}, "distill": {"enabled": False}}
    assert run_name(12, plain) == "trial-0012 · mobilenet_v2 · w32a32"
    mixed = {"arch": {"family": "cnn", "choices": {"widths": [16, 32]}},
             "quant": {"weight_bits": 8, "activation_bits": 32, "mode": "qat", "layer_bits": [4, 4], "edge_bits": 8}}
    assert run_name(3, mixed) == "trial-0003 · cnn[16,32] · w8:4,4:8a32 qat"
    shared = {"arch": {"family": "cnn", "choices": {"widths": [16, 32]}}, "quant": {"weight_bits": 32},
              "share": {"clusters": 0, "layer_clusters": [4, 16], "edge_clusters": 16}}
    assert run_name(4, shared) == "trial-0004 · cnn[16,32] · w32a32 · share k16:4,16:16"
    assert run_name(5, {**shared, "share": {"clusters": 64}}) == "trial-0005 · cnn[16,32] · w32a32 · share k64"
    off = {**shared, "share": {"clusters": 0, "layer_clusters": [0, 0]}}
    assert "share" not in run_name(6, off)


def test_shared_views_filter_sort_and_show_the_metrics() -> None:
    tags = view_tags()
    front = json.loads(tags[SHARED_VIEW_PREFIX + "front"])
    assert front["searchFilter"] == "tags.pareto = 'true'" and front["orderByKey"] == "metrics.`accuracy`"
    assert {"metrics.`accuracy`", "metrics.`latency_ratio`", "metrics.`size_ratio`"} <= set(front["selectedColumns"])
    assert json.loads(tags[SHARED_VIEW_PREFIX + "candidates"])["searchFilter"] == "tags.`automl.role` = 'trial'"
    assert view_url("http://127.0.0.1:5000/", "3") == "http://127.0.0.1:5000/#/experiments/3/runs?viewStateShareKey=front"

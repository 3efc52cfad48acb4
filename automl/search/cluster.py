"""Facts about the Ray cluster a study runs on: which node a process is on, what the cluster holds.

Recorded so that a result can be traced to the machine that produced it: every candidate
carries the ``ray_node_id`` and ``host`` of the worker that trained it, the parent MLflow run
and ``study.json`` carry the cluster at launch and the nodes of the study's timing workers.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from typing import Any

NODE_ID = "ray_node_id"
HOST = "host"


def node_identity() -> dict[str, str]:
    """The Ray node and host of the calling process (inside a Ray worker, actor or driver)."""
    import ray

    return {NODE_ID: ray.get_runtime_context().get_node_id(), HOST: socket.gethostname()}


def describe_cluster() -> dict[str, Any]:
    """The live nodes and the cluster's CPUs/GPUs, as the driver sees them now."""
    import ray

    nodes = [{NODE_ID: n["NodeID"], "address": n.get("NodeManagerAddress"), HOST: n.get("NodeManagerHostname"),
              "cpus": n.get("Resources", {}).get("CPU", 0.0), "gpus": n.get("Resources", {}).get("GPU", 0.0),
              "custom_resources": sorted(k for k in n.get("Resources", {})
                                         if k not in ("CPU", "GPU", "memory", "object_store_memory")
                                         and not k.startswith("node:"))}
             for n in ray.nodes() if n.get("Alive")]
    total = ray.cluster_resources()
    return {"nodes": len(nodes), "cpus": total.get("CPU", 0.0), "gpus": total.get("GPU", 0.0),
            "driver": node_identity(), "node_list": nodes}


def timing_nodes(gates: Sequence[Any]) -> list[dict[str, str]]:
    """The node of each timing worker in ``gates``, in their order (one entry per timing worker,
    so a node running two appears twice)."""
    import ray

    return list(ray.get([gate.where.remote() for gate in gates]))


def dead_nodes() -> set[str]:
    """Ids of the nodes the cluster has lost (empty when Ray cannot be asked)."""
    import ray

    try:
        return {n["NodeID"] for n in ray.nodes() if not n.get("Alive")}
    except Exception:  # noqa: BLE001  (only used to word an error message)
        return set()

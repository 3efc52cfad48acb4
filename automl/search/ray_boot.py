"""Start Ray and the study's actors in the background while the driver prepares.

The actors are the timing workers (:class:`~automl.search.timing_gate.TimingGate`, one by
default, a study's ``timing_workers`` in all) and the workers' mailboxes
(:class:`~automl.search.candidate_queue.CandidateQueue`), named :func:`gate_name` (``GATE_NAME``
for the first) and ``QUEUE_NAME`` in the study's namespace.

Where they run: both are pinned to the driver's node (``NodeAffinitySchedulingStrategy``, not
soft), so losing a worker node never loses them. With a study's ``timing_resource`` the timing
worker goes to a node offering that Ray custom resource instead (``ray start --resources
'{"timing": 1}'``); a cluster without it is a :class:`~automl.config.ConfigError` at launch.
Several timing workers: with ``timing_resource`` they are dealt out over the nodes offering it,
each new one to the node holding the fewest so far (pinned there, with the resource request);
without it they all run on the driver's node, where two can time at once (the node needs a
core per timing worker for clean timings). Every one of them times candidates interleaved with
its own copy of the teacher and scales the ratio by the study's one teacher figure, so their
latencies compare (see :mod:`automl.search.timing_gate`).

The user's own modules (a study's ``pkg.module:function`` families, datasets, spaces; see
:mod:`automl.study.user_code`) reach the workers of a cluster through the job's
``runtime_env``: ``py_modules`` lists their files or folders, which Ray zips, uploads to the
cluster once and puts on every worker's ``PYTHONPATH`` (nodes need not share a disk). A local
Ray shares the driver's disk: its workers get the driver's folder on ``PYTHONPATH`` instead.

Ray's start (GCS, raylet) and the timing worker's first import of torch and ONNX Runtime take
seconds of mostly other processes' time; doing them while the driver loads or trains the
teacher and opens MLflow cuts the time from ``automl launch`` to the first trial.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import Counter
from collections.abc import Sequence
from typing import Any

GATE_NAME = "timing-gate"
QUEUE_NAME = "candidate-queue"


def gate_name(index: int) -> str:
    """The actor name of the study's timing worker ``index`` (the first keeps ``GATE_NAME``)."""
    return GATE_NAME if index == 0 else f"{GATE_NAME}-{index}"


class RayBoot:
    def __init__(self, namespace: str, address: str | None, timing_resource: str | None = None,
                 py_modules: Sequence[str] = (), timing_workers: int = 1) -> None:
        """``py_modules``: files or folders of the user's modules that a cluster's workers must
        import (:func:`automl.study.user_code.local_modules`); sent only to a cluster.
        ``timing_workers``: how many timing workers start with Ray (more can be started later
        by :meth:`timing_gates`)."""
        self.namespace = namespace
        self.timing_resource = timing_resource
        self.address = address or os.environ.get("RAY_ADDRESS") or None
        self.py_modules = tuple(py_modules)
        self.timing_workers = timing_workers
        self._handles: tuple[Any, Any] | None = None
        self._gates: list[Any] = []  # every timing worker, in gate_name order
        self._gate_lock = threading.Lock()
        self._error: BaseException | None = None
        self._ready = threading.Event()
        self._release = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ray-boot", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            import ray

            from automl.search.candidate_queue import CandidateQueue

            ray.init(address=self.address, namespace=self.namespace, include_dashboard=False,
                     log_to_driver=False, logging_level=logging.ERROR, configure_logging=True,
                     runtime_env=job_runtime_env(self.address, self.py_modules))
            here = pinned_here()
            queue = CandidateQueue.options(name=QUEUE_NAME, namespace=self.namespace, scheduling_strategy=here).remote()
            self._start_gates(max(1, self.timing_workers), here)  # waits until they have booted
            ray.get(queue.put.remote("boot", None))
            self._handles = self._gates[0], queue
        except BaseException as err:  # re-raised in the driver's thread by handles()
            self._error = err
        self._ready.set()
        # Ray's GCS and raylet die with the thread that spawned them (Linux PDEATHSIG is
        # per thread): this thread lives until shutdown().
        self._release.wait()

    def handles(self) -> tuple[Any, Any]:
        """The first timing worker's and the mailboxes' handles, once Ray is up (re-raises a
        start-up failure). The first timing worker times the study's teacher figure, and the
        driver's bookkeeping holds it."""
        self._ready.wait()
        if self._error is not None:
            raise self._error
        assert self._handles is not None
        return self._handles

    def timing_gates(self, count: int | None = None) -> tuple[Any, ...]:
        """Every timing worker's handle, in :func:`gate_name` order, once Ray is up; with
        ``count`` (a study's ``timing_workers``) the missing ones are started first, and waited
        for until they have booted."""
        self.handles()
        with self._gate_lock:
            if count is not None and count > len(self._gates):
                self._start_gates(count, pinned_here())
            return tuple(self._gates)

    @property
    def gate_names(self) -> tuple[str, ...]:
        """The actor names of the timing workers started so far (what workers look them up by)."""
        return tuple(gate_name(i) for i in range(len(self._gates)))

    def drop_holder(self, holder: str) -> None:
        """A lost worker's compute holds released on every timing worker (it held only the one it
        is bound to, but which one is the worker's business: see ``trainable.bound_gate``)."""
        for gate in self._gates:
            gate.drop_holder.remote(holder)

    def _start_gates(self, count: int, here: Any) -> None:
        """Start timing workers up to ``count`` in all and wait until they have booted."""
        import ray

        from automl.search.timing_gate import TimingGate

        placements = gate_placements(self.timing_resource, count, self._gates, here)
        new = [TimingGate.options(name=gate_name(len(self._gates) + i), namespace=self.namespace, **placement).remote()
               for i, placement in enumerate(placements)]
        ray.get([gate.stats.remote() for gate in new])
        self._gates.extend(new)

    def shutdown(self) -> None:
        import ray

        self._ready.wait()
        if ray.is_initialized():
            ray.shutdown()
        self._release.set()
        self._thread.join()


def pinned_here() -> Any:
    """A scheduling strategy that keeps an actor or task on the calling process's node."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    return NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)


TIMING_RESOURCE_SHARE = 0.001  # what the timing worker (and the final re-timing) asks of the resource


def timing_placement(resource: str | None, here: Any = None) -> dict[str, Any]:
    """Ray options that put the study's timing work on its timing node (see the module doc)."""
    import ray

    from automl.config import ConfigError

    if resource is None:
        return {"scheduling_strategy": here or pinned_here()}
    if ray.cluster_resources().get(resource, 0) <= 0:
        raise ConfigError("timing_resource", f"no node of this Ray cluster offers the custom resource "
                                             f"{resource!r} (start the timing node with "
                                             f"ray start --resources '{{\"{resource}\": 1}}')")
    return {"resources": {resource: TIMING_RESOURCE_SHARE}}


def gate_placements(resource: str | None, count: int, gates: Sequence[Any] = (), here: Any = None) -> list[dict[str, Any]]:
    """Ray options for the timing workers after the running ``gates``, up to ``count`` in all
    (see the module doc).

    One timing worker in all: :func:`timing_placement`, as for a study's timing work. More, with
    ``resource``: each pinned to a node offering it, the one holding the fewest of ``gates`` (the
    running ones) and of those placed before it, so a study that grows from one to several still
    spreads (Ray's ``SPREAD`` strategy deals new actors round-robin, blind to where ``gates`` run).
    """
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from automl.search.cluster import NODE_ID

    one = timing_placement(resource, here)  # also: the ConfigError of a cluster without the resource
    if resource is None or count <= 1:
        return [one] * max(0, count - len(gates))
    offering = sorted(n["NodeID"] for n in ray.nodes() if n.get("Alive") and n.get("Resources", {}).get(resource, 0) > 0)
    taken = [where[NODE_ID] for where in ray.get([g.where.remote() for g in gates])] if gates else []
    return [{**one, "scheduling_strategy": NodeAffinitySchedulingStrategy(node, soft=False)}
            for node in spread_over(offering, taken, count - len(gates))]


def spread_over(nodes: Sequence[str], taken: Sequence[str], count: int) -> list[str]:
    """``count`` picks from ``nodes``, each the node holding the fewest of ``taken`` and of the
    picks before it (ties: the first in ``nodes``' order), so N timing workers on M nodes end
    up N // M or N // M + 1 to a node."""
    load = Counter({node: 0 for node in nodes})
    load.update(node for node in taken if node in load)
    picks = []
    for _ in range(count):
        node = min(nodes, key=lambda n: load[n])
        load[node] += 1
        picks.append(node)
    return picks


def job_runtime_env(address: str | None, py_modules: Sequence[str] = ()) -> dict | None:
    """The ``runtime_env`` of the study's Ray job (``None``: none of its own).

    A local Ray (``address`` None): the driver's folder on the workers' ``PYTHONPATH``. A
    cluster: ``py_modules`` (local paths: folders, or single ``.py`` files; Ray also takes
    imported module objects and URIs of archives), unless the job was submitted with
    ``ray job submit`` with its own ``py_modules`` or ``working_dir``: Ray refuses to merge a
    field both set, and such a job has shipped the code already (the driver runs in it).
    """
    if address is None:
        return _local_runtime_env()
    if not py_modules or _submitted_job_ships_code():
        return None
    return {"py_modules": list(py_modules)}


def _submitted_job_ships_code() -> bool:
    raw = os.environ.get("RAY_JOB_CONFIG_JSON_ENV_VAR")  # set by Ray's job manager for a submitted job
    if not raw:
        return False
    try:
        job_env = json.loads(raw).get("runtime_env") or {}
    except (ValueError, AttributeError):
        return False
    return bool(job_env.get("py_modules") or job_env.get("working_dir"))


def _local_runtime_env() -> dict:
    """Local workers import user families/datasets/spaces from where ``automl`` was launched."""
    path = os.pathsep.join(p for p in (os.getcwd(), os.environ.get("PYTHONPATH", "")) if p)
    return {"env_vars": {"PYTHONPATH": path, "PYTHONWARNINGS": "ignore"}}

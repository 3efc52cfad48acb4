"""Start Ray and the study's actors in the background while the driver prepares.

The actors are the timing worker (:class:`~automl.search.timing_gate.TimingGate`) and the
workers' mailboxes (:class:`~automl.search.candidate_queue.CandidateQueue`), named
``GATE_NAME`` and ``QUEUE_NAME`` in the study's namespace.

Where they run (one timing machine per study): both are pinned to the driver's node
(``NodeAffinitySchedulingStrategy``, not soft), so every latency of a study, the teacher's
included, is measured on one machine, and losing a worker node never loses them. With a
study's ``timing_resource`` the timing worker goes to the node offering that Ray custom
resource instead (``ray start --resources '{"timing": 1}'``); a cluster without it is a
:class:`~automl.config.ConfigError` at launch.

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
from collections.abc import Sequence
from typing import Any

GATE_NAME = "timing-gate"
QUEUE_NAME = "candidate-queue"


class RayBoot:
    def __init__(self, namespace: str, address: str | None, timing_resource: str | None = None,
                 py_modules: Sequence[str] = ()) -> None:
        """``py_modules``: files or folders of the user's modules that a cluster's workers must
        import (:func:`automl.study.user_code.local_modules`); sent only to a cluster."""
        self.namespace = namespace
        self.timing_resource = timing_resource
        self.address = address or os.environ.get("RAY_ADDRESS") or None
        self.py_modules = tuple(py_modules)
        self._handles: tuple[Any, Any] | None = None
        self._error: BaseException | None = None
        self._ready = threading.Event()
        self._release = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ray-boot", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            import ray

            from automl.search.candidate_queue import CandidateQueue
            from automl.search.timing_gate import TimingGate

            ray.init(address=self.address, namespace=self.namespace, include_dashboard=False,
                     log_to_driver=False, logging_level=logging.ERROR, configure_logging=True,
                     runtime_env=job_runtime_env(self.address, self.py_modules))
            here = pinned_here()
            gate = TimingGate.options(name=GATE_NAME, namespace=self.namespace,
                                      **timing_placement(self.timing_resource, here)).remote()
            queue = CandidateQueue.options(name=QUEUE_NAME, namespace=self.namespace, scheduling_strategy=here).remote()
            ray.get([gate.stats.remote(), queue.put.remote("boot", None)])  # wait until both have booted
            self._handles = gate, queue
        except BaseException as err:  # re-raised in the driver's thread by handles()
            self._error = err
        self._ready.set()
        # Ray's GCS and raylet die with the thread that spawned them (Linux PDEATHSIG is
        # per thread): this thread lives until shutdown().
        self._release.wait()

    def handles(self) -> tuple[Any, Any]:
        """The timing worker's and the mailboxes' handles, once Ray is up (re-raises a start-up failure)."""
        self._ready.wait()
        if self._error is not None:
            raise self._error
        assert self._handles is not None
        return self._handles

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

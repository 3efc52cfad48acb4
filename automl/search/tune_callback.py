"""The driver's end of the worker pool, as a Ray Tune callback.

Workers report through Tune (see :mod:`automl.search.trainable`). A worker is blocked in
``tune.report`` until Tune has run these callbacks, so only what decides its next candidate
runs here: tell Optuna the result, ask the next candidate, put it in the worker's mailbox.
Everything else (MLflow runs and curves, the front, the progress view) is queued and done
at the end of the Tune step, while the worker is already training.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import optuna
from ray.tune import Callback

from automl.search.cluster import dead_nodes
from automl.search.dispatcher import WORKER_LOST, CandidateDispatcher
from automl.search.protocol import CandidateReport, FinalReport, Job, Ready, RungReached, Verdict, decode
from automl.study.storage import writes_batched

NODE_LOST = "node lost:"  # a failed candidate's error when its worker's Ray node died
NODE_DEATH_WAIT_S = 3.0  # how long a lost worker's node is watched before its loss is put on the worker


class WorkerPoolCallback(Callback):
    def __init__(self, dispatcher: CandidateDispatcher, queue: Any, *,
                 on_asked: Callable[[optuna.Trial, dict[str, Any]], None],
                 on_told: Callable[[optuna.trial.FrozenTrial], None],
                 on_epochs: Callable[[int, list[dict[str, Any]]], None],
                 on_lost: Callable[[str], None] = lambda worker: None) -> None:
        self.dispatcher = dispatcher
        self.queue = queue
        self._on_asked = on_asked
        self._on_told = on_told
        self._on_epochs = on_epochs
        self._on_lost = on_lost  # a worker died: release what it held (the timing gate)
        self._deferred: list[Callable[[], None]] = []
        self._unannounced: set[int] = set()  # handed out, on_asked not run yet
        self.nodes: dict[str, str] = {}  # worker -> the Ray node it last reported from

    def __getstate__(self) -> dict[str, Any]:
        return {}  # Tune pickles callbacks for its experiment restore; this one lives in the driver only

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        with writes_batched(self.dispatcher.study):  # the tell and the next ask: one append to a journal
            self._on_report(decode(result), trial.trial_id)

    def _on_report(self, report: Any, worker: str) -> None:
        node = getattr(report, "node", None)
        if node is not None and node.ray_node_id:
            self.nodes[worker] = node.ray_node_id
        if isinstance(report, CandidateReport) and report.rows:
            self._deferred.append(lambda n=report.number, rows=report.rows: self._on_epochs(n, rows))
        if isinstance(report, RungReached):  # the worker waits for the verdict: MO-ASHA, decided and recorded
            go_on = self.dispatcher.rung(worker, report.number, report.epoch, report.vector)
            self.queue.put.remote(worker, Verdict.of(go_on))
        if isinstance(report, FinalReport):
            if report.number in self._unannounced:
                self.flush()  # its MLflow run must exist before it is told
            self._told(self.dispatcher.finished(worker, report))
        if isinstance(report, (Ready, FinalReport)):
            self._hand_out(worker)

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._told(self.dispatcher.lost(trial.trial_id, self._worker_lost(trial.trial_id)))  # Tune restarts it

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._told(self.dispatcher.lost(trial.trial_id, self._worker_lost(trial.trial_id)))

    def _worker_lost(self, worker: str) -> str:
        """``worker``'s process is gone: empty its mailbox (a rung verdict it died waiting for),
        release what it held, and say why its candidate never reported (its node died, or the
        worker process did)."""
        self.queue.clear.remote(worker)
        self._on_lost(worker)
        node = self.nodes.get(worker)
        if node is None:
            return WORKER_LOST
        deadline = time.monotonic() + NODE_DEATH_WAIT_S  # Ray may hear of a dead node after its worker's error
        while node not in dead_nodes():
            if time.monotonic() > deadline:
                return f"{WORKER_LOST} on node {node}"
            time.sleep(0.25)
        return f"{NODE_LOST} {node} (the Ray node died; its worker's candidate was lost)"

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._told(self.dispatcher.lost(trial.trial_id, "the worker stopped before reporting its result"))

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        self.flush()

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        self.flush()

    def flush(self) -> None:
        """Run the queued bookkeeping, in the order it was queued."""
        while self._deferred:
            self._deferred.pop(0)()
        self._unannounced.clear()

    def _hand_out(self, worker: str) -> None:
        asked = self.dispatcher.next_job(worker)
        job = None if asked is None else Job(asked[0].number, asked[1])
        self.queue.put.remote(worker, job)
        for frozen in self.dispatcher.rejected:
            self._told(frozen)
        self.dispatcher.rejected.clear()
        for trial, candidate, repeats in self.dispatcher.reused:  # its MLflow run first, then the tell
            self._deferred.append(lambda t=trial, c=candidate, r=repeats: (
                self._on_asked(t, c), self._on_told(self.dispatcher.tell_reused(t, r))))
        self.dispatcher.reused.clear()
        if asked is not None:
            self._unannounced.add(asked[0].number)
            self._deferred.append(lambda: self._on_asked(*asked))

    def _told(self, frozen: optuna.trial.FrozenTrial | None) -> None:
        if frozen is not None:
            self._deferred.append(lambda: self._on_told(frozen))

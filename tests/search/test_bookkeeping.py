"""StudyBookkeeper: what the driver records per asked / finished trial, with a real Optuna study,
a real StudyTracker on a SQLite MLflow store and a real (silent) StudyProgress.

The only stand-in is the timing gate, a Ray actor the bookkeeper holds while it logs: a small
object whose ``acquire_shared.remote()`` / ``release_shared.remote()`` return tokens, and this
module's ``ray.get`` resolving them (no Ray cluster is started).
"""

from __future__ import annotations

import types
from pathlib import Path

import optuna
import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from automl.candidate.result import METRICS
from automl.search import bookkeeping
from automl.search.bookkeeping import StudyBookkeeper
from automl.search.progress import StudyProgress
from automl.study.attrs import (
    ERROR_ATTR,
    MLFLOW_RUN_ATTR,
    PRUNED_AT_ATTR,
    RESULT_ATTR,
    RUNG_ATTR,
)
from automl.study.pareto import normalised_hypervolume
from automl.tracking import StudyTracker
from automl.tracking.study_tracker import TRIAL_TAG
from tests.conftest import TEACHER_METRICS

OBJECTIVES = [("accuracy", "maximize"), ("size_bytes", "minimize")]


class FakeGate:
    """Stands in for the TimingGate actor handle; the module's patched ``ray.get`` appends the
    tokens its calls return to ``log``, so the order of acquire / release can be checked."""

    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.acquire_shared = types.SimpleNamespace(remote=lambda: "acquire")
        self.release_shared = types.SimpleNamespace(remote=lambda: "release")


@pytest.fixture()
def books(mlflow_uri: str, tmp_path: Path, request: pytest.FixtureRequest,
          monkeypatch: pytest.MonkeyPatch) -> StudyBookkeeper:
    gate_log: list[str] = []
    monkeypatch.setattr(bookkeeping, "ray", types.SimpleNamespace(get=gate_log.append))
    monkeypatch.setattr(bookkeeping, "FRONT_EVERY_S", 0.0)  # every change logged at once (throttling: below)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=[d for _, d in OBJECTIVES],
                                sampler=optuna.samplers.RandomSampler(seed=0))
    tracker = StudyTracker(mlflow_uri, request.node.name, tmp_path / "artifacts")
    progress = StudyProgress(request.node.name, total=4, enabled=False)
    return StudyBookkeeper(study, OBJECTIVES, tracker, progress, FakeGate(gate_log), TEACHER_METRICS)


def _ask(books: StudyBookkeeper) -> optuna.Trial:
    trial = books.study.ask()
    bits = trial.suggest_categorical("quant.weight_bits", [8, 32])
    trial.suggest_float("pruning.ratio", 0.0, 0.9)
    books.asked(trial, {"arch": {"family": "cnn"}, "quant": {"weight_bits": bits}})
    return trial


def _result(acc: float, size: int, reference_ms: float | None = 0.21) -> dict:
    return {"accuracy": acc, "test_accuracy": acc - 0.01, "size_bytes": size, "latency_ms": 0.1,
            "params_nonzero": 1000, "macs": 9000, "latency_ratio": 0.5, "kernels": "int8",
            "latency": {"runtime": "onnxruntime", "reference_ms": reference_ms}}


def _complete(books: StudyBookkeeper, trial: optuna.Trial, acc: float, size: int, **kw) -> optuna.trial.FrozenTrial:
    trial.set_user_attr(RESULT_ATTR, _result(acc, size, **kw))
    books.study.tell(trial, [acc, size])
    return books.study.trials[trial.number]


def _client(books: StudyBookkeeper) -> MlflowClient:
    return books.tracker.client


def test_asked_creates_the_trial_run_and_keeps_its_id_on_the_trial(books: StudyBookkeeper) -> None:
    trial = _ask(books)
    run_id = books.study.trials[trial.number].user_attrs[MLFLOW_RUN_ATTR]
    run = _client(books).get_run(run_id)
    assert run.info.status == "RUNNING" and run.data.tags[TRIAL_TAG] == str(trial.number)
    assert run.data.params["optuna.quant.weight_bits"] == str(trial.params["quant.weight_bits"])
    assert books.progress.running == 1
    assert books.seconds[trial.number]["mlflow_start_s"] >= 0

    books.epochs(trial.number, [{"step": 1, "loss": 2.0, "val_accuracy": 0.4, "lr": 0.1},
                                {"step": 2, "loss": 1.0, "val_accuracy": 0.7}])
    curve = sorted(_client(books).get_metric_history(run_id, "curve_val_accuracy"), key=lambda m: m.step)
    assert [(m.step, m.value) for m in curve] == [(1, 0.4), (2, 0.7)]
    assert "curve_lr" not in _client(books).get_run(run_id).data.metrics  # only loss and val_accuracy
    books.epochs(99, [{"step": 1, "loss": 1.0}])  # never asked here (an outage): nothing to log, no error


def test_finished_trials_close_their_runs_and_move_the_front(books: StudyBookkeeper) -> None:
    client, progress, gate_log = _client(books), books.progress, books.gate.log

    first = _ask(books)
    books.told(_complete(books, first, 0.9, 500))
    run0 = books.study.trials[0].user_attrs[MLFLOW_RUN_ATTR]
    run = client.get_run(run0)
    assert run.info.status == "FINISHED" and run.data.tags["pareto"] == "true"
    assert run.data.metrics["accuracy"] == pytest.approx(0.9) and run.data.metrics["size_ratio"] == pytest.approx(0.5)
    hv1 = 0.9 * 1.5  # normalised (0.1, 0.5) against the reference (1, 2)
    assert books.hypervolume == pytest.approx(hv1)
    assert (progress.done, progress.running, progress.front, progress.failed, progress.stopped) == (1, 0, 1, 0, 0)
    assert progress.hypervolume == pytest.approx(hv1)
    assert gate_log == ["acquire", "release"]  # the gate is held around the driver's logging, once
    assert books.seconds[0]["mlflow_front_s"] >= 0
    assert [(m.step, m.value) for m in client.get_metric_history(books.tracker.parent_id,
                                                                  "reference_latency_ms")] == [(1, 0.21)]

    stopped = _ask(books)
    stopped.set_user_attr(PRUNED_AT_ATTR, 3)
    stopped.set_user_attr(f"{RUNG_ATTR}3", {"accuracy": 0.4, "size_bytes": 800.0, "go_on": False})
    books.study.tell(stopped, state=TrialState.PRUNED)
    books.told(books.study.trials[stopped.number])
    run = client.get_run(books.study.trials[1].user_attrs[MLFLOW_RUN_ATTR])
    assert run.info.status == "KILLED" and run.data.tags["pruned_at_epoch"] == "3"
    assert (progress.done, progress.stopped, progress.failed) == (2, 1, 0)

    failed = _ask(books)
    failed.set_user_attr(ERROR_ATTR, "ValueError: boom")
    books.study.tell(failed, state=TrialState.FAIL)
    books.told(books.study.trials[failed.number])
    run = client.get_run(books.study.trials[2].user_attrs[MLFLOW_RUN_ATTR])
    assert run.info.status == "FAILED" and run.data.tags["error"] == "ValueError: boom"
    assert (progress.done, progress.stopped, progress.failed) == (3, 1, 1)
    assert books.hypervolume == pytest.approx(hv1)  # neither added a point

    better = _ask(books)  # dominates trial 0: the front moves, the tags follow
    books.told(_complete(books, better, 0.95, 400, reference_ms=None))
    assert client.get_run(run0).data.tags["pareto"] == "false"
    assert client.get_run(books.study.trials[3].user_attrs[MLFLOW_RUN_ATTR]).data.tags["pareto"] == "true"
    hv4 = 0.95 * 1.6
    assert books.hypervolume == pytest.approx(hv4) and progress.hypervolume == pytest.approx(hv4)
    assert (progress.done, progress.front) == (4, 1)

    history = sorted(client.get_metric_history(books.tracker.parent_id, "hypervolume"), key=lambda m: m.step)
    assert [m.step for m in history] == [1, 4]  # stepped by finished trials, logged when the front moved
    assert [m.value for m in history] == pytest.approx([hv1, hv4])
    finished = client.get_metric_history(books.tracker.parent_id, "trials_finished")
    assert sorted(m.value for m in finished) == [1, 4]
    # no reference figure in the last result: nothing more logged as drift
    assert len(client.get_metric_history(books.tracker.parent_id, "reference_latency_ms")) == 1
    assert gate_log == ["acquire", "release"] * 4
    parent = client.get_run(books.tracker.parent_id)
    assert parent.data.metrics["front_size"] == 1
    expected = normalised_hypervolume([{k: r[k] for k in METRICS} for r in [_result(0.95, 400)]], TEACHER_METRICS, OBJECTIVES)
    assert parent.data.metrics["hypervolume"] == pytest.approx(expected)


def test_the_gate_is_released_when_logging_fails(books: StudyBookkeeper, monkeypatch: pytest.MonkeyPatch) -> None:
    trial = _ask(books)
    frozen = _complete(books, trial, 0.9, 500)

    def broken(*args, **kwargs):
        raise RuntimeError("store is locked")

    monkeypatch.setattr(books.tracker, "log_front", broken)
    with pytest.raises(RuntimeError, match="store is locked"):  # a store that answers: not an outage
        books.told(frozen)
    assert books.gate.log == ["acquire", "release"]
    assert books.progress.done == 0


def test_the_front_is_relogged_at_most_every_few_seconds_and_flushed_at_the_end(
        books: StudyBookkeeper, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bookkeeping, "FRONT_EVERY_S", 3600.0)
    client = _client(books)
    books.told(_complete(books, _ask(books), 0.9, 500))  # the first change is logged at once
    run0 = books.study.trials[0].user_attrs[MLFLOW_RUN_ATTR]
    assert client.get_run(run0).data.tags["pareto"] == "true"
    books.told(_complete(books, _ask(books), 0.95, 400))  # dominates it: within the hour, not re-logged
    run1 = books.study.trials[1].user_attrs[MLFLOW_RUN_ATTR]
    assert client.get_run(run0).data.tags["pareto"] == "true" and "pareto" not in client.get_run(run1).data.tags
    assert books.hypervolume == pytest.approx(0.95 * 1.6)  # the driver's own view moved all the same
    books.flush_front()
    assert client.get_run(run0).data.tags["pareto"] == "false"
    assert client.get_run(run1).data.tags["pareto"] == "true"
    hv = client.get_metric_history(books.tracker.parent_id, "hypervolume")
    assert [(m.step, round(m.value, 6)) for m in sorted(hv, key=lambda m: m.step)] == [(1, 1.35), (2, 1.52)]


def test_a_candidate_screened_because_a_target_cannot_run_it_says_which():
    from automl.search.bookkeeping import _trial_summary

    def screened(vector):
        return optuna.trial.create_trial(state=TrialState.PRUNED, user_attrs={
            PRUNED_AT_ATTR: 0, f"{RUNG_ATTR}0": {**vector, "go_on": False}})

    unrun = _trial_summary(screened({"size_bytes": 1271.0, "latency_ms": 9.1e-3, "latency_ms@ort-cpu": 9.1e-3,
                                     "latency_ms@openvino-cpu": float("inf")}))
    assert unrun == ("stopped before training: compressed it would be 1,271 B, 9.1 µs, and openvino-cpu cannot run "
                     "it (beyond the study's limits)")
    assert "cannot run" not in _trial_summary(screened({"size_bytes": 1271.0, "latency_ms": 9.1e-3}))

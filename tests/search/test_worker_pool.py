"""The driver's side of the worker pool, without Ray: Optuna ask/tell and the hand-out order."""

from __future__ import annotations

import dataclasses
import hashlib
import textwrap
from pathlib import Path
from types import SimpleNamespace

import optuna
import pytest
from optuna.trial import TrialState

from automl.search.cluster import HOST, NODE_ID
from automl.search.dispatcher import WORKER_LOST, CandidateDispatcher
from automl.search.protocol import Artifact, EpochRows, Failed, Finished, Node, Ready, Stopped, decode
from automl.search.tune_callback import WorkerPoolCallback
from automl.space.search_space import load_space
from automl.study.attrs import RESULT_ATTR, WORKER_ATTR, measurements
from automl.study.objectives import parse_constraint
from automl.study.sampler import is_feasible

OBJECTIVES = [("accuracy", "maximize"), ("size_bytes", "minimize")]


def small_dispatcher(folder: Path, widths: str = "[8, 16]", bits: str = "[4, 8, 32]") -> CandidateDispatcher:
    """A 3-trial dispatcher over one-stage CNNs of these widths and weight bits (random sampler, seed 0)."""
    (folder / "space.yaml").write_text(textwrap.dedent(f"""\
        name: small
        params:
          arch.family: {{fixed: cnn}}
          arch.choices.stages: {{fixed: 1}}
          arch.choices.widths: {{categorical: {widths}, per_stage: arch.choices.stages}}
          quant.weight_bits: {{categorical: {bits}}}
        """))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=optuna.samplers.RandomSampler(seed=0))
    return CandidateDispatcher(study, load_space(folder / "space.yaml"), {}, OBJECTIVES,
                               [parse_constraint("accuracy >= 0.8")], n_trials=3, artifacts_dir=folder / "driver")


@pytest.fixture()
def dispatcher(tmp_path: Path) -> CandidateDispatcher:
    return small_dispatcher(tmp_path)


def final(number: int, accuracy: float, size: int, blob: bytes | None = None) -> Finished:
    """A worker's final report; its artifact's bytes are ``blob`` (default: ``size`` bytes)."""
    blob = bytes(range(256)) * (size // 256) + bytes(size % 256) if blob is None else blob
    return Finished(number=number, node=Node("node-a", "host-a"),
                    measured={"accuracy": accuracy, "size_bytes": size, "kernels": "fp32"},
                    artifact=Artifact(blob, hashlib.sha256(blob).hexdigest()))


def test_dispatcher_asks_tells_and_stops_at_the_budget(dispatcher: CandidateDispatcher) -> None:
    a, cand_a = dispatcher.next_job("w1")
    b, _ = dispatcher.next_job("w2")
    assert a.number != b.number and cand_a["quant"]["weight_bits"] in (4, 8, 32)
    assert dispatcher.finished("w2", final(a.number, 0.9, 100)) is None  # another worker's number: ignored
    done = dispatcher.finished("w1", final(a.number, 0.7, 100))
    assert done.state == TrialState.COMPLETE and done.values == [0.7, 100.0]
    assert measurements(done) == {"accuracy": 0.7, "size_bytes": 100, "kernels": "fp32",
                                  "artifact_path": str(dispatcher.artifacts_dir / f"trial-{a.number:04d}/model.onnx")}
    assert done.constraints == {"accuracy >= 0.8": pytest.approx(0.125)} and not is_feasible(done)  # for the sampler
    lost = dispatcher.lost("w2")
    assert lost.state == TrialState.FAIL and lost.user_attrs["error"] == WORKER_LOST
    assert dispatcher.lost("w2") is None  # nothing in flight any more
    c, _ = dispatcher.next_job("w1")
    failed = dispatcher.finished("w1", Failed(number=c.number, error="DivergedError: nan"))
    assert failed.state == TrialState.FAIL and "nan" in failed.user_attrs["error"]
    assert RESULT_ATTR not in failed.user_attrs
    assert dispatcher.next_job("w1") is None  # 3 handed out: the budget is spent
    assert len(dispatcher.study.trials) == 3


class FakeQueue:
    def __init__(self, log: list) -> None:
        self.put = SimpleNamespace(remote=lambda worker, job: log.append(("put", worker, job)))
        self.clear = SimpleNamespace(remote=lambda worker: log.append(("clear", worker)))


def test_callback_hands_out_before_any_bookkeeping(dispatcher: CandidateDispatcher) -> None:
    log: list = []
    pool = WorkerPoolCallback(
        dispatcher, FakeQueue(log),
        on_asked=lambda trial, cand: log.append(("asked", trial.number)),
        on_told=lambda frozen: log.append(("told", frozen.number, frozen.state.name)),
        on_epochs=lambda number, rows: log.append(("epochs", number, len(rows))))
    w1, w2 = SimpleNamespace(trial_id="w1"), SimpleNamespace(trial_id="w2")
    pool.on_trial_result(0, [], w1, Ready().encode())
    pool.on_trial_result(0, [], w2, Ready().encode())
    assert [e[0] for e in log] == ["put", "put"]  # jobs out, MLflow not touched yet
    first = log[0][2].number
    pool.on_step_end(0, [])
    assert [e[0] for e in log[2:]] == ["asked", "asked"]
    log.clear()
    pool.on_trial_result(1, [], w1, EpochRows(number=first, rows=[{"step": 1, "loss": 1.0}]).encode())
    pool.on_trial_result(1, [], w1, final(first, 0.9, 50).encode())
    assert log[0][0] == "put" and log[0][1] == "w1" and log[0][2].number not in (0, 1)
    pool.on_trial_error(1, [], w2)  # w2's worker died: what waited in its mailbox goes with it
    pool.on_step_end(1, [])
    assert [e[0] for e in log[1:]] == ["clear", "epochs", "told", "asked", "told"] and log[1] == ("clear", "w2")
    assert ("told", first, "COMPLETE") in log and ("told", 1 - first, "FAIL") in log
    log.clear()
    pool.on_trial_result(2, [], w2, Ready().encode())  # restarted w2: the budget is spent
    assert log == [("put", "w2", None)]


def test_driver_writes_the_bytes_it_received_and_tune_keeps_no_copy(dispatcher: CandidateDispatcher) -> None:
    trial, _ = dispatcher.next_job("w1")
    blob = b"\x08\x01onnx-bytes" * 1000
    result = final(trial.number, 0.9, len(blob), blob).encode()  # what tune.report carries
    done = dispatcher.finished("w1", decode(result))
    assert done.state == TrialState.COMPLETE
    written = Path(measurements(done)["artifact_path"])
    assert written.parent.parent == dispatcher.artifacts_dir and written.read_bytes() == blob
    assert not any(isinstance(v, bytes) for v in result.values())  # what Tune keeps as last_result
    assert done.user_attrs[WORKER_ATTR] == {NODE_ID: "node-a", HOST: "host-a"}


@pytest.mark.parametrize("spoil, needle", [
    (lambda a: None, "carried no artifact bytes"),
    (lambda a: Artifact(a.blob[:-1] + b"?", a.sha256), "SHA-256"),
    (lambda a: Artifact(a.blob[:-1], hashlib.sha256(a.blob[:-1]).hexdigest()), "measured 100"),
])
def test_a_candidate_whose_artifact_did_not_arrive_fails(dispatcher: CandidateDispatcher, spoil, needle) -> None:
    trial, _ = dispatcher.next_job("w1")
    report = final(trial.number, 0.9, 100)
    done = dispatcher.finished("w1", dataclasses.replace(report, artifact=spoil(report.artifact)))
    assert done.state == TrialState.FAIL
    assert done.user_attrs["error"].startswith("artifact not delivered") and needle in done.user_attrs["error"]
    assert RESULT_ATTR not in done.user_attrs
    assert not (dispatcher.artifacts_dir / f"trial-{trial.number:04d}").exists()


def test_a_teacher_initialised_candidate_gets_the_teachers_arch_and_another_family_fails(tmp_path: Path) -> None:
    (tmp_path / "space.yaml").write_text(textwrap.dedent("""\
        name: from_teacher
        params:
          arch.init: {categorical: [teacher]}
          arch.family: {categorical: [mobilenet_v2, cnn]}
          arch.choices.cifar_strides: {fixed: false, when: "arch.family == mobilenet_v2"}
        """))
    teacher_arch = {"family": "mobilenet_v2", "init": "scratch",
                    "choices": {"width_mult": 1.0, "depths": [1] * 7, "expansion": [6] * 7, "cifar_strides": True}}
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=optuna.samplers.RandomSampler(seed=0))
    enqueued = [{"arch.init": "teacher", "arch.family": f} for f in ("cnn", "mobilenet_v2")]
    for params in enqueued:
        study.enqueue_trial(params)
    pool = CandidateDispatcher(study, load_space(tmp_path / "space.yaml"), {}, OBJECTIVES, [], n_trials=2,
                               artifacts_dir=tmp_path / "driver", teacher_arch=teacher_arch)
    trial, candidate = pool.next_job("w1")  # the cnn one was refused at ask, and counted
    assert candidate["arch"] == {**teacher_arch, "init": "teacher",
                                 "choices": {**teacher_arch["choices"], "cifar_strides": False}}
    assert trial.user_attrs["candidate"] == candidate
    (refused,) = pool.rejected
    assert refused.state == TrialState.FAIL
    assert "arch.family: 'cnn' with init: teacher, but the teacher is 'mobilenet_v2'" in refused.user_attrs["error"]
    assert pool.next_job("w2") is None


def test_a_candidate_equal_to_a_finished_one_is_answered_from_its_result_not_trained(tmp_path: Path) -> None:
    dispatcher = small_dispatcher(tmp_path, widths="[8]", bits="[8]")  # one config only
    study = dispatcher.study
    log: list = []
    pool = WorkerPoolCallback(dispatcher, FakeQueue(log), on_asked=lambda trial, cand: log.append(("asked", trial.number)),
                              on_told=lambda frozen: log.append(("told", frozen.number, frozen.state.name)),
                              on_epochs=lambda number, rows: None)
    w1, w2 = SimpleNamespace(trial_id="w1"), SimpleNamespace(trial_id="w2")
    pool.on_trial_result(0, [], w1, Ready().encode())
    pool.on_trial_result(0, [], w2, Ready().encode())  # the same config is running, not finished: trained too
    first, second = log[0][2].number, log[1][2].number
    pool.on_trial_result(0, [], w1, final(first, 0.9, 100).encode())
    pool.on_step_end(0, [])
    # w1 asks again: the only config of the space is finished, so trial 2 is answered from trial 0 and
    # the budget is spent (w1 gets no job); its MLflow run is made before it is told
    assert ("put", "w1", None) in log
    assert log[-2:] == [("asked", 2), ("told", 2, "COMPLETE")]
    reused = study.trials[2]
    assert reused.user_attrs["reused_from"] == first and reused.values == [0.9, 100.0]
    assert measurements(reused) == measurements(study.trials[first])
    assert reused.constraints == study.trials[first].constraints
    assert study.trials[second].state == TrialState.RUNNING  # the one in flight was not touched
    resumed = CandidateDispatcher(study, dispatcher.space, {}, OBJECTIVES, [], n_trials=1, artifacts_dir=tmp_path / "d")
    assert resumed.next_job("w3") is None and resumed.reused[0][2] == first  # a relaunch knows what finished


def test_with_a_predictor_the_screen_asks_the_driver_and_a_screened_proposal_spends_no_budget(tmp_path: Path) -> None:
    from automl.study.accuracy_screen import PredictorConfig
    from automl.study.attrs import PREDICTED_ATTR, screened_by_predictor

    plain = small_dispatcher(tmp_path, widths="[4, 6, 8, 12, 16, 24, 32]")
    pool = CandidateDispatcher(plain.study, plain.space, {}, OBJECTIVES, [], n_trials=4, artifacts_dir=tmp_path / "d",
                               predictor=PredictorConfig(min_trials=2, proposals=2),
                               teacher_metrics={"accuracy": 0.95, "size_bytes": 1000})
    for worker, (acc, size) in (("w1", (0.95, 100)), ("w2", (0.90, 50))):
        trial, _ = pool.next_job(worker)
        assert pool.rung(worker, trial.number, 0, {"size_bytes": size, "macs": 1, "latency_ms": 0.01})  # learning
        assert pool.finished(worker, final(trial.number, acc, size)).state == TrialState.COMPLETE
    assert pool.study.trials[0].user_attrs[PREDICTED_ATTR] == {"accuracy": None, "spread": None, "gain": None,
                                                              "seen": 0, "trained": True}
    assert pool.remaining == 2 and pool.extra_proposals == 4
    trial, _ = pool.next_job("w1")
    # bigger than both finished candidates: it could only add to the front by beating 0.95, which two
    # examples at 0.90-0.95 do not predict
    assert not pool.rung("w1", trial.number, 0, {"size_bytes": 10_000, "macs": 1, "latency_ms": 0.01})
    said = trial.user_attrs[PREDICTED_ATTR]
    assert said["trained"] is False and said["seen"] == 2 and 0.9 <= said["accuracy"] <= 0.95 and said["gain"] == 0
    assert pool.remaining == 2 and pool.extra_proposals == 3  # the proposal was refunded to the budget
    stopped = pool.finished("w1", Stopped(number=trial.number, epoch=0, screened={"size_bytes": 10_000}))
    assert stopped.state == TrialState.PRUNED and screened_by_predictor(stopped)
    trial, _ = pool.next_job("w1")  # after a repeat of trial 0 (answered, budgeted); smaller than the front: trains
    assert [r[2] for r in pool.reused] == [0]
    assert pool.rung("w1", trial.number, 0, {"size_bytes": 10, "macs": 1, "latency_ms": 0.01})
    assert pool.remaining == 0 and not screened_by_predictor(pool.study.trials[trial.number])

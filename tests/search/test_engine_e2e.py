"""End to end through the command line: real local Ray, real MLflow store, real Optuna storage."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import optuna
import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from tests.search.e2e_study import REPO, SPACE, automl, tiny_study, write_study

pytestmark = pytest.mark.e2e


def _children(client: MlflowClient, name: str):
    exp = client.get_experiment_by_name(name)
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    parent = [r for r in runs if r.data.tags.get("automl.role") == "study"]
    return parent, [r for r in runs if r.data.tags.get("automl.role") == "trial"]


def test_study_fills_optuna_and_mlflow(launched):
    work, _, first = launched
    record = json.loads((work / "runs/e2e/study.json").read_text())
    study = optuna.load_study(study_name="e2e", storage=record["storage"])
    assert len([t for t in study.trials if t.state == TrialState.COMPLETE]) == 6
    client = MlflowClient(record["tracking_uri"])
    parent, children = _children(client, "e2e")
    assert len(parent) == 1 and len(children) == 6
    assert all(c.data.tags["automl.study_run"] == parent[0].info.run_id for c in children)
    for child in children:
        assert {"accuracy", "test_accuracy", "size_bytes", "latency_ms", "params_nonzero", "macs"} <= set(child.data.metrics)
        assert "quant.weight_bits" in child.data.params
        assert [a.path for a in client.list_artifacts(child.info.run_id, "model")] == ["model/model.onnx"]
        if "reused_from" in child.data.tags:  # a repeat of a finished candidate: not trained, so no node, no curve
            assert "ray_node_id" not in child.data.tags and child.data.tags["pareto"] == "false"
            continue
        assert child.data.tags["ray_node_id"] and child.data.tags["host"]  # where it trained
        curve = client.get_metric_history(child.info.run_id, "curve_loss")
        assert len(curve) >= 2
    assert parent[0].data.tags["cluster.nodes"] == "1" and parent[0].data.tags["timing_node_id"]
    assert record["timing_node"]["ray_node_id"] == record["cluster"]["driver"]["ray_node_id"]  # the driver's node
    arts = {a.path for a in client.list_artifacts(parent[0].info.run_id, "front")}
    assert {"front/front.json", "front/front.png"} <= arts
    hv = client.get_metric_history(parent[0].info.run_id, "hypervolume")
    # logged when the front moved (stepped by finished trials), and by the final view (re-timed
    # front) at the last step
    steps = sorted(m.step for m in hv)
    assert set(steps) <= set(range(1, 7)) and steps[-1] == 6 and len(steps) >= 2
    assert max(hv, key=lambda m: (m.step, m.timestamp)).value > 0
    assert "on the front" in first.stdout


def test_the_launch_records_when_each_start_up_phase_ended(launched):
    work, _, _ = launched
    phases = next(iter(json.loads((work / "runs/e2e/launch_timings.json").read_text()).values()))
    assert list(phases) == ["run_study", "study_opened", "prepared", "ray_ready", "teacher_timed", "workers_starting"]
    assert list(phases.values()) == sorted(phases.values())  # in the order the launch goes through them
    record = json.loads((work / "runs/e2e/study.json").read_text())
    study = optuna.load_study(study_name="e2e", storage=record["storage"])
    assert phases["workers_starting"] <= min(t.datetime_start.timestamp() for t in study.trials)


def test_pareto_tags_match_independent_dominance_check(launched):
    work, _, _ = launched
    record = json.loads((work / "runs/e2e/study.json").read_text())
    _, runs = _children(MlflowClient(record["tracking_uri"]), "e2e")
    # a repeat answered from a finished candidate's result is never on the front: the trial it repeats is
    repeats = [c for c in runs if "reused_from" in c.data.tags]
    assert all(c.data.tags["pareto"] == "false" for c in repeats)
    children = [c for c in runs if c not in repeats]
    pts = np.array([[c.data.metrics["accuracy"], c.data.metrics["size_bytes"], c.data.metrics["latency_ms"]]
                    for c in children])

    def dominated(i: int) -> bool:
        a = pts[i]
        for j, b in enumerate(pts):
            if j != i and b[0] >= a[0] and b[1] <= a[1] and b[2] <= a[2] and (b[0] > a[0] or b[1] < a[1] or b[2] < a[2]):
                return True
        return False

    expected = {c.data.tags["automl.trial"]: not dominated(i) for i, c in enumerate(children)}
    tagged = {c.data.tags["automl.trial"]: c.data.tags["pareto"] == "true" for c in children}
    assert tagged == expected and any(expected.values())

    out = automl("pareto", "e2e", "--json", cwd=work)
    assert out.returncode == 0, out.stderr
    front = json.loads(out.stdout)
    assert {str(p["trial"]) for p in front} == {k for k, v in expected.items() if v}
    by_trial = {c.data.tags["automl.trial"]: c.data.metrics for c in runs}
    for p in front:
        assert set(p) == {"trial", "params", "accuracy", "test_accuracy", "size_bytes", "latency_ms",
                          "latency_ratio", "retimed", "search_latency_ms", "search_latency_ratio", "kernels", "targets"}
        assert p["kernels"]  # the whole text the table cuts
        assert list(p["targets"]) == ["ort-cpu"]  # the default target, whose search figures are the plain ones
        assert p["targets"]["ort-cpu"]["latency_ms"] == pytest.approx(p["search_latency_ms"])
        for key in ("accuracy", "test_accuracy", "size_bytes", "latency_ms", "latency_ratio"):
            assert p[key] == pytest.approx(by_trial[str(p["trial"])][key])
        assert p["retimed"]  # the study's end re-timed the whole front


def test_export_gives_an_artifact_that_reproduces_test_accuracy(launched, tmp_path):
    from automl.data import DatasetConfig, load_dataset
    from automl.measure.runtimes import runtime_for, target_accuracy
    from automl.measure.targets import DEFAULT_TARGET

    work, _, _ = launched
    front = json.loads(automl("pareto", "e2e", "--json", cwd=work).stdout)
    best = front[0]
    out = automl("export", "e2e", "--trial", str(best["trial"]), "--out", str(tmp_path / "x"), cwd=work)
    assert out.returncode == 0, out.stderr
    info = json.loads((tmp_path / "x/candidate.json").read_text())
    assert info["artifact_bytes"] == best["size_bytes"] == (tmp_path / "x/model.onnx").stat().st_size
    data = load_dataset(DatasetConfig(name="digits"))
    acc = target_accuracy(runtime_for(DEFAULT_TARGET, 1), tmp_path / "x/model.onnx", data.x_test, data.y_test)
    assert abs(acc - best["test_accuracy"]) <= 0.001
    bad = automl("export", "e2e", "--trial", "99", "--out", str(tmp_path / "y"), cwd=work)
    assert bad.returncode == 2 and "--trial" in bad.stderr


def test_relaunch_resumes_and_adds_exactly_the_missing_trials(launched):
    work, study_file, _ = launched
    before = json.loads((work / "runs/e2e/study.json").read_text())["teacher"]["latency_ms"]
    again = automl("launch", str(study_file), "--trials", "8", "--quiet", cwd=work)
    assert again.returncode == 0, again.stderr[-3000:]
    record = json.loads((work / "runs/e2e/study.json").read_text())
    study = optuna.load_study(study_name="e2e", storage=record["storage"])
    assert len([t for t in study.trials if t.state == TrialState.COMPLETE]) == 8
    assert len(study.trials) == 8
    _, children = _children(MlflowClient(record["tracking_uri"]), "e2e")
    assert len(children) == 8
    # the study's one teacher figure survives a relaunch unchanged
    assert record["teacher"]["latency_ms"] == before == study.user_attrs["teacher_latency"]["latency_ms"]


@pytest.mark.parametrize("space_fn, trials, needle", [
    ("define", 3, "diverged"),  # trial 1's loss is NaN: a failed candidate, the worker goes on
    ("define_crash", 4, "crashed"),  # trial 1 kills its worker process: Tune restarts the worker
])
def test_failing_candidate_is_recorded_failed_and_study_completes(tmp_path, space_fn, trials, needle):
    (tmp_path / "fn_space.yaml").write_text(f"name: fn\nfunction: tests.search.e2e_space:{space_fn}\n")
    study_file = write_study(tmp_path, "failing", "fn_space.yaml", trials=trials)
    out = automl("launch", str(study_file), "--quiet", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    record = json.loads((tmp_path / "runs/failing/study.json").read_text())
    study = optuna.load_study(study_name="failing", storage=record["storage"])
    states = {t.number: t.state for t in study.trials}
    assert states == {n: TrialState.FAIL if n == 1 else TrialState.COMPLETE for n in range(trials)}
    assert needle in study.trials[1].user_attrs["error"]
    _, children = _children(MlflowClient(record["tracking_uri"]), "failing")
    failed = [c for c in children if c.data.tags["automl.trial"] == "1"][0]
    assert failed.info.status == "FAILED" and needle in failed.data.tags["error"]
    if space_fn == "define":  # trial 2 started from the teacher, on a worker the teacher was shipped to
        candidate, teacher = study.trials[2].user_attrs["candidate"], record["teacher"]
        assert candidate["arch"] == {"family": "cnn", "choices": candidate["arch"]["choices"], "init": "teacher"}
        assert candidate["arch"]["choices"]["widths"] == [16, 32] and candidate["train"]["epochs"] == 0
        result = study.trials[2].user_attrs["result"]
        seconds = result["phase_seconds"]  # nothing trained from scratch, one recovery epoch
        assert seconds.get("train", 0.0) < 0.1 * seconds["prune_finetune"]
        assert result["params_nonzero"] < teacher["params_nonzero"] and result["accuracy"] > 0.5


def test_a_repeated_candidate_is_answered_from_the_finished_one_not_trained(tmp_path):
    (tmp_path / "fn_space.yaml").write_text("name: fn\nfunction: tests.search.e2e_space:define_repeat\n")
    study_file = write_study(tmp_path, "repeat", "fn_space.yaml", trials=3)
    out = automl("launch", str(study_file), "--quiet", cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    record = json.loads((tmp_path / "runs/repeat/study.json").read_text())
    study = optuna.load_study(study_name="repeat", storage=record["storage"])
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3
    reused = [t for t in study.trials if "reused_from" in t.user_attrs]
    assert len(reused) == 1  # trials 0 and 1 ran at once (a repeat of a running one trains); 2 came after
    (again,), source = reused, study.trials[reused[0].user_attrs["reused_from"]]
    assert "reused_from" not in source.user_attrs and again.values == source.values
    assert again.user_attrs["result"] == source.user_attrs["result"] and "worker" not in again.user_attrs
    _, children = _children(MlflowClient(record["tracking_uri"]), "repeat")
    run = [c for c in children if c.data.tags["automl.trial"] == str(again.number)][0]
    assert run.info.status == "FINISHED" and run.data.tags["reused_from"] == str(source.number)
    assert run.data.metrics["accuracy"] == source.values[0] and run.data.tags["pareto"] == "false"
    front = json.loads(automl("pareto", "repeat", "--json", cwd=tmp_path).stdout)
    assert again.number not in {p["trial"] for p in front}  # the trial it repeats stands for both


def start_ui(work: Path, name: str) -> tuple[subprocess.Popen, int]:
    """``automl ui NAME`` (a real ``mlflow server``) on a free loopback port, in its own session."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "automl", "ui", name, "--port", str(port)], cwd=work, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    return proc, port


def test_ui_serves_the_study_store_on_loopback(launched):
    import time
    import urllib.request

    work, _, _ = launched
    proc, port = start_ui(work, "e2e")
    try:
        url = f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/get-by-name?experiment_name=e2e"
        deadline = time.time() + 90
        body = None
        while time.time() < deadline and body is None:
            try:
                body = json.loads(urllib.request.urlopen(url, timeout=5).read())
            except OSError:
                time.sleep(1)
        assert body is not None, "mlflow server did not answer"
        exp_id = body["experiment"]["experiment_id"]
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api/2.0/mlflow/runs/search",
                                     data=json.dumps({"experiment_ids": [exp_id], "max_results": 100}).encode(),
                                     headers={"Content-Type": "application/json"})
        runs = json.loads(urllib.request.urlopen(req, timeout=10).read())["runs"]
        assert len(runs) >= 7  # the parent and its children
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10).read()
        assert b"<html" in page.lower() or b"<!doctype" in page.lower()
    finally:
        import signal

        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def test_interrupted_launch_keeps_finished_trials_and_resumes(tmp_path):
    import signal
    import time

    (tmp_path / "tiny_joint.yaml").write_text(SPACE)
    study_file = write_study(tmp_path, "cut", "tiny_joint.yaml", trials=6)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = subprocess.Popen([sys.executable, "-m", "automl", "launch", str(study_file), "--quiet"], cwd=tmp_path,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    record_file = tmp_path / "runs/cut/study.json"
    deadline = time.time() + 300
    done = 0
    while time.time() < deadline and proc.poll() is None:
        if record_file.exists():
            storage = json.loads(record_file.read_text())["storage"]
            try:
                done = sum(t.state == TrialState.COMPLETE for t in optuna.load_study(study_name="cut", storage=storage).trials)
            except Exception:  # the storage is being created
                done = 0
            if done >= 2:
                break
        time.sleep(0.5)
    assert done >= 2 and proc.poll() is None, "the study ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)  # Ctrl-C to the launcher
    proc.communicate(timeout=300)
    study = optuna.load_study(study_name="cut", storage=storage)
    kept = [t.number for t in study.trials if t.state == TrialState.COMPLETE]
    assert len(kept) >= 2
    assert not [t for t in study.trials if t.state == TrialState.RUNNING]
    again = automl("launch", str(study_file), "--quiet", cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    study = optuna.load_study(study_name="cut", storage=storage)
    complete = [t.number for t in study.trials if t.state == TrialState.COMPLETE]
    assert set(kept) <= set(complete)  # nothing finished was lost or re-run
    cut = set(study.user_attrs["interrupted_trials"])
    assert cut and all(study.trials[n].state == TrialState.FAIL for n in cut)
    assert len(complete) + len([t for t in study.trials if t.state == TrialState.FAIL and t.number not in cut]) == 6


def test_teacher_latency_is_one_figure_everywhere(launched):
    work, _, _ = launched
    record = json.loads((work / "runs/e2e/study.json").read_text())
    study = optuna.load_study(study_name="e2e", storage=record["storage"])
    figure = study.user_attrs["teacher_latency"]["latency_ms"]
    client = MlflowClient(record["tracking_uri"])
    parent, children = _children(client, "e2e")
    parent_id = parent[0].info.run_id
    logged = json.loads(Path(client.download_artifacts(parent_id, "teacher/result.json")).read_text())
    front_json = json.loads(Path(client.download_artifacts(parent_id, "front/front.json")).read_text())
    assert record["teacher"]["latency_ms"] == logged["latency_ms"] == front_json["teacher"]["latency_ms"] == figure
    assert {m.value for m in client.get_metric_history(parent_id, "teacher_latency_ms")} == {figure}
    assert front_json["reference_point"] == [1.0, 2.0, 2.0] and len(front_json["objectives"]) == 3
    for child in children:  # every candidate's latency_ms is its ratio to that figure
        m = child.data.metrics
        assert m["latency_ms"] == pytest.approx(m["latency_ratio"] * figure, rel=1e-6)
        search = client.get_metric_history(child.info.run_id, "latency_ms")
        assert min(s.step for s in search) == 0 and m["search_latency_ms"] == [s for s in search if s.step == 0][0].value


def test_verify_rechecks_the_front_from_the_files(launched, tmp_path):
    import onnx

    work, _, _ = launched
    front = json.loads(automl("pareto", "e2e", "--json", cwd=work).stdout)
    record = json.loads((work / "runs/e2e/study.json").read_text())
    # one run of verify, with the first front point's file tampered (re-saved with 100 more bytes)
    artifact = Path(record["run_dir"]) / "artifacts" / f"trial-{front[0]['trial']:04d}" / "model.onnx"
    original = artifact.read_bytes()
    model = onnx.load_from_string(original)
    model.doc_string = "x" * 97
    before = set(Path(tempfile.gettempdir()).glob("automl-verify-e2e-*"))
    try:
        artifact.write_bytes(model.SerializeToString())
        out = automl("verify", "e2e", "--json", cwd=work)
    finally:
        artifact.write_bytes(original)
    assert set(Path(tempfile.gettempdir()).glob("automl-verify-e2e-*")) == before  # its scratch folder is gone
    assert out.returncode == 3, out.stderr  # the tampered file is caught
    assert "outside tolerance" in out.stderr and str(front[0]["trial"]) in out.stderr.split(":")[-1]
    checks = json.loads(out.stdout)["checks"]
    assert [c["trial"] for c in checks] == ["teacher"] + [str(p["trial"]) for p in front]
    tampered, untouched = checks[1], [checks[0], *checks[2:]]
    assert tampered["size_on_disk"] == len(model.SerializeToString()) and tampered["size_reported"] == len(original)
    assert f"size {len(model.SerializeToString())} B on disk, {len(original)} B reported" in tampered["failures"]
    for c in untouched:  # the same file on the same data: equal, up to one near-tie flipped by ORT's batching
        assert c["size_on_disk"] == c["size_reported"]
        assert not [f for f in c["failures"] if f.startswith("size")]
    for c in checks:
        for split in ("val", "test"):
            assert abs(c[f"{split}_measured"] - c[f"{split}_reported"]) <= 1 / c["samples"][split] + 1e-9
    assert len({c["control_ratio"] for c in checks}) == 1 and checks[0]["control_ratio"] > 0  # the teacher's copy
    assert len({c["teacher_drift"] for c in checks}) == 1  # the teacher's time now over the study's figure
    assert checks[0]["teacher_drift"] == pytest.approx(checks[0]["latency_ms_measured"] / checks[0]["latency_ms_reported"])


def test_export_teacher_and_bad_names(launched, tmp_path):
    work, _, _ = launched
    out = automl("export", "e2e", "--teacher", "--out", str(tmp_path / "t"), cwd=work)
    assert out.returncode == 0, out.stderr
    info = json.loads((tmp_path / "t/teacher.json").read_text())
    record = json.loads((work / "runs/e2e/study.json").read_text())
    assert info["artifact_bytes"] == (tmp_path / "t/model.onnx").stat().st_size == record["teacher"]["size_bytes"]
    assert info["metrics"]["latency_ms"] == record["teacher"]["latency_ms"]
    bad = automl("pareto", "../../x", cwd=work)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "name" in bad.stderr


def test_pareto_retime_refreshes_the_final_view(launched):
    work, _, _ = launched
    record = json.loads((work / "runs/e2e/study.json").read_text())
    study = optuna.load_study(study_name="e2e", storage=record["storage"])
    stamps = {k: v["at"] for k, v in study.user_attrs.items() if k.startswith("retimed:")}
    out = automl("pareto", "e2e", "--retime", "--json", cwd=work)
    assert out.returncode == 0, out.stderr
    assert "re-timing" in out.stderr
    front = json.loads(out.stdout)
    study = optuna.load_study(study_name="e2e", storage=record["storage"])
    for p in front:
        again = study.user_attrs[f"retimed:{p['trial']}"]
        assert p["retimed"] and p["latency_ratio"] == again["ratio"]
        assert p["latency_ms"] == pytest.approx(again["ratio"] * record["teacher"]["latency_ms"])
    assert stamps  # the launch had re-timed the front already


def test_a_study_warm_started_from_another_learns_from_it_and_keeps_only_its_own_results(launched, tmp_path):
    work, _, _ = launched  # the source: the tiny study, finished
    source_record = json.loads((work / "runs/e2e/study.json").read_text())
    source = optuna.load_study(study_name="e2e", storage=source_record["storage"])
    study_file = tiny_study(tmp_path, "warm", trials=2)  # the same space on another split of the data
    study_file.write_text(study_file.read_text().replace("dataset: {name: digits}", "dataset: {name: digits, seed: 1}"))
    out = automl("launch", str(study_file), "--warm-start", str(work / "runs/e2e"), cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    own = [t for t in source.trials if t.state == TrialState.COMPLETE and "reused_from" not in t.user_attrs]
    assert f"{len(own)} finished trial(s) added as priors (measured on other data" in " ".join(out.stderr.split())  # the progress view (wrapped)
    record = json.loads((tmp_path / "runs/warm/study.json").read_text())
    study = optuna.load_study(study_name="warm", storage=record["storage"])
    priors = [t for t in study.trials if "warm_start_from" in t.user_attrs]
    trained = [t for t in study.trials if t not in priors and t.state != TrialState.WAITING]  # (proposals the
    # budget did not reach wait for a later launch)
    assert len(priors) == len(own) and len(trained) == 2 and all("result" in t.user_attrs for t in trained)
    # the source's front is proposed first: the new study's first candidates are its front points
    source_front = json.loads(automl("pareto", "e2e", "--json", cwd=work).stdout)
    proposed = [p["params"] for p in sorted(source_front, key=lambda p: p["trial"])][:2]  # in trial order
    assert [t.params for t in trained][:len(proposed)] == proposed
    # its front, its MLflow runs and its budget hold its own measurements only
    front = json.loads(automl("pareto", "warm", "--json", cwd=tmp_path).stdout)
    assert {p["trial"] for p in front} <= {t.number for t in trained}
    _, children = _children(MlflowClient(record["tracking_uri"]), "warm")
    assert sorted(int(c.data.tags["automl.trial"]) for c in children) == [t.number for t in trained]
    assert "2 trials finished" in out.stdout
    refused = automl("export", "warm", "--trial", str(priors[0].number), "--out", str(tmp_path / "x"), cwd=tmp_path)
    assert refused.returncode != 0 and "is a warm-start prior, measured by study 'e2e'" in refused.stderr


def test_a_study_with_a_predictor_judges_every_candidate_before_it_trains(launched, tmp_path):
    from automl.study.accuracy_predictor import kendall_tau

    work, _, _ = launched  # its finished trials are the predictor's first examples (priors)
    study_file = tiny_study(tmp_path, "pred", trials=3)
    study_file.write_text(study_file.read_text() + "predictor: {min_trials: 2, proposals: 3}\n")
    out = automl("launch", str(study_file), "--warm-start", str(work / "runs/e2e"), cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    record = json.loads((tmp_path / "runs/pred/study.json").read_text())
    study = optuna.load_study(study_name="pred", storage=record["storage"])
    own = [t for t in study.trials if "warm_start_from" not in t.user_attrs and t.state != TrialState.WAITING]
    trained = [t for t in own if t.state == TrialState.COMPLETE and "reused_from" not in t.user_attrs]
    screened = [t for t in own if t.user_attrs.get("predicted", {}).get("trained") is False]
    # the budget counts what trained (and repeats, answered); screened proposals come on top of it
    assert len(own) - len(screened) == 3 and len(screened) <= 2 * 3
    for t in trained:  # judged with the priors' figures before training: a prediction, then a measurement
        said = t.user_attrs["predicted"]
        assert said["trained"] is True and said["seen"] >= 2 and 0.0 <= said["accuracy"] <= 1.0
    for t in screened:
        assert t.state == TrialState.PRUNED and t.user_attrs["pruned_at_epoch"] == 0 and "result" not in t.user_attrs
    client = MlflowClient(record["tracking_uri"])
    parent, children = _children(client, "pred")
    by_trial = {int(c.data.tags["automl.trial"]): c for c in children}
    for t in trained + screened:
        run = by_trial[t.number]
        assert run.data.metrics["predicted_accuracy"] == pytest.approx(t.user_attrs["predicted"]["accuracy"])
        assert run.data.tags["predictor"] == ("trained" if t in trained else "screened")
    tau = kendall_tau([(t.user_attrs["predicted"]["accuracy"], t.user_attrs["result"]["accuracy"]) for t in trained])
    history = client.get_metric_history(parent[0].info.run_id, "predictor_kendall_tau")
    assert (history[-1].value == pytest.approx(tau)) if tau is not None else not history

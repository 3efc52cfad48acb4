"""``automl ui NAME``: SIGTERM to it stops its MLflow server and every process of the server's group."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table from /proc")]


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, parent, process group) of a live process; None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    state, ppid, pgrp = text[text.rindex(")") + 2:].split()[:3]
    return state, int(ppid), int(pgrp)


def _processes() -> dict[int, tuple[str, int, int]]:
    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (st := _stat(int(entry.name))) is not None:
            out[int(entry.name)] = st
    return out


def _group(pgid: int) -> list[int]:
    """The processes of group ``pgid`` still running (zombies waiting to be reaped do not count)."""
    return [pid for pid, (state, _, pgrp) in _processes().items() if pgrp == pgid and state != "Z"]


def _server_groups(parent: int) -> set[int]:
    """The process groups of ``parent``'s children (the MLflow server)."""
    return {pgrp for _, (_, ppid, pgrp) in _processes().items() if ppid == parent}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(port: int) -> bool:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=3).read()
    except urllib.error.HTTPError:
        return True  # an HTTP answer all the same
    except OSError:
        return False
    return True


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _fake_study(tmp_path: Path, name: str) -> Path:
    """A launched study as ``automl ui`` reads it: study.json, an Optuna storage, an MLflow store."""
    import mlflow
    import optuna

    from automl.candidate.result import CandidateResult
    from automl.study.record import StudyRecord, write_record

    run_dir = tmp_path / "runs" / name
    run_dir.mkdir(parents=True)
    storage, tracking = f"sqlite:///{tmp_path / 'optuna.db'}", f"sqlite:///{tmp_path / 'mlflow.db'}"
    optuna.create_study(study_name=name, storage=storage, directions=["maximize", "minimize"])
    mlflow.MlflowClient(tracking).create_experiment(name)
    teacher = CandidateResult(accuracy=0.9, test_accuracy=0.9, size_bytes=1000, latency_ms=0.1, params_nonzero=100,
                              macs=1000, kernels="fp32", int8_kernels=False, latency={}, artifact_path="t.onnx")
    write_record(StudyRecord(name=name, storage=storage, tracking_uri=tracking, run_dir=str(run_dir),
                             objectives=[("accuracy", "maximize"), ("size_bytes", "minimize")], constraints=[],
                             teacher=teacher))
    return run_dir


def test_sigterm_stops_the_server_and_its_whole_process_group(tmp_path) -> None:
    run_dir = _fake_study(tmp_path, "uiterm")
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "automl", "ui", "uiterm", "--run-dir", str(run_dir),
                             "--port", str(port)], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    groups: set[int] = set()
    try:
        deadline = time.monotonic() + 60
        while not _answers(port):
            assert proc.poll() is None, f"automl ui exited {proc.returncode}: {proc.stdout.read()[-3000:]}"
            assert time.monotonic() < deadline, "the MLflow server did not answer within 60 s"
            time.sleep(0.5)
        groups = _server_groups(proc.pid)
        assert len(groups) == 1 and proc.pid not in groups, groups  # the server runs in its own group
        (pgid,) = groups
        assert _group(pgid), "the server's group is empty while it answers"

        proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        while (_group(pgid) or _accepts(port)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _group(pgid), f"left running 15 s after SIGTERM: {_group(pgid)}"
        assert not _accepts(port), "the port still accepts connections"
        assert proc.wait(timeout=5) in (0, 128 + signal.SIGTERM, 128 + signal.SIGKILL)  # the server's status
        out = proc.stdout.read()
        assert "MLflow UI for 'uiterm' (Ctrl-C stops it)" in out and f"http://127.0.0.1:{port}/#/experiments/" in out
    finally:  # nothing is left running, whatever failed
        if proc.poll() is None:
            groups |= _server_groups(proc.pid)
        for pgid in {*groups, proc.pid}:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        proc.wait(timeout=10)
        proc.stdout.close()

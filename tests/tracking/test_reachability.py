"""An unreachable tracking server stops a launch at once: one line naming it, exit 2, no training."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from automl.config import ConfigError
from automl.tracking.reachability import check_tracking_server

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_local_stores_are_not_servers_and_pass() -> None:
    check_tracking_server("sqlite:////nonexistent/mlflow.db")
    check_tracking_server("file:///nonexistent/mlruns")


def test_a_closed_port_names_the_uri() -> None:
    uri = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ConfigError, match=f"tracking server {uri} is unreachable"):
        check_tracking_server(uri, timeout_s=2)


def test_launch_exits_2_with_one_line_before_any_training(tmp_path: Path) -> None:
    uri = f"http://127.0.0.1:{free_port()}"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-m", "automl", "launch", "digits_joint", "--trials", "2",
                          "--tracking-uri", uri, "--run-dir", str(tmp_path / "run"), "--quiet"],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and uri in out.stderr and "unreachable" in out.stderr
    assert not (tmp_path / "run" / "teachers").exists() and not (tmp_path / "run" / "ray_results").exists()

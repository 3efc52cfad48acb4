"""A real two-node Ray cluster and a real ``mlflow server`` on this machine, for the cluster tests.

- the head: ``ray start --head --num-cpus=1`` with its own ``--temp-dir``;
- a second node: ``ray start --address=... --num-cpus=1`` started under ``unshare -m`` with an
  empty tmpfs mounted over the study's working folder, so it sees none of the driver's files
  (as on a cluster whose nodes share no disk);
- both, and every driver, with ``RAY_AUTH_MODE=token`` and one ``RAY_AUTH_TOKEN``;
- ``mlflow server`` on a free loopback port with ``--artifacts-destination``.

Each process group is started in its own session and torn down by killing that session's
processes (never ``ray stop``, which would stop every Ray on the machine).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RAY = str(Path(sys.executable).with_name("ray"))


def session_pids(sid: int) -> list[int]:
    """Processes of session ``sid`` (everything a ``start_new_session`` child started)."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getsid(int(entry)) == sid:
                    out.append(int(entry))
            except OSError:
                pass
    return out


def kill_session(sid: int) -> None:
    for pid in session_pids(sid):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def can_run() -> str | None:
    """Why this machine cannot host the test cluster (``None``: it can)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return "needs root and unshare (a mount namespace for the second node)"
    if not Path(RAY).exists():
        return "the ray CLI is not installed next to this Python"
    return None


@dataclass
class Cluster:
    work: Path  # the study's working folder: the second node sees an empty tmpfs here
    env: dict[str, str]
    address: str = ""
    tracking_uri: str = ""
    mlflow_dir: Path | None = None
    temp: Path | None = None  # the head's --temp-dir
    sessions: dict[str, int] = field(default_factory=dict)  # role -> session id

    def start(self) -> "Cluster":
        self.temp = temp = Path(tempfile.mkdtemp(prefix="acr-", dir="/tmp"))  # short: Unix socket paths are limited
        port = free_port()
        self.address = f"127.0.0.1:{port}"
        self._spawn("head", [RAY, "start", "--head", "--num-cpus=1", f"--port={port}", f"--temp-dir={temp}",
                             "--include-dashboard=false", "--disable-usage-stats",
                             f"--dashboard-agent-listen-port={free_port()}"])
        node = (f"mount -t tmpfs tmpfs {self.work} && exec {RAY} start --address={self.address} --num-cpus=1 "
                f"--disable-usage-stats --dashboard-agent-listen-port={free_port()}")
        self._spawn("node2", ["unshare", "-m", "sh", "-c", node])
        self.mlflow_dir = Path(tempfile.mkdtemp(prefix="acr-mlflow-"))
        self.tracking_uri = f"http://127.0.0.1:{free_port()}"
        self.start_mlflow()
        self._wait_for(lambda: len(self.alive_nodes()) == 2 or None, 60)
        return self

    def start_mlflow(self) -> None:
        """``mlflow server`` on ``tracking_uri`` (again, after :meth:`stop_mlflow`: same store)."""
        port = self.tracking_uri.rsplit(":", 1)[1]
        proc = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", port,
                                 "--backend-store-uri", f"sqlite:///{self.mlflow_dir / 'mlflow.db'}",
                                 "--artifacts-destination", str(self.mlflow_dir / "artifacts"), "--workers", "1"],
                                env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        self.sessions["mlflow"] = proc.pid
        self._wait_for(lambda: urllib.request.urlopen(self.tracking_uri + "/health", timeout=2).read(), 120)

    def stop_mlflow(self) -> None:
        kill_session(self.sessions.pop("mlflow"))

    def _spawn(self, role: str, argv: list[str]) -> None:
        proc = subprocess.Popen(argv, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
        self.sessions[role] = proc.pid
        out, _ = proc.communicate(timeout=180)
        if proc.returncode != 0:
            raise RuntimeError(f"{role}: {' '.join(argv)} failed:\n{out[-3000:]}")

    @staticmethod
    def _wait_for(probe, timeout: float) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if probe():
                    return
            except OSError:
                pass
            time.sleep(1)
        raise TimeoutError("the test cluster did not come up")

    def alive_nodes(self) -> list[str]:
        """Node ids the cluster reports alive (asked from a short-lived driver)."""
        code = ("import json, ray; ray.init(address=%r, logging_level='ERROR'); "
                "print(json.dumps([n['NodeID'] for n in ray.nodes() if n['Alive']]))") % self.address
        out = subprocess.run([sys.executable, "-c", code], env=self.env, capture_output=True, text=True, timeout=120)
        return json.loads(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 else []

    def kill_node2_raylet(self) -> int:
        """SIGKILL the second node's raylet (its workers lose their node)."""
        pids = [p for p in session_pids(self.sessions["node2"]) if "raylet/raylet" in cmdline(p)]
        assert pids, "the second node's raylet is not running"
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        return pids[0]

    def stop(self) -> None:
        for sid in self.sessions.values():
            kill_session(sid)
        for folder in (self.temp, self.mlflow_dir):
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)


def throwaway_postgres():
    """``benchmarks/throwaway_postgres.py`` (one owner of the PostgreSQL start-up)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("throwaway_postgres", REPO / "benchmarks/throwaway_postgres.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


free_port = throwaway_postgres().free_port


def cluster_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "MLFLOW_TRACKING_URI")}
    env.update(PYTHONPATH=str(REPO), RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32),
               # a lost node is noticed in a few seconds, not Ray's default ~30
               RAY_health_check_period_ms="1000", RAY_health_check_failure_threshold="3",
               RAY_health_check_timeout_ms="1000")
    return env

"""The MLflow UI's server as a child process that goes when its parent goes.

``mlflow server`` starts workers and job consumers of its own; a plain child would leave them
running for a while after its parent got SIGTERM. The server runs in its own process group,
and SIGTERM or SIGINT to this process (or its exit) stops the whole group.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time


def serve(cmd: list[str], grace_s: float = 5.0) -> int:
    """Run ``cmd`` until it exits or this process gets SIGTERM/SIGINT, then stop its process
    group (SIGTERM, SIGKILL after ``grace_s``). Returns its exit status (130 after Ctrl-C)."""
    proc = subprocess.Popen(cmd, start_new_session=True)
    received: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        received.append(signum)
        _signal_group(proc.pid, signal.SIGTERM)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        proc.wait()
    finally:  # whether the server exited, was asked to stop or this process failed: nothing is left
        stop_group(proc, grace_s)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if received and received[0] == signal.SIGINT:
        return 130
    return proc.returncode if proc.returncode >= 0 else 128 - proc.returncode


def stop_group(proc: subprocess.Popen, grace_s: float) -> None:
    """SIGTERM to ``proc``'s process group, SIGKILL to what is left after ``grace_s``."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not _group_alive(proc):
            break
        _signal_group(proc.pid, sig)
        deadline = time.monotonic() + grace_s
        while _group_alive(proc) and time.monotonic() < deadline:
            time.sleep(0.1)
    proc.wait()


def _group_alive(proc: subprocess.Popen) -> bool:
    proc.poll()  # reap the leader, or its zombie keeps the group alive
    try:
        os.killpg(proc.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass

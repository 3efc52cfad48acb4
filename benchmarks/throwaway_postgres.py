"""A throwaway PostgreSQL server on loopback, for benchmarks and tests (Optuna storage).

``initdb`` + ``pg_ctl`` as the ``postgres`` user (when run as root) on a free port, trust
authentication, data in a folder the caller deletes; ``None`` where PostgreSQL's binaries
(Debian's ``postgresql`` package: ``apt-get install -y postgresql``) or psycopg2 are missing.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Callable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postgres_missing() -> str | None:
    """Why no throwaway PostgreSQL can start here (``None``: it can)."""
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        return "psycopg2 is not installed"
    if _initdb() is None:
        return "PostgreSQL's binaries (initdb, pg_ctl) are not installed"
    if os.geteuid() == 0:
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            return "no postgres user to run the server as"
    return None


def _initdb() -> str | None:
    found = shutil.which("initdb") or next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))), None)
    return None if found is None else str(found)


def start_postgres() -> tuple[str, Callable[[], None]] | None:
    """A throwaway PostgreSQL on loopback: (SQLAlchemy URL, stop); ``None`` when it cannot start here.

    Its data lives in a fresh folder under the system temp dir (readable by the ``postgres``
    user, unlike a root-only test folder), removed by ``stop``.
    """
    if postgres_missing() is not None:
        return None
    bindir = Path(_initdb()).resolve().parent  # /usr/local/bin may hold only some links
    work = Path(tempfile.mkdtemp(prefix="throwaway-pg-"))
    data = work / "pgdata"
    data.mkdir()
    port = free_port()
    as_pg = ["su", "postgres", "-c"] if os.geteuid() == 0 else ["sh", "-c"]
    if os.geteuid() == 0:
        shutil.chown(work, "postgres")
        shutil.chown(data, "postgres")

    def run(command: str) -> None:
        done = subprocess.run([*as_pg, command], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{command}: {(done.stderr or done.stdout)[-1000:]}")

    def stop() -> None:
        subprocess.run([*as_pg, f"{bindir}/pg_ctl -D {data} -m immediate stop"], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)

    try:
        run(f"{bindir}/initdb -D {data} -U postgres --auth=trust -E UTF8")
        run(f"{bindir}/pg_ctl -D {data} -l {data}/log -w -o '-p {port} -k {data} -c listen_addresses=127.0.0.1' start")
        run(f"{bindir}/createdb -h 127.0.0.1 -p {port} -U postgres optuna")
    except BaseException:
        stop()
        raise
    return f"postgresql+psycopg2://postgres@127.0.0.1:{port}/optuna", stop

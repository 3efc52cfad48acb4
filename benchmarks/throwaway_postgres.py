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


def start_postgres(work: Path) -> tuple[str, Callable[[], None]] | None:
    """A throwaway PostgreSQL on loopback (``None`` when its binaries or psycopg2 are missing)."""
    if postgres_missing() is not None:
        return None
    bindir = Path(_initdb()).resolve().parent  # /usr/local/bin may hold only some links
    data = work / "pgdata"
    data.mkdir(parents=True)
    port = free_port()
    as_pg = (["su", "postgres", "-c"] if os.geteuid() == 0 else ["sh", "-c"])
    if os.geteuid() == 0:
        shutil.chown(work, "postgres")
        shutil.chown(data, "postgres")
    subprocess.run([*as_pg, f"{bindir}/initdb -D {data} -U postgres --auth=trust -E UTF8"], check=True,
                   capture_output=True)
    subprocess.run([*as_pg, f"{bindir}/pg_ctl -D {data} -l {data}/log -w -o '-p {port} -k {data} "
                    f"-c listen_addresses=127.0.0.1' start"], check=True, capture_output=True)
    subprocess.run([*as_pg, f"{bindir}/createdb -h 127.0.0.1 -p {port} -U postgres optuna"], check=True,
                   capture_output=True)

    def stop() -> None:
        subprocess.run([*as_pg, f"{bindir}/pg_ctl -D {data} -m immediate stop"], capture_output=True)

    return f"postgresql+psycopg2://postgres@127.0.0.1:{port}/optuna", stop

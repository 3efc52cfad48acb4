"""The study's Optuna storage: an RDB URL, or a journal file for studies of thousands of trials.

``storage: journal`` in a study file (or ``--storage journal``) keeps the study in
``<run_dir>/optuna.journal``; any ``journal:///<path>`` names another file. Optuna's
``JournalStorage`` appends one line per write (one writer: the driver) and serves reads from
its in-memory replay, so a write costs an append, not an SQL transaction (SQLite caps a
study near 27 candidates/s, benchmarks/driver_throughput.py), and a SIGKILLed driver loses
nothing written: relaunching replays the file.

Two costs of Optuna's journal grow or add up at thousands of candidates, and are cut here:

- its replay lists trials by scanning all of them at every read (Optuna reads the study's
  trials at every ask): :class:`IndexedJournalStorage` answers those reads from an index kept
  as trials change (by state, and in creation order), with the same results
  (tests/study/test_storage.py compares them);
- every write is its own locked, fsynced append (about 20 per candidate: the trial, each
  parameter, attributes, the result): inside :func:`writes_batched` (the driver wraps each
  worker report in it: tell the result, ask the next) the writes are kept in memory and
  appended at the end as one locked, fsynced write. A driver killed inside a batch loses that
  batch only: the candidate it was telling stays RUNNING in the file, and the relaunch closes
  it as interrupted and samples again (nothing half-written, nothing duplicated).
"""

from __future__ import annotations

import contextlib
import copy
import os
from collections.abc import Container, Generator, Iterator
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.trial import FrozenTrial, TrialState

JOURNAL = "journal"  # the study file's shorthand for <run_dir>/optuna.journal
JOURNAL_SCHEME = "journal://"


def sqlite_commits_without_fsync() -> None:
    """Every SQLite database this process opens (Optuna's, an MLflow SQLite store) runs in WAL
    mode with ``synchronous=NORMAL``: a commit appends to the write-ahead log without waiting for
    the disk, so a killed process loses nothing committed (the OS has it) and only a power cut
    can lose the last commits. Readers in other processes (``mlflow ui``, the dashboard) keep
    working. Registered once."""
    global _SQLITE_TUNED
    if _SQLITE_TUNED:
        return
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    @event.listens_for(Engine, "connect")
    def _wal(connection: Any, _record: Any) -> None:
        if type(connection).__module__.startswith("sqlite3"):
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

    _SQLITE_TUNED = True


_SQLITE_TUNED = False


def resolve_storage(setting: str | None, run_dir: str | Path) -> str:
    """The storage URL a study file's ``storage`` setting means (``None``: SQLite in run_dir)."""
    if setting is None:
        return f"sqlite:///{Path(run_dir) / 'optuna.db'}"
    if setting == JOURNAL:
        return f"{JOURNAL_SCHEME}{(Path(run_dir) / 'optuna.journal').resolve()}"
    return setting


def open_storage(url: str) -> str | BaseStorage:
    """What ``optuna.create_study``/``load_study`` take for ``url``: the URL itself, or for
    ``journal://<path>`` the journal file's storage."""
    if not url.startswith(JOURNAL_SCHEME):
        return url
    path = Path(url[len(JOURNAL_SCHEME):])
    path.parent.mkdir(parents=True, exist_ok=True)
    return IndexedJournalStorage(BatchingFileBackend(str(path)))


@contextlib.contextmanager
def writes_batched(study: optuna.Study) -> Iterator[None]:
    """The study's storage writes inside the block go to disk as one append at its end
    (a journal file; other storages write as usual)."""
    backend = getattr(study._storage, "_backend", None)
    if not isinstance(backend, BatchingFileBackend):
        yield
        return
    backend.batching += 1
    try:
        yield
    finally:
        backend.batching -= 1
        if backend.batching == 0:
            backend.flush()


class BatchingFileBackend(JournalFileBackend):
    """A journal file whose appends are held in memory while ``batching`` (see :func:`writes_batched`),
    and read back from there until flushed. One writer (the driver) per file."""

    def __init__(self, file_path: str) -> None:
        super().__init__(file_path)
        self.batching = 0
        self._pending: list[dict[str, Any]] = []
        with open(file_path, "rb") as f:  # complete lines: a torn last one is skipped by the reader too
            self._in_file = sum(1 for line in f if line.endswith(b"\n"))
        self._written: tuple[int, list[dict[str, Any]]] = (self._in_file, [])  # the last flush: (first number, logs)

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        self._pending.extend(logs)
        if not self.batching:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            logs, self._pending = self._pending, []
            # the one writer: the file ends where these logs will start (the reader seeks there)
            self._log_number_offset.setdefault(self._in_file, os.path.getsize(self._file_path))
            super().append_logs(logs)
            self._written = (self._in_file, logs)
            self._in_file += len(logs)

    def read_logs(self, log_number_from: int) -> Generator[dict[str, Any], None, None]:
        start, written = self._written
        if log_number_from < start:  # the replay at opening (or a reader far behind): from the file
            yield from super().read_logs(log_number_from)
        elif log_number_from < self._in_file:  # what this process wrote last: from memory
            yield from written[log_number_from - start:]
        for number, log in enumerate(list(self._pending), start=self._in_file):
            if number >= log_number_from:
                yield log


class _IndexedTrials(dict):
    """The replay's ``trial_id -> FrozenTrial`` map, also indexed by state and by id order."""

    def __init__(self, trials: dict[int, FrozenTrial]) -> None:
        super().__init__()
        self.by_state: dict[TrialState, set[int]] = {state: set() for state in TrialState}
        self.in_order: list[FrozenTrial] = []  # position = trial id (ids are dense, from 0)
        for trial_id, trial in sorted(trials.items()):
            self[trial_id] = trial

    def __setitem__(self, trial_id: int, trial: FrozenTrial) -> None:
        old = self.get(trial_id)
        if old is not None:
            self.by_state[old.state].discard(trial_id)
        self.by_state[trial.state].add(trial_id)
        if trial_id == len(self.in_order):
            self.in_order.append(trial)
        else:
            self.in_order[trial_id] = trial
        super().__setitem__(trial_id, trial)


class IndexedJournalStorage(JournalStorage):
    """``JournalStorage`` whose trial listings cost O(trials returned), not O(trials)."""

    def __init__(self, backend: Any) -> None:
        super().__init__(backend)  # replays the file
        self._index_replay()

    def _index_replay(self) -> None:
        self._replay_result._trials = _IndexedTrials(self._replay_result._trials)

    def __setstate__(self, state: dict[Any, Any]) -> None:
        super().__setstate__(state)
        self._index_replay()

    def get_all_trials(self, study_id: int, deepcopy: bool = True,
                       states: Container[TrialState] | None = None) -> list[FrozenTrial]:
        with self._thread_lock:
            self._sync_with_backend()
            replay = self._replay_result
            ids = replay._study_id_to_trial_ids.get(study_id)
            index = replay._trials
            if ids is None or not isinstance(index, _IndexedTrials) or len(ids) != len(index.in_order):
                trials = replay.get_all_trials(study_id, states)  # several studies in one file: Optuna's scan
            elif states is None:
                trials = list(index.in_order)
            else:
                trials = [index[i] for i in sorted(i for s in set(states) for i in index.by_state[s])]
        return copy.deepcopy(trials) if deepcopy else trials


def load_study(name: str, url: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=open_storage(url))

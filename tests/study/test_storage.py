"""The journal storage: the same trials as Optuna's own journal, and nothing lost on reopening."""

from __future__ import annotations

import random

import optuna
import pytest
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.trial import TrialState

from automl.study.storage import (
    IndexedJournalStorage,
    writes_batched,
    open_storage,
    resolve_storage,
)


def _grow(study: optuna.Study, n: int, rng: random.Random) -> None:
    """Trials in every state, finishing out of order."""
    live = []
    for _ in range(n):
        trial = study.ask()
        trial.suggest_float("x", 0, 1)
        live.append(trial)
        if len(live) > 3:
            done = live.pop(rng.randrange(len(live)))
            state = rng.choice([TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL])
            study.tell(done, [done.params["x"], 1 - done.params["x"]] if state == TrialState.COMPLETE else None,
                       state=state)
    study.enqueue_trial({"x": 0.5})  # one WAITING


def test_listings_equal_optunas_journal_in_every_state(tmp_path):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    path = tmp_path / "s.journal"
    ours = IndexedJournalStorage(JournalFileBackend(str(path)))
    study = optuna.create_study(study_name="s", storage=ours, directions=["minimize", "minimize"])
    _grow(study, 60, random.Random(0))
    theirs = JournalStorage(JournalFileBackend(str(path)))  # Optuna's replay of the same file
    sid = study._study_id
    for states in (None, (TrialState.COMPLETE,), (TrialState.RUNNING,), (TrialState.WAITING,),
                   (TrialState.COMPLETE, TrialState.PRUNED), (TrialState.FAIL,)):
        got = ours.get_all_trials(sid, deepcopy=False, states=states)
        want = theirs.get_all_trials(sid, deepcopy=False, states=states)
        assert [(t.number, t.state, t.values, t.params) for t in got] == \
               [(t.number, t.state, t.values, t.params) for t in want], states
    assert len(ours.get_all_trials(sid, states=(TrialState.RUNNING,))) == 3
    assert len(ours.get_all_trials(sid, states=(TrialState.WAITING,))) == 1


def test_a_study_reopened_from_its_journal_has_every_trial(tmp_path):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = resolve_storage("journal", tmp_path)
    assert url == f"journal://{(tmp_path / 'optuna.journal').resolve()}"
    study = optuna.create_study(study_name="s", storage=open_storage(url), directions=["minimize", "minimize"])
    _grow(study, 30, random.Random(1))
    before = [(t.number, t.state, t.values) for t in study.trials]
    again = optuna.load_study(study_name="s", storage=open_storage(url))
    assert [(t.number, t.state, t.values) for t in again.trials] == before
    assert before[-1][1] == TrialState.WAITING
    assert again.ask().number == before[-1][0]  # the enqueued one is asked next


@pytest.mark.parametrize("setting, want", [(None, "sqlite:///"), ("sqlite:///x.db", "sqlite:///x.db"),
                                           ("journal:///tmp/a.journal", "journal:///tmp/a.journal")])
def test_storage_settings_resolve_to_urls(tmp_path, setting, want):
    assert resolve_storage(setting, tmp_path).startswith(want)
    assert open_storage("sqlite:///x.db") == "sqlite:///x.db"


def test_batched_writes_reach_the_file_at_the_end_of_the_batch_only(tmp_path):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = resolve_storage("journal", tmp_path)
    study = optuna.create_study(study_name="s", storage=open_storage(url), directions=["minimize"])
    path = tmp_path / "optuna.journal"
    with writes_batched(study):
        trial = study.ask()
        trial.suggest_float("x", 0, 1)
        study.tell(trial, 1.0)
        assert study.trials[0].state == TrialState.COMPLETE  # this process reads its own batch
        outside = optuna.load_study(study_name="s", storage=JournalStorage(JournalFileBackend(str(path))))
        assert outside.trials == []  # nothing on disk yet
    outside = optuna.load_study(study_name="s", storage=JournalStorage(JournalFileBackend(str(path))))
    assert [(t.state, t.values, t.params) for t in outside.trials] == [(TrialState.COMPLETE, [1.0], trial.params)]
    study.ask()  # outside a batch: written at once
    assert len(optuna.load_study(study_name="s", storage=open_storage(url)).trials) == 2


_KILLED_MID_BATCH = """
import os, signal, optuna
from automl.study.storage import open_storage, writes_batched
optuna.logging.set_verbosity(optuna.logging.WARNING)
study = optuna.create_study(study_name="s", storage=open_storage({url!r}), directions=["minimize"])
for i in range(3):
    with writes_batched(study):
        t = study.ask(); t.suggest_float("x", 0, 1); study.tell(t, float(i))
running = study.ask()  # told in the batch below, which never reaches the disk
with writes_batched(study):
    study.tell(running, 9.0)
    nxt = study.ask()
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_driver_killed_mid_batch_leaves_a_readable_study_missing_only_that_batch(tmp_path):
    import subprocess
    import sys

    url = resolve_storage("journal", tmp_path)
    proc = subprocess.run([sys.executable, "-c", _KILLED_MID_BATCH.format(url=url)], capture_output=True)
    assert proc.returncode == -9, proc.stderr.decode()
    study = optuna.load_study(study_name="s", storage=open_storage(url))
    assert [(t.number, t.state, t.values) for t in study.trials] == [
        (0, TrialState.COMPLETE, [0.0]), (1, TrialState.COMPLETE, [1.0]), (2, TrialState.COMPLETE, [2.0]),
        (3, TrialState.RUNNING, None)]  # the relaunch closes it as interrupted; no trial 4

"""Optuna's side of the worker pool: ask a candidate for each free worker, tell its result.

Optuna stays the decision-maker of a multi-objective study (Ray's own ``OptunaSearch`` turns
Optuna's pruner off and drops intermediate results when a study has several objectives);
Ray Tune only runs the workers. Each hand-out is an Optuna ``ask`` compiled through the joint
search space; each finished candidate is an Optuna ``tell`` with its objective values, or
``FAIL`` with the error, and its full measurements and constraint values are kept as Optuna
user attributes. With early stopping, each rung report is recorded on its trial (user attribute
``rung:<epoch>``) and decided by multi-objective ASHA (:mod:`automl.study.mo_asha`) over every
trial of the study that reached that rung; a candidate stopped there is told ``PRUNED`` (its
rung vectors stay on the trial, and TPE counts it among the worse trials). A candidate equal to
one the study already finished (the same candidate config: within a study the dataset, teacher
and training settings are fixed or part of it) is not trained again: it is answered from that
trial's result (the same values told, user attribute ``reused_from``). With a predictor
(:mod:`automl.study.accuracy_screen`), every candidate's screen asks here with its probed figures
(rung epoch 0): the prediction is recorded on the trial (user attribute ``predicted``), and a
candidate judged to add too little to the front is told ``PRUNED`` without using the budget (up to
``proposals - 1`` such per budgeted candidate). Everything here runs in the driver, the only
writer of the study.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from automl.candidate.config import CandidateConfig, with_teacher_arch
from automl.candidate.hooks import SCREEN_EPOCH
from automl.candidate.result import metric_values
from automl.config import ConfigError
from automl.search.artifact_delivery import (
    ArtifactNotDelivered,
    receive_artifact,
)
from automl.search.cluster import HOST, NODE_ID
from automl.search.protocol import Failed, FinalReport, Finished, Stopped
from automl.space.search_space import SearchSpace
from automl.study.accuracy_screen import AccuracyScreen, PredictorConfig
from automl.study.attrs import (
    CANDIDATE_ATTR,
    ERROR_ATTR,
    PREDICTED_ATTR,
    PRUNED_AT_ATTR,
    RESULT_ATTR,
    REUSED_ATTR,
    RUNG_ATTR,
    TRACEBACK_ATTR,
    WORKER_ATTR,
    candidate_key,
    candidate_of,
    reused_from,
    rung_vectors,
)
from automl.study.mo_asha import EarlyStoppingConfig, RungBook
from automl.study.sampler import constraint_values, record_constraints

WORKER_LOST = "the trial's worker crashed before reporting (see the Ray logs)"


class CandidateDispatcher:
    """Hands out up to ``n_trials`` candidates to workers (keyed by any string id)."""

    def __init__(self, study: optuna.Study, space: SearchSpace, base: dict[str, Any],
                 objectives: list[tuple[str, str]], constraints: list, n_trials: int,
                 artifacts_dir: str | Path, early_stopping: EarlyStoppingConfig | None = None,
                 teacher_arch: dict[str, Any] | None = None, predictor: PredictorConfig | None = None,
                 teacher_metrics: dict[str, float] | None = None) -> None:
        self.study = study
        self.teacher_arch = teacher_arch  # completes the arch of an ``arch.init: teacher`` candidate
        self.artifacts_dir = Path(artifacts_dir)  # the driver's copy of every artifact (see artifact_delivery)
        self.space = space
        self.base = base
        self.objectives = objectives
        self.constraints = constraints
        self.remaining = n_trials
        self.live: dict[str, optuna.Trial] = {}  # worker -> the candidate it is running
        self.rejected: list[optuna.trial.FrozenTrial] = []  # invalid combinations told FAIL at ask
        self.reused: list[tuple[optuna.Trial, dict[str, Any], int]] = []  # (trial, candidate, the trial it repeats)
        self._finished: dict[str, int] = {}  # candidate config -> the first trial that trained it
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            if candidate_of(t) and RESULT_ATTR in t.user_attrs:
                first = reused_from(t)
                self._finished.setdefault(candidate_key(candidate_of(t)), t.number if first is None else first)
        self.rungs = None if early_stopping is None else RungBook(early_stopping, objectives)
        self.screen = (None if predictor is None else  # teacher_metrics: normalise the hypervolume it adds
                       AccuracyScreen.from_study(predictor, objectives, teacher_metrics or {}, study))
        self.extra_proposals = 0 if predictor is None else (predictor.proposals - 1) * n_trials  # screened, not budgeted
        if self.rungs is not None:  # a resumed study: earlier launches' candidates are peers too
            self.rungs.load((t.number, epoch, vector) for t in study.get_trials(deepcopy=False)
                            for epoch, vector in rung_vectors(t).items())

    def next_job(self, worker: str) -> tuple[optuna.Trial, dict[str, Any]] | None:
        """Ask Optuna for the next candidate for ``worker``; ``None`` when the budget is spent.

        A combination the space produces but the config rejects is told ``FAIL`` (it counts
        toward the budget, like any finished trial) and the next one is asked.
        """
        while self.remaining > 0:
            self.remaining -= 1
            trial = self.study.ask()
            try:
                sampled = with_teacher_arch(self.space.suggest(trial, self.base), self.teacher_arch)
                candidate = CandidateConfig.from_dict(sampled).to_dict()
            except ConfigError as err:
                self.rejected.append(self.fail(trial, f"invalid candidate: {err}"))
                continue
            trial.set_user_attr(CANDIDATE_ATTR, candidate)
            repeats = self._finished.get(candidate_key(candidate))
            if repeats is not None:  # told from that result by tell_reused, once its MLflow run exists
                self.reused.append((trial, candidate, repeats))
                continue
            self.live[worker] = trial
            return trial, candidate
        return None

    def tell_reused(self, trial: optuna.Trial, repeats: int) -> optuna.trial.FrozenTrial:
        """Answer ``trial`` (a candidate equal to finished trial ``repeats``) from that trial's result."""
        storage = self.study._storage  # one trial by number, not the whole study copied
        source = storage.get_trial(storage.get_trial_id_from_study_id_trial_number(self.study._study_id, repeats))
        measured = dict(source.user_attrs[RESULT_ATTR])
        metrics = metric_values(measured)
        trial.set_user_attr(RESULT_ATTR, measured)
        trial.set_user_attr(REUSED_ATTR, repeats)
        record_constraints(trial, self.constraints, constraint_values(self.constraints, metrics))
        return self.study.tell(trial, [float(metrics[name]) for name, _ in self.objectives])

    def finished(self, worker: str, report: FinalReport) -> optuna.trial.FrozenTrial | None:
        """Tell Optuna the result ``worker`` reported for its candidate (see ``run_worker``).

        A finished candidate's artifact is written to the driver's run folder; one whose artifact
        did not arrive intact is told ``FAIL``.
        """
        trial = self.live.get(worker)
        if trial is None or report.number != trial.number:
            return None  # not the candidate this worker holds (e.g. a report from before a restart)
        del self.live[worker]
        if report.node.ray_node_id:
            trial.set_user_attr(WORKER_ATTR, {NODE_ID: report.node.ray_node_id, HOST: report.node.host})
        if isinstance(report, Stopped):
            trial.set_user_attr(PRUNED_AT_ATTR, report.epoch)
            if report.screened:  # stopped by the screen, before training: the figures that did it
                trial.set_user_attr(f"{RUNG_ATTR}{report.epoch}", {**report.screened, "go_on": False})
            return self.study.tell(trial, state=TrialState.PRUNED)
        if isinstance(report, Failed):
            trial.set_user_attr(TRACEBACK_ATTR, report.traceback)
            return self.fail(trial, report.error)
        assert isinstance(report, Finished)
        measured = dict(report.measured)
        metrics = metric_values(measured)
        values = [float(metrics[name]) for name, _ in self.objectives]
        if not all(math.isfinite(v) for v in values):
            unrun = [r["error"] for r in (measured.get("targets") or {}).values() if r.get("error")]
            return self.fail(trial, unrun[0] if unrun else f"non-finite objective values {values}")
        try:
            measured["artifact_path"] = str(receive_artifact(report.artifact, self.artifacts_dir, trial.number,
                                                             measured["size_bytes"]))
        except ArtifactNotDelivered as err:
            return self.fail(trial, f"artifact not delivered: {err}")
        trial.set_user_attr(RESULT_ATTR, measured)
        record_constraints(trial, self.constraints, constraint_values(self.constraints, metrics))  # read by the sampler
        frozen = self.study.tell(trial, values)
        self._finished.setdefault(candidate_key(candidate_of(frozen)), frozen.number)
        if self.screen is not None:
            self.screen.learn(frozen)
        return frozen

    def rung(self, worker: str, number: int, epoch: int, vector: dict[str, float]) -> bool:
        """``worker``'s candidate reached rung ``epoch`` with ``vector`` (epoch 0: the screen asks
        the accuracy predictor with its probed figures): does it go on?"""
        trial = self.live.get(worker)
        if trial is None or trial.number != number:
            return True  # not the candidate this worker holds: let it finish, its result is dropped
        if epoch == SCREEN_EPOCH:
            return self._screen(trial, vector)
        if self.rungs is None:
            return True
        go_on = self.rungs.record(number, epoch, vector)
        trial.set_user_attr(f"{RUNG_ATTR}{epoch}", {**vector, "go_on": go_on})
        return go_on

    def _screen(self, trial: optuna.Trial, probed: dict[str, float]) -> bool:
        if self.screen is None:
            return True
        judgement = self.screen.judge(trial.params, probed)
        trial.set_user_attr(PREDICTED_ATTR, judgement.to_attr())
        if not judgement.go_on and self.extra_proposals > 0:  # a proposal judged, not a candidate trained
            self.extra_proposals -= 1
            self.remaining += 1
        return judgement.go_on

    def lost(self, worker: str, message: str = WORKER_LOST) -> optuna.trial.FrozenTrial | None:
        """``worker`` died: its candidate, if any, is a failed trial (its result never came)."""
        trial = self.live.pop(worker, None)
        return None if trial is None else self.fail(trial, message)

    def fail(self, trial: optuna.Trial, message: str) -> optuna.trial.FrozenTrial:
        trial.set_user_attr(ERROR_ATTR, message)
        return self.study.tell(trial, state=TrialState.FAIL)


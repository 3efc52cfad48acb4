"""Every Optuna attribute this package keeps on a study or a trial: its key and its reader.

A study's state lives in its Optuna storage (resume goes through it), as user attributes beside
Optuna's own params, values and constraints (:mod:`automl.study.sampler` owns those). Each key
is named once, here, with the function that reads it; writers use the same constants.

Trial attributes:

* ``candidate``: the full candidate config the trial built (a dict, ``CandidateConfig.to_dict``);
* ``result``: a finished trial's measurements (CandidateResult fields and timings), one attribute
  so that telling a result is one storage write;
* ``error``, ``traceback``: why a trial failed;
* ``mlflow_run_id``: the trial's MLflow child run;
* ``worker``: ``{ray_node_id, host}`` of the worker that ran it (failed ones too);
* ``rung:<epoch>``: early stopping's vector at a rung, with ``go_on``;
* ``pruned_at_epoch``: the rung a stopped candidate lost at (0: the screen, before training);
* ``reused_from``: the finished trial whose result answered this one (the same candidate: not trained twice);
* ``warm_start_from``: ``{study, trial}``: a prior copied from an earlier study (study/warm_start.py),
  read by the sampler only; no result, no run, not a point of this study.

Study attributes:

* ``interrupted_trials``: trials a stopped launch left running (failed, not counted);
* ``mlflow_behind``: trials whose MLflow records fell behind during an outage;
* ``mlflow_late_runs``: ``{trial: run id}`` of runs created after their trial was asked;
* ``retimed:<trial>``: the trial's final re-timing (:mod:`automl.study.retime`);
* ``teacher_latency``: the study's one teacher figure, the baseline of every ``latency_ms``
  (the primary target's), with ``targets``: the figure, accuracy and kernels per target;
* ``warm_start``: ``{source study: {added, dropped_params, skipped, proposed}}`` (added once).
"""

from __future__ import annotations

import json
from typing import Any

import optuna

CANDIDATE_ATTR = "candidate"
RESULT_ATTR = "result"
ERROR_ATTR = "error"
TRACEBACK_ATTR = "traceback"
MLFLOW_RUN_ATTR = "mlflow_run_id"
WORKER_ATTR = "worker"
RUNG_ATTR = "rung:"  # prefix: rung:<epoch> -> {objective: value, ..., go_on}
PRUNED_AT_ATTR = "pruned_at_epoch"
REUSED_ATTR = "reused_from"
PRIOR_ATTR = "warm_start_from"
PREDICTED_ATTR = "predicted"  # the accuracy predictor's judgement at the screen (study/accuracy_screen.py)
WARM_START_ATTR = "warm_start"  # study: source name -> what was added from it

INTERRUPTED_ATTR = "interrupted_trials"
BEHIND_ATTR = "mlflow_behind"
LATE_RUNS_ATTR = "mlflow_late_runs"
RETIMED_PREFIX = "retimed:"  # prefix: retimed:<trial> -> the trial's final re-timing
TEACHER_LATENCY_ATTR = "teacher_latency"

INTERRUPTED = "interrupted: the launch that ran this trial stopped before it finished"


def candidate_of(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """The candidate config the trial built (empty for a trial rejected at ask)."""
    return trial.user_attrs.get(CANDIDATE_ATTR, {})


def candidate_key(candidate: dict[str, Any]) -> str:
    """One string per distinct candidate config (key order does not matter)."""
    return json.dumps(candidate, sort_keys=True, separators=(",", ":"))


def reused_from(trial: optuna.trial.FrozenTrial) -> int | None:
    """The finished trial whose result answered this one (``None``: it was trained)."""
    return trial.user_attrs.get(REUSED_ATTR)


def prior_of(trial: optuna.trial.FrozenTrial) -> dict[str, Any] | None:
    """``{study, trial}`` for a warm-start prior (``None``: the trial is this study's own)."""
    return trial.user_attrs.get(PRIOR_ATTR)


def prediction_of(trial: optuna.trial.FrozenTrial) -> dict[str, Any] | None:
    """``{accuracy, spread, seen, trained}``: what the accuracy predictor said before the trial
    trained (``None``: it was not asked)."""
    return trial.user_attrs.get(PREDICTED_ATTR)


def screened_by_predictor(trial: optuna.trial.FrozenTrial) -> bool:
    """A proposal the accuracy predictor judged not worth training: not a budgeted candidate."""
    return (prediction_of(trial) or {}).get("trained") is False


def measurements(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """What the candidate of a finished trial measured (empty for a failed trial)."""
    return trial.user_attrs.get(RESULT_ATTR, {})


def mlflow_run_id(trial: optuna.trial.FrozenTrial, late: dict[str, str] | None = None) -> str | None:
    """The trial's MLflow child run (``late``: the study's ``mlflow_late_runs``)."""
    return trial.user_attrs.get(MLFLOW_RUN_ATTR) or (late or {}).get(str(trial.number))


def worker_of(trial: optuna.trial.FrozenTrial) -> dict[str, Any] | None:
    """``{ray_node_id, host}`` of the worker that ran the trial, if it reported one."""
    return trial.user_attrs.get(WORKER_ATTR)


def rung_vectors(trial: optuna.trial.FrozenTrial) -> dict[int, dict[str, float]]:
    """The trial's early-stopping rung reports: epoch -> objective vector (and ``go_on``)."""
    return {int(k[len(RUNG_ATTR):]): v for k, v in trial.user_attrs.items() if k.startswith(RUNG_ATTR)}


def pruned_at(trial: optuna.trial.FrozenTrial) -> int | None:
    """The rung epoch a stopped trial lost at (0: screened before training); ``None`` if not stopped."""
    return trial.user_attrs.get(PRUNED_AT_ATTR)


def interrupted_numbers(study: optuna.Study) -> set[int]:
    """Trials a stopped launch left running (told FAIL at the next launch, not counted)."""
    return set(study.user_attrs.get(INTERRUPTED_ATTR, []))


def trial_error(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> str | None:
    """Why a trial failed (``None`` if it did not)."""
    if trial.number in interrupted_numbers(study):
        return INTERRUPTED
    return trial.user_attrs.get(ERROR_ATTR)


def late_runs(study: optuna.Study) -> dict[str, str]:
    """``{trial number: MLflow run id}`` of runs created after their trial was asked."""
    return dict(study.user_attrs.get(LATE_RUNS_ATTR, {}))


def behind(study: optuna.Study) -> list[int]:
    """Trials whose MLflow records fell behind during an outage, in order."""
    return sorted(study.user_attrs.get(BEHIND_ATTR, []))


def retimed_figures(study: optuna.Study) -> dict[int, dict[str, Any]]:
    """Trial number -> its final re-timing, for the trials that have one."""
    return {int(k[len(RETIMED_PREFIX):]): v for k, v in study.user_attrs.items() if k.startswith(RETIMED_PREFIX)}


def teacher_latency(study: optuna.Study) -> dict[str, Any] | None:
    """The study's one teacher figure (``None`` before its first launch timed it)."""
    return study.user_attrs.get(TEACHER_LATENCY_ATTR)


def teacher_on_targets(study: optuna.Study) -> dict[str, dict[str, Any]]:
    """Target name -> the study's teacher figure there (a study from before targets: ``ort-cpu``'s)."""
    figure = teacher_latency(study)
    if figure is None:
        return {}
    return {k: dict(v) for k, v in figure["targets"].items()} if "targets" in figure else {"ort-cpu": dict(figure)}

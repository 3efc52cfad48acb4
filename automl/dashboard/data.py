"""Everything a study dashboard shows, read once from the study's Optuna storage and MLflow store."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import optuna
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from automl.dashboard.candidate import Candidate
from automl.dashboard.targets import TargetView, target_views
from automl.study.accuracy_predictor import kendall_tau
from automl.study.attrs import candidate_of, measurements, prediction_of, prior_of, pruned_at, trial_error
from automl.study.front import TrialPoint, finished_trials, study_points
from automl.study.record import StudyRecord
from automl.tracking.study_tracker import ROLE_TAG

GROUPS = ("arch", "pruning", "quant", "share", "distill")  # knob groups, by the first part of a parameter's name


@dataclass(frozen=True)
class Predicted:
    """What the accuracy predictor said of a trial before it trained, and what it then measured."""

    trial: int
    accuracy: float
    spread: float
    measured: float | None  # None: screened (not trained), or it did not finish
    trained: bool  # False: screened by the predictor


@dataclass
class StudyView:
    name: str
    objectives: list[tuple[str, str]]
    teacher: dict[str, Any]
    candidates: list[Candidate]
    failed: list[tuple[int, str]]  # (trial, error)
    hypervolume: list[tuple[int, float]]  # (trials finished, hypervolume); the last value is the final view's
    curves: dict[int, list[float]]  # front trial -> validation accuracy per epoch
    importances: dict[str, dict[str, float]]  # objective -> parameter -> importance
    notes: list[str] = field(default_factory=list)  # what could not be computed, and why
    experiment_id: str = ""
    parent_run_id: str = ""
    stopped: int = 0  # trials stopped early (Optuna PRUNED), never counted among the candidates
    screened: int = 0  # of those, the ones stopped before training (``pruned_at_epoch`` 0)
    targets: list[TargetView] = field(default_factory=list)  # one per deployment target; none for one target
    predictions: list[Predicted] = field(default_factory=list)  # none for a study without a predictor

    @property
    def predictor_screened(self) -> int:
        """Proposals the accuracy predictor judged not worth training (not in :attr:`trials`)."""
        return sum(not p.trained for p in self.predictions)

    @property
    def predictor_tau(self) -> float | None:
        """Kendall's tau of predicted against measured accuracy, over the trials it predicted."""
        return kendall_tau([(p.accuracy, p.measured) for p in self.predictions if p.measured is not None])

    @property
    def trials(self) -> int:
        """Trials the budget has spent: trained (the candidates), stopped early and failed."""
        return len(self.candidates) + self.stopped + len(self.failed)

    @property
    def front(self) -> list[Candidate]:
        return [c for c in self.candidates if c.point.on_front]

    def group_importances(self) -> dict[str, dict[str, float]]:
        """objective -> knob group -> summed importance of its parameters."""
        return {obj: {g: sum(v for k, v in imp.items() if k.split(".")[0] == g) for g in GROUPS}
                for obj, imp in self.importances.items()}


def build_view(record: StudyRecord, study: optuna.Study) -> StudyView:
    points = study_points(study, record.objectives)
    teacher = record.teacher.metrics()
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    candidates = [Candidate(point=p, config=candidate_of(trials[p.trial]),
                            size_ratio=p.metrics["size_bytes"] / teacher["size_bytes"],
                            latency_ratio=(p.latency_ratio if p.latency_ratio is not None
                                           else p.metrics["latency_ms"] / teacher["latency_ms"]))
                  for p in points]
    finished = finished_trials(study)
    failed = [(t.number, trial_error(study, t) or "failed") for t in finished if t.state == TrialState.FAIL]
    stopped = [t for t in finished if t.state == TrialState.PRUNED]
    view = StudyView(name=record.name, objectives=list(record.objectives), teacher=teacher, candidates=candidates,
                     failed=failed, hypervolume=[], curves={}, importances={}, stopped=len(stopped),
                     screened=sum(pruned_at(t) == 0 for t in stopped),
                     targets=target_views(record, study, candidates), predictions=_predictions(trials.values()))
    _read_mlflow(view, record, candidates)
    _importances(view, study)
    return view


def _predictions(trials) -> list[Predicted]:
    out = []
    for t in trials:
        said = prediction_of(t) or {}
        if said.get("accuracy") is not None:
            measured = measurements(t).get("accuracy") if t.state == TrialState.COMPLETE else None
            out.append(Predicted(t.number, float(said["accuracy"]), float(said["spread"]), measured,
                                 bool(said.get("trained"))))
    return out


def _read_mlflow(view: StudyView, record: StudyRecord, candidates: list[Candidate]) -> None:
    client = MlflowClient(record.tracking_uri)
    exp = client.get_experiment_by_name(record.name)
    if exp is None:
        view.notes.append(f"no MLflow experiment '{record.name}' in {record.tracking_uri}")
        return
    view.experiment_id = exp.experiment_id
    parents = client.search_runs([exp.experiment_id], f"tags.`{ROLE_TAG}` = 'study'", max_results=1)
    if parents:
        view.parent_run_id = parents[0].info.run_id
        history = client.get_metric_history(view.parent_run_id, "hypervolume")
        view.hypervolume = [(m.step, m.value) for m in sorted(history, key=lambda m: (m.step, m.timestamp))]
    for c in candidates:
        run_id = c.point.extra.get("mlflow_run_id")
        if c.point.on_front and run_id:
            curve = client.get_metric_history(run_id, "curve_val_accuracy")
            view.curves[c.point.trial] = [m.value for m in sorted(curve, key=lambda m: m.step)]


def _importances(view: StudyView, study: optuna.Study) -> None:
    done = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE and prior_of(t) is None]
    if len(done) < len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))):  # warm-start priors:
        study = optuna.create_study(directions=study.directions)  # this study's own measurements only
        study.add_trials(done)
    if len(done) < 4:
        view.notes.append(f"parameter importances need at least 4 finished trials ({len(done)} so far)")
        return
    for i, (name, direction) in enumerate(view.objectives):
        sign = -1.0 if direction == "maximize" else 1.0  # the evaluator ranks what makes the target low
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                imp = optuna.importance.get_param_importances(
                    study, target=lambda t, i=i, sign=sign: sign * t.values[i])
        except (RuntimeError, ValueError) as err:  # e.g. no parameter varies
            view.notes.append(f"importances for {name}: {err}")
            continue
        view.importances[name] = {k: float(v) for k, v in imp.items()}

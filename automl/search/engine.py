"""Run a study: Optuna decides, Ray Tune executes, MLflow records.

:func:`run_study` is a sequence of named launch phases::

    open_optuna_study     the Optuna study (resumed by name), checked against the file
    RayBoot               Ray and the study's actors start in the background meanwhile
    prepare_launch        dataset (loaded once), teacher (cached), MLflow parent run, catch-up
    record_launch         the study's one teacher figure, the cluster, study.json, MLflow params
    execute               one long-lived Tune trial per concurrency slot, each evaluating the
                          candidates the driver hands out (tune_callback.py); per finished
                          candidate: tell Optuna, ask the next, then MLflow, front, progress
    final_view            the front re-timed interleaved with the teacher (study/retime.py),
                          logged as the final front
    close_launch          the parent run closed, the outcome returned

The dashboard is rendered by the caller (``automl launch``), above this layer.
"""

from __future__ import annotations

import functools
import json
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import TrialState

from automl.search.ray_boot import RayBoot
from automl.study.attrs import (
    INTERRUPTED,
    INTERRUPTED_ATTR,
    interrupted_numbers,
    mlflow_run_id,
)
from automl.study.config import StudyConfig
from automl.study.front import TrialPoint, finished_trials
from automl.study.pareto import normalised_hypervolume
from automl.study.record import StudyRecord, write_record
from automl.study.sampler import make_sampler
from automl.study.storage import open_storage
from automl.study.user_code import local_modules, user_import_paths

if TYPE_CHECKING:
    from automl.candidate.result import CandidateResult
    from automl.candidate.teacher import Teacher
    from automl.data import DatasetSplits
    from automl.search.progress import StudyProgress
    from automl.search.tracking_outage import TrackingOutage
    from automl.search.trainable import WorkerContext
    from automl.tracking import StudyTracker

# This module imports only what is needed to start Ray: torch, scikit-learn, MLflow and
# matplotlib load inside run_study while Ray boots (seconds off the start-up).

TRACKING_RETRIES = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30"}  # per MLflow call of the driver (env overrides)
WORKER_RESTARTS = 3  # a crashed worker (its candidate recorded failed) is restarted this often


@dataclass
class StudyOutcome:
    name: str
    finished: int  # trials finished (complete, stopped early or failed), this launch and earlier ones
    failed: int
    stopped: int  # stopped early (Optuna PRUNED)
    ran_now: int
    front: list[TrialPoint]
    hypervolume: float
    teacher: "CandidateResult"  # the baseline: latency is the study's one teacher figure
    record: StudyRecord
    tracking_down: bool = False  # MLflow was away at the end (nothing more should be logged now)


@dataclass
class StudyRun:
    """What the phases of one launch share (built once by :func:`prepare_launch`)."""

    cfg: StudyConfig
    study: optuna.Study
    tracker: "StudyTracker"
    progress: "StudyProgress"
    outage: "TrackingOutage"  # every MLflow call of the launch goes through it
    run_dir: Path
    splits: "DatasetSplits"  # the dataset, loaded once by the driver
    teacher: "Teacher"  # the trained teacher (shipped to the workers through Ray)
    baseline: "CandidateResult"  # the teacher's result; latency = the study's one figure once timed
    threads: int  # intra-op threads of training and of every timing run
    phases: dict[str, float] = field(default_factory=dict)  # start-up: when each phase ended (epoch s)

    @property
    def objectives(self) -> list[tuple[str, str]]:
        return [(o.name, o.direction) for o in self.cfg.objectives]

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.splits.input_shape)

    @property
    def teacher_metrics(self) -> dict[str, float]:
        return self.baseline.metrics()


def run_study(cfg: StudyConfig, *, ray_address: str | None = None, show_progress: bool = True) -> StudyOutcome:
    """Launch (or resume) the study described by ``cfg`` and return its front."""
    began = time.time()
    study = open_optuna_study(cfg)
    opened = time.time()
    finished_before = finished_trials(study)
    remaining = max(0, cfg.n_trials - len(finished_before))
    # first, so that Ray starts while the driver imports torch and loads the teacher
    boot = RayBoot(f"automl-{cfg.name}", ray_address, cfg.timing_resource,
                   py_modules=local_modules(user_import_paths(cfg)),
                   timing_workers=cfg.timing_workers) if remaining > 0 else None
    try:
        run = prepare_launch(cfg, study, show_progress)
        run.phases.update(run_study=began, study_opened=opened, prepared=time.time())
        record = record_launch(run, boot, finished_before)
    except BaseException:
        if boot is not None:
            boot.shutdown()
        raise
    if boot is not None:
        try:
            execute(run, remaining, boot)
        except BaseException:
            run.progress.stop()
            close_interrupted(study, run.tracker, run.outage)
            run.outage.call(lambda: run.tracker.finish_study("FAILED"))
            boot.shutdown()
            raise
    # the final re-timing runs here, on the driver's node, unless the study names another timing
    # node (timing_resource): then Ray stays up for it and it runs there (see timing_gate.interleaved_on)
    remote_timing = boot is not None and cfg.timing_resource is not None
    if boot is not None and not remote_timing:
        boot.shutdown()
    try:
        # trials still running here were cut off (Ctrl-C): closed now, re-sampled on the next launch
        interrupted = close_interrupted(study, run.tracker, run.outage)
        points = final_view(run, record, remote_timing)
    finally:
        if remote_timing:
            boot.shutdown()
    return close_launch(run, record, points, interrupted, len(finished_before))


def open_optuna_study(cfg: StudyConfig) -> optuna.Study:
    """The study's Optuna study, created or resumed by name, with the file's directions and
    named objectives; the MLflow server is checked first (an unreachable one stops the launch
    before Ray or training)."""
    from automl.tracking.reachability import check_tracking_server

    check_tracking_server(cfg.tracking_uri)
    # a server that goes away mid-study is noticed in seconds, not after MLflow's minutes of
    # retries, and caught up when it returns (tracking_outage.py)
    for key, value in TRACKING_RETRIES.items():
        os.environ.setdefault(key, value)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    Path(cfg.run_dir).mkdir(parents=True, exist_ok=True)
    study = optuna.create_study(
        study_name=cfg.name, storage=open_storage(cfg.storage_url), load_if_exists=True, directions=cfg.directions,
        sampler=make_sampler(cfg.sampler, cfg.seed, len(cfg.objectives), n_trials=cfg.n_trials))
    _check_directions(study, cfg)
    check_space_unchanged(study, cfg)
    if study.metric_names is None:  # named objectives for optuna-dashboard and Optuna's plots
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(cfg.objective_names)
    return study


def prepare_launch(cfg: StudyConfig, study: optuna.Study, show_progress: bool) -> StudyRun:
    """Load the dataset (once), check the space fits it, load or train the teacher, open the
    MLflow parent run and catch up what an MLflow outage left behind."""
    from automl.candidate.teacher import load_or_train_teacher
    from automl.data import load_dataset
    from automl.search.progress import StudyProgress
    from automl.search.tracking_outage import TrackingOutage
    from automl.study.warm_start import warm_start
    from automl.tracking import StudyTracker

    run_dir = Path(cfg.run_dir).resolve()
    progress = StudyProgress(cfg.name, cfg.n_trials, enabled=show_progress)
    splits = load_dataset(cfg.dataset)
    check_space_fits(cfg.space, tuple(splits.input_shape))
    progress.note(f"teacher: {cfg.teacher.arch.family} on {cfg.dataset.name} (cached under {run_dir / 'teachers'})")
    teacher = load_or_train_teacher(cfg.teacher, cfg.dataset, run_dir / "teachers")
    for source in warm_start(study, cfg, teacher.result.artifact_path):  # priors for the sampler, added once
        progress.note(source.line())
    tracker = StudyTracker(cfg.tracking_uri, cfg.name, run_dir / "mlflow-artifacts")
    outage = TrackingOutage(study, tracker, cfg.tracking_uri, progress.warn, teacher.result.metrics())
    close_interrupted(study, tracker)
    if outage.behind:  # an earlier launch ended while MLflow was away (first: it adopts runs left open)
        caught = outage.call(outage.catch_up)
        if caught is not None:
            progress.warn(f"MLflow catches up {caught} trial(s) recorded while it was away")
    outage.call(outage.close_left_running)  # a killed driver's runs left open
    return StudyRun(cfg=cfg, study=study, tracker=tracker, progress=progress, outage=outage, run_dir=run_dir,
                    splits=splits, teacher=teacher, baseline=teacher.result, threads=max(1, int(cfg.resources.cpu)))


def record_launch(run: StudyRun, boot: RayBoot | None, finished_before: list) -> StudyRecord:
    """Fix the study's one teacher figure, then write ``study.json`` and the MLflow parent run's
    study, space, teacher and cluster; start the progress view."""
    gates = boot.timing_gates(run.cfg.timing_workers) if boot is not None else ()
    run.phases["ray_ready"] = time.time()
    from automl.search.teacher_figures import study_teacher_figures

    run.baseline = study_teacher_figures(run.study, run.baseline, run.cfg.targets, gates, run.splits, run.threads)
    run.phases["teacher_timed"] = time.time()
    run.outage.teacher_metrics = run.teacher_metrics
    cluster, timing_nodes = _cluster_at_launch(gates)
    timing_node = timing_nodes[0] if timing_nodes else None
    cfg = run.cfg
    record = StudyRecord(name=cfg.name, storage=cfg.storage_url, tracking_uri=cfg.tracking_uri,
                         run_dir=str(run.run_dir), objectives=run.objectives,
                         constraints=[str(c) for c in cfg.constraints], teacher=run.baseline,
                         study_file=str(cfg.source) if cfg.source else None, dataset=cfg.dataset,
                         threads=run.threads, cluster=cluster, timing_node=timing_node, timing_nodes=timing_nodes,
                         targets=[t.to_dict() for t in cfg.targets])
    write_record(record)
    run.tracker.log_study(Path(cfg.source) if cfg.source else None, Path(cfg.space_path), cfg.to_dict(),
                          run.baseline.to_dict())
    if cluster is not None:
        run.tracker.log_cluster({**cluster, "timing_nodes": timing_nodes}, timing_node)
    run.progress.start(done=len(finished_before), failed=sum(t.state == TrialState.FAIL for t in finished_before),
                       stopped=sum(t.state == TrialState.PRUNED for t in finished_before))
    return record


def execute(run: StudyRun, remaining: int, boot: RayBoot) -> None:
    """Run the remaining trials on a pool of long-lived Tune workers fed by the dispatcher."""
    from ray import tune

    from automl.search.bookkeeping import StudyBookkeeper
    from automl.search.dispatcher import CandidateDispatcher
    from automl.search.trainable import run_worker
    from automl.search.tune_callback import WorkerPoolCallback

    cfg = run.cfg
    gate, queue = boot.handles()
    # Optuna's storage is this study's state (resume goes through it): Tune's own experiment
    # checkpoints and per-result log files would only cost driver time between trials.
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "600")
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    dispatcher = CandidateDispatcher(run.study, cfg.space, cfg.base_candidate(), run.objectives, cfg.constraints,
                                     remaining, artifacts_dir=run.run_dir / "artifacts",
                                     early_stopping=cfg.early_stopping,
                                     teacher_arch=run.teacher.config.to_dict()["arch"], predictor=cfg.predictor,
                                     teacher_metrics=run.teacher_metrics)
    books = StudyBookkeeper(run.study, run.objectives, run.tracker, run.progress, gate, run.teacher_metrics,
                            outage=run.outage, screen=dispatcher.screen)
    pool = WorkerPoolCallback(dispatcher, queue, on_asked=books.asked, on_told=books.told, on_epochs=books.epochs,
                              on_lost=boot.drop_holder)  # on every timing worker
    trainable = tune.with_resources(tune.with_parameters(run_worker, context=worker_context(run, boot)),
                                    {"cpu": cfg.resources.cpu, "gpu": cfg.resources.gpu})
    workers = min(cfg.concurrency, remaining)
    tuner = tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(num_samples=workers, max_concurrent_trials=workers),
        run_config=tune.RunConfig(
            name=f"{cfg.name}-{time.strftime('%Y%m%d-%H%M%S')}", storage_path=str(run.run_dir / "ray_results"),
            verbose=0, callbacks=[pool], failure_config=tune.FailureConfig(max_failures=WORKER_RESTARTS)))
    run.phases["workers_starting"] = time.time()
    try:
        tuner.fit()
    finally:
        pool.flush()  # what Tune's last step left (also after Ctrl-C)
        books.flush_front()
        _append_json(run.run_dir / "engine_timings.json", {str(k): v for k, v in books.seconds.items()})
        # the launch's start-up, phase by phase (benchmarks/engine_overhead.py prints it)
        launch = f"{cfg.name}@{run.phases.get('run_study', time.time()):.3f}"
        _append_json(run.run_dir / "launch_timings.json", {launch: run.phases})


def worker_context(run: StudyRun, boot: RayBoot) -> "WorkerContext":
    """What every worker of the launch shares; the dataset and the teacher reach every node
    through Ray's object store (no shared disk)."""
    from automl.search.ray_boot import QUEUE_NAME
    from automl.search.trainable import WorkerContext
    from automl.search.worker_inputs import ShippedTeacher
    from automl.study.mo_asha import screen_limits

    cfg = run.cfg
    return WorkerContext(splits=run.splits, teacher=ShippedTeacher.pack(run.teacher),
                         gate_names=boot.gate_names, queue_name=QUEUE_NAME, namespace=boot.namespace,
                         threads=run.threads, trial_timeout_s=cfg.trial_timeout_s,
                         rungs=cfg.early_stopping.rungs if cfg.early_stopping else (),
                         limits=screen_limits(run.objectives, run.teacher_metrics, cfg.constraints),
                         predict=cfg.predictor is not None,
                         targets=cfg.targets)


def _cluster_at_launch(gates: tuple[Any, ...]) -> tuple[dict[str, Any] | None, list[dict[str, Any]] | None]:
    """(the Ray cluster now, the node of each of the study's timing workers); ``None`` without Ray."""
    if not gates:
        return None, None
    from automl.search.cluster import describe_cluster, timing_nodes

    return describe_cluster(), timing_nodes(gates)


def final_view(run: StudyRun, record: StudyRecord, remote_timing: bool = False) -> list[TrialPoint]:
    """Re-time the front with the teacher (see study/retime.py), then log the final front.

    ``remote_timing``: on the node holding the study's ``timing_resource`` (Ray is up), not here.
    """
    from automl.measure.latency import measure_interleaved
    from automl.search.ray_boot import timing_placement
    from automl.search.timing_gate import interleaved_on
    from automl.study.artifacts import point_artifact
    from automl.study.retime import retime_front

    def artifact_of(p: TrialPoint) -> Path:
        return point_artifact(p, record.tracking_uri, run.run_dir / "retime")

    points = retime_front(run.study, run.objectives, run.baseline.artifact_path, run.baseline.latency_by_target(),
                          run.input_shape, artifact_of, threads=run.threads, targets=run.cfg.targets,
                          on_pass=lambda n: run.progress.note(f"re-timing {n} front point(s) interleaved "
                                                              "with the teacher"),
                          measure=(interleaved_on(timing_placement(run.cfg.timing_resource)) if remote_timing
                                   else measure_interleaved))
    run.outage.call(lambda: (run.tracker.log_retimed(points),
                             run.tracker.log_front(points, len(finished_trials(run.study)), run.objectives,
                                                   run.teacher_metrics,
                                                   targets=tuple(t.name for t in run.cfg.targets))))
    return points


def close_launch(run: StudyRun, record: StudyRecord, points: list[TrialPoint], interrupted: int,
                 finished_before: int) -> StudyOutcome:
    """Close the MLflow parent run and the progress view; the launch's outcome."""
    run.outage.call(lambda: run.tracker.finish_study("KILLED" if interrupted else "FINISHED"))
    if run.outage.down:
        run.progress.warn(f"MLflow at {run.cfg.tracking_uri} is still away: {len(run.outage.behind)} trial(s) "
                          "behind; launch the study again when it is back to catch up")
    run.progress.stop()
    finished = finished_trials(run.study)
    front = sorted((p for p in points if p.on_front), key=lambda p: -p.metrics["accuracy"])
    return StudyOutcome(name=run.cfg.name, finished=len(finished),
                        failed=sum(t.state == TrialState.FAIL for t in finished),
                        stopped=sum(t.state == TrialState.PRUNED for t in finished),
                        ran_now=len(finished) - finished_before, front=front,
                        hypervolume=normalised_hypervolume([p.metrics for p in front], run.teacher_metrics,
                                                           run.objectives),
                        teacher=run.baseline, record=record, tracking_down=run.outage.down)


def _append_json(path: Path, entries: dict[str, Any]) -> None:
    data = json.loads(path.read_text()) if path.exists() else {}
    data.update(entries)
    path.write_text(json.dumps(data, indent=1))


def close_interrupted(study: optuna.Study, tracker: "StudyTracker", outage: Any = None) -> int:
    """Fail the trials a stopped launch left RUNNING (in Optuna and MLflow); they are re-sampled."""
    cut = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))  # WAITING: enqueued, asked next
    if cut:
        study.set_user_attr(INTERRUPTED_ATTR, sorted({*interrupted_numbers(study), *(t.number for t in cut)}))
    for t in cut:
        study.tell(t.number, state=TrialState.FAIL)
        if mlflow_run_id(t):
            close = functools.partial(tracker.finish_trial, mlflow_run_id(t), None, INTERRUPTED)
            outage.call(close, behind=t.number) if outage is not None else close()
    return len(cut)


def check_space_fits(space: Any, input_shape: tuple[int, ...]) -> None:
    """Every built-in family the space can propose must take the dataset's input rank (else
    every one of its trials would fail the same way): a one-line ConfigError before training."""
    from automl.config import ConfigError
    from automl.models.registry import check_rank

    for param in space.params:
        if param.path == "arch.family":
            for family in param.candidates():
                try:
                    check_rank(family, input_shape)
                except ConfigError as err:
                    raise ConfigError("params.arch.family", err.message, space.source) from None


def check_space_unchanged(study: optuna.Study, cfg: StudyConfig) -> None:
    """A study relaunched with an edited space: every parameter its trials sampled must keep a
    distribution Optuna accepts for it (same kind and log scale; categoricals the same choices),
    else a one-line ConfigError now, before Ray or training, instead of a failure at the next ask.
    The rule is Optuna's own, ``check_distribution_compatibility``."""
    from automl.config import ConfigError

    seen: dict[str, Any] = {}
    for trial in study.get_trials(deepcopy=False):
        seen.update(trial.distributions)
    for name, old in seen.items():
        new = cfg.space.distribution_of(name)
        if new is None:
            continue
        try:
            optuna.distributions.check_distribution_compatibility(old, new)
        except ValueError as err:
            raise ConfigError(f"params.{name}", f"study '{cfg.name}' sampled it from {old}, the space now says "
                              f"{new} ({err}); launch the edited space under another --name, or delete "
                              f"{cfg.run_dir} to start over", cfg.space.source) from None


def _check_directions(study: optuna.Study, cfg: StudyConfig) -> None:
    from automl.config import ConfigError

    have = [d.name.lower() for d in study.directions]
    if have != cfg.directions:
        raise ConfigError("objectives", f"study '{cfg.name}' in {cfg.storage_url} was created with directions "
                          f"{have}, this file asks for {cfg.directions}; use another --name", str(cfg.source or ""))
    if study.metric_names is not None and list(study.metric_names) != cfg.objective_names:
        raise ConfigError("objectives", f"study '{cfg.name}' in {cfg.storage_url} was created with objectives "
                          f"{list(study.metric_names)}, this file asks for {cfg.objective_names}; use another --name",
                          str(cfg.source or ""))

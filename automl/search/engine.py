"""Run a study: Optuna decides, Ray Tune executes, MLflow records.

    study file -> StudyConfig -> teacher (cached) -> Optuna study (resumed by name)
      -> Tuner(run_worker): one long-lived Tune trial per concurrency slot, on local Ray or
         a cluster, each evaluating the candidates the driver hands out (tune_callback.py)
      -> per finished candidate: tell Optuna, ask and hand out the next; then close the
         MLflow child run, re-tag the front, log front table/plot/hypervolume to the parent
         run, refresh the progress view.
      -> at the end: the front re-timed interleaved with the teacher (retime.py), logged as
         the final front.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import TrialState

from automl.candidate.result import METRICS
from automl.search.ray_boot import RayBoot
from automl.study.attrs import (
    INTERRUPTED,
    INTERRUPTED_ATTR,
    TEACHER_LATENCY_ATTR,
    interrupted_numbers,
    mlflow_run_id,
    teacher_latency,
)
from automl.study.config import StudyConfig
from automl.study.front import TrialPoint, finished_trials, study_points
from automl.study.pareto import normalised_hypervolume
from automl.study.record import StudyRecord, write_record
from automl.study.sampler import make_sampler

if TYPE_CHECKING:
    from automl.data import DatasetConfig
    from automl.search.progress import StudyProgress
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
    teacher: dict[str, Any]
    record: StudyRecord


def run_study(cfg: StudyConfig, *, ray_address: str | None = None, show_progress: bool = True) -> StudyOutcome:
    """Launch (or resume) the study described by ``cfg`` and return its front."""
    from automl.tracking.reachability import check_tracking_server

    check_tracking_server(cfg.tracking_uri)  # an unreachable server stops the launch before Ray or training
    # a server that goes away mid-study is noticed in seconds, not after MLflow's minutes of
    # retries, and caught up when it returns (tracking_outage.py)
    for key, value in TRACKING_RETRIES.items():
        os.environ.setdefault(key, value)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    run_dir = Path(cfg.run_dir).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    objectives = [(o.name, o.direction) for o in cfg.objectives]
    study = optuna.create_study(
        study_name=cfg.name, storage=cfg.storage_url, load_if_exists=True,
        directions=[d for _, d in objectives],
        sampler=make_sampler(cfg.sampler, cfg.seed, len(objectives), n_trials=cfg.n_trials))
    _check_directions(study, objectives, cfg)
    if study.metric_names is None:  # named objectives for optuna-dashboard and Optuna's plots
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names([name for name, _ in objectives])
    finished_before = finished_trials(study)
    remaining = max(0, cfg.n_trials - len(finished_before))
    # first, so that Ray starts while the driver imports torch and loads the space and teacher
    boot = RayBoot(f"automl-{cfg.name}", ray_address, cfg.timing_resource) if remaining > 0 else None
    from automl.candidate.teacher import load_or_train_teacher
    from automl.data import load_dataset
    from automl.search.progress import StudyProgress
    from automl.search.tracking_outage import TrackingOutage
    from automl.space.search_space import load_space
    from automl.tracking import StudyTracker

    progress = StudyProgress(cfg.name, cfg.n_trials, enabled=show_progress)
    space = load_space(cfg.space_path)
    dataset = cfg.dataset_config()
    check_space_fits(space, tuple(load_dataset(dataset).input_shape))
    teacher_cfg = cfg.teacher_config()

    progress.note(f"teacher: {teacher_cfg.arch.family} on {dataset.name} (cached under {run_dir / 'teachers'})")
    teacher = load_or_train_teacher(teacher_cfg, dataset, run_dir / "teachers")
    tracker = StudyTracker(cfg.tracking_uri, cfg.name, run_dir / "mlflow-artifacts")
    _close_interrupted(study, tracker)
    run = StudyRun(cfg=cfg, study=study, objectives=objectives, tracker=tracker, progress=progress,
                   run_dir=run_dir, input_shape=tuple(load_dataset(dataset).input_shape),
                   threads=max(1, int(cfg.resources.cpu)), teacher_result=teacher.result.to_dict(), teacher=teacher)
    run.outage = TrackingOutage(study, tracker, cfg.tracking_uri, progress.warn, run.teacher_metrics)
    if run.outage.behind:  # an earlier launch ended while MLflow was away
        progress.warn(f"MLflow catches up {run.outage.catch_up()} trial(s) recorded while it was away")
    try:
        gate = boot.handles()[0] if boot is not None else None
        run.teacher_result["latency"] = teacher_latency = study_teacher_latency(study, run.teacher_result, gate,
                                                                                run.input_shape, run.threads)
    except BaseException:
        if boot is not None:
            boot.shutdown()
        raise
    run.teacher_result["latency_ms"] = teacher_latency["latency_ms"]
    cluster, timing_node = _cluster_at_launch(gate)

    record = StudyRecord(name=cfg.name, storage=cfg.storage_url, tracking_uri=cfg.tracking_uri,
                         run_dir=str(run_dir), objectives=objectives,
                         constraints=[str(c) for c in cfg.constraints], teacher=run.teacher_result,
                         study_file=str(cfg.source) if cfg.source else None, dataset=dataset.to_dict(),
                         threads=run.threads, cluster=cluster, timing_node=timing_node)
    write_record(record)
    tracker.log_study(Path(cfg.source) if cfg.source else None, Path(cfg.space_path), cfg.to_dict(),
                      run.teacher_result)
    if cluster is not None:
        tracker.log_cluster(cluster, timing_node)
    progress.start(done=len(finished_before), failed=sum(t.state == TrialState.FAIL for t in finished_before),
                   stopped=sum(t.state == TrialState.PRUNED for t in finished_before))

    if boot is not None:
        try:
            _execute(run, space, remaining, boot, dataset)
        except BaseException:
            progress.stop()
            _close_interrupted(study, tracker, run.outage)
            run.outage.call(lambda: tracker.finish_study("FAILED"))
            boot.shutdown()
            raise
    # the final re-timing runs here, on the driver's node, unless the study names another timing
    # node (timing_resource): then Ray stays up for it and it runs there (see timing_gate.interleaved_on)
    remote_timing = boot is not None and cfg.timing_resource is not None
    if boot is not None and not remote_timing:
        boot.shutdown()
    try:
        # trials still running here were cut off (Ctrl-C): closed now, re-sampled on the next launch
        interrupted = _close_interrupted(study, tracker, run.outage)
        points = _final_view(run, record, remote_timing)
    finally:
        if remote_timing:
            boot.shutdown()
    if not run.outage.down:
        _dashboard(cfg.name, run)
    run.outage.call(lambda: tracker.finish_study("KILLED" if interrupted else "FINISHED"))
    if run.outage.down:
        progress.warn(f"MLflow at {cfg.tracking_uri} is still away: {len(run.outage.behind)} trial(s) behind; "
                      "launch the study again when it is back to catch up")
    progress.stop()
    finished = finished_trials(study)
    front = sorted((p for p in points if p.on_front), key=lambda p: -p.metrics["accuracy"])
    return StudyOutcome(name=cfg.name, finished=len(finished),
                        failed=sum(t.state == TrialState.FAIL for t in finished),
                        stopped=sum(t.state == TrialState.PRUNED for t in finished),
                        ran_now=len(finished) - len(finished_before), front=front,
                        hypervolume=normalised_hypervolume([p.metrics for p in front], run.teacher_metrics,
                                                           objectives),
                        teacher=run.teacher_result, record=record)


@dataclass
class StudyRun:
    """What the parts of one launch share (built once in :func:`run_study`)."""

    cfg: StudyConfig
    study: optuna.Study
    objectives: list[tuple[str, str]]
    tracker: "StudyTracker"
    progress: "StudyProgress"
    run_dir: Path
    input_shape: tuple[int, ...]
    threads: int  # intra-op threads of training and of every timing run
    teacher_result: dict[str, Any]  # the teacher's CandidateResult, latency = the study's one figure
    teacher: Any = None  # the trained Teacher (shipped to the workers through Ray)
    outage: Any = None  # the TrackingOutage every MLflow call of the launch goes through

    @property
    def teacher_metrics(self) -> dict[str, float]:
        return {k: self.teacher_result[k] for k in METRICS}


def study_teacher_latency(study: optuna.Study, teacher_result: dict[str, Any], gate: Any,
                          input_shape: tuple[int, ...], threads: int) -> dict[str, Any]:
    """The study's one teacher figure: timed once, at its first launch, then read back.

    It is the baseline of every ``latency_ms`` (a ratio times it) and is written, the same,
    to ``study.json``, MLflow's ``teacher_latency_ms`` and ``teacher/result.json``. With a
    ``gate`` (the timing worker) the teacher becomes its reference for the candidates.
    """
    import ray

    from automl.measure.latency import FINAL
    from automl.search.timing_gate import ISOLATION, gate_measure

    figure = teacher_latency(study)
    if gate is not None:
        ray.get(gate.set_reference.remote(Path(teacher_result["artifact_path"]).read_bytes(),
                                          None if figure is None else figure["latency_ms"]))
    if figure is None:
        if gate is not None:
            lat, _ = gate_measure(gate, None, input_shape, dataclasses.replace(FINAL, threads=threads))
            figure = {**dataclasses.asdict(lat), "timing_isolation": ISOLATION,
                      "source": "the study's timing worker, at its first launch"}
            ray.get(gate.set_reference.remote(Path(teacher_result["artifact_path"]).read_bytes(), lat.latency_ms))
        else:  # a study that never ran a trial here: the cached teacher's own figure
            figure = {**teacher_result["latency"], "latency_ms": teacher_result["latency_ms"],
                      "source": "the teacher cache"}
        study.set_user_attr(TEACHER_LATENCY_ATTR, figure)
    return figure


def _execute(run: StudyRun, space, remaining: int, boot: RayBoot, dataset: DatasetConfig) -> None:
    """Run the remaining trials on a pool of long-lived Tune workers fed by the dispatcher."""
    from ray import tune

    from automl.data import load_dataset
    from automl.search.bookkeeping import StudyBookkeeper
    from automl.search.dispatcher import CandidateDispatcher
    from automl.search.ray_boot import GATE_NAME, QUEUE_NAME
    from automl.search.trainable import WorkerContext, run_worker
    from automl.search.tune_callback import WorkerPoolCallback
    from automl.search.worker_inputs import ShippedTeacher
    from automl.study.mo_asha import screen_limits

    cfg = run.cfg
    gate, queue = boot.handles()
    # Optuna's storage is this study's state (resume goes through it): Tune's own experiment
    # checkpoints and per-result log files would only cost driver time between trials.
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "600")
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    books = StudyBookkeeper(run.study, run.objectives, run.tracker, run.progress, gate, run.teacher_metrics,
                            normalised_hypervolume([p.metrics for p in study_points(run.study, run.objectives)
                                                    if p.on_front], run.teacher_metrics, run.objectives),
                            outage=run.outage)
    dispatcher = CandidateDispatcher(run.study, space, cfg.base_candidate(), run.objectives, cfg.constraints,
                                     remaining, artifacts_dir=run.run_dir / "artifacts",
                                     early_stopping=cfg.early_stopping,
                                     teacher_arch=run.teacher.config.to_dict()["arch"])
    pool = WorkerPoolCallback(dispatcher, queue, on_asked=books.asked, on_told=books.told, on_epochs=books.epochs,
                              on_lost=lambda worker: gate.drop_holder.remote(worker))
    # the dataset and the teacher reach every node through Ray's object store (no shared disk)
    context = WorkerContext(splits=load_dataset(dataset), teacher=ShippedTeacher.pack(run.teacher),
                            gate_name=GATE_NAME, queue_name=QUEUE_NAME, namespace=boot.namespace,
                            threads=run.threads, trial_timeout_s=cfg.trial_timeout_s,
                            rungs=cfg.early_stopping.rungs if cfg.early_stopping else (),
                            limits=screen_limits(run.objectives, run.teacher_metrics, cfg.constraints))
    trainable = tune.with_resources(tune.with_parameters(run_worker, context=context),
                                    {"cpu": cfg.resources.cpu, "gpu": cfg.resources.gpu})
    workers = min(cfg.concurrency, remaining)
    tuner = tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(num_samples=workers, max_concurrent_trials=workers),
        run_config=tune.RunConfig(
            name=f"{cfg.name}-{time.strftime('%Y%m%d-%H%M%S')}", storage_path=str(run.run_dir / "ray_results"),
            verbose=0, callbacks=[pool], failure_config=tune.FailureConfig(max_failures=WORKER_RESTARTS)))
    try:
        tuner.fit()
    finally:
        pool.flush()  # what Tune's last step left (also after Ctrl-C)
        _append_json(run.run_dir / "engine_timings.json", {str(k): v for k, v in books.seconds.items()})


def _cluster_at_launch(gate: Any) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(the Ray cluster now, the node of the study's timing worker); ``None`` without Ray."""
    if gate is None:
        return None, None
    import ray

    from automl.search.cluster import describe_cluster

    return describe_cluster(), ray.get(gate.where.remote())


def _final_view(run: StudyRun, record: StudyRecord, remote_timing: bool = False) -> list[TrialPoint]:
    """Re-time the front with the teacher (see retime.py), then log the final front.

    ``remote_timing``: on the node holding the study's ``timing_resource`` (Ray is up), not here.
    """
    from automl.measure.latency import measure_interleaved
    from automl.search.ray_boot import timing_placement
    from automl.search.timing_gate import interleaved_on
    from automl.study.artifacts import point_artifact
    from automl.study.retime import retime_front

    def artifact_of(p: TrialPoint) -> Path:
        return point_artifact(p, record.tracking_uri, run.run_dir / "retime")

    points = retime_front(run.study, run.objectives, run.teacher_result["artifact_path"],
                          run.teacher_result["latency_ms"], run.input_shape, artifact_of, threads=run.threads,
                          on_pass=lambda n: run.progress.note(f"re-timing {n} front point(s) interleaved "
                                                              "with the teacher"),
                          measure=(interleaved_on(timing_placement(run.cfg.timing_resource)) if remote_timing
                                   else measure_interleaved))
    run.outage.call(lambda: (run.tracker.log_retimed(points),
                             run.tracker.log_front(points, len(finished_trials(run.study)), run.objectives,
                                                   run.teacher_metrics)))
    return points


def _dashboard(name: str, run: StudyRun) -> None:
    """The study's dashboard, rendered and logged to the parent run; a failure only warns."""
    from automl.dashboard import make_dashboard
    from automl.dashboard.spec import DEFAULT_FILE

    if not DEFAULT_FILE.is_file():
        run.progress.note(f"no dashboard: {DEFAULT_FILE} is missing (automl dashboard {name} --panels FILE)")
        return
    try:
        make_dashboard(name, str(run.run_dir))
    except Exception as err:  # the study's results are in; a plotting problem must not fail it
        run.progress.note(f"dashboard not rendered ({type(err).__name__}: {err}); "
                          f"try: automl dashboard {name}")


def _append_json(path: Path, entries: dict[str, Any]) -> None:
    data = json.loads(path.read_text()) if path.exists() else {}
    data.update(entries)
    path.write_text(json.dumps(data, indent=1))


def _close_interrupted(study: optuna.Study, tracker: StudyTracker, outage: Any = None) -> int:
    """Fail the trials a stopped launch left RUNNING (in Optuna and MLflow); they are re-sampled."""
    cut = study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING))
    if cut:
        study.set_user_attr(INTERRUPTED_ATTR, sorted({*interrupted_numbers(study),
                                                      *(t.number for t in cut)}))
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


def _check_directions(study: optuna.Study, objectives: list[tuple[str, str]], cfg: StudyConfig) -> None:
    from automl.config import ConfigError

    have = [d.name.lower() for d in study.directions]
    want = [d for _, d in objectives]
    if have != want:
        raise ConfigError("objectives", f"study '{cfg.name}' in {cfg.storage_url} was created with directions "
                          f"{have}, this file asks for {want}; use another --name", str(cfg.source or ""))

"""Run a study: Optuna decides, Ray Tune executes, MLflow records.

    study file -> StudyConfig -> teacher (cached) -> Optuna study (resumed by name)
      -> Tuner(run_worker): one long-lived Tune trial per concurrency slot, on local Ray or
         a cluster, each evaluating the candidates the driver hands out (tune_callback.py)
      -> per finished candidate: tell Optuna, ask and hand out the next; then close the
         MLflow child run, re-tag the front, log front table/plot/hypervolume to the parent
         run, refresh the progress view.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import TrialState

from automl.search.front import INTERRUPTED, TrialPoint, finished_trials, study_points
from automl.search.ray_boot import RayBoot
from automl.study.config import StudyConfig
from automl.study.record import StudyRecord, write_record
from automl.study.sampler import make_sampler

if TYPE_CHECKING:
    from automl.data import DatasetConfig
    from automl.search.progress import StudyProgress
    from automl.tracking import StudyTracker

# This module imports only what is needed to start Ray: torch, scikit-learn, MLflow and
# matplotlib load inside run_study while Ray boots (seconds off the start-up).

WORKER_RESTARTS = 3  # a crashed worker (its candidate recorded failed) is restarted this often


@dataclass
class StudyOutcome:
    name: str
    finished: int  # trials finished (complete or failed), this launch and earlier ones
    failed: int
    ran_now: int
    front: list[TrialPoint]
    hypervolume: float
    teacher: dict[str, Any]
    record: StudyRecord


def run_study(cfg: StudyConfig, *, ray_address: str | None = None, show_progress: bool = True) -> StudyOutcome:
    """Launch (or resume) the study described by ``cfg`` and return its front."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    run_dir = Path(cfg.run_dir).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    objectives = [(o.name, o.direction) for o in cfg.objectives]
    study = optuna.create_study(
        study_name=cfg.name, storage=cfg.storage_url, load_if_exists=True,
        directions=[d for _, d in objectives],
        sampler=make_sampler(cfg.sampler, cfg.seed, len(objectives), bool(cfg.constraints),
                             n_trials=cfg.n_trials, n_constraints=len(cfg.constraints)))
    _check_directions(study, objectives, cfg)
    finished_before = finished_trials(study)
    remaining = max(0, cfg.n_trials - len(finished_before))
    # first, so that Ray starts while the driver imports torch and loads the space and teacher
    boot = RayBoot(f"automl-{cfg.name}", ray_address) if remaining > 0 else None
    from automl.search.progress import StudyProgress
    from automl.search.space import load_space
    from automl.teacher import load_or_train_teacher
    from automl.tracking import StudyTracker
    from automl.tracking.study_tracker import front_hypervolume

    progress = StudyProgress(cfg.name, cfg.n_trials, enabled=show_progress)
    space = load_space(cfg.space_path)
    dataset = cfg.dataset_config()
    teacher_cfg = cfg.teacher_config()

    progress.note(f"teacher: {teacher_cfg.arch.family} on {dataset.name} (cached under {run_dir / 'teachers'})")
    teacher = load_or_train_teacher(teacher_cfg, dataset, run_dir / "teachers")
    teacher_result = teacher.result.to_dict()
    teacher_metrics = teacher.result.metrics()  # latency re-timed on the study's timing worker below

    record = StudyRecord(name=cfg.name, storage=cfg.storage_url, tracking_uri=cfg.tracking_uri,
                         run_dir=str(run_dir), objectives=objectives,
                         constraints=[str(c) for c in cfg.constraints], teacher=teacher_result,
                         study_file=str(cfg.source) if cfg.source else None)
    write_record(record)  # written again at the end with the teacher re-timed by the timing worker
    tracker = StudyTracker(cfg.tracking_uri, cfg.name, run_dir / "mlflow-artifacts")
    _close_interrupted(study, tracker)
    tracker.log_study(Path(cfg.source) if cfg.source else None, Path(cfg.space_path), cfg.to_dict(),
                      teacher_result)
    progress.start(done=len(finished_before), failed=sum(t.state == TrialState.FAIL for t in finished_before))

    hv = front_hypervolume([p for p in study_points(study, objectives) if p.on_front], objectives, teacher_metrics)
    if boot is not None:
        try:
            _execute(cfg, study, space, objectives, teacher_metrics, tracker, progress, remaining, boot,
                     dataset, hv, run_dir, teacher_result)
        except BaseException:
            progress.stop()
            _close_interrupted(study, tracker)
            tracker.finish_study("FAILED")
            raise
        finally:
            boot.shutdown()
    write_record(record)
    # trials still running here were cut off (Ctrl-C): closed now, re-sampled on the next launch
    interrupted = _close_interrupted(study, tracker)
    tracker.finish_study("KILLED" if interrupted else "FINISHED")
    progress.stop()
    points = study_points(study, objectives)
    finished = finished_trials(study)
    front = sorted((p for p in points if p.on_front), key=lambda p: -p.metrics["accuracy"])
    return StudyOutcome(name=cfg.name, finished=len(finished),
                        failed=sum(t.state == TrialState.FAIL for t in finished),
                        ran_now=len(finished) - len(finished_before), front=front,
                        hypervolume=front_hypervolume(front, objectives, teacher_metrics),
                        teacher=teacher_result, record=record)


def _execute(cfg: StudyConfig, study: optuna.Study, space, objectives, teacher_metrics, tracker: StudyTracker,
             progress: StudyProgress, remaining: int, boot: RayBoot, dataset: DatasetConfig,
             hv: float, run_dir: Path, teacher_result: dict[str, Any]) -> None:
    """Run the remaining trials on a pool of long-lived Tune workers fed by the dispatcher."""
    from ray import tune

    from automl.data import load_dataset
    from automl.search.bookkeeping import StudyBookkeeper
    from automl.search.dispatcher import CandidateDispatcher
    from automl.search.ray_boot import GATE_NAME, QUEUE_NAME
    from automl.search.timing_gate import ISOLATION
    from automl.search.trainable import WorkerContext, run_worker
    from automl.search.tune_callback import WorkerPoolCallback

    gate, queue = boot.handles()
    # Optuna's storage is this study's state (resume goes through it): Tune's own experiment
    # checkpoints and per-result log files would only cost driver time between trials.
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "600")
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    threads = max(1, int(cfg.resources.cpu))
    books = StudyBookkeeper(study, objectives, tracker, progress, gate, teacher_result["artifact_path"],
                            load_dataset(dataset).input_shape, threads, teacher_metrics, hv)

    # The baseline of every latency ratio: the teacher timed by the same worker as candidates.
    idle, _ = books.time_teacher()
    teacher_metrics["latency_ms"] = teacher_result["latency_ms"] = idle.median_ms
    teacher_result["latency"] = {**dataclasses.asdict(idle), "timing_isolation": ISOLATION}
    tracker.log_reference_latency(idle.median_ms, 0)

    dispatcher = CandidateDispatcher(study, space, cfg.base_candidate(), objectives, cfg.constraints, remaining)
    pool = WorkerPoolCallback(dispatcher, queue, on_asked=books.asked, on_told=books.told, on_epochs=books.epochs)
    context = WorkerContext(dataset=dataset.to_dict(), teacher=cfg.teacher,
                            teacher_cache=str(run_dir / "teachers"), artifacts_dir=str(run_dir / "artifacts"),
                            gate_name=GATE_NAME, queue_name=QUEUE_NAME, namespace=boot.namespace,
                            threads=threads)
    trainable = tune.with_resources(tune.with_parameters(run_worker, context=context),
                                    {"cpu": cfg.resources.cpu, "gpu": cfg.resources.gpu})
    workers = min(cfg.concurrency, remaining)
    tuner = tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(num_samples=workers, max_concurrent_trials=workers),
        run_config=tune.RunConfig(
            name=f"{cfg.name}-{time.strftime('%Y%m%d-%H%M%S')}", storage_path=str(run_dir / "ray_results"),
            verbose=0, callbacks=[pool], failure_config=tune.FailureConfig(max_failures=WORKER_RESTARTS)))
    try:
        tuner.fit()
    finally:
        pool.flush()  # what Tune's last step left (also after Ctrl-C)
        _append_json(run_dir / "engine_timings.json", {str(k): v for k, v in books.seconds.items()})
    books.finish()


def _append_json(path: Path, entries: dict[str, Any]) -> None:
    data = json.loads(path.read_text()) if path.exists() else {}
    data.update(entries)
    path.write_text(json.dumps(data, indent=1))


def _close_interrupted(study: optuna.Study, tracker: StudyTracker) -> int:
    """Fail the trials a stopped launch left RUNNING (in Optuna and MLflow); they are re-sampled."""
    cut = study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING))
    for t in cut:
        study._storage.set_trial_user_attr(t._trial_id, "error", INTERRUPTED)
        study._storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
        if t.user_attrs.get("mlflow_run_id"):
            tracker.finish_trial(t.user_attrs["mlflow_run_id"], None, INTERRUPTED)
    return len(cut)


def _check_directions(study: optuna.Study, objectives: list[tuple[str, str]], cfg: StudyConfig) -> None:
    from automl.config import ConfigError

    have = [d.name.lower() for d in study.directions]
    want = [d for _, d in objectives]
    if have != want:
        raise ConfigError("objectives", f"study '{cfg.name}' in {cfg.storage_url} was created with directions "
                          f"{have}, this file asks for {want}; use another --name", str(cfg.source or ""))

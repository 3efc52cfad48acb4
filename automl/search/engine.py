"""Run a study: Optuna decides, Ray Tune executes, MLflow records.

    study file -> StudyConfig -> teacher (cached) -> Optuna study (resumed by name)
      -> Tuner(run_trial, search_alg=OptunaJointSearcher) on local Ray or a cluster
      -> per finished trial: tell Optuna, close the MLflow child run, re-tag the front,
         log front table/plot/hypervolume to the parent run, refresh the progress view.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from automl.data import DatasetConfig, load_dataset
from automl.measure.latency import LatencyResult
from automl.search.front import TrialPoint, study_points
from automl.search.optuna_searcher import OptunaJointSearcher
from automl.search.progress import StudyProgress
from automl.search.ray_boot import RayBoot
from automl.search.space import load_space
from automl.study.config import StudyConfig
from automl.study.record import StudyRecord, write_record
from automl.study.sampler import make_sampler
from automl.teacher import load_or_train_teacher
from automl.tracking import StudyTracker
from automl.tracking.study_tracker import front_hypervolume

PLOT_EVERY_S = 10.0  # the front figure is re-rendered at most this often (and once at the end)
TEACHER_RUNS = 200  # timed runs of the teacher, the baseline of every latency ratio
INTERRUPTED = "interrupted: the launch that ran this trial stopped before it finished"


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
    progress = StudyProgress(cfg.name, cfg.n_trials, enabled=show_progress)
    space = load_space(cfg.space_path)
    dataset = cfg.dataset_config()
    teacher_cfg = cfg.teacher_config()
    objectives = [(o.name, o.direction) for o in cfg.objectives]

    study = optuna.create_study(
        study_name=cfg.name, storage=cfg.storage_url, load_if_exists=True,
        directions=[d for _, d in objectives],
        sampler=make_sampler(cfg.sampler, cfg.seed, len(objectives), bool(cfg.constraints),
                             n_trials=cfg.n_trials, n_constraints=len(cfg.constraints)))
    _check_directions(study, objectives, cfg)
    finished_before = _finished(study)
    remaining = max(0, cfg.n_trials - len(finished_before))
    boot = RayBoot(f"automl-{cfg.name}", ray_address) if remaining > 0 else None

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

    hv = {"value": front_hypervolume([p for p in study_points(study, objectives) if p.on_front],
                                     objectives, teacher_metrics)}
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
    finished = _finished(study)
    front = sorted((p for p in points if p.on_front), key=lambda p: -p.metrics["accuracy"])
    return StudyOutcome(name=cfg.name, finished=len(finished),
                        failed=sum(t.state == TrialState.FAIL for t in finished),
                        ran_now=len(finished) - len(finished_before), front=front,
                        hypervolume=front_hypervolume(front, objectives, teacher_metrics),
                        teacher=teacher_result, record=record)


def _execute(cfg: StudyConfig, study: optuna.Study, space, objectives, teacher_metrics, tracker: StudyTracker,
             progress: StudyProgress, remaining: int, boot: RayBoot, dataset: DatasetConfig,
             hv: dict, run_dir: Path, teacher_result: dict[str, Any]) -> None:
    import ray
    from ray import tune

    from automl.search.timing_gate import ISOLATION, gate_measure
    from automl.search.trainable import TrialContext, run_trial
    from automl.search.tune_callback import StudyCallback

    gate = boot.gate()
    # Optuna's storage is this study's state (resume goes through it): Tune's own experiment
    # checkpoints and per-result log files would only cost driver time between trials.
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "600")
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    threads = max(1, int(cfg.resources.cpu))
    input_shape = load_dataset(dataset).input_shape

    def time_teacher() -> LatencyResult:
        return gate_measure(gate, teacher_result["artifact_path"], input_shape, threads, TEACHER_RUNS)[0]

    # The baseline of every latency ratio: the teacher timed by the same worker as candidates.
    idle = time_teacher()
    teacher_metrics["latency_ms"] = teacher_result["latency_ms"] = idle.median_ms
    teacher_result["latency"] = {**dataclasses.asdict(idle), "timing_isolation": ISOLATION}
    tracker.log_reference_latency(idle.median_ms, 0)
    bookkeeping: dict[int, dict[str, float]] = {}  # driver seconds per trial (engine overhead)
    last_plot = [float("-inf")]

    def on_asked(trial: optuna.Trial, candidate: dict) -> dict:
        start = time.perf_counter()
        run_id = tracker.start_trial(trial.number, trial.params, candidate)
        trial.set_user_attr("mlflow_run_id", run_id)
        bookkeeping.setdefault(trial.number, {})["mlflow_start_s"] = time.perf_counter() - start
        return {"mlflow_run_id": run_id}

    def on_told(frozen: optuna.trial.FrozenTrial) -> None:
        # driver-side bookkeeping also holds the gate, so it never overlaps a timing run
        start = time.perf_counter()
        ray.get(gate.acquire_shared.remote())
        try:
            run_id = frozen.user_attrs.get("mlflow_run_id")
            if frozen.state == TrialState.COMPLETE:
                tracker.finish_trial(run_id, dict(frozen.user_attrs), None)
            elif run_id:
                tracker.finish_trial(run_id, None, frozen.user_attrs.get("error", "failed"))
            points = study_points(study, objectives)
            plot = time.monotonic() - last_plot[0] >= PLOT_EVERY_S
            hv["value"] = tracker.log_front(points, len(_finished(study)), objectives, teacher_metrics, plot)
            last_plot[0] = time.monotonic() if plot else last_plot[0]
            ok = frozen.state == TrialState.COMPLETE
            progress.trial_finished(frozen.number, ok, sum(p.on_front for p in points), hv["value"],
                                    _summary(frozen.user_attrs) if ok else frozen.user_attrs.get("error", ""))
        finally:
            ray.get(gate.release_shared.remote())
        logged = time.perf_counter()
        # drift probe: the teacher re-timed while the study runs, against its idle figure
        tracker.log_reference_latency(time_teacher().median_ms, len(_finished(study)))
        bookkeeping.setdefault(frozen.number, {}).update(
            mlflow_front_s=logged - start, reference_probe_s=time.perf_counter() - logged)

    searcher = OptunaJointSearcher(study, space, cfg.base_candidate(), objectives, cfg.constraints,
                                   remaining, on_asked=on_asked, on_told=on_told)
    context = TrialContext(dataset=dataset.to_dict(), teacher=cfg.teacher,
                           teacher_cache=str(run_dir / "teachers"), artifacts_dir=str(run_dir / "artifacts"),
                           gate_name="timing-gate", gate_namespace=boot.namespace, threads=threads)
    trainable = tune.with_resources(tune.with_parameters(run_trial, context=context),
                                    {"cpu": cfg.resources.cpu, "gpu": cfg.resources.gpu})
    tuner = tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(search_alg=searcher, num_samples=remaining,
                                    max_concurrent_trials=cfg.concurrency, reuse_actors=True),
        run_config=tune.RunConfig(
            name=f"{cfg.name}-{time.strftime('%Y%m%d-%H%M%S')}", storage_path=str(run_dir / "ray_results"),
            verbose=0, callbacks=[StudyCallback(tracker.log_epoch, progress.trial_started)],
            failure_config=tune.FailureConfig(max_failures=1)))
    tuner.fit()
    _append_json(run_dir / "engine_timings.json", {str(k): v for k, v in bookkeeping.items()})
    tracker.plot_front(study_points(study, objectives), teacher_metrics, hv["value"])  # the final figure


def _append_json(path: Path, entries: dict[str, Any]) -> None:
    data = json.loads(path.read_text()) if path.exists() else {}
    data.update(entries)
    path.write_text(json.dumps(data, indent=1))


def _summary(m: dict[str, Any]) -> str:
    return (f"val acc {m['accuracy']:.4f}, test acc {m['test_accuracy']:.4f}, {m['size_bytes']:,} B, "
            f"{m['latency_ms'] * 1000:.1f} µs, {m.get('kernels', '')}")


def _finished(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """Complete and failed trials; trials cut off by an earlier stopped launch do not count."""
    return [t for t in study.get_trials(deepcopy=False)
            if t.state == TrialState.COMPLETE
            or (t.state == TrialState.FAIL and t.user_attrs.get("error") != INTERRUPTED)]


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

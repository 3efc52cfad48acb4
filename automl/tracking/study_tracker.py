"""Everything a study writes to MLflow.

- one experiment per study; one parent run (tag ``automl.role=study``) holding the study
  and space files, the teacher's measurements, and after every finished trial the current
  front as a table (``front/front.json``) and a plot (``front/front.png``), plus the
  ``hypervolume`` and ``front_size`` metrics stepped by the number of finished trials;
- one run per trial (not nested under the study's run, so MLflow's runs table lists and sorts
  every candidate; ``automl.study_run`` names the study's run) with every sampled parameter, per-epoch curves
  (``curve_loss``, ``curve_val_accuracy``), the final metrics, the exported artifact, and a
  ``pareto=true|false`` tag kept current as the front moves. A failed trial's run ends
  FAILED with its error in the ``error`` tag.

Only the driver process writes here, so the default SQLite store never sees concurrent
writers.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from automl.candidate.result import METRICS
from automl.study.front import TrialPoint, front_trials, objectives_on
from automl.study.pareto import normalised_hypervolume, reference_point
from automl.study.storage import sqlite_commits_without_fsync
from automl.tracking.front_plot import front_figure
from automl.tracking.review_views import view_tags
from automl.tracking.run_names import run_name
from automl.tracking.target_metrics import mlflow_name, target_run_metrics, target_run_tags

ROLE_TAG = "automl.role"
STUDY_TAG = "automl.study"
TRIAL_TAG = "automl.trial"
STUDY_RUN_TAG = "automl.study_run"  # on a candidate's run: its study's run id (runs are not nested, see below)
OPEN_TRIAL_RUNS = f"tags.`{ROLE_TAG}` = 'trial' and attributes.status = 'RUNNING'"  # a filter: child runs still open
EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")
"""Opens the experiment in MLflow's model-training view (runs and metrics), not the GenAI one."""


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            out.update(flatten(value, name))
        else:
            out[name] = value
    return out


class StudyTracker:
    def __init__(self, tracking_uri: str, study_name: str, artifact_root: Path) -> None:
        sqlite_commits_without_fsync()  # an SQLite store: about 1.5x the calls per second
        self.client = MlflowClient(tracking_uri)
        self.study_name = study_name
        exp = self.client.get_experiment_by_name(study_name)
        if exp is None and tracking_uri.startswith(("http://", "https://")):
            # a tracking server: artifacts go through it (its --artifacts-destination), not to this disk
            exp_id = self.client.create_experiment(study_name)
        elif exp is None:
            artifact_root.mkdir(parents=True, exist_ok=True)
            exp_id = self.client.create_experiment(study_name, artifact_location=artifact_root.resolve().as_uri())
        else:
            exp_id = exp.experiment_id
        for key, value in {EXPERIMENT_KIND[0]: EXPERIMENT_KIND[1], **view_tags()}.items():
            self.client.set_experiment_tag(exp_id, key, value)
        self.experiment_id = exp_id
        self.parent_id = self._parent_run()
        self._pareto_tags: dict[Any, str] = {}  # run id (and (run id, key) per target) -> the tag last set

    def _parent_run(self) -> str:
        runs = self.client.search_runs([self.experiment_id], f"tags.`{ROLE_TAG}` = 'study'", max_results=1)
        if runs:
            run_id = runs[0].info.run_id
            self.client.update_run(run_id, status="RUNNING")
            return run_id
        run = self.client.create_run(self.experiment_id, run_name=f"{self.study_name} (study)",
                                     tags={ROLE_TAG: "study", STUDY_TAG: self.study_name})
        return run.info.run_id

    # -- parent -----------------------------------------------------------------------
    def log_study(self, study_file: Path | None, space_file: Path | None, study_config: dict[str, Any],
                  teacher: dict[str, Any]) -> None:
        if study_file is not None:  # a config built in code has no file
            self.client.log_artifact(self.parent_id, str(study_file), "study")
        if space_file is not None and space_file.exists():
            self.client.log_artifact(self.parent_id, str(space_file), "study")
        self.client.log_dict(self.parent_id, study_config, "study/resolved_study.json")
        self.client.log_dict(self.parent_id, teacher, "teacher/result.json")
        params = [Param(k, str(v)[:6000]) for k, v in flatten({"study": study_config}).items()]
        existing = self.client.get_run(self.parent_id).data.params
        params = [p for p in params if p.key not in existing]
        teacher_metrics = [Metric(f"teacher_{k}", float(teacher[k]), _now(), 0)
                           for k in METRICS] + target_run_metrics(teacher, _now(), prefix="teacher_")
        for i in range(0, len(params), 100):
            self.client.log_batch(self.parent_id, params=params[i:i + 100])
        self.client.log_batch(self.parent_id, metrics=teacher_metrics)

    def log_front(self, points: list[TrialPoint], n_finished: int, objectives: list[tuple[str, str]],
                  teacher: dict[str, float], plot: bool = True, targets: tuple[str, ...] = ()) -> float:
        """Re-tag children by dominance and log the front table, hypervolume and (if ``plot``) figure.

        Only tags that changed are written (one MLflow call each).
        """
        for p in points:
            run_id, tag = p.extra.get("mlflow_run_id"), "true" if p.on_front else "false"
            if run_id and self._pareto_tags.get(run_id) != tag:
                self.client.set_tag(run_id, "pareto", tag)
                self._pareto_tags[run_id] = tag
        if targets and len(targets) > 1:
            self._tag_target_fronts(points, objectives, targets)
        front = [p for p in points if p.on_front]
        hv = normalised_hypervolume([p.metrics for p in front], teacher, objectives)
        now = _now()
        self.client.log_batch(self.parent_id, metrics=[
            Metric("hypervolume", hv, now, n_finished), Metric("front_size", float(len(front)), now, n_finished),
            Metric("trials_finished", float(n_finished), now, n_finished)])
        rows = sorted(front, key=lambda p: -p.metrics["accuracy"])
        table = {"trial": [p.trial for p in rows],
                 **{k: [p.metrics[k] for p in rows] for k in ("accuracy", "test_accuracy", "size_bytes",
                                                               "latency_ms", "params_nonzero", "macs")},
                 "size_ratio": [p.metrics["size_bytes"] / teacher["size_bytes"] for p in rows],
                 "latency_ratio": [p.latency_ratio for p in rows],
                 "latency_retimed": [p.extra.get("retimed") is not None for p in rows],
                 "search_latency_ms": [p.extra.get("search_latency_ms") for p in rows],
                 "search_latency_ratio": [p.extra.get("search_latency_ratio") for p in rows],
                 "kernels": [p.extra.get("kernels") for p in rows]}
        self.client.log_dict(self.parent_id, {"objectives": objectives, "reference_point": reference_point(objectives),
                                              "teacher": {k: teacher[k] for k in METRICS},
                                              "hypervolume": hv, "front": table}, "front/front.json")
        if plot:
            self.plot_front(points, teacher, hv)
        return hv

    def plot_front(self, points: list[TrialPoint], teacher: dict[str, float], hv: float) -> None:
        """(Re-)render ``front/front.png`` on the parent run."""
        fig = front_figure(points, teacher, f"{self.study_name}: {sum(p.on_front for p in points)} on the front "
                                            f"of {len(points)} finished (hypervolume {hv:.3f})")
        self.client.log_figure(self.parent_id, fig, "front/front.png")
        plt.close(fig)

    def log_reference_latencies(self, figures: list[tuple[float, int]]) -> None:
        """The teacher's own figure in candidates' interleaved timing runs (drift, for review):
        ``(latency_ms, finished trials then)`` pairs, in one call."""
        self.log_parent_metrics("reference_latency_ms", figures)

    def log_parent_metrics(self, name: str, figures: list[tuple[float, int]]) -> None:
        """``(value, step)`` pairs of metric ``name`` on the study's parent run, in batches."""
        now = _now()
        for i in range(0, len(figures), 1000):  # MLflow's limit per batch
            self.client.log_batch(self.parent_id, metrics=[Metric(name, value, now, step)
                                                           for value, step in figures[i:i + 1000]])

    def log_retimed(self, points: list[TrialPoint]) -> None:
        """The final re-timing of the front (step 1 of ``latency_ms`` and ``latency_ratio``;
        step 0 stays the search figure, also kept as ``search_latency_ms``)."""
        now = _now()
        for p in points:
            again, run_id = p.extra.get("retimed"), p.extra.get("mlflow_run_id")
            if again is None or not run_id:
                continue
            figures = again.get("targets", {})
            on_targets = [Metric(f"{target}/{k}", figure[key], now, 1) for target, figure in figures.items()
                          for k, key in (("latency_ms", "latency_ms"), ("latency_ratio", "ratio"))] if len(figures) > 1 else []
            self.client.log_batch(run_id, metrics=[Metric("latency_ms", again["latency_ms"], now, 1),
                                                   Metric("latency_ratio", again["ratio"], now, 1), *on_targets],
                                  tags=[RunTag("latency_view", "re-timed with the teacher at the study's end")])

    def log_cluster(self, cluster: dict[str, Any], timing_node: dict[str, Any] | None) -> None:
        """The Ray cluster at this launch (nodes, CPUs, GPUs) and the node that times every latency.

        Tags (current launch) plus ``cluster/launch-<time>.json`` (one per launch, kept).
        """
        tags = {"cluster.nodes": str(cluster["nodes"]), "cluster.cpus": str(cluster["cpus"]),
                "cluster.gpus": str(cluster["gpus"])}
        if timing_node:
            tags.update({"timing_node_id": str(timing_node.get("ray_node_id")),
                         "timing_host": str(timing_node.get("host"))})
        self.client.log_batch(self.parent_id, tags=[RunTag(k, v) for k, v in tags.items()])
        self.client.log_dict(self.parent_id, {**cluster, "timing_node": timing_node},
                             f"cluster/launch-{time.strftime('%Y%m%d-%H%M%S')}.json")

    def finish_study(self, status: str = "FINISHED") -> None:
        self.client.set_terminated(self.parent_id, status=status)

    # -- children -------------------------------------------------------------------------
    def start_trial(self, number: int, params: dict[str, Any], candidate: dict[str, Any], *,
                    adopt: bool = False) -> str:
        """Create trial ``number``'s run with its parameters. ``adopt``: take the study's RUNNING
        run of that trial if there is one (a start that an outage cut short, after the server
        created the run but before its id reached the driver), so a trial never has two runs."""
        run_id = self._open_trial_run(number) if adopt else None
        if run_id is None:
            run_id = self.client.create_run(self.experiment_id, run_name=run_name(number, candidate),
                                            tags={STUDY_RUN_TAG: self.parent_id, TRIAL_TAG: str(number),
                                                  STUDY_TAG: self.study_name, ROLE_TAG: "trial"}).info.run_id
        flat = flatten(candidate)
        flat.update({f"optuna.{k}": v for k, v in params.items()})
        self.client.log_batch(run_id, params=[Param(k, str(v)) for k, v in flat.items()])  # same values: idempotent
        return run_id

    def _open_trial_run(self, number: int) -> str | None:
        runs = self.client.search_runs([self.experiment_id], f"{OPEN_TRIAL_RUNS} and tags.`{TRIAL_TAG}` = '{number}'",
                                       max_results=1)
        return runs[0].info.run_id if runs else None

    def open_trial_runs(self) -> set[str]:
        """The ids of the study's child runs still RUNNING."""
        found: set[str] = set()
        token = None
        while True:
            page = self.client.search_runs([self.experiment_id], OPEN_TRIAL_RUNS, max_results=1000, page_token=token)
            found.update(run.info.run_id for run in page)
            token = page.token
            if not token:
                return found

    def log_epoch(self, run_id: str, step: int, metrics: dict[str, float]) -> None:
        now = _now()
        self.client.log_batch(run_id, metrics=[Metric(f"curve_{k}", float(v), now, step)
                                               for k, v in metrics.items()])

    def finish_trial(self, run_id: str, measured: dict[str, Any] | None, error: str | None,
                     teacher: dict[str, float] | None = None, worker: dict[str, Any] | None = None) -> None:
        """Close a child run. ``worker`` (``{ray_node_id, host}``) tags the run with where it trained
        (``{reused_from: N}``: it was not trained, trial N's result answered it)."""
        worker_tags = [RunTag(k, str(v)) for k, v in (worker or {}).items() if v is not None]
        if error is not None:
            self.client.log_batch(run_id, tags=[*worker_tags, RunTag("error", error[:5000]), RunTag("pareto", "false")])
            self._pareto_tags[run_id] = "false"
            self.client.set_terminated(run_id, status="FAILED")
            return
        assert measured is not None
        now = _now()
        metrics = [Metric(k, float(measured[k]), now, 0) for k in METRICS]
        metrics.append(Metric("search_latency_ms", float(measured["latency_ms"]), now, 0))
        if measured.get("latency_ratio") is not None:
            metrics.append(Metric("latency_ratio", float(measured["latency_ratio"]), now, 0))
        if teacher:
            metrics.append(Metric("size_ratio", float(measured["size_bytes"]) / float(teacher["size_bytes"]), now, 0))
        metrics += target_run_metrics(measured, now)
        self.client.log_batch(run_id, metrics=metrics,
                              tags=[*worker_tags, RunTag("kernels", str(measured.get("kernels"))),
                                    RunTag("latency_runtime", str(measured.get("latency", {}).get("runtime"))),
                                    *target_run_tags(measured)])
        self.client.log_dict(run_id, {k: v for k, v in measured.items() if k != "artifact_path"},
                             "measurements.json")
        artifact = measured.get("artifact_path")
        if artifact and Path(artifact).exists():
            self.client.log_artifact(run_id, artifact, "model")
        self.client.set_terminated(run_id, status="FINISHED")


    def _tag_target_fronts(self, points: list[TrialPoint], objectives: list[tuple[str, str]],
                           targets: tuple[str, ...]) -> None:
        """Tag ``pareto/<target>`` true/false on every child: its place on each target's own front."""
        for target in targets:
            view = objectives_on(objectives, target)
            on = front_trials(points, view)
            for p in points:
                run_id, tag = p.extra.get("mlflow_run_id"), "true" if p.trial in on else "false"
                key = f"pareto/{target}"
                if run_id and self._pareto_tags.get((run_id, key)) != tag:
                    self.client.set_tag(run_id, key, tag)
                    self._pareto_tags[(run_id, key)] = tag

    def log_prediction(self, run_id: str, accuracy: float, spread: float, trained: bool) -> None:
        """What the accuracy predictor said before the candidate trained (metrics
        ``predicted_accuracy``, ``predicted_accuracy_spread``; tag ``predictor``: trained or screened)."""
        now = _now()
        self.client.log_batch(run_id, metrics=[Metric("predicted_accuracy", float(accuracy), now, 0),
                                               Metric("predicted_accuracy_spread", float(spread), now, 0)],
                              tags=[RunTag("predictor", "trained" if trained else "screened")])

    def finish_pruned(self, run_id: str, epoch: int, rungs: dict[int, dict[str, float]],
                      worker: dict[str, Any] | None = None) -> None:
        """Close the run of a candidate stopped early at rung ``epoch`` (status KILLED, tag
        ``pruned_at_epoch``); its rung vectors are logged as ``rung_<objective>`` stepped by epoch."""
        now = _now()
        metrics = [Metric(mlflow_name(f"rung_{k}"), float(v), now, e) for e, vector in sorted(rungs.items())
                   for k, v in vector.items() if k != "go_on"]
        tags = [RunTag(k, str(v)) for k, v in (worker or {}).items() if v is not None]
        self.client.log_batch(run_id, metrics=metrics, tags=[*tags, RunTag("pruned_at_epoch", str(epoch)),
                                                              RunTag("pareto", "false")])
        self._pareto_tags[run_id] = "false"
        self.client.set_terminated(run_id, status="KILLED")


def _now() -> int:
    return int(time.time() * 1000)


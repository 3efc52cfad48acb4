"""``automl``: launch a study, read its Pareto front, export a point, open the MLflow UI.

Exit codes: 0 done; 2 bad input (one line naming the file and field); 3 ``automl verify``
found a figure outside its tolerance; 130 interrupted (finished trials are kept); 1 any other
failure, with one line (the traceback goes to ``automl-error.log`` in the current folder, or
to ``$AUTOML_ERROR_LOG``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from automl.config import ConfigError

if TYPE_CHECKING:
    from automl.candidate.result import CandidateResult

EXIT_BAD_INPUT = 2
EXIT_NOT_VERIFIED = 3  # automl verify: a figure is outside its tolerance


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="automl", description="Joint compression search: Optuna decides, Ray Tune runs, MLflow records.",
        epilog="exit codes: 0 done, 1 failed (traceback in ./automl-error.log or $AUTOML_ERROR_LOG), "
               "2 bad input, 3 verify found a figure outside its tolerance, 130 interrupted")
    sub = parser.add_subparsers(dest="command", required=True)

    launch = sub.add_parser("launch", help="run (or resume) a study from its YAML file")
    launch.add_argument("study", help="a study file, or the name of one in ./studies or the repository's studies/")
    launch.add_argument("--trials", type=int, help="total number of trials (finished ones count)")
    launch.add_argument("--concurrency", type=int, help="trials running at once")
    launch.add_argument("--sampler", help="override the file's sampler (nsga2, tpe, random, gp)")
    launch.add_argument("--early-stopping", choices=("on", "off"),
                        help="on: the file's early_stopping block, or the defaults; off: none (multi-objective ASHA)")
    launch.add_argument("--predictor", choices=("on", "off"),
                        help="on: the file's predictor block, or the defaults: candidates whose predicted "
                             "point would add too little to the front are screened before training; off: none")
    launch.add_argument("--seed", type=int, help="override the file's sampler seed")
    launch.add_argument("--targets", help="deployment targets, comma-separated (e.g. ort-cpu,openvino-cpu; "
                                          "default: the file's targets, else ort-cpu)")
    launch.add_argument("--warm-start", metavar="NAME[,NAME]",
                        help="earlier studies whose finished trials seed the sampler (added to the file's "
                             "warm_start); their front points are proposed first")
    launch.add_argument("--name", help="study name (default: the file's name:)")
    launch.add_argument("--storage", help="Optuna storage URL (default: sqlite under the run folder)")
    launch.add_argument("--tracking-uri", help="MLflow tracking URI (default: the file's tracking_uri, else "
                        "$MLFLOW_TRACKING_URI, else sqlite under the run folder)")
    launch.add_argument("--ray-address", help="Ray cluster address (default: $RAY_ADDRESS or a local Ray)")
    launch.add_argument("--run-dir", help="folder for this study's stores and artifacts (default: runs/<name>)")
    launch.add_argument("--quiet", action="store_true", help="no live progress")

    pareto = sub.add_parser("pareto", help="print a study's Pareto front")
    pareto.add_argument("name")
    pareto.add_argument("--json", action="store_true", help="machine-readable list of front points")
    pareto.add_argument("--retime", action="store_true",
                        help="re-time every front point with the teacher, interleaved, before showing it")
    pareto.add_argument("--run-dir", help="where the study ran (default: runs/<name>)")
    pareto.add_argument("--target", help="that deployment target's own front and figures (default: the study's "
                                         "front on its objectives; see the study's targets)")

    export = sub.add_parser("export", help="export one trial (or the teacher) as a deployable artifact")
    export.add_argument("name")
    which = export.add_mutually_exclusive_group(required=True)
    which.add_argument("--trial", type=int, help="Optuna trial number")
    which.add_argument("--teacher", action="store_true", help="the teacher: the baseline every ratio refers to")
    export.add_argument("--out", required=True, help="output folder")
    export.add_argument("--register", metavar="MODEL_NAME",
                        help="also register the trial in MLflow's model registry under this name")
    export.add_argument("--run-dir", help="where the study ran (default: runs/<name>)")

    dashboard = sub.add_parser("dashboard", help="render the study's dashboard (one offline HTML page + PNGs)")
    dashboard.add_argument("name")
    dashboard.add_argument("--out", help="output folder (default: <run_dir>/dashboard)")
    dashboard.add_argument("--panels", help="panel file (default: dashboards/study.yaml)")
    dashboard.add_argument("--run-dir", help="where the study ran (default: runs/<name>)")

    verify = sub.add_parser("verify", help="re-measure every front point from its exported file")
    verify.add_argument("name")
    verify.add_argument("--json", action="store_true", help="machine-readable checks")
    verify.add_argument("--run-dir", help="where the study ran (default: runs/<name>)")
    verify.add_argument("--target", help="verify only that deployment target's front (default: the study's "
                                         "front, then every other target's)")

    ui = sub.add_parser("ui", help="the MLflow UI on a study's tracking store, on 127.0.0.1")
    ui.add_argument("name")
    ui.add_argument("--port", type=int, default=5000)
    ui.add_argument("--run-dir", help="where the study ran (default: runs/<name>)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # a study's own pkg.module:function (dataset, family, space) imports from the current
    # folder, as under `python -m automl` (the console script puts only its bin/ first)
    if not any(os.path.abspath(p or os.curdir) == os.getcwd() for p in sys.path):
        sys.path.insert(0, os.getcwd())
    args = build_parser().parse_args(argv)
    # the study's own progress view is the output; library chatter stays out of it
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    handler = {"launch": cmd_launch, "pareto": cmd_pareto, "export": cmd_export, "verify": cmd_verify,
               "dashboard": cmd_dashboard, "ui": cmd_ui}[args.command]
    try:
        return handler(args)
    except ConfigError as err:
        print(f"automl: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("automl: interrupted; finished trials are kept (launch again to resume)", file=sys.stderr)
        return 130
    except Exception as err:  # one line for the user, the traceback in a log file
        log = Path(os.environ.get("AUTOML_ERROR_LOG", "automl-error.log"))
        log.write_text(traceback.format_exc())
        print(f"automl: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''} "
              f"(traceback in {log})", file=sys.stderr)
        return 1


def cmd_launch(args: argparse.Namespace) -> int:
    from automl.search.engine import run_study
    from automl.study.config import load_study
    from automl.study.pareto import max_hypervolume

    overrides = {k: v for k, v in {"n_trials": args.trials, "concurrency": args.concurrency,
                                   "sampler": args.sampler, "name": args.name,
                                   "storage": args.storage, "tracking_uri": args.tracking_uri,
                                   "run_dir": args.run_dir, "early_stopping": args.early_stopping,
                                   "predictor": args.predictor, "seed": args.seed,
                                   "targets": args.targets.split(",") if args.targets else None,
                                   "warm_start": args.warm_start}.items()
                 if v is not None}
    cfg = load_study(args.study, overrides)
    outcome = run_study(cfg, ray_address=args.ray_address, show_progress=not args.quiet)
    if not outcome.tracking_down:
        _launch_dashboard(outcome.name, outcome.record.run_dir)
    print_front(outcome.front, outcome.teacher, title=(
        f"{outcome.name}: {outcome.finished} trials finished ({outcome.ran_now} in this launch, "
        f"{outcome.stopped} stopped early, {outcome.failed} failed), {len(outcome.front)} on the front, "
        f"hypervolume {outcome.hypervolume:.3f} of {max_hypervolume(outcome.record.objectives):g}"))
    if not outcome.front:
        from automl.study.front import empty_front_reason
        from automl.study.record import open_launched

        print(empty_front_reason(open_launched(outcome.name, outcome.record.run_dir).study))
    print(f"MLflow: automl ui {outcome.name}   |   JSON: automl pareto {outcome.name} --json   |   "
          f"export: automl export {outcome.name} --trial N --out DIR")
    return 0


def _launch_dashboard(name: str, run_dir: str) -> None:
    """The study's dashboard, rendered and logged to the parent run after a launch; a failure
    only says so (the study's results are in)."""
    from automl.dashboard import make_dashboard
    from automl.dashboard.spec import DEFAULT_FILE

    if not DEFAULT_FILE.is_file():
        print(f"no dashboard: {DEFAULT_FILE} is missing (automl dashboard {name} --panels FILE)", file=sys.stderr)
        return
    try:
        make_dashboard(name, run_dir)
    except Exception as err:  # a plotting problem must not fail a finished study
        print(f"dashboard not rendered ({type(err).__name__}: {err}); try: automl dashboard {name}", file=sys.stderr)


def _front(name: str, run_dir: str | None):
    from automl.study.front import pareto_front
    from automl.study.record import open_launched

    launched = open_launched(name, run_dir)
    return launched.record, launched.study, pareto_front(launched.study, launched.record.objectives)


def _figures_on_targets(point, teacher: CandidateResult, targets) -> dict:
    """Every target's figures of an exported point: accuracy, latency, ratio to the teacher there,
    kernels (or the runtime's error), and the teacher's figures on that target."""
    import dataclasses

    from automl.study.target_view import point_on

    out = {}
    for t in targets:
        on = teacher.targets.get(t.name)
        out[t.name] = {**dataclasses.asdict(point_on(point, t.name)), "target": t.to_dict(),
                       "teacher": None if on is None else {"accuracy": on.accuracy, "test_accuracy": on.test_accuracy,
                                                           "latency_ms": on.latency_ms, "kernels": on.kernels}}
    return out


def cmd_pareto(args: argparse.Namespace) -> int:
    record, study, front = _front(args.name, args.run_dir)
    names = [t.name for t in record.target_list]
    if args.target is not None and args.target not in names:
        raise ConfigError("--target", f"study '{args.name}' does not measure {args.target!r} (its targets: "
                                      f"{', '.join(names)})")
    if args.retime:
        front = _retime(record, study)
    if args.target is not None:
        from automl.study.target_view import target_front

        front = target_front(study, record.objectives, args.target)
    if args.json:
        print(json.dumps([{**p.summary(), "targets": (p.extra.get("targets") or {})} for p in front], indent=1))
    else:
        where = f" on {args.target}" if args.target else ""
        print_front(front, record.teacher, title=f"{args.name}: {len(front)} on the front{where}", target=args.target)
        if not front:
            from automl.study.front import empty_front_reason

            print(empty_front_reason(study))
        if len(names) > 1:
            _print_rank_changes(study, record.objectives, names, args.name)
    return 0


def _print_rank_changes(study, objectives, names: list[str], name: str) -> None:
    from automl.study.target_view import rank_changes

    changes = rank_changes(study, objectives, names)
    for target in names:
        only = [str(n) for n, on in changes.items() if on[target]]
        if only:
            print(f"on {target}'s front, not on another target's (dominated there, or it cannot run them): "
                  f"trial {', '.join(only)}")
    print(f"each target's front: automl pareto {name} --target T (T: {', '.join(names)})")


def _retime(record, study) -> list:
    from automl.data import load_dataset
    from automl.study.artifacts import point_artifact
    from automl.study.front import pareto_front
    from automl.study.retime import retime_front

    shape = load_dataset(record.require_dataset("--retime")).input_shape
    scratch = Path(record.run_dir) / "retime"
    retime_front(study, record.objectives, record.teacher.artifact_path, record.teacher.latency_by_target(), shape,
                 lambda p: point_artifact(p, record.tracking_uri, scratch),
                 threads=record.threads, fresh=True, targets=record.target_list,
                 on_pass=lambda n: print(f"re-timing {n} front point(s) interleaved with the teacher ...",
                                         file=sys.stderr, flush=True))
    return pareto_front(study, record.objectives)


def cmd_export(args: argparse.Namespace) -> int:
    from optuna.trial import TrialState

    from automl.study.artifacts import local_artifact
    from automl.study.attrs import (
        candidate_of,
        measurements,
        mlflow_run_id,
        prior_of,
        trial_error,
    )
    from automl.study.front import study_points

    out = Path(args.out)
    if args.teacher:
        if args.register:
            raise ConfigError("--register", "registers a trial: use it with --trial N, not --teacher")
        return _export_teacher(args.name, args.run_dir, out)
    record, study, _ = _front(args.name, args.run_dir)
    if not 0 <= args.trial < len(study.trials):
        raise ConfigError("--trial", f"study '{args.name}' has no trial {args.trial} (0..{len(study.trials) - 1})")
    trial = study.trials[args.trial]
    if trial.state != TrialState.COMPLETE:
        error = trial_error(study, trial)
        raise ConfigError("--trial", f"trial {args.trial} is {trial.state.name}, only finished trials export"
                          + (f" ({error})" if error else ""))
    prior = prior_of(trial)
    if prior is not None:
        raise ConfigError("--trial", f"trial {args.trial} is a warm-start prior, measured by study "
                          f"'{prior['study']}' (its trial {prior['trial']}), not by this one: export it from there")
    out.mkdir(parents=True, exist_ok=True)
    artifact = out / "model.onnx"
    source = local_artifact(measurements(trial)["artifact_path"], record.tracking_uri,
                            mlflow_run_id(trial), out / ".fetched")
    shutil.copyfile(source, artifact)
    shutil.rmtree(out / ".fetched", ignore_errors=True)
    point = next(p for p in study_points(study, record.objectives) if p.trial == args.trial)
    teacher = record.teacher
    info = {"study": args.name, "trial": args.trial, "on_front": point.on_front, "params": trial.params,
            "candidate": candidate_of(trial), "metrics": point.metrics,
            "ratios_to_teacher": {"size": point.metrics["size_bytes"] / teacher.size_bytes,
                                  "latency": point.latency_ratio,
                                  "test_accuracy_delta_pt": 100 * (point.metrics["test_accuracy"]
                                                                   - teacher.test_accuracy)},
            "latency_retimed": point.extra.get("retimed"), "search_latency_ms": point.extra.get("search_latency_ms"),
            "kernels": measurements(trial).get("kernels"), "latency": measurements(trial).get("latency"),
            "teacher_latency_ms": teacher.latency_ms,
            "targets": _figures_on_targets(point, teacher, record.target_list),
            "artifact": artifact.name, "artifact_bytes": artifact.stat().st_size,
            "mlflow_run_id": mlflow_run_id(trial)}
    (out / "candidate.json").write_text(json.dumps(info, indent=1))
    print(f"exported trial {args.trial} of {args.name}: {artifact} ({artifact.stat().st_size} bytes), "
          f"{out / 'candidate.json'}")
    if args.register:
        from automl.tracking.registry import register_candidate

        version = register_candidate(record.tracking_uri, mlflow_run_id(trial), artifact,
                                     args.register, point.metrics, candidate_of(trial),
                                     measurements(trial).get("kernels"), point.latency_ratio)
        print(f"registered as '{args.register}' version {version} in {record.tracking_uri} "
              f"(load: mlflow.pyfunc.load_model('models:/{args.register}/{version}'))")
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    from automl.dashboard import make_dashboard

    files = make_dashboard(args.name, args.run_dir, args.out, args.panels)
    print(f"dashboard of {args.name}: {files[0]} (also {', '.join(f.name for f in files[1:])}; "
          "logged to the study's parent run under dashboard/)")
    return 0


def _export_teacher(name: str, run_dir: str | None, out: Path) -> int:
    from automl.study.record import read_record

    record = read_record(name, run_dir)
    source = Path(record.teacher.artifact_path)
    if not source.exists():
        raise ConfigError("--teacher", f"the teacher's artifact {source} is missing (launch the study again "
                          "to rebuild the teacher cache)")
    out.mkdir(parents=True, exist_ok=True)
    artifact = out / "model.onnx"
    shutil.copyfile(source, artifact)
    info = {"study": name, "role": "teacher", "metrics": record.teacher.metrics(),
            "latency": record.teacher.latency, "kernels": record.teacher.kernels,
            "artifact": artifact.name, "artifact_bytes": artifact.stat().st_size}
    (out / "teacher.json").write_text(json.dumps(info, indent=1))
    print(f"exported the teacher of {name}: {artifact} ({artifact.stat().st_size} bytes), {out / 'teacher.json'}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from automl.verify import TOLERANCES, verify_targets

    results = verify_targets(args.name, args.run_dir, args.target)
    checked = [(target, c) for target, checks in results.items() for c in checks]
    failed = [(target, c) for target, c in checked if c.failures()]
    if args.json:
        print(json.dumps({"tolerances": TOLERANCES, "checks": [c.to_dict() for c in next(iter(results.values()))],
                          "targets": {t: [c.to_dict() for c in checks] for t, checks in results.items()}}, indent=1))
    else:
        for target, checks in results.items():
            _print_checks(args.name, target, checks, TOLERANCES)
    if failed:
        print(f"automl verify: {len(failed)} of {len(checked)} outside tolerance: "
              + ", ".join(c.trial if len(results) == 1 else f"{c.trial} on {t}" for t, c in failed), file=sys.stderr)
        return EXIT_NOT_VERIFIED
    return 0


def _print_checks(name: str, target: str, checks: list, tolerances: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{name} on {target}: {len(checks) - 1} front point(s) and the teacher re-measured from their "
                        f"files (tolerances: size exact, accuracy {tolerances['accuracy_pt']} pt or 1 sample, "
                        f"latency ratio {tolerances['latency_ratio_rel']:.0%})")
    for col in ("trial", "size reported", "size on disk", "val acc rep / now", "test acc rep / now",
                "latency × rep / now", "verdict"):
        table.add_column(col, justify="left" if col == "verdict" else "right")
    for c in checks:
        ratio = ("1 (baseline)" if c.ratio_reported is None
                 else f"{c.ratio_reported:.3f} / {c.ratio_measured:.3f}")
        table.add_row(c.trial, f"{c.size_reported:,}", f"{c.size_on_disk:,}",
                      f"{c.val_reported:.4f} / {c.val_measured:.4f}",
                      f"{c.test_reported:.4f} / {c.test_measured:.4f}", ratio,
                      "; ".join(c.failures()) or "ok")
    Console(width=160).print(table)
    teacher = checks[0]
    if teacher.control_ratio is not None:
        print(f"control: a byte-identical copy of the teacher timed {teacher.control_ratio:.3f}x the teacher "
              f"({'trusted' if teacher.timing_trusted() else 'the machine is noisy now: latency verdicts are inconclusive'})")
    print(f"teacher latency on {target}: {teacher.latency_ms_reported * 1000:.1f} µs (the study's figure), "
          f"{teacher.latency_ms_measured * 1000:.1f} µs now (absolute figures move with the machine's load; "
          "ratios should not)")


def cmd_ui(args: argparse.Namespace) -> int:
    from mlflow.tracking import MlflowClient

    from automl.study.record import read_record
    from automl.tracking.review_views import view_url
    from automl.tracking.ui_server import serve

    record = read_record(args.name, args.run_dir)
    exp = MlflowClient(record.tracking_uri).get_experiment_by_name(args.name)
    base = f"http://127.0.0.1:{args.port}"
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", record.tracking_uri,
           "--host", "127.0.0.1", "--port", str(args.port)]
    if exp is None:
        print(f"MLflow UI for '{args.name}': {base} (Ctrl-C stops it)", flush=True)
    else:
        print(f"MLflow UI for '{args.name}' (Ctrl-C stops it):\n  the front:      {view_url(base, exp.experiment_id)}\n"
              f"  all candidates: {view_url(base, exp.experiment_id, 'candidates')}", flush=True)
    return serve(cmd)


KERNELS_WIDTH = 34  # the kernels column is cut here; automl pareto --json and export give it whole


def print_front(front: list, teacher: CandidateResult, title: str, target: str | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    if target is not None:
        return _print_target_front(front, teacher, title, target)

    print(title)  # its own line: a long title would wrap inside the table's width
    table = Table()
    for col in ("trial", "val acc", "test acc", "size B", "size ×", "latency µs", "latency ×", "kernels"):
        if col == "kernels":
            table.add_column(col, justify="left", no_wrap=True, overflow="ellipsis", max_width=KERNELS_WIDTH)
        else:
            table.add_column(col, justify="right")
    table.add_row("teacher", f"{teacher.accuracy:.4f}", f"{teacher.test_accuracy:.4f}",
                  f"{teacher.size_bytes:,}", "1.00", f"{teacher.latency_ms * 1000:.1f}", "1.00",
                  teacher.kernels, style="dim")
    for p in front:
        m, again = p.metrics, p.extra.get("retimed")
        ratio = f"{p.latency_ratio:.3f}" if p.latency_ratio is not None else \
            f"{m['latency_ms'] / teacher.latency_ms:.3f}*"  # a study from before ratios were measured
        if again is not None:  # re-timed: the range of its per-process ratios
            ratio += f" ({again['ratio_p25']:.2f}–{again['ratio_p75']:.2f})"
        table.add_row(str(p.trial), f"{m['accuracy']:.4f}", f"{m['test_accuracy']:.4f}", f"{m['size_bytes']:,}",
                      f"{m['size_bytes'] / teacher.size_bytes:.3f}", f"{m['latency_ms'] * 1000:.1f}", ratio,
                      str(p.extra.get("kernels", "")))
    Console(width=120).print(table)
    print("val acc: validation split (what the search chose on); test acc: reported only; × : over the teacher's")
    if any(p.latency_ratio is None for p in front):
        print("*: latency over the teacher's figure, each timed alone (a study from an older version)")
    if any(p.extra.get("retimed") is None for p in front):
        print("latency ×: timed during the search (not re-timed yet: automl pareto NAME --retime)")
    else:
        print("latency ×: re-timed at the end, interleaved with the teacher, best windows in 3 fresh processes "
              "(lowest–highest per-process ratio)")



def _print_target_front(front: list, teacher: CandidateResult, title: str, target: str) -> None:
    from rich.console import Console
    from rich.table import Table

    from automl.study.target_view import point_on, teacher_on

    print(title)
    table = Table()
    for col in ("trial", "val acc", "test acc", "size B", "size ×", "latency µs", "latency ×", "kernels"):
        table.add_column(col, justify="left" if col == "kernels" else "right", no_wrap=col == "kernels",
                         overflow="ellipsis", max_width=KERNELS_WIDTH if col == "kernels" else None)
    t = teacher_on(teacher, target)
    table.add_row("teacher", f"{t.accuracy:.4f}", f"{t.test_accuracy:.4f}", f"{teacher.size_bytes:,}", "1.00",
                  f"{t.latency_ms * 1000:.1f}", "1.00", str(t.kernels), style="dim")
    for p in front:
        on = point_on(p, target)
        ratio = f"{on.ratio:.3f}" + (f" ({on.ratio_range[0]:.2f}–{on.ratio_range[1]:.2f})" if on.ratio_range else "")
        table.add_row(str(p.trial), f"{on.accuracy:.4f}", f"{on.test_accuracy:.4f}", f"{p.metrics['size_bytes']:,}",
                      f"{p.metrics['size_bytes'] / teacher.size_bytes:.3f}", f"{on.latency_ms * 1000:.1f}", ratio,
                      str(on.kernels))
    Console(width=120).print(table)
    print(f"on {target}: accuracy run by its runtime, latency timed there interleaved with the teacher "
          f"({teacher.targets[target].runtime}); latency ×: "
          + ("re-timed at the end" if all(point_on(p, target).retimed for p in front) else "search figures"))

if __name__ == "__main__":
    sys.exit(main())

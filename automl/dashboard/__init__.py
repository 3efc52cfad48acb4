"""The study dashboard: panels from ``dashboards/study.yaml`` rendered to one offline HTML page."""

from __future__ import annotations

from pathlib import Path


def make_dashboard(name: str, run_dir: str | None = None, out: str | Path | None = None,
                   panels: str | Path | None = None, log: bool = True) -> list[Path]:
    """Render study ``name``'s dashboard into ``out`` (default ``<run_dir>/dashboard``) and log it
    to the study's parent MLflow run; returns the files written."""
    import optuna

    from automl.dashboard.data import build_view
    from automl.dashboard.page import log_to_mlflow, render
    from automl.dashboard.spec import load_spec
    from automl.study.record import read_record

    spec = load_spec(panels)
    record = read_record(name, run_dir)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=name, storage=record.storage)
    view = build_view(record, study)
    files = render(view, spec, Path(out) if out else Path(record.run_dir) / "dashboard")
    if log:
        log_to_mlflow(view, files, record.tracking_uri)
    return files

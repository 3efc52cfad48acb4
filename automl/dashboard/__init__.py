"""The study dashboard: panels from ``dashboards/study.yaml`` rendered to one offline HTML page."""

from __future__ import annotations

from pathlib import Path


def make_dashboard(name: str, run_dir: str | None = None, out: str | Path | None = None,
                   panels: str | Path | None = None, log: bool = True) -> list[Path]:
    """Render study ``name``'s dashboard into ``out`` (default ``<run_dir>/dashboard``) and log it
    to the study's parent MLflow run; returns the files written."""
    from automl.dashboard.data import build_view
    from automl.dashboard.page import log_to_mlflow, render
    from automl.dashboard.spec import load_spec
    from automl.study.record import open_launched

    spec = load_spec(panels)
    launched = open_launched(name, run_dir)
    record = launched.record
    view = build_view(record, launched.study)
    files = render(view, spec, Path(out) if out else Path(record.run_dir) / "dashboard")
    if log:
        log_to_mlflow(view, files, record.tracking_uri)
    return files

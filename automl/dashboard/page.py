"""``automl dashboard NAME``: one self-contained HTML page (plotly inlined, works offline) and
PNGs, written to a folder and logged to the study's parent run under ``dashboard/``."""

from __future__ import annotations

import html
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from plotly.offline import get_plotlyjs  # noqa: E402

from automl.dashboard.data import StudyView  # noqa: E402
from automl.dashboard.figures import figure, front_summary, predictor_figure, target_figure  # noqa: E402
from automl.dashboard.spec import DashboardSpec  # noqa: E402
from automl.dashboard.targets import front_splits  # noqa: E402
from automl.tracking.front_plot import front_figure  # noqa: E402

PAGE = "dashboard.html"


def render(view: StudyView, spec: DashboardSpec, out: Path) -> list[Path]:
    """Write the page and its PNGs into ``out``; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    title = spec.title.format(study=view.name)
    divs = [figure(panel, view, spec).to_html(full_html=False, include_plotlyjs=False, div_id=f"panel-{i}")
            for i, panel in enumerate(spec.panels)]
    failed = "".join(f"<tr><td>{n}</td><td>{html.escape(err)}</td></tr>" for n, err in view.failed)
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in view.notes)
    teacher = view.teacher
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<script type="text/javascript">{get_plotlyjs()}</script>
<style>body{{font-family:sans-serif;margin:20px;}} .grid{{display:grid;grid-template-columns:1fr 1fr;gap:12px;}}
table{{border-collapse:collapse}} td,th{{border:1px solid #ccc;padding:3px 8px;font-size:13px}}</style></head>
<body><h1>{html.escape(title)}</h1>
<p>{header(view)}, {len(view.front)} on the front.
Teacher: validation accuracy {teacher['accuracy']:.4f}, test {teacher['test_accuracy']:.4f},
{int(teacher['size_bytes']):,} bytes, {teacher['latency_ms'] * 1000:.1f} µs (the study's figure).
Ratios are to the teacher; latency ratios are timed interleaved with it and re-timed at the end.
Hover a point for its parameters and MLflow run.</p>
<div class="grid">{''.join(divs)}</div>{targets_section(view, spec)}{predictor_section(view)}
<h2>Failed trials</h2><table><tr><th>trial</th><th>error</th></tr>{failed or '<tr><td colspan=2>none</td></tr>'}</table>
{f'<h2>Notes</h2><ul>{notes}</ul>' if notes else ''}
<script type="application/json" id="front-data">{front_summary(view)}</script>
</body></html>"""
    path = out / PAGE
    path.write_text(page, encoding="utf-8")
    return [path, *_pngs(view, out, title)]


def targets_section(view: StudyView, spec: DashboardSpec) -> str:
    """A panel per deployment target and the trials on one target's front but off another's
    ("" for a study with one target)."""
    if not view.targets:
        return ""
    divs = "".join(target_figure(tv, view, spec).to_html(full_html=False, include_plotlyjs=False,
                                                         div_id=f"panel-target-{tv.name}") for tv in view.targets)
    splits = "".join(f"<li>{html.escape(s.line())}</li>" for s in front_splits(view.targets))
    return (f"\n<h2>Per deployment target</h2><div class='grid'>{divs}</div>\n"
            f"<h2>On one target's front, off another's</h2>\n"
            f"<ul id='front-splits'>{splits or '<li>none: every front point is on every front</li>'}</ul>")


def predictor_section(view: StudyView) -> str:
    """Predicted against measured accuracy ("" for a study without an accuracy predictor)."""
    if not view.predictions:
        return ""
    div = predictor_figure(view).to_html(full_html=False, include_plotlyjs=False, div_id="panel-predictor")
    return f"\n<h2>Accuracy predictor</h2><div class='grid'>{div}</div>"


def header(view: StudyView) -> str:
    """What the budget was spent on, e.g. "8 trials: 5 trained, 3 stopped early (2 before training), 0 failed"
    (and the proposals an accuracy predictor screened beside them)."""
    screened = view.predictor_screened
    return (f"{view.trials} trials: {len(view.candidates)} trained, {view.stopped} stopped early "
            f"({view.screened} before training), {len(view.failed)} failed"
            + (f"; the accuracy predictor screened {screened} more proposal(s)" if screened else ""))


def _pngs(view: StudyView, out: Path, title: str) -> list[Path]:
    points = [c.point for c in view.candidates]
    fig = front_figure(points, view.teacher, title)
    front_png = out / "front.png"
    fig.savefig(front_png, dpi=90)
    plt.close(fig)
    fig, (hv, curves) = plt.subplots(1, 2, figsize=(11, 3.8), constrained_layout=True)
    hv.plot([s for s, _ in view.hypervolume], [v for _, v in view.hypervolume], marker=".")
    hv.set_xlabel("trials finished")
    hv.set_ylabel("hypervolume")
    for trial, values in sorted(view.curves.items()):
        curves.plot(range(1, len(values) + 1), values, label=f"trial {trial}")
    curves.set_xlabel("epoch")
    curves.set_ylabel("validation accuracy (front points)")
    if view.curves:
        curves.legend(fontsize=7)
    progress_png = out / "progress.png"
    fig.savefig(progress_png, dpi=90)
    plt.close(fig)
    return [front_png, progress_png]


def log_to_mlflow(view: StudyView, files: list[Path], tracking_uri: str) -> None:
    """The page and PNGs as artifacts of the study's parent run (``dashboard/``)."""
    from mlflow.tracking import MlflowClient

    if not view.parent_run_id:
        return
    client = MlflowClient(tracking_uri)
    for f in files:
        client.log_artifact(view.parent_run_id, str(f), "dashboard")

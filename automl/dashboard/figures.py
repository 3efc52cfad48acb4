"""Plotly figures for the panels of ``dashboards/study.yaml`` (one figure per panel)."""

from __future__ import annotations

import json
import math
from typing import Any

import plotly.graph_objects as go

from automl.dashboard.data import GROUPS, Candidate, StudyView
from automl.dashboard.spec import DashboardSpec, Panel
from automl.dashboard.targets import TargetPoint, TargetView

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")
SYMBOLS = ("circle", "square", "diamond", "triangle-up", "cross", "x")
AXIS_LABELS = {"accuracy": "validation accuracy", "test_accuracy": "test accuracy",
               "size_ratio": "size / teacher's (bytes on disk)", "latency_ratio": "latency / teacher's (re-timed)",
               "size_bytes": "artifact size (bytes)", "latency_ms": "latency (ms, batch 1, ORT CPU)",
               "macs": "multiply-accumulates", "params_nonzero": "non-zero parameters"}
DIMMED = 0.3  # opacity of dominated points (and of points the distillation toggle hides: 0.05)


def figure(panel: Panel, view: StudyView, spec: DashboardSpec) -> go.Figure:
    build = {"scatter": _scatter, "hypervolume": _hypervolume, "curves": _curves,
             "importance": _importance, "groups": _groups}[panel.kind]
    return _frame(build(panel, view, spec), panel.title)


def _frame(fig: go.Figure, title: str) -> go.Figure:
    fig.update_layout(title=dict(text=title, y=0.97), template="plotly_white", height=480,
                      margin=dict(t=90, l=60, r=20, b=50))
    return fig


def _hover(c: Candidate) -> str:
    m = c.point.metrics
    params = "<br>".join(f"  {k} = {v}" for k, v in sorted(c.point.params.items()))
    return (f"<b>trial {c.point.trial}</b>{' (front)' if c.point.on_front else ''}<br>"
            f"val acc {m['accuracy']:.4f}, test acc {m['test_accuracy']:.4f}<br>"
            f"size × {c.size_ratio:.3f} ({int(m['size_bytes']):,} B)<br>"
            f"latency × {c.latency_ratio:.3f}<br>kernels: {c.point.extra.get('kernels')}<br>{_kernels(c)}"
            f"params:<br>{params}<br>MLflow run: {c.point.extra.get('mlflow_run_id')}")


def _kernels(c: Candidate) -> str:
    """Kernels per target, for a study with several ("" for one)."""
    targets = c.point.extra.get("targets") or {}
    if len(targets) < 2:
        return ""
    return "".join(f"  on {name}: {t.get('kernels') or t.get('error')}<br>" for name, t in targets.items())


def _styles(view: StudyView, spec: DashboardSpec) -> tuple[dict[Any, str], dict[Any, str]]:
    colours = sorted({str(c.knob(spec.colour)) for c in view.candidates})
    markers = sorted({str(c.knob(spec.marker)) for c in view.candidates})
    return ({v: PALETTE[i % len(PALETTE)] for i, v in enumerate(colours)},
            {v: SYMBOLS[i % len(SYMBOLS)] for i, v in enumerate(markers)})


def _scatter(panel: Panel, view: StudyView, spec: DashboardSpec) -> go.Figure:
    colour, symbol = _styles(view, spec)
    fig = go.Figure()
    traces: list[list[Candidate]] = []
    for value, col in colour.items():  # dominated and infeasible points: one trace per colour, dimmed
        group = [c for c in view.candidates if not c.point.on_front and str(c.knob(spec.colour)) == value]
        if not group:
            continue
        traces.append(group)
        fig.add_trace(go.Scatter(
            x=[c.value(panel.x) for c in group], y=[c.value(panel.y) for c in group], mode="markers",
            name=f"{spec.colour} = {value}", showlegend=False, hovertext=[_hover(c) for c in group],
            hoverinfo="text", marker=dict(color=col, size=9, opacity=[DIMMED] * len(group),
                                          symbol=[symbol[str(c.knob(spec.marker))] for c in group])))
    front = sorted(view.front, key=lambda c: c.value(panel.x))
    traces.append(front)
    fig.add_trace(go.Scatter(  # the front, joined: the trace the browser test counts
        x=[c.value(panel.x) for c in front], y=[c.value(panel.y) for c in front], mode="lines+markers",
        name="front", hovertext=[_hover(c) for c in front], hoverinfo="text",
        line=dict(color="#555555", width=1, dash="dot"),
        marker=dict(size=14, opacity=[1.0] * len(front), line=dict(color="black", width=1.5),
                    color=[colour[str(c.knob(spec.colour))] for c in front],
                    symbol=[symbol[str(c.knob(spec.marker))] for c in front])))
    for value, col in colour.items():  # legend entries for the colour meaning
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=f"{spec.colour} = {value}",
                                 marker=dict(color=col, size=9)))
    for value, sym in symbol.items():  # legend entries for the marker meaning
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=f"{spec.marker} = {value}",
                                 marker=dict(symbol=sym, color="#777777", size=9)))
    teacher_x = 1.0 if panel.x.endswith("_ratio") else float(view.teacher[panel.x])
    fig.add_trace(go.Scatter(x=[teacher_x], y=[float(view.teacher[panel.y])], mode="markers", name="teacher",
                             hovertext=[f"teacher: val acc {view.teacher['accuracy']:.4f}, "
                                        f"{int(view.teacher['size_bytes']):,} B"], hoverinfo="text",
                             marker=dict(symbol="star", size=18, color="#d62728")))
    fig.update_layout(updatemenus=[_toggle(traces, spec)], legend=dict(font=dict(size=10)))
    fig.update_xaxes(title=AXIS_LABELS[panel.x], type="log" if panel.log_x else "linear")
    fig.update_yaxes(title=AXIS_LABELS[panel.y])
    return fig


def _toggle(traces: list[list[Candidate]], spec: DashboardSpec) -> dict[str, Any]:
    """Buttons that dim the points whose ``spec.toggle`` is off (or on); front points keep their weight."""
    def opacities(keep) -> list[list[float]]:
        out = []
        for i, group in enumerate(traces):
            full = 1.0 if i == len(traces) - 1 else DIMMED
            out.append([full if keep(c) else 0.05 for c in group])
        return out

    on = lambda c: bool(c.knob(spec.toggle))  # noqa: E731
    return dict(type="buttons", direction="right", x=1.0, y=1.02, xanchor="right", yanchor="bottom",
                showactive=True, font=dict(size=10), buttons=[
        dict(label="all", method="restyle", args=[{"marker.opacity": opacities(lambda c: True)},
                                                  list(range(len(traces)))]),
        dict(label=f"{spec.toggle}: yes", method="restyle",
             args=[{"marker.opacity": opacities(on)}, list(range(len(traces)))]),
        dict(label=f"{spec.toggle}: no", method="restyle",
             args=[{"marker.opacity": opacities(lambda c: not on(c))}, list(range(len(traces)))])])


def target_figure(tv: TargetView, view: StudyView, spec: DashboardSpec) -> go.Figure:
    """Accuracy against latency on one target (latency over the teacher's there), its front joined."""
    colour, symbol = _styles(view, spec)
    fronts = {v.name: v.front for v in view.targets}
    drawn = [p for p in tv.points if math.isfinite(p.accuracy) and math.isfinite(p.latency_ratio)]
    fig = go.Figure()
    for on_front in (False, True):
        group = sorted((p for p in drawn if p.on_front is on_front), key=lambda p: p.latency_ratio)
        fig.add_trace(go.Scatter(
            x=[p.latency_ratio for p in group], y=[p.accuracy for p in group],
            mode="lines+markers" if on_front else "markers", name=f"front on {tv.name}" if on_front else "off it",
            hovertext=[_target_hover(p, tv.name, fronts) for p in group], hoverinfo="text",
            line=dict(color="#555555", width=1, dash="dot"),
            marker=dict(size=14 if on_front else 9, opacity=1.0 if on_front else DIMMED,
                        line=dict(color="black", width=1.5 if on_front else 0),
                        color=[colour[str(p.candidate.knob(spec.colour))] for p in group],
                        symbol=[symbol[str(p.candidate.knob(spec.marker))] for p in group])))
    if tv.teacher_accuracy is not None:
        fig.add_trace(go.Scatter(x=[1.0], y=[tv.teacher_accuracy], mode="markers", name="teacher", hoverinfo="text",
                                 hovertext=[f"teacher on {tv.name}: val acc {tv.teacher_accuracy:.4f}"],
                                 marker=dict(symbol="star", size=18, color="#d62728")))
    fig.update_xaxes(title=f"latency on {tv.name} / teacher's there (re-timed)", type="log")
    fig.update_yaxes(title=f"validation accuracy on {tv.name}")
    return _frame(fig, f"Accuracy against latency on {tv.name}")


def _target_hover(p: TargetPoint, target: str, fronts: dict[str, set[int]]) -> str:
    point = p.candidate.point
    on = ", ".join(name for name, front in fronts.items() if point.trial in front) or "none"
    return (f"<b>trial {point.trial}</b>{f' (front on {target})' if p.on_front else ''}<br>"
            f"val acc {p.accuracy:.4f}, test acc {point.metrics.get(f'test_accuracy@{target}', math.nan):.4f}<br>"
            f"latency × {p.latency_ratio:.3f}<br>kernels: {p.kernels}<br>on the fronts of: {on}<br>"
            f"MLflow run: {point.extra.get('mlflow_run_id')}")


def _hypervolume(panel: Panel, view: StudyView, spec: DashboardSpec) -> go.Figure:
    steps = [s for s, _ in view.hypervolume]
    values = [v for _, v in view.hypervolume]
    fig = go.Figure(go.Scatter(x=steps, y=values, mode="lines+markers", name="hypervolume"))
    if values:
        fig.add_annotation(x=steps[-1], y=values[-1], text=f"final view {values[-1]:.3f}", showarrow=True)
    fig.update_xaxes(title="trials finished")
    fig.update_yaxes(title="normalised hypervolume (max 4 for 3 objectives)")
    return fig


def _curves(panel: Panel, view: StudyView, spec: DashboardSpec) -> go.Figure:
    fig = go.Figure()
    for trial, values in sorted(view.curves.items()):
        fig.add_trace(go.Scatter(x=list(range(1, len(values) + 1)), y=values, mode="lines", name=f"trial {trial}"))
    fig.update_xaxes(title="epoch (training, then pruning fine-tune and QAT)")
    fig.update_yaxes(title="validation accuracy")
    return fig


def _importance(panel: Panel, view: StudyView, spec: DashboardSpec) -> go.Figure:
    fig = go.Figure()
    for objective, imp in view.importances.items():
        top = sorted(imp.items(), key=lambda kv: -kv[1])[:12]
        fig.add_trace(go.Bar(y=[k for k, _ in top][::-1], x=[v for _, v in top][::-1], orientation="h",
                             name=objective))
    fig.update_layout(barmode="group")
    fig.update_xaxes(title="importance (fraction, per objective)")
    return fig


def _groups(panel: Panel, view: StudyView, spec: DashboardSpec) -> go.Figure:
    fig = go.Figure()
    for objective, groups in view.group_importances().items():
        fig.add_trace(go.Bar(x=list(GROUPS), y=[groups[g] for g in GROUPS], name=objective))
    fig.update_layout(barmode="group")
    fig.update_yaxes(title="summed importance")
    return fig


def predictor_figure(view: StudyView) -> go.Figure:
    """The accuracy predictor's word before training against the accuracy then measured (trained
    trials, with the spread of its trees), and the predictions of the proposals it screened."""
    trained = [p for p in view.predictions if p.measured is not None]
    screened = [p for p in view.predictions if not p.trained]
    fig = go.Figure()
    fig.add_trace(go.Scatter(
        x=[p.accuracy for p in trained], y=[p.measured for p in trained], mode="markers", name="trained",
        error_x={"type": "data", "array": [p.spread for p in trained], "thickness": 1},
        text=[f"trial {p.trial}" for p in trained], hovertemplate="%{text}<br>predicted %{x:.4f}<br>measured %{y:.4f}"))
    values = [p.accuracy for p in view.predictions] + [p.measured for p in trained]
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    fig.add_trace(go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", name="predicted = measured",
                             line={"dash": "dot", "color": "grey"}))
    if screened:
        fig.add_trace(go.Scatter(x=[p.accuracy for p in screened], y=[lo] * len(screened), mode="markers",
                                 name="screened (not trained)", marker={"symbol": "line-ns-open", "color": "grey"},
                                 text=[f"trial {p.trial}" for p in screened],
                                 hovertemplate="%{text}<br>predicted %{x:.4f}<br>not trained"))
    tau = view.predictor_tau
    title = (f"Predicted against measured validation accuracy: Kendall's tau "
             f"{'n/a' if tau is None else f'{tau:.2f}'} on {len(trained)} trained, {len(screened)} screened")
    fig.update_xaxes(title="predicted before training (± spread of the trees)")
    fig.update_yaxes(title="measured (validation)")
    return _frame(fig, title)


def front_summary(view: StudyView) -> str:
    """The front as JSON text (embedded in the page for scripts and tests)."""
    return json.dumps([{"trial": c.point.trial, "size_ratio": c.size_ratio, "latency_ratio": c.latency_ratio,
                        "accuracy": c.point.metrics["accuracy"]} for c in view.front])

"""A study with two deployment targets: a panel per target with that target's front, and the
trials on one target's front but off the other's (no training: trials made with create_trial)."""

from __future__ import annotations

import math
from pathlib import Path

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState, create_trial

from automl.candidate.result import CandidateResult, TargetResult
from automl.dashboard.data import build_view
from automl.dashboard.figures import figure, target_figure
from automl.dashboard.page import PAGE, render
from automl.dashboard.spec import load_spec
from automl.dashboard.targets import front_splits
from automl.measure.targets import BUILTIN
from automl.study.attrs import CANDIDATE_ATTR, RESULT_ATTR, RETIMED_PREFIX
from automl.study.record import StudyRecord

OBJECTIVES = [("accuracy", "maximize"), ("latency_ms", "minimize")]
DISTS = {"quant.weight_bits": CategoricalDistribution([8, 32]), "pruning.ratio": FloatDistribution(0.0, 0.9)}
TEACHER_MS = {"ort-cpu": 0.2, "openvino-cpu": 0.1}
# trial -> (accuracy, latency_ms) on ort-cpu, on openvino-cpu (None: it could not run the candidate)
FIGURES = {0: ((0.90, 0.10), (0.90, 0.08)),  # on both fronts
           1: ((0.85, 0.05), (0.85, 0.09)),  # fastest on ort-cpu; dominated by 0 on openvino-cpu
           2: ((0.80, 0.12), (0.80, 0.03)),  # dominated by 0 on ort-cpu; fastest on openvino-cpu
           3: ((0.95, 0.30), None),  # most accurate on ort-cpu; openvino-cpu could not run it
           4: ((0.70, 0.40), (0.70, 0.50))}  # dominated on both


def _on(target: str, figures: tuple[float, float] | None) -> dict:
    if figures is None:
        return {"accuracy": None, "test_accuracy": None, "latency_ms": None, "latency_ratio": None, "kernels": None,
                "runtime": "openvino", "error": "RuntimeError: unsupported op QLinearConv"}
    acc, ms = figures
    return {"accuracy": acc, "test_accuracy": acc - 0.01, "latency_ms": ms,
            "latency_ratio": None if ms == 0.5 else ms / TEACHER_MS[target],  # trial 4: over the teacher's figure
            "kernels": "int8" if target == "ort-cpu" else "bf16", "runtime": "x", "error": None}


def _complete(n: int, several: bool) -> optuna.trial.FrozenTrial:
    """Trial ``n`` (``several``: measured on both targets, else a trial from before targets)."""
    ort, ov = FIGURES[n]
    result = {"accuracy": ort[0], "test_accuracy": ort[0] - 0.01, "size_bytes": 20_000 + n, "latency_ms": ort[1],
              "params_nonzero": 5000, "macs": 50_000, "latency_ratio": ort[1] / TEACHER_MS["ort-cpu"],
              "kernels": "int8"}
    if several:
        result["targets"] = {"ort-cpu": _on("ort-cpu", ort), "openvino-cpu": _on("openvino-cpu", ov)}
    params = {"quant.weight_bits": (8, 32)[n % 2], "pruning.ratio": 0.1 * n}
    return create_trial(state=TrialState.COMPLETE, values=list(ort), params=params, distributions=DISTS,
                        user_attrs={RESULT_ATTR: result, CANDIDATE_ATTR: {"quant": {"weight_bits": params[
                            "quant.weight_bits"]}, "pruning": {"ratio": params["pruning.ratio"]}}})


def _view(tmp_path: Path, targets: list[dict] | None):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=[d for _, d in OBJECTIVES])
    for n in FIGURES:
        study.add_trial(_complete(n, targets is not None))
    # trial 1 re-timed at the end: slower on openvino-cpu (still dominated by 0), the ratio measured then
    study.set_user_attr(f"{RETIMED_PREFIX}1", {"latency_ms": 0.05, "ratio": 0.25, "targets": {
        "ort-cpu": {"latency_ms": 0.05, "ratio": 0.25}, "openvino-cpu": {"latency_ms": 0.095, "ratio": 0.97}}})
    teacher = CandidateResult(accuracy=0.95, test_accuracy=0.94, size_bytes=40_000, latency_ms=0.2,
                              params_nonzero=9000, macs=100_000, kernels="fp32", int8_kernels=False, latency={},
                              artifact_path="teacher.onnx",
                              targets={"ort-cpu": TargetResult(accuracy=0.95, latency_ms=0.2, kernels="fp32"),
                                       "openvino-cpu": TargetResult(accuracy=0.94, latency_ms=0.1, kernels="bf16")})
    record = StudyRecord(name="two", storage="sqlite:///unused.db", tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
                         run_dir=str(tmp_path), objectives=OBJECTIVES, constraints=[], teacher=teacher, targets=targets)
    return build_view(record, study)


TWO = [BUILTIN["ort-cpu"].to_dict(), BUILTIN["openvino-cpu"].to_dict()]


def test_each_target_has_its_front_and_ratios_over_its_teacher(tmp_path: Path) -> None:
    view = _view(tmp_path, TWO)
    ort, ov = view.targets
    assert (ort.name, ov.name) == ("ort-cpu", "openvino-cpu")
    assert (ort.front, ov.front) == ({0, 1, 3}, {0, 2})
    assert (ort.teacher_accuracy, ov.teacher_accuracy) == (0.95, 0.94)
    on_ov = {p.candidate.point.trial: p for p in ov.points}
    assert on_ov[2].latency_ratio == pytest.approx(0.3) and on_ov[2].accuracy == pytest.approx(0.8)
    assert on_ov[1].latency_ratio == pytest.approx(0.97)  # the re-timed ratio, not the search's 0.9
    assert on_ov[4].latency_ratio == pytest.approx(5.0)  # none measured: over the teacher's figure there
    assert math.isnan(on_ov[3].accuracy) and on_ov[3].error.startswith("RuntimeError")
    assert on_ov[0].kernels == "bf16"
    # the primary target's panel agrees with the study's own latency panel
    assert {p.candidate.point.trial: p.latency_ratio for p in ort.points} == pytest.approx(
        {c.point.trial: c.latency_ratio for c in view.candidates})


def test_trials_on_one_front_and_off_another_are_named(tmp_path: Path) -> None:
    view = _view(tmp_path, TWO)
    assert [s.line() for s in front_splits(view.targets)] == [
        "trial 1: on the front on ort-cpu, dominated on openvino-cpu",
        "trial 2: on the front on openvino-cpu, dominated on ort-cpu",
        "trial 3: on the front on ort-cpu, could not run on openvino-cpu (RuntimeError: unsupported op QLinearConv)"]

    fig = target_figure(view.targets[1], view, load_spec())
    off, front, teacher = fig.data
    assert [round(x, 3) for x in front.x] == [0.3, 0.8] and list(front.y) == [0.8, 0.9]  # 2 then 0, by latency
    assert sorted(off.y) == [0.7, 0.85]  # trial 3 is not drawn: openvino-cpu could not run it
    assert "kernels: bf16" in front.hovertext[0] and "on the fronts of: openvino-cpu<" in front.hovertext[0]
    assert (teacher.x[0], teacher.y[0]) == (1.0, 0.94)


def test_page_has_a_panel_per_target_only_with_several_targets(tmp_path: Path) -> None:
    spec = load_spec()
    two = _view(tmp_path, TWO)
    render(two, spec, tmp_path / "two")
    text = (tmp_path / "two" / PAGE).read_text(encoding="utf-8")
    assert 'id="panel-target-ort-cpu"' in text and 'id="panel-target-openvino-cpu"' in text
    assert "<li>trial 2: on the front on openvino-cpu, dominated on ort-cpu</li>" in text
    hover = {h.split("</b>")[0]: h for trace in figure(spec.panels[1], two, spec).data for h in trace.hovertext or []}
    assert "kernels: int8<br>  on ort-cpu: int8<br>  on openvino-cpu: bf16<br>" in hover["<b>trial 0"]
    assert "  on openvino-cpu: RuntimeError: unsupported op QLinearConv<br>" in hover["<b>trial 3"]

    one = _view(tmp_path, None)  # a study from before targets: ort-cpu only
    assert one.targets == []
    render(one, spec, tmp_path / "one")
    text = (tmp_path / "one" / PAGE).read_text(encoding="utf-8")
    assert "panel-target-" not in text and "front-splits" not in text and "Per deployment target" not in text
    hover = [h for trace in figure(spec.panels[1], one, spec).data for h in trace.hovertext or []]
    assert hover and not any("on ort-cpu:" in h for h in hover)

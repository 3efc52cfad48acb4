"""Smoke test: ``benchmarks/search_quality.py`` still runs end to end at a tiny budget.

A benchmark, not a test of its figures: nothing here asserts on times or on which method wins.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "search_quality.py"
METHODS = ("joint + ES + predictor", "joint + ES", "joint", "random", "staged")


def test_search_quality_runs_at_a_tiny_budget(tmp_path: Path) -> None:
    out = tmp_path / "RESULTS.md"
    out.write_text("# Benchmark results\n\n## Other\n\nkept as is\n")
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--trials", "4", "--seeds", "0", "--epochs", "1", "--out", str(out),
         "--predictor-min-trials", "2"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    text = out.read_text()
    assert "## Other\n\nkept as is" in text  # only the benchmark's own section is touched
    section = text.split("## Search quality: digits_joint", 1)[1]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    for method in METHODS:
        assert any(line.startswith(f"| {method} |") for line in rows), f"no row for {method}"
        assert f"| {method} |" in proc.stdout
    assert "search_quality.py --trials 4 --seeds 0 --epochs 1" in section  # the exact command
    assert re.search(r"- seed 0: \d+ screened of \d+ proposed, Kendall's tau (n/a|-?[\d.]+) on \d+ trained", section)
    assert (tmp_path / "search_quality_digits_joint.png").stat().st_size > 10_000  # HV vs trials and seconds


def test_the_architecture_stage_takes_the_training_params() -> None:
    """A teacher-initialised architecture (``arch.init: teacher``) comes with ``train.epochs: 0``:
    the staged pipeline must decide them together, in its architecture stage."""
    import importlib.util

    from automl.space.search_space import load_space

    spec = importlib.util.spec_from_file_location("search_quality_module", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    space = load_space(REPO / "search_spaces" / "mobilenet32_joint.yaml")
    arch = module.subspace(space, "arch").param_names()
    assert "arch.init" in arch and "train.epochs" in arch
    assert not [p for p in module.subspace(space, "pruning").param_names() if not p.startswith("pruning.")]
    seen = []  # the stages after the architecture keep its train.epochs (no evaluation: a stand-in records)

    def evaluate(config, number, stage=""):
        seen.append((stage, config["arch"].get("init"), config["train"]["epochs"]))
        teacher_init = config["arch"].get("init") == "teacher"
        return module.Record(number=number, config=config, stage=stage, val_acc=0.99 if teacher_init else 0.9,
                             test_acc=0.9, size_bytes=100.0, latency_ms=1.0)

    teacher = module.Teacherish(0.99, 0.99, 1000.0, 1.0)
    space = load_space(REPO / "search_spaces" / "mobilenet32_from_teacher.yaml")
    module.run_staged(space, {"train": {"epochs": 6}}, 8, 0, evaluate, teacher)
    assert [s for s, _, _ in seen] == ["arch"] * 2 + ["pruning"] * 2 + ["quant"] * 2 + ["distill"] * 2
    assert {(init, epochs) for _, init, epochs in seen} == {("teacher", 0)}


def test_a_run_without_the_staged_pipeline_reaches_nothing_and_names_other_families() -> None:
    """Without a staged run there is no target: the reach column says so ("–", not "never"),
    and a MobileNet candidate is summarised by its own choices, not as a CNN."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("search_quality_module", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    config = {"arch": {"family": "mobilenet_v2", "init": "teacher", "choices": {"cifar_strides": True}},
              "pruning": {"ratio": 0.75, "granularity": "channel"}}
    rec = module.Record(number=0, config=config, val_acc=0.99, test_acc=0.99, size_bytes=100.0, latency_ms=1.0)
    teacher = module.Teacherish(0.99, 0.99, 1000.0, 2.0)
    outcome = module.Outcome("joint", 0, [rec], 1.0, 1.0, [1.0], 1.0, rec)
    main, details = module.render([outcome], teacher, [0])
    row = next(line for line in main.splitlines() if line.startswith("| joint |"))
    assert "| – |" in row and "never" not in row
    assert "mobilenet_v2 from teacher cifar_strides True, ch 0.75" in details

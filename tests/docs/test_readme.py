"""The README's commands work as written: launched on a tiny budget, then read, exported,
verified, and the exported model run with its stored normalisation (the README's snippet)."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TINY = ["--trials", "4", "--concurrency", "2", "--early-stopping", "off", "--quiet"]  # the budget, not the study


def blocks(language: str, text: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


def commands(page: Path) -> list[list[str]]:
    """The arguments of every ``automl ...`` command in a page's bash blocks, in order
    (continued lines joined, comments dropped; also after ``ray job submit ... --``)."""
    out = []
    for block in blocks("bash", page.read_text()):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            at = next((i for i, w in enumerate(words) if w == "automl" or w.endswith("/automl")), None)
            if at is not None:
                out.append(words[at + 1:])
    return out


def readme_commands() -> list[list[str]]:
    return commands(REPO / "README.md")


@pytest.mark.parametrize("page", sorted((REPO / "docs").glob("*.md")), ids=lambda p: p.name)
def test_every_command_in_the_docs_is_one_the_cli_takes(page: Path) -> None:
    """What the docs tell people to run parses. The launch commands run elsewhere on a tiny budget:
    the README's below, docs/cluster.md's on the two-node test cluster (tests/search/test_cluster_e2e.py);
    `ray job submit` needs Ray's dashboard, which this package does not install."""
    from automl.cli import build_parser

    parser = build_parser()
    for args in commands(page):
        try:
            parser.parse_args(args)
        except SystemExit:
            pytest.fail(f"{page.name}: automl {' '.join(args)} does not parse")


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "PYTHONPATH")}
    return subprocess.run([sys.executable, "-m", "automl", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=900)


def test_the_readme_names_each_command_once_in_the_order_a_newcomer_runs_them() -> None:
    verbs = [c[0] for c in readme_commands()]
    assert verbs[0] == "launch" and {"pareto", "export", "dashboard", "verify", "ui"} <= set(verbs)


@pytest.mark.e2e
def test_the_readme_runs_as_written(tmp_path: Path) -> None:
    for folder in ("studies", "search_spaces", "dashboards"):  # the repository, as a clone has it
        (tmp_path / folder).symlink_to(REPO / folder)
    commands = readme_commands()
    launch = commands[0]
    done = run([*launch, *TINY], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    name = Path(launch[1]).stem
    front = json.loads(run(["pareto", name, "--json"], tmp_path).stdout)
    assert front, "the tiny launch left an empty front"
    for args in commands[1:]:
        if args[0] == "ui":  # a server until stopped: tests/test_cli_ui.py drives it
            continue
        if "--trial" in args:  # the README's trial number is from a full run: take this front's first
            args = [*args]
            args[args.index("--trial") + 1] = str(front[0]["trial"])
        result = run(args, tmp_path)
        if args[0] == "verify" and result.returncode == 3:  # latency on a busy machine is a benchmark's matter:
            checks = json.loads(run([*args, "--json"], tmp_path).stdout)["checks"]  # sizes and accuracies must hold
            assert all(f.startswith("latency ratio") for c in checks for f in c["failures"]), checks
            continue
        assert result.returncode == 0, f"automl {' '.join(args)}: {result.stderr[-2000:]}"
    (snippet,) = blocks("python", (REPO / "README.md").read_text())
    ran = subprocess.run([sys.executable, "-c", snippet], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr[-2000:]
    numbers = [int(n) for n in re.findall(r"\d+", ran.stdout)]  # two printed arrays: predicted, then the labels
    assert len(numbers) == 16, ran.stdout
    predicted, truth = numbers[:8], numbers[8:]
    # the exported model, fed as the README says, classifies the digits it was trained on
    assert sum(p == t for p, t in zip(predicted, truth)) >= 6

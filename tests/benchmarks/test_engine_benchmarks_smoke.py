"""Each benchmark script runs at a tiny budget, so none can rot. No figure is asserted."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.search.e2e_study import tiny_study

REPO = Path(__file__).resolve().parents[2]


def run(script: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.run([sys.executable, str(REPO / "benchmarks" / script), *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)


def test_compression_table_smoke(tmp_path):
    out = run("compression_table.py", "--epochs", "1", "--out", str(tmp_path / "t.md"))
    assert out.returncode == 0, out.stderr[-2000:]
    table = (tmp_path / "t.md").read_text()
    for label in ("teacher (fp32)", "channel 50%", "int8 (PTQ, W8A8)", "4-bit QAT", "all together (KD + channel 50% + W8A8 QAT)"):
        assert f"| {label} |" in table


@pytest.mark.e2e
def test_engine_overhead_smoke(tmp_path):
    out = run("engine_overhead.py", "--trials", "2", "--study", str(tiny_study(tmp_path, "tiny", trials=2)), "--out", str(tmp_path / "o.md"))
    assert out.returncode == 0, out.stderr[-2000:]
    text = (tmp_path / "o.md").read_text()
    assert "| trials / hour |" in text and "throughput" in text
    assert "|   first worker booted, first candidate asked |" in text  # the start-up, phase by phase
    # early stopping off (the default): the seeded random sampler gives both launches the same work
    assert "(the same 2 candidates in both launches)" in text and "early stopping off" in text


@pytest.mark.e2e
def test_latency_honesty_smoke(launched, tmp_path):
    work, _, _ = launched  # an existing study's run folder: the benchmark re-times its front
    out = run("latency_honesty.py", "--run-dir", str(work / "runs/e2e"), "--repeats", "1", "--out", str(tmp_path / "l.md"))
    assert out.returncode == 0, out.stderr[-2000:]
    text = (tmp_path / "l.md").read_text()
    assert "| teacher | 1.000" in text and "| 2 busy-loop processes |" in text and "largest deviation" in text


"""Smoke test: ``benchmarks/warm_start.py`` still runs end to end at a tiny budget (nothing
here asserts on which run wins or on times)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_warm_start_benchmark_runs_at_a_tiny_budget(tmp_path: Path) -> None:
    out = tmp_path / "RESULTS.md"
    out.write_text("# Benchmark results\n\n## Other\n\nkept as is\n")
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "warm_start.py"), "--trials", "3", "--seeds", "0",
                           "--epochs", "1", "--noise", "--out", str(out)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    text = out.read_text()
    assert "## Other\n\nkept as is" in text
    section = text.split("## Warm start across data splits", 1)[1]
    (row,) = [line for line in section.splitlines() if line.startswith("| 0 |")]
    priors = int(row.split("|")[2].split()[0])
    assert 1 <= priors <= 3  # the source's finished candidates, each a prior of the warm run
    assert "Run-to-run noise" in section and "--trials 3 --seeds 0 --epochs 1" in section

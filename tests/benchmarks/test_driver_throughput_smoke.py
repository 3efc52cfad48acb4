"""The driver-throughput benchmark runs at a tiny budget (no Ray, no servers). No figure is asserted."""

from __future__ import annotations

from tests.benchmarks.test_engine_benchmarks_smoke import run


def test_driver_throughput_smoke(tmp_path):
    out = run("driver_throughput.py", "--workers", "2", "--candidates", "4", "--out", str(tmp_path / "d.md"))
    assert out.returncode == 0, out.stderr[-2000:]
    table = (tmp_path / "d.md").read_text()
    assert "| SQLite | MLflow SQLite store | 2 |" in table and "candidates / s" in table

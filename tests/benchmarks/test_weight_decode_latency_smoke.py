"""``benchmarks/weight_decode_latency.py`` runs at a tiny budget; no figure is asserted."""

from __future__ import annotations

from tests.benchmarks.test_engine_benchmarks_smoke import run


def test_weight_decode_latency_smoke():
    out = run("weight_decode_latency.py", "--window", "0.02")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "int4, DequantizeLinear" in out.stdout and "int2, Cast+Mul" in out.stdout
    assert "4 shared values, Cast+Gather" in out.stdout and "student [16, 32], fp32" in out.stdout

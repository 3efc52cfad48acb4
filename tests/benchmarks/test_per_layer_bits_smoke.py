"""``benchmarks/per_layer_bits.py`` runs at a tiny budget; no figure is asserted."""

from __future__ import annotations

from tests.benchmarks.test_engine_benchmarks_smoke import run


def test_per_layer_bits_smoke():
    out = run("per_layer_bits.py", "--epochs", "0", "--rows", "1")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "| [16,32] int4 everywhere, QAT, KD |" in out.stdout and "teacher:" in out.stdout

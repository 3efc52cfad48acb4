"""``benchmarks/weight_sharing.py`` runs at a tiny budget; no figure is asserted."""

from __future__ import annotations

from tests.benchmarks.test_engine_benchmarks_smoke import run


def test_weight_sharing_smoke():
    out = run("weight_sharing.py", "--epochs", "1", "--finetune", "0", "--seeds", "0")
    assert out.returncode == 0, out.stderr[-2000:]
    for row in ("| uniform 4-bit weights, QAT |", "| weight sharing k = 16 (4-bit indices) |",
                "| uniform 2-bit weights, QAT |", "| weight sharing k = 4 (2-bit indices) |"):
        assert row in out.stdout
    assert "shared x3" in out.stdout and "int2 x" in out.stdout  # what each row really stored

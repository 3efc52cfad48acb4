"""The driver-throughput benchmark runs at a tiny budget (no servers). No figure is asserted."""

from __future__ import annotations

from tests.benchmarks.test_engine_benchmarks_smoke import run


def test_driver_throughput_smoke(tmp_path):
    out = run("driver_throughput.py", "--workers", "2", "--candidates", "4", "--out", str(tmp_path / "d.md"))
    assert out.returncode == 0, out.stderr[-2000:]
    table = (tmp_path / "d.md").read_text()
    assert "Sampler: tpe." in table and "candidates / s" in table
    assert "| simulated | journal file | MLflow SQLite store | 2 | 4 |" in table
    assert "| simulated | SQLite | MLflow SQLite store | 2 | 4 |" in table


def test_the_whole_engine_on_ray_workers(tmp_path):
    # --ray: a local Ray, real Tune workers (instant candidates) fed through the mailboxes; the
    # budget spent means every candidate went through ask, mailbox, worker, report and tell
    out = run("driver_throughput.py", "--ray", "--storages", "journal", "--no-mlflow", "--workers", "3",
              "--candidates", "12", "--out", str(tmp_path / "d.md"))
    assert out.returncode == 0, out.stderr[-2000:]
    rows = {line.split("|")[1].strip(): line for line in (tmp_path / "d.md").read_text().splitlines()
            if line.startswith("| simulated") or line.startswith("| Ray workers")}
    assert set(rows) == {"simulated", "Ray workers"}
    assert "| Ray workers | journal file | none | 3 | 12 |" in rows["Ray workers"]
    assert float(rows["Ray workers"].split("|")[6]) > 0


def test_a_driver_killed_mid_study_resumes_with_nothing_lost_or_duplicated():
    # the driver (journal storage, a real MLflow SQLite store) is SIGKILLed after 40 tells with 8
    # candidates in flight; relaunched, it closes those as interrupted and finishes the budget
    out = run("driver_throughput.py", "--kill-at", "40", "--workers", "8", "--candidates", "90")
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    header, _, values = out.stdout.strip().splitlines()[-3:]
    row = dict(zip([c.strip() for c in header.strip("|").split("|")], [int(v) for v in values.strip("|").split("|")]))
    assert row["told before the kill"] >= 40 and row["lost"] == 0 and row["duplicated"] == 0
    assert row["finished after resume"] == 90  # the budget (a combination the space rejects fails at ask)
    assert row["complete"] == row["MLflow runs finished"] >= 80
    assert row["complete without artifact"] == 0 and 0 < row["interrupted (re-sampled)"] <= 8
    assert row["MLflow runs left open"] == 0  # the relaunch closed what the killed driver left open

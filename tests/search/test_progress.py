"""The progress line counts the budget's trials; proposals the predictor screened are shown beside them."""

from __future__ import annotations

from automl.search.progress import StudyProgress


def test_screened_proposals_are_counted_beside_the_budget_with_the_predictors_tau() -> None:
    progress = StudyProgress("p", total=3, enabled=False)
    for outcome in ("done", "screened", "screened", "stopped", "failed"):
        progress.trial_started()
        progress.trial_finished(0, outcome, front_size=1, hypervolume=0.5, summary="")
    assert (progress.done, progress.screened, progress.stopped, progress.failed, progress.running) == (3, 2, 1, 1, 0)
    assert "screened 2" in progress._status() and "predictor" not in progress._status()
    progress.tau = 0.61
    assert "predictor τ 0.61" in progress._status()
    quiet = StudyProgress("q", total=1, enabled=False)
    assert "screened" not in quiet._status()  # a study without a predictor: as before

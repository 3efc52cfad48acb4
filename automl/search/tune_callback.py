"""Ray Tune callback: live per-epoch curves to MLflow and trial counts for the progress view."""

from __future__ import annotations

from typing import Any, Callable

from ray.tune import Callback

from automl.search.trainable import KIND


class StudyCallback(Callback):
    def __init__(self, log_epoch: Callable[[str, int, dict[str, float]], None],
                 on_start: Callable[[], None]) -> None:
        self._log_epoch = log_epoch
        self._on_start = on_start

    def __getstate__(self) -> dict[str, Any]:
        return {}  # Tune pickles callbacks for its experiment restore; these live in the driver only

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._on_start()

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        if result.get(KIND) != "epoch":
            return
        metrics = {k: float(result[k]) for k in ("loss", "val_accuracy") if k in result}
        self._log_epoch(trial.config["mlflow_run_id"], int(result["step"]), metrics)

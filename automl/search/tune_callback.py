"""Ray Tune callback: per-epoch curves to MLflow as trials report them, and trial starts for the progress view."""

from __future__ import annotations

import json
from typing import Any, Callable

from ray.tune import Callback

from automl.search.trainable import EPOCHS


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
        for row in json.loads(result.get(EPOCHS) or "[]"):
            metrics = {k: float(row[k]) for k in ("loss", "val_accuracy") if k in row}
            self._log_epoch(trial.config["mlflow_run_id"], int(row["step"]), metrics)

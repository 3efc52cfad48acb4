"""MLflow tracking of a study: a parent run per study, a child run per candidate.

``StudyTracker`` is imported on first use: importing MLflow takes about 1.5 s, and the launch's
first step (``reachability``, is the tracking server there?) must not wait for it before Ray
starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from automl.tracking.study_tracker import StudyTracker

__all__ = ["StudyTracker"]


def __getattr__(name: str) -> Any:
    if name == "StudyTracker":
        from automl.tracking.study_tracker import StudyTracker

        return StudyTracker
    raise AttributeError(f"module 'automl.tracking' has no attribute {name!r}")

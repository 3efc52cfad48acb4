"""MLflow tracking of a study: a parent run per study, a child run per candidate."""

from automl.tracking.study_tracker import StudyTracker

__all__ = ["StudyTracker"]

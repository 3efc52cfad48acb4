"""Architecture families and the factory that builds them (see :mod:`automl.models.registry`)."""

from automl.models.registry import create_model, families, validate_choices

__all__ = ["create_model", "families", "validate_choices"]

"""Measurements of a built model: complexity (MACs, non-zero parameters) and more."""

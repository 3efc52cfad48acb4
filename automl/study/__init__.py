"""The study as data and decisions: its config, objectives, samplers, front, early stopping, record.

Everything here reads or writes a study's Optuna storage and its ``study.json``; running the
candidates is :mod:`automl.search`'s job, recording them :mod:`automl.tracking`'s.
"""

"""Running a study: the driver (Optuna asks and tells), the Ray worker pool, the timing worker.

The study's data and decisions (front, early stopping, samplers, the record) are in
:mod:`automl.study`; this package only executes them. The worker <-> driver messages are
typed in :mod:`automl.search.protocol`.
"""

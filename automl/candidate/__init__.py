"""One candidate end to end: its config, then train, compress, export and measure it honestly.

``config`` (what to build and how to compress it) -> ``evaluate`` (the pipeline:
distill-train -> prune (+ recover) -> quantize -> export -> measure) -> ``result`` (the typed
:class:`~automl.candidate.result.CandidateResult`). Beside them: ``teacher`` (the study's
reference model, trained and cached), ``probe`` (a candidate's compressed figures before it
trains, for early stopping), ``hooks`` (where a running candidate hands control to its caller),
``training``, ``distillation`` and ``timer``. Nothing here knows about studies, Optuna or Ray.
"""

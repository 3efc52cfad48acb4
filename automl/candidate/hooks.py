"""How a running candidate talks to whoever runs it (the search engine, a benchmark, a test).

:func:`automl.evaluate_candidate` is a pure function of its config; the only side channel is
a :class:`TrialHooks` object. The default does nothing special and times the artifact in
this process. The search engine passes one that reports per-epoch metrics to Ray Tune and
sends the artifact to the study's single timing worker, so a candidate is never timed
while another one trains on the same cores.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from automl.measure.latency import LatencyResult, LatencySettings, measure_latency
from automl.measure.targets import DEFAULT_TARGET, Target

SCREEN_EPOCH = 0  # a candidate stopped by the screen, before its first training epoch
SCREEN_MARGIN = 1.05  # the probe reads up to ~3 % above the final figures (short timing): stop only clear cases


class CandidateStopped(Exception):
    """Raised from the hooks to stop a candidate early: its rung lost, or (``epoch`` 0) the
    screen stopped it (``vector``: its probed figures): beyond the study's limits, or the
    driver's accuracy predictor judged it would add too little to the front."""

    def __init__(self, epoch: int, vector: dict[str, float] | None = None,
                 why: str = "its compressed figures are beyond the study's limits") -> None:
        super().__init__(f"stopped early at training epoch {epoch}" if epoch != SCREEN_EPOCH else
                         f"stopped before training: {why}")
        self.epoch = epoch
        self.vector = vector


class RungCheck:
    """What a candidate does at an early-stopping rung, for any hooks that stop candidates.

    At the first rung the bound probe measures the size and latency of the compressed
    structure (once); at every rung of the ``"train"`` phase before its last epoch,
    ``decide(epoch, vector)`` is asked, with ``vector`` = the validation accuracy the candidate
    would have compressed now (the bound accuracy probe; without one, the accuracy of the
    network in training) + the probe's figures, and a ``False`` raises :class:`CandidateStopped`.
    A rung at or past the candidate's last training epoch never fires: stopping there would
    save nothing.

    With ``limits`` (:func:`automl.study.mo_asha.screen_limits`: the largest size, latency, ...
    that can still count), the probe runs once before training instead, and a candidate with
    a figure beyond its limit (by more than :data:`SCREEN_MARGIN`) is stopped there, at
    :data:`SCREEN_EPOCH`: no amount of training changes bytes on disk or latency. With
    ``predict``, a candidate within the limits is then judged by ``decide(SCREEN_EPOCH, figures)``
    (the driver's accuracy predictor, :mod:`automl.study.accuracy_screen`) and stopped there on a
    ``False``.
    """

    def __init__(self, rungs: tuple[int, ...], decide: Callable[[int, dict[str, float]], bool],
                 limits: Mapping[str, float] | None = None, predict: bool = False) -> None:
        self.rungs = tuple(rungs)
        self.decide = decide
        self.limits = dict(limits or {})
        self.predict = predict
        self.probe: Callable[[], dict[str, float]] | None = None
        self.accuracy: Callable[[], float] | None = None
        self.epochs = 0  # the candidate's training epochs (set with the probe)
        self.fixed: dict[str, float] | None = None

    def bind(self, probe: Callable[[], dict[str, float]], epochs: int,
             accuracy: Callable[[], float] | None = None) -> None:
        self.probe, self.epochs, self.accuracy = probe, epochs, accuracy

    def screen(self) -> None:
        """Before training: stop the candidate if a probed figure is beyond its limit, or if
        (``predict``) the accuracy predictor, asked with the probed figures, says so."""
        if not (self.limits or self.predict) or self.probe is None:
            return
        self.fixed = self.probe()
        if any(self.fixed[m] > limit * SCREEN_MARGIN for m, limit in self.limits.items() if m in self.fixed):
            raise CandidateStopped(SCREEN_EPOCH, dict(self.fixed))
        if self.predict and not self.decide(SCREEN_EPOCH, dict(self.fixed)):
            raise CandidateStopped(SCREEN_EPOCH, dict(self.fixed), "its predicted point would add too little to the front")

    def after_epoch(self, phase: str, epoch: int, metrics: dict[str, float]) -> None:
        if (phase != "train" or epoch not in self.rungs or epoch >= self.epochs or self.probe is None
                or "val_accuracy" not in metrics):
            return
        if self.fixed is None:
            self.fixed = self.probe()
        acc = float(self.accuracy() if self.accuracy is not None else metrics["val_accuracy"])
        on_targets = {f"accuracy@{k.split('@', 1)[1]}": acc for k in self.fixed if k.startswith("latency_ms@")}
        if not self.decide(epoch, {"accuracy": acc, **on_targets, **self.fixed}):
            raise CandidateStopped(epoch)


class TrialHooks:
    """Default hooks; subclass and override what you need. With ``rungs`` the candidate stops
    early when a rung's decision says so (see :class:`RungCheck`)."""

    def __init__(self, rungs: RungCheck | None = None) -> None:
        self.rungs = rungs

    def on_epoch(self, phase: str, epoch: int, metrics: dict[str, float]) -> None:
        """Called after each epoch of ``phase`` ("train", "prune_finetune", "qat").

        May raise :class:`CandidateStopped` (early stopping): the candidate ends there.
        """
        if self.rungs is not None:
            self.rungs.after_epoch(phase, epoch, metrics)

    def bind_probe(self, probe: Callable[[], dict[str, float]], epochs: int,
                   accuracy: Callable[[], float] | None = None) -> None:
        """Called once the model exists: ``probe()`` measures the size and latency the
        candidate's compressed artifact will have, ``accuracy()`` the validation accuracy it
        would have compressed now (:mod:`automl.candidate.probe`), for rungs that compare
        candidates while they train; ``epochs`` is how long it trains. The probe costs an
        export and a short timing: it is called once, before training when the rungs screen
        candidates (which may raise :class:`CandidateStopped` here), else lazily at the first
        rung that fires; ``accuracy()`` at every rung that fires."""
        if self.rungs is not None:
            self.rungs.bind(probe, epochs, accuracy)
            self.rungs.screen()

    @contextlib.contextmanager
    def compute(self) -> Iterator[None]:
        """Wraps each chunk of CPU work (an epoch, an export, an evaluation)."""
        yield

    def measure_latency(self, path: Path, input_shape: tuple[int, ...], settings: LatencySettings,
                        target: Target = DEFAULT_TARGET) -> LatencyResult:
        """Time the deployable artifact at ``path`` (batch 1) on ``target``, here and alone."""
        return measure_latency(path, input_shape, settings, target)

    def info(self) -> dict[str, Any]:
        """Facts about how timing was isolated, recorded with the result."""
        return {"timing_isolation": "none (timed in the calling process)"}

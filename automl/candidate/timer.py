"""Wall seconds per phase of one candidate (train, probe, export, measure ...)."""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Iterator


class PhaseTimer:
    """Accumulates wall seconds per named phase (reported for the overhead benchmark).

    Phases nest exclusively: while an inner phase runs (the early-stopping probe inside
    "train"), the outer one's clock stops, so every second is counted once."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._open: list[list] = []  # [phase, start of its current stretch]

    @contextmanager
    def __call__(self, phase: str) -> Iterator[None]:
        now = time.perf_counter()
        if self._open:
            self._stop(self._open[-1], now)
        self._open.append([phase, now])
        try:
            yield
        finally:
            now = time.perf_counter()
            self._stop(self._open.pop(), now)
            if self._open:
                self._open[-1][1] = now

    def _stop(self, entry: list, now: float) -> None:
        phase, start = entry
        self.seconds[phase] = self.seconds.get(phase, 0.0) + now - start

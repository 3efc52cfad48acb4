"""Live progress of a study on the terminal: trials done / running / failed, front, hypervolume."""

from __future__ import annotations

import threading

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)


class StudyProgress:
    def __init__(self, name: str, total: int, enabled: bool = True) -> None:
        self.console = Console(stderr=True)
        self.enabled = enabled
        self.total = total
        self._lock = threading.Lock()
        self.done = self.failed = self.stopped = self.running = self.front = 0
        self.hypervolume = 0.0
        self.screened = 0  # proposals the accuracy predictor judged not worth training (not in done)
        self.tau: float | None = None  # the predictor's Kendall's tau so far
        self._progress = Progress(TextColumn(f"[bold]{name}"), BarColumn(), MofNCompleteColumn(),
                                  TextColumn("{task.fields[status]}"), TimeElapsedColumn(),
                                  console=self.console, disable=not enabled, transient=False)
        self._task = None

    def note(self, message: str) -> None:
        if self.enabled:
            self.console.print(f"[dim]{message}")

    def warn(self, message: str) -> None:
        """A line the user must see, live view or not (e.g. the tracking server went away)."""
        self.console.print(f"[yellow]{message}", highlight=False, soft_wrap=True)

    def start(self, done: int, failed: int, stopped: int = 0) -> None:
        self.done, self.failed, self.stopped = done, failed, stopped
        self._task = self._progress.add_task("study", total=self.total, completed=done, status=self._status())
        self._progress.start()

    def trial_started(self) -> None:
        with self._lock:
            self.running += 1
            self._refresh()

    def trial_finished(self, number: int, outcome: str, front_size: int, hypervolume: float,
                       summary: str) -> None:
        """One finished trial (``outcome``: done, stopped (early), failed, or screened: judged
        by the accuracy predictor, not counted in the budget); ``summary`` is its metrics, where
        it stopped, or its error."""
        with self._lock:
            self.running = max(0, self.running - 1)
            self.screened += outcome == "screened"
            self.done += outcome != "screened"
            self.failed += outcome == "failed"
            self.stopped += outcome == "stopped"
            self.front, self.hypervolume = front_size, hypervolume
            if self.enabled and (outcome == "failed" or not self.console.is_terminal):
                # a live bar only redraws on a terminal: in logs, one line per trial
                style = "[red]" if outcome == "failed" else ""
                self._progress.console.print(f"{style}[{self.done}/{self.total}] trial {number} "
                                             f"{outcome}: {summary} | {self._status()}",
                                             highlight=False, soft_wrap=True)
            self._refresh()

    def stop(self) -> None:
        if self._task is not None:
            self._progress.stop()

    def _status(self) -> str:
        predictor = (f"screened {self.screened}  " if self.screened else "") + (
            f"predictor τ {self.tau:.2f}  " if self.tau is not None else "")
        return (f"running {self.running}  stopped early {self.stopped}  failed {self.failed}  {predictor}"
                f"front {self.front}  hypervolume {self.hypervolume:.4f}")

    def _refresh(self) -> None:
        if self._task is not None:
            self._progress.update(self._task, completed=self.done, status=self._status())

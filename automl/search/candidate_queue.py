"""The driver's hand-out channel to long-lived Tune workers: one mailbox per worker.

A worker tells the driver it is free through ``tune.report`` (its previous candidate's
result, or "ready"); the driver answers by putting the next candidate, or ``None`` for
"no more work", in that worker's mailbox, where the worker is already waiting for it; at an
early-stopping rung, the driver's :class:`~automl.search.protocol.Verdict`.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
import ray

from automl.search.protocol import Mail


@ray.remote(num_cpus=0)
class CandidateQueue:
    def __init__(self) -> None:
        self._boxes: defaultdict[str, asyncio.Queue] = defaultdict(asyncio.Queue)

    async def put(self, worker: str, job: Mail) -> None:
        self._boxes[worker].put_nowait(job)

    async def clear(self, worker: str) -> None:
        """Drop what waits in ``worker``'s mailbox: its process died, and a verdict or job put for
        that process must not reach the one Tune restarts in its place."""
        self._boxes.pop(worker, None)

    async def take(self, worker: str) -> Mail:
        """The next job for ``worker`` (waits until the driver has put one)."""
        return await self._boxes[worker].get()

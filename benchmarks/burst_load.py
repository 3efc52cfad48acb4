"""Bursty outside load, as on a shared machine: one process per core alternates busy and idle.

    .venv/bin/python benchmarks/burst_load.py --seconds 300 [--busy 0.3 --idle 0.7]

Each process spins for ``--busy`` seconds, then sleeps for ``--idle`` seconds, with a random
phase, until ``--seconds`` have passed. Used by latency_honesty.py (``--burst``) to time a study
under the load that made single-window timings drift.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import time


def _worker(seconds: float, busy: float, idle: float, seed: int) -> None:
    rng = random.Random(seed)
    end = time.monotonic() + seconds
    time.sleep(rng.uniform(0, busy + idle))
    while time.monotonic() < end:
        stop = time.monotonic() + busy
        while time.monotonic() < stop:
            pass
        time.sleep(idle)


def start(seconds: float, busy: float = 0.3, idle: float = 0.7) -> list[multiprocessing.Process]:
    """Start the load in the background (one process per core); returns the processes."""
    procs = [multiprocessing.Process(target=_worker, args=(seconds, busy, idle, i), daemon=True)
             for i in range(os.cpu_count() or 2)]
    for p in procs:
        p.start()
    return procs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--busy", type=float, default=0.3)
    parser.add_argument("--idle", type=float, default=0.7)
    args = parser.parse_args()
    for p in start(args.seconds, args.busy, args.idle):
        p.join()


if __name__ == "__main__":
    main()

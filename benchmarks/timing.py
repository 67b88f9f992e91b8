"""Timing helpers shared by the benchmarks.

Every measurement interleaves the systems being compared (round-robin batches) and
reports the median batch, so that drift on a shared machine hits all of them alike.
"""

from __future__ import annotations

import statistics
import time


def calibrate(fn, min_batch_s: float = 0.005) -> int:
    """Calls per batch so that one batch lasts at least ``min_batch_s``."""
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        if time.perf_counter() - t0 >= min_batch_s or n >= 1 << 22:
            return n
        n *= 2


def compare(fns: dict, rounds: int = 15, min_batch_s: float = 0.005) -> dict[str, float]:
    """Median seconds per call of each function, measured interleaved."""
    for fn in fns.values():  # warm-up (and first-call compilation)
        fn()
    sizes = {name: calibrate(fn, min_batch_s) for name, fn in fns.items()}
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            n = sizes[name]
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            samples[name].append((time.perf_counter() - t0) / n)
    return {name: statistics.median(v) for name, v in samples.items()}

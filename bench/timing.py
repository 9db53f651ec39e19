"""Timing helper for the benchmarks: best-of-N wall time after a warm-up call."""

from __future__ import annotations

import time
from collections.abc import Callable


def best_time(fn: Callable[[], object], repeat: int = 5, warmup: int = 1) -> float:
    """Smallest wall time of ``repeat`` calls of ``fn`` (seconds), after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def report(name: str, ours: float, baseline: float, baseline_name: str) -> dict:
    """Prints one result line and returns it as a dict (ratio = ours / baseline)."""
    ratio = ours / baseline
    print(f"{name:<44} ours {ours * 1e3:9.2f} ms | {baseline_name} {baseline * 1e3:9.2f} ms"
          f" | ratio {ratio:6.2f}")
    return {"name": name, "ours_s": ours, "baseline_s": baseline, "ratio": ratio}

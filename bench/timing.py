"""Timing helpers for the benchmarks: best-of-N wall time after a warm-up call, result rows."""

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


def report(
    name: str,
    ours: float,
    baseline: float | None,
    baseline_name: str | None,
    *,
    target: str | None = None,
    note: str | None = None,
    unit: str = "s",
) -> dict:
    """Prints one result line and returns it as a row (ratio = ours / baseline).

    ``ours`` and ``baseline`` are seconds, or bytes with ``unit="B"``; ``unit="fps"`` means
    ``ours`` is a frame time in seconds, shown as frames per second.
    """
    ratio = ours / baseline if baseline else None
    row = {"name": name, "ours": ours, "baseline": baseline, "baseline_name": baseline_name,
           "ratio": ratio, "target": target, "note": note, "unit": unit}
    print(f"{name:<60} ours {fmt(ours, unit):>10} | {baseline_name or '-'} "
          f"{fmt(baseline, unit) if baseline is not None else '-'} | ratio "
          f"{ratio_text(ratio)} {note or ''}", flush=True)
    return row


def fmt(value: float | None, unit: str = "s") -> str:
    """Seconds as ms / s, bytes as B / KiB / MiB, frame times as fps."""
    if value is None:
        return "—"
    if unit == "B":
        for scale, suffix in ((2**20, "MiB"), (2**10, "KiB")):
            if value >= scale:
                return f"{value / scale:.1f} {suffix}"
        return f"{value:.0f} B"
    if unit == "fps":
        return f"{1 / value:.0f} fps"
    if unit == "x":
        return f"{value:g}"
    if value >= 1:
        return f"{value:.2f} s"
    if value >= 0.01:
        return f"{value * 1e3:.0f} ms"
    return f"{value * 1e3:.2f} ms"


def ratio_text(ratio: float | None) -> str:
    """``0.32×``; two significant digits below 0.1."""
    if ratio is None:
        return "—"
    if ratio < 0.1:
        return f"{ratio:.2g}×"
    return f"{ratio:.2f}×"

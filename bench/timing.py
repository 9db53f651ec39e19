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


def paired_best_times(
    ours: Callable[[], object], baseline: Callable[[], object], repeat: int = 20, warmup: int = 2
) -> tuple[float, float]:
    """Best wall times of ``ours`` and ``baseline``, called in turn (A, B, A, B, ...).

    Why: a ratio near 1 (folded vs base inference, LoRA step vs ``enable_lora``) is smaller
    than the drift of a shared machine over the seconds between two separate best-of-N
    runs; interleaving gives both the same conditions.
    """
    for _ in range(warmup):
        ours()
        baseline()
    best = [float("inf"), float("inf")]
    for _ in range(repeat):
        for i, fn in enumerate((ours, baseline)):
            start = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - start)
    return best[0], best[1]


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


def weight_sharing(base, patched) -> dict:
    """What a patch allocated: its new variables, their bytes, how many of them copy a base
    weight (should be 0) and how many base variables the patched model shares."""
    import numpy as np

    def size(variables) -> int:
        return sum(int(np.prod(v.shape)) * np.dtype(v.dtype).itemsize for v in variables)

    base_ids = {id(v) for v in base.weights}
    new = [v for v in patched.weights if id(v) not in base_ids]
    base_values = [np.asarray(v) for v in base.weights]
    copies = sum(
        any(b.shape == tuple(v.shape) and np.array_equal(b, np.asarray(v)) for b in base_values)
        for v in new
    )
    return {
        "new_bytes": size(new),
        "base_bytes": size(base.weights),
        "copies": copies,
        "shared": sum(id(v) in base_ids for v in patched.weights),
        "n_base": len(base.weights),
    }

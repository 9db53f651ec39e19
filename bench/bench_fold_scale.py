"""Fold at scale (issue 32, part 7): `rw.fold` of a ~1.1B-parameter bfloat16 decoder.

Builds a random-init KerasHub `MistralBackbone` (TinyLlama-1.1B's shape: 22 blocks, hidden
2048, 32 query / 4 key-value heads, MLP 5632, vocabulary 32000; nothing is downloaded),
patches it with `rw.add_lora(backbone, rank=8)` (the query and value layers, as KerasHub's
``enable_lora``) and measures, in one process:

- wall time of ``backbone.get_weights()`` (the baseline: one copy of the weights, to NumPy),
  of `rw.fold` (new copies of every weight) and of ``rw.fold(..., share_base=True)``
  (unchanged weights shared); best of ``--repeat`` calls, in turn;
- memory: the process's peak resident set during each call and what stays resident while
  the result lives, minus the resident set before the call (sampled from /proc every 2 ms),
  against the model's weight bytes and the bytes of the kernels fold merges;
- with ``--numpy-path``, the fold as it was before issue 32 (every variable copied through
  NumPy: ``convert_to_numpy`` then a new variable from the array), once.

Targets: fold time <= 1.5x ``get_weights()``; fold's extra memory <= one copy of the model
plus the merged kernels. ``--smoke`` runs a tiny configuration (tests/test_fold_scale.py).

Usage: ``python bench/bench_fold_scale.py [--smoke] [--repeat N] [--numpy-path]``.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import sys
import threading
import time
from collections.abc import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(__file__))

import keras  # noqa: E402
from timing import fmt, report  # noqa: E402

#: TinyLlama-1.1B's shape as a MistralBackbone (random init)
BIG = {"vocabulary_size": 32000, "num_layers": 22, "num_query_heads": 32,
       "num_key_value_heads": 4, "hidden_dim": 2048, "intermediate_dim": 5632}
SMOKE = {"vocabulary_size": 64, "num_layers": 2, "num_query_heads": 4,
         "num_key_value_heads": 2, "hidden_dim": 32, "intermediate_dim": 64}
RANK = 8


def rss() -> int:
    """The resident set of this process in bytes (Linux /proc; else the peak so far)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # pragma: no cover - not Linux
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def measure(fn: Callable[[], object]) -> tuple[float, int, int, object]:
    """``(seconds, peak extra bytes, extra bytes while the result lives, result)``."""
    gc.collect()
    before = rss()
    peak, done = [before], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss())
            time.sleep(0.002)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    after = rss()
    return seconds, max(peak[0], after) - before, after - before, result


def _numpy_path_fold(lora):
    """The fold as before issue 32: every variable copied through NumPy (`copy_state`)."""
    import risk_widgets as rw
    from risk_widgets.core.layer_copy import copy_state
    from risk_widgets.engine import rebuild

    fast = rebuild.copy_variable
    rebuild.copy_variable = copy_state
    try:
        return rw.fold(lora)
    finally:
        rebuild.copy_variable = fast


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a tiny model (tests)")
    parser.add_argument("--repeat", type=int, default=2, help="calls of each, best time")
    parser.add_argument("--numpy-path", action="store_true",
                        help="also time the fold as it was before issue 32, once")
    args = parser.parse_args(argv)

    import keras_hub

    import risk_widgets as rw

    config = SMOKE if args.smoke else BIG
    keras.utils.set_random_seed(0)
    start = time.perf_counter()
    backbone = keras_hub.models.MistralBackbone(**config, dtype="bfloat16")
    built = time.perf_counter() - start
    lora = rw.add_lora(backbone, rank=RANK)
    n_params = backbone.count_params()
    model_bytes = sum(_nbytes(v) for v in backbone.weights)
    merged_bytes = sum(_nbytes(layer.layer.kernel) for layer in rw.patch_layers(lora).values())
    print(f"MistralBackbone {n_params / 1e9:.3f}B parameters (bfloat16), built in "
          f"{built:.1f} s; {len(rw.patch_layers(lora))} layers with LoRA rank {RANK}; weights "
          f"{fmt(model_bytes, 'B')}, merged kernels {fmt(merged_bytes, 'B')}", flush=True)

    calls = {
        "get_weights": backbone.get_weights,
        "fold": lambda: rw.fold(lora),
        "fold_shared": lambda: rw.fold(lora, share_base=True),
    }
    best = {k: float("inf") for k in calls}
    peak = dict.fromkeys(calls, 0)
    live = dict.fromkeys(calls, 0)
    for _ in range(max(1, args.repeat)):
        for key, fn in calls.items():
            seconds, extra, kept, result = measure(fn)
            del result
            best[key] = min(best[key], seconds)
            peak[key] = max(peak[key], extra)
            live[key] = max(live[key], kept)
            print(f"  {key}: {seconds:.2f} s, peak +{fmt(extra, 'B')}, "
                  f"while it lives +{fmt(kept, 'B')}", flush=True)
    if args.numpy_path:
        seconds, extra, kept, result = measure(lambda: _numpy_path_fold(lora))
        del result
        best["numpy"], peak["numpy"], live["numpy"] = seconds, extra, kept
        print(f"  fold through NumPy (before): {seconds:.2f} s, peak +{fmt(extra, 'B')}",
              flush=True)

    size = f"MistralBackbone {n_params / 1e9:.2f}B bf16"
    budget = model_bytes + merged_bytes
    rows = [
        report(f"fold time, {size}", best["fold"], best["get_weights"], "get_weights()",
               target="<= 1.5x"),
        report(f"fold(share_base) time, {size}", best["fold_shared"], best["get_weights"],
               "get_weights()", target="<= 1.5x"),
        report(f"fold peak extra memory, {size}", peak["fold"], budget,
               "weights + merged kernels", target="<= 1x", unit="B",
               note=f"while the folded copy lives: +{fmt(live['fold'], 'B')}"),
        report(f"fold(share_base) peak extra memory, {size}", peak["fold_shared"], budget,
               "weights + merged kernels", unit="B",
               note=f"while the folded model lives: +{fmt(live['fold_shared'], 'B')}"),
        report(f"get_weights() peak extra memory, {size}", peak["get_weights"], budget,
               "weights + merged kernels", unit="B"),
    ]
    if "numpy" in best:
        rows.append(report(f"fold time through NumPy (before #32), {size}", best["numpy"],
                           best["get_weights"], "get_weights()",
                           note=f"peak +{fmt(peak['numpy'], 'B')}"))
    print(f"\n(machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores)")
    return rows


def _nbytes(variable) -> int:
    """Bytes of a variable's value (bfloat16: 2 a number)."""
    import numpy as np

    name = keras.backend.standardize_dtype(variable.dtype)
    size = 2 if name == "bfloat16" else np.dtype(name).itemsize
    return int(np.prod(variable.shape)) * size


if __name__ == "__main__":
    main()

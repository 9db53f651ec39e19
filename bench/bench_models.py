"""Models the benchmarks build in code: N-layer stacks of blocks, deep nesting, a transformer."""

from __future__ import annotations

import sys

sys.setrecursionlimit(100_000)  # Keras serialises and clones deep graphs recursively

#: Layers per block of `stacked` (9 Dense + the residual Add).
BLOCK = 10


def stacked(n_layers: int, width: int = 8):
    """``n_layers`` layers: ``n_layers // 10`` CompositeLayer blocks of 9 Dense + a residual Add.

    The top level holds the blocks (what the collapsed graph shows); every layer is a leaf.
    """
    import keras

    from risk_widgets.core.composite import CompositeLayer

    def block(x):
        h = x
        for i in range(BLOCK - 1):
            h = keras.layers.Dense(width, name=f"dense_{i}")(h)
        return keras.layers.Add(name="add")([x, h])

    inputs = keras.Input((width,), name="x")
    x = inputs
    for b in range(max(1, n_layers // BLOCK)):
        x = CompositeLayer(block, name=f"block_{b}")(x)
    return keras.Model(inputs, x, name=f"stack_{n_layers}")


def nested(depth: int = 8, width: int = 8):
    """CompositeLayers nested ``depth`` deep, each level: Dense -> inner level -> Dense."""
    import keras

    from risk_widgets.core.composite import CompositeLayer

    def level(d: int):
        def fn(x):
            x = keras.layers.Dense(width, name="pre")(x)
            if d > 1:
                x = level(d - 1)(x)
            return keras.layers.Dense(width, name="post")(x)

        return CompositeLayer(fn, name=f"level_{d}")

    inputs = keras.Input((width,), name="x")
    return keras.Model(inputs, level(depth)(inputs), name=f"nested_{depth}")


def transformer(n_blocks: int = 24, dim: int = 64):
    """The demo functional transformer (blocks are CompositeLayers), 24 blocks by default."""
    from risk_widgets import demo

    return demo.transformer(dim=dim, heads=4, n_blocks=n_blocks, seq_len=16)


def n_layers(model) -> int:
    """Leaf layers of the model (what the graph draws as boxes, inputs and outputs excluded)."""
    from risk_widgets.graph.build import to_graph

    return sum(n["kind"] == "layer" for n in to_graph(model).to_json()["nodes"])


_CACHE: dict[tuple[str, int], object] = {}
#: Seconds each cached model took to build (bench_graph compares to_graph with it).
BUILD_SECONDS: dict[tuple[str, int], float] = {}


def cached(kind: str, size: int):
    """One model per (kind, size) per process: the 10k-layer stack takes ~50 s to build."""
    import time

    key = (kind, size)
    if key not in _CACHE:
        start = time.perf_counter()
        _CACHE[key] = {"stacked": stacked, "nested": nested, "transformer": transformer}[kind](size)
        BUILD_SECONDS[key] = time.perf_counter() - start
    return _CACHE[key]

"""to_graph on a 1000-layer model, against Keras' own walk of the same graph (get_config)."""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.setrecursionlimit(10_000)  # Keras builds and serialises a 1000-layer chain recursively

import keras  # noqa: E402
from timing import best_time, report  # noqa: E402


def deep_model(n_layers: int) -> keras.Model:
    inputs = keras.Input((8,))
    x = inputs
    for i in range(n_layers):
        x = keras.layers.Dense(8, name=f"dense_{i}")(x)
    return keras.Model(inputs, x)


def main() -> list[dict]:
    from risk_widgets.graph import to_graph

    results = []
    for n in (100, 1000):
        model = deep_model(n)
        ours = best_time(lambda m=model: to_graph(m).to_json(), repeat=3)
        base = best_time(lambda m=model: m.get_config(), repeat=3)
        results.append(report(f"to_graph, {n}-layer chain", ours, base, "get_config"))
    return results


if __name__ == "__main__":
    main()

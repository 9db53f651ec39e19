"""to_graph (+ JSON) against the model's build time and Keras' own walk (get_config), by size."""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(__file__))

import bench_models as models  # noqa: E402
from timing import best_time, report  # noqa: E402

SIZES = (10, 100, 1000, 2000, 10_000)


def main(sizes: tuple[int, ...] = SIZES) -> list[dict]:
    from risk_widgets.graph.build import to_graph

    rows = []
    for n in sizes:
        model = models.cached("stacked", n)
        label = f"{n // 1000}k layers" if n >= 1000 else f"{n} layers"
        repeat = 1 if n >= 5000 else 3
        ours = best_time(lambda m=model: to_graph(m).to_json(), repeat=repeat)
        build = models.BUILD_SECONDS[("stacked", n)]
        rows.append(report(f"to_graph + to_json, {label}", ours, build, "building the model"))
        base = best_time(lambda m=model: m.get_config(), repeat=repeat)
        rows.append(report(f"to_graph + to_json, {label}", ours, base, "model.get_config()"))
    return rows


if __name__ == "__main__":
    main(tuple(int(a) for a in sys.argv[1:]) or SIZES)

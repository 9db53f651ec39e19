"""The graph view before and after find / details / family colours / overlays / minimap
(issue #35), on the 10k-layer model: the same page, the two builds of the bundle in turn.

Measures what bench/bench_frontend.py measures (first paint of the collapsed graph, the
worker's layout on screen, expanding one group, collapsing it, expanding everything), with
the old and the new bundle alternating in one headless Chromium, best of ``--rounds`` each,
and prints new / old per measure (the features must not cost more than 10%): the best and
the median of the rounds (on a busy shared machine the median is the steadier of the two).

Run: ``.venv/bin/python bench/bench_graph_view.py --baseline /path/to/old/widget.js``
(build the old bundle from the commit before, e.g. ``git worktree`` + ``npm run build``).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import statistics
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(pathlib.Path(__file__).parent))

import bench_frontend as frontend  # noqa: E402
import bench_models as models  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
SERVED = ROOT / "artifacts" / "bench_bundles"  # served by frontend.server (the repo root)


def measure(page, url: str, groups: list[str], top: list[str]) -> dict[str, float]:
    """Milliseconds of each step on one fresh page."""
    page.goto(url)
    page.wait_for_function("window.__rw?.ready", timeout=120_000)
    out = {"first paint": page.evaluate("window.__rw.firstPaint"),
           "final layout on screen": page.evaluate("window.__rw.finalPaint")}
    page.evaluate(frontend.PAGE_HELPERS)
    page.evaluate("__rwBench.lookahead()")
    pick = top[len(top) // 2]
    out["expand one group"] = page.evaluate(f"__rwBench.expand([{pick!r}])")["ms"]
    out["collapse it again"] = page.evaluate("__rwBench.expand([])")["ms"]
    every = page.evaluate(f"__rwBench.expand({groups!r})")
    out[f"expand everything ({every['nodes']:,} nodes)"] = every["ms"]
    return out


def main(baseline: pathlib.Path, size: int = 10_000, rounds: int = 3,
         graph_file: pathlib.Path | None = None) -> list[dict]:
    from playwright.sync_api import sync_playwright

    from risk_widgets.graph.build import to_graph

    SERVED.mkdir(parents=True, exist_ok=True)
    shutil.copy(baseline, SERVED / "old.js")
    shutil.copy(ROOT / "risk_widgets" / "static" / "widget.js", SERVED / "new.js")
    if graph_file is not None:  # to_graph's JSON saved before (the 10k model takes minutes)
        graph = json.loads(graph_file.read_text())
    else:
        graph = to_graph(models.cached("stacked", size)).to_json()
    path = frontend.publish(f"ab_{size}.json", graph)
    groups = [n["id"] for n in graph["nodes"] if n["kind"] == "group"]
    top = [n["id"] for n in graph["nodes"] if n["kind"] == "group" and n["parent"] is None]
    runs: dict[str, dict[str, list[float]]] = {"old": {}, "new": {}}
    with frontend.server() as port, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"),
                                    args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        for r in range(rounds):
            for which in (("old", "new") if r % 2 == 0 else ("new", "old")):
                url = (f"http://127.0.0.1:{port}/js/dev/harness.html?graph={path}&risk=0"
                       f"&bundle=/artifacts/bench_bundles/{which}.js")
                for key, ms in measure(page, url, groups, top).items():
                    runs[which].setdefault(key, []).append(ms)
        browser.close()
    if errors:
        raise RuntimeError(f"page errors: {errors}")
    rows = []
    for key in runs["old"]:
        old, new = runs["old"][key], runs["new"].get(key, [float("nan")])
        row = {"measure": key, "old_best": min(old), "new_best": min(new),
               "old_median": statistics.median(old), "new_median": statistics.median(new)}
        row["ratio_best"] = row["new_best"] / row["old_best"]
        row["ratio_median"] = row["new_median"] / row["old_median"]
        rows.append(row)
        print(f"{key:<36} best old {row['old_best']:7.1f} new {row['new_best']:7.1f} ms "
              f"({row['ratio_best']:4.2f}x); median old {row['old_median']:7.1f} "
              f"new {row['new_median']:7.1f} ms ({row['ratio_median']:4.2f}x)")
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=pathlib.Path, required=True)
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--graph", type=pathlib.Path, help="a saved graph JSON instead of --size")
    args = parser.parse_args()
    main(args.baseline, args.size, args.rounds, args.graph)

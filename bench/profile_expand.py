"""CPU profile (Chrome DevTools protocol) of expanding one group of a big collapsed graph.

Prints the functions with the most self time on the page and the worker's own layout time,
which is what bench/NOTES.md quotes for the expand target. Uses the harness's synthetic
transformer-like graph (``?blocks=N``: N collapsed blocks of 7 layers).

Run: ``.venv/bin/python bench/profile_expand.py [--blocks 1500]``.
"""

from __future__ import annotations

import argparse
import collections
import pathlib
import shutil
import sys

sys.path.insert(0, str(pathlib.Path(__file__).parent))

from bench_frontend import PAGE_HELPERS, server  # noqa: E402

_MIRROR_ROWS = "document.querySelectorAll('[data-role=node-index] [data-node-id]').length"


def main(blocks: int = 1500, top: int = 12) -> dict:
    from playwright.sync_api import sync_playwright

    with server() as port, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"),
                                    args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.goto(f"http://127.0.0.1:{port}/js/dev/harness.html?blocks={blocks}&risk=0")
        page.wait_for_function("window.__rw?.ready")
        page.evaluate("window.__rw.finalPaint")
        page.evaluate(PAGE_HELPERS)
        n = page.evaluate("window.__rw.model.state.graph.nodes.length")
        # the look-ahead lays out the blocks' inside in idle time: the first expand finds it
        ahead = page.evaluate("__rwBench.lookahead()")
        # one expand to warm up, then the profiled one (another block: its shape is cached)
        first_expand = page.evaluate("__rwBench.expand(['block_3'])")
        page.evaluate("__rwBench.expand([])")
        rows_before = page.evaluate(_MIRROR_ROWS)
        children = page.evaluate(
            "window.__rw.model.state.graph.nodes.filter((n) => n.parent === 'block_7').length")
        cdp = page.context.new_cdp_session(page)
        cdp.send("Profiler.enable")
        cdp.send("Profiler.setSamplingInterval", {"interval": 200})
        cdp.send("Profiler.start")
        first = page.evaluate("__rwBench.expand(['block_7'])")
        profile = cdp.send("Profiler.stop")["profile"]
        rows_after = page.evaluate(_MIRROR_ROWS)
        browser.close()
    by_id = {node["id"]: node for node in profile["nodes"]}
    self_us: collections.Counter = collections.Counter()
    deltas = profile["timeDeltas"]
    for sample, dt in zip(profile["samples"], deltas, strict=True):
        frame = by_id[sample]["callFrame"]
        name = frame["functionName"] or "(anonymous)"
        if name in ("(idle)", "(program)"):
            continue
        self_us[f"{name} ({frame['url'].split('/')[-1] or 'native'}:{frame['lineNumber']})"] += dt
    print(f"look-ahead: {ahead['shapes']} group shape(s) laid out, done {ahead['ms']:.0f} ms after "
          f"the final layout; first expand {first_expand['ms']:.0f} ms "
          f"({first_expand['laidOut']} laid out, {first_expand['cached']} cached)")
    print(f"{n:,} nodes in the graph; expand one group: {first['ms']:.0f} ms to the frame, "
          f"worker {first['workerMs']:.0f} ms, {first['laidOut']} levels laid out, "
          f"{first['cached']} cached")
    busy = sum(self_us.values()) / 1e3
    print(f"page main thread busy {busy:.0f} ms; top self time:")
    for name, us in self_us.most_common(top):
        print(f"  {us / 1e3:7.1f} ms  {name}")
    return {"nodes": n, "expand": first, "busy_ms": busy, "top": self_us.most_common(top),
            "lookahead": ahead, "first_expand": first_expand,
            "rows_before": rows_before, "rows_after": rows_after, "children": children}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=1500)
    main(parser.parse_args().blocks)

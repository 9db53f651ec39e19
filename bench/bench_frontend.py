"""The graph view in headless Chromium against `keras.utils.plot_model` on the same model.

For N-layer stacks (10 ... 10k layers), deep nesting and a 24-block transformer:
- time to first paint of the collapsed graph: the built bundle in a plain page
  (js/dev/harness.html), from `render()` with the graph JSON in hand to the first frame that
  shows the layout, against `plot_model(expand_nested=True, show_shapes=True)` to PNG;
- expanding one group, collapsing it, expanding everything (page-side, from the trait change
  to the frame that shows it), and pan/zoom frame rate with everything expanded;
- to_graph + JSON (what Python does before the page has the JSON).

Run: ``.venv/bin/python bench/bench_frontend.py [--sizes 10 100]``. Needs `npm run build`,
Chromium and graphviz's `dot` + pydot (``pip install -e ".[bench]"``).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import json
import os
import pathlib
import shutil
import sys
import tempfile
import threading
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(pathlib.Path(__file__).parent))

import bench_models as models  # noqa: E402
from timing import report  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
SIZES = (10, 100, 1000, 2000, 10_000)

_GRAPHS: dict[str, bytes] = {}


@contextlib.contextmanager
def server():
    """Serves the repository root, and the graph JSONs under /__bench/<name>.json."""

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            if self.path.startswith("/__bench/"):
                body = _GRAPHS[self.path.split("/")[-1]]
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            super().do_GET()

    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(ROOT))
    )
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield httpd.server_address[1]
    finally:
        httpd.shutdown()


# In-page helpers: the time from a trait change to the first frame after the new layout.
PAGE_HELPERS = """
window.__rwBench = {
  async painted(change) {
    const root = document.querySelector('.rw-editor');
    const t0 = performance.now();
    change();
    await new Promise((res) => {
      if (root.dataset.layout === 'ready') return res();
      const mo = new MutationObserver(() => {
        if (root.dataset.layout === 'ready') { mo.disconnect(); res(); }
      });
      mo.observe(root, { attributes: true, attributeFilter: ['data-layout'] });
    });
    await new Promise(requestAnimationFrame);
    const ms = performance.now() - t0;
    // a big graph's node mirror is written just after the frame: count its rows then
    const index = document.querySelector('[data-role=node-index]');
    while (index.dataset.stale === 'true') await new Promise((res) => setTimeout(res, 5));
    return { ms, mirrorMs: performance.now() - t0 - ms, laidOut: Number(root.dataset.layoutLaidOut),
             cached: Number(root.dataset.layoutCached), workerMs: Number(root.dataset.layoutMs),
             nodes: document.querySelectorAll('[data-role=node-index] [data-node-id]').length };
  },
  expand(ids) { return this.painted(() => window.__rw.model.py('expanded', ids)); },
  // the insides of the collapsed groups, laid out in idle time after the final layout
  async lookahead() {
    const root = document.querySelector('.rw-editor');
    while (root.dataset.lookahead !== 'done') await new Promise((res) => setTimeout(res, 5));
    return { shapes: Number(root.dataset.lookaheadShapes), ms: Number(root.dataset.lookaheadMs) };
  },
  async frames(n) {
    const c = document.querySelector('[data-role=graph-canvas]');
    const r = c.getBoundingClientRect();
    await new Promise(requestAnimationFrame);
    const draws = [];
    const t = performance.now();
    for (let i = 0; i < n; i++) {
      c.dispatchEvent(new WheelEvent('wheel', {deltaY: i % 2 ? 40 : -40,
        clientX: r.left + 200 + i, clientY: r.top + 150, bubbles: true, cancelable: true}));
      await new Promise(requestAnimationFrame);
      const index = document.querySelector('[data-role=node-index]');
      draws.push(Number(index.dataset.drawMs));
    }
    const ms = (performance.now() - t) / n;
    return { fps: 1000 / ms, frameMs: ms, drawMs: Math.max(...draws) };
  },
};
"""


def publish(name: str, graph: dict) -> str:
    """Serves ``graph`` (JSON) at the returned path of `server`'s port."""
    _GRAPHS[name] = json.dumps(graph).encode()
    return f"/__bench/{name}"


def _open(page, port: int, name: str) -> tuple[float, float]:
    """Seconds to the first paint (quick layout) and to the ELK layout on screen."""
    page.goto(f"http://127.0.0.1:{port}/js/dev/harness.html?graph=/__bench/{name}&risk=0")
    page.wait_for_function("window.__rw?.ready", timeout=120_000)
    first = page.evaluate("window.__rw.firstPaint")
    final = page.evaluate("window.__rw.finalPaint")
    page.evaluate(PAGE_HELPERS)
    return first / 1e3, final / 1e3


def _groups(graph: dict, top_only: bool = False) -> list[str]:
    return [n["id"] for n in graph["nodes"]
            if n["kind"] == "group" and (not top_only or n["parent"] is None)]


def _plot_model(model, repeat: int) -> float:
    import keras

    out = pathlib.Path(tempfile.mkdtemp()) / "model.png"
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        keras.utils.plot_model(model, to_file=str(out), expand_nested=True, show_shapes=True)
        best = min(best, time.perf_counter() - start)
    shutil.rmtree(out.parent, ignore_errors=True)
    return best


def _mirror_note(expand: dict) -> str:
    """The node list (the DOM mirror) of a big graph is written just after the frame."""
    ms = expand.get("mirrorMs", 0)
    return f"; node list {ms:.0f} ms after the frame" if ms >= 1 else ""


def bench_model(
    page, port: int, label: str, model, *, expand_all: bool, paints: int = 3
) -> list[dict]:
    """Every front-end measure for one model; returns the result rows."""
    from risk_widgets.graph.build import to_graph

    start = time.perf_counter()
    graph = to_graph(model).to_json()
    body = json.dumps(graph).encode()
    to_json_s = time.perf_counter() - start
    name = f"{label.replace(' ', '_')}.json"
    _GRAPHS[name] = body
    n_nodes = len(graph["nodes"])
    paints_s = [_open(page, port, name) for _ in range(paints)]
    paint = min(p[0] for p in paints_s)
    final = min(p[1] for p in paints_s)
    plot = _plot_model(model, repeat=1 if n_nodes > 1500 else 2)
    big = "10k" in label
    rows = [report(f"first paint, collapsed, {label}", paint, plot,
                   "plot_model(expand_nested, show_shapes) to PNG",
                   target="≤ 0.1× and < 0.5 s" if big else None)]
    rows.append(report(f"final layout (worker) on screen, collapsed, {label}", final, plot,
                       "plot_model to PNG"))
    rows.append(report(f"to_graph + JSON + first paint, {label}", to_json_s + paint, plot,
                       "plot_model to PNG"))
    top = _groups(graph, top_only=True)
    if top:
        pick = top[len(top) // 2]
        # What a user meets: the expand comes a moment after the graph is on screen, once
        # the look-ahead has laid out the collapsed groups' insides (lookahead.ts).
        ahead = page.evaluate("__rwBench.lookahead()")
        first = page.evaluate(f"__rwBench.expand([{json.dumps(pick)}])")
        closed = page.evaluate("__rwBench.expand([])")
        other = top[len(top) // 2 - 1] if len(top) > 1 else pick
        again = page.evaluate(f"__rwBench.expand([{json.dumps(other)}])")
        page.evaluate("__rwBench.expand([])")
        rows.append(report(f"expand one group, {label}", first["ms"] / 1e3, None, None,
                           target="< 100 ms", note=f"{first['laidOut']} levels laid out, "
                           f"{first['cached']} cached, worker {first['workerMs']:.0f} ms"
                           f"{_mirror_note(first)}; {ahead['shapes']} group shape(s) laid out "
                           f"ahead, done {ahead['ms']:.0f} ms after the final layout"))
        rows.append(report(f"collapse it again, {label}", closed["ms"] / 1e3, None, None,
                           note=f"{closed['cached']} level(s) from the cache"))
        rows.append(report(f"expand another group of the same shape, {label}",
                           again["ms"] / 1e3, None, None,
                           note=f"{again['cached']} cached, {again['laidOut']} laid out"))
    if expand_all and top:
        every = page.evaluate(f"__rwBench.expand({json.dumps(_groups(graph))})")
        rows.append(report(f"expand everything ({every['nodes']:,} visible nodes), {label}",
                           every["ms"] / 1e3, None, None,
                           target="< 2 s" if every["nodes"] >= 9000 else None,
                           note=f"{every['laidOut']} levels laid out, {every['cached']} cached, "
                           f"worker {every['workerMs']:.0f} ms{_mirror_note(every)}"))
        for where, setup in (("at the expanded view", ""), ("zoomed out to fit", "f")):
            if setup:
                page.locator("[data-role=graph-canvas]").focus()
                page.keyboard.press(setup)
            fr = page.evaluate("__rwBench.frames(60)")
            rows.append(report(f"zoom frame rate {where}, {every['nodes']:,} nodes, {label}",
                               fr["frameMs"] / 1e3, None, None, target="≥ 30 fps",
                               note=f"{fr['fps']:.0f} fps; slowest canvas draw "
                               f"{fr['drawMs']:.1f} ms", unit="fps"))
        page.evaluate("__rwBench.expand([])")
    return rows


def main(sizes: tuple[int, ...] = SIZES, extra: bool = True) -> list[dict]:
    from playwright.sync_api import sync_playwright

    rows: list[dict] = []
    with server() as port, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"),
                                    args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        for n in sizes:
            label = f"{n // 1000}k layers" if n >= 1000 else f"{n} layers"
            rows += bench_model(page, port, label, models.cached("stacked", n),
                                expand_all=n >= 1000)
        if extra:
            rows += bench_model(page, port, "8-deep nesting", models.cached("nested", 8),
                                expand_all=True)
            rows += bench_model(page, port, "24-block transformer",
                                models.cached("transformer", 24), expand_all=True)
        browser.close()
        if errors:
            raise RuntimeError(f"page errors: {errors}")
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=list(SIZES))
    parser.add_argument("--no-extra", action="store_true")
    args = parser.parse_args()
    main(tuple(args.sizes), extra=not args.no_extra)

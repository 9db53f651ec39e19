"""The graph view before and after find / details / family colours / overlays / minimap
(issue #35), on the 10k-layer model: the same page, the two builds of the bundle in turn.

Measures what bench/bench_frontend.py measures (first paint of the collapsed graph, the
worker's layout on screen, expanding one group, collapsing it, expanding everything), with
the old and the new bundle alternating in one headless Chromium, best of ``--rounds`` each,
and prints new / old per measure (the features must not cost more than 10%): the best and
the median of the rounds (on a busy shared machine the median is the steadier of the two).

With ``--cpu``, each expand / collapse is traced (Chromium) and the page main thread's CPU
time over it is printed too, in all and per kind of work (JS, style, layout, pre-paint,
paint): on a shared machine the steadier comparison. Expand and collapse are sampled three
times per page load (three groups), 300 ms apart.

Run: ``.venv/bin/python bench/bench_graph_view.py --baseline /path/to/old/widget.js --cpu``
(build the old bundle from the commit before, e.g. ``git worktree`` + ``npm run build``;
``--graph`` takes the 10k-layer graph's JSON saved before: building the model takes minutes).
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


#: trace events of the main thread split out with --cpu (their thread time in the window)
EVENTS = {"FunctionCall": "JS calls", "TimerFire": "JS timers",
          "UpdateLayoutTree": "style", "Layout": "layout", "PrePaint": "pre-paint",
          "Paint": "paint"}


def _step(browser, page, ids: list[str], cpu: bool) -> tuple[float, dict[str, float]]:
    """One expand (``ids``; [] collapses): wall milliseconds from the trait change to the
    frame, and (``cpu``) the page's main-thread CPU milliseconds over the same span, in all
    and per kind of work (`EVENTS`), read from a Chromium trace (the thread time of its
    tasks): on a busy shared machine the wall time mostly says how long the page waited for
    a core, the CPU time what it did."""
    page.wait_for_timeout(300)  # the previous step's idle work (node mirror rows) is done
    call = f"__rwBench.expand({ids!r})"
    if not cpu:
        return page.evaluate(call)["ms"], {}
    trace = SERVED / "trace.json"
    browser.start_tracing(page=page, path=str(trace),
                          categories=["toplevel", "blink.user_timing", "devtools.timeline"])
    ms = page.evaluate(f"(async () => {{ performance.mark('rw-start'); const r = await {call};"
                       " performance.mark('rw-end'); return r.ms; })()")
    browser.stop_tracing()
    events = json.loads(trace.read_text())
    events = events["traceEvents"] if isinstance(events, dict) else events
    marks = {e["name"]: e for e in events if e["name"] in ("rw-start", "rw-end")}
    start, end, main = marks["rw-start"]["ts"], marks["rw-end"]["ts"], marks["rw-start"]["tid"]
    cpu_ms = {"main-thread CPU": 0.0, **{f"CPU {label}": 0.0 for label in EVENTS.values()}}
    for e in events:
        if e.get("tid") != main or "tdur" not in e or not start <= e["ts"] <= end:
            continue
        if e["name"] == "ThreadControllerImpl::RunTask":
            cpu_ms["main-thread CPU"] += e["tdur"] / 1e3
        elif e["name"] in EVENTS and e.get("ph") == "X":
            cpu_ms[f"CPU {EVENTS[e['name']]}"] += e["tdur"] / 1e3
    return ms, cpu_ms


def measure(browser, page, url: str, groups: list[str], top: list[str],
            cpu: bool = False) -> dict[str, float | list]:
    """Milliseconds of each step on one fresh page (a list: several samples)."""
    page.goto(url)
    page.wait_for_function("window.__rw?.ready", timeout=120_000)
    out: dict[str, float | list] = {
        "first paint": page.evaluate("window.__rw.firstPaint"),
        "final layout on screen": page.evaluate("window.__rw.finalPaint"),
    }
    page.evaluate(frontend.PAGE_HELPERS)
    page.evaluate("__rwBench.lookahead()")
    # three groups in turn (top, middle, bottom of the graph): three samples per page load
    for pick in (top[1], top[len(top) // 2], top[-2]):
        for key, ids in (("expand one group", [pick]), ("collapse it again", [])):
            ms, cpu_ms = _step(browser, page, ids, cpu)
            out.setdefault(key, []).append(ms)
            for what, v in cpu_ms.items():
                out.setdefault(f"{key}: {what}", []).append(v)
    ms, cpu_ms = _step(browser, page, groups, cpu)
    out["expand everything"] = ms
    for what, v in cpu_ms.items():
        out[f"expand everything: {what}"] = v
    return out


def main(baseline: pathlib.Path, size: int = 10_000, rounds: int = 3,
         graph_file: pathlib.Path | None = None, cpu: bool = False) -> list[dict]:
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
                for key, ms in measure(browser, page, url, groups, top, cpu).items():
                    runs[which].setdefault(key, []).extend(ms if isinstance(ms, list) else [ms])
        browser.close()
    if errors:
        raise RuntimeError(f"page errors: {errors}")
    rows = []
    for key in runs["old"]:
        old, new = runs["old"][key], runs["new"].get(key, [float("nan")])
        row = {"measure": key, "old_best": min(old), "new_best": min(new),
               "old_median": statistics.median(old), "new_median": statistics.median(new),
               "samples": len(old)}
        row["ratio_best"] = row["new_best"] / max(row["old_best"], 1e-9)
        row["ratio_median"] = row["new_median"] / max(row["old_median"], 1e-9)
        rows.append(row)
        print(f"{key:<48} best old {row['old_best']:7.1f} new {row['new_best']:7.1f} ms "
              f"({row['ratio_best']:4.2f}x); median old {row['old_median']:7.1f} "
              f"new {row['new_median']:7.1f} ms ({row['ratio_median']:4.2f}x); "
              f"{len(old)} samples each")
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=pathlib.Path, required=True)
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--graph", type=pathlib.Path, help="a saved graph JSON instead of --size")
    parser.add_argument("--cpu", action="store_true",
                        help="also the main thread's CPU time of each expand (Chromium trace)")
    args = parser.parse_args()
    main(args.baseline, args.size, args.rounds, args.graph, args.cpu)

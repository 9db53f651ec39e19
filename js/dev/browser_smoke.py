"""Drives js/dev/harness.html in system Chromium: layout, expand, click/shift/band selection,
toolbar messages, risk summary, 1000+ nodes. Run: .venv/bin/python js/dev/browser_smoke.py
(after `npm run build`). Screenshots go to /tmp/rw_*.png. Not collected by pytest."""

from __future__ import annotations

import functools
import http.server
import json
import pathlib
import shutil
import sys
import threading

from playwright.sync_api import sync_playwright

ROOT = pathlib.Path(__file__).resolve().parents[2]


def serve() -> int:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(ROOT))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd.server_address[1]


def nodes(page) -> dict[str, dict]:
    return page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('[data-role=node-index] [data-node-id]')]
             .map(d => [d.dataset.nodeId, {...d.dataset}]))"""
    )


def wait_layout(page) -> None:
    page.wait_for_function("document.querySelector('.rw-editor')?.dataset.layout === 'ready'")
    page.wait_for_timeout(100)


def click_node(page, nid: str, shift: bool = False) -> None:
    d = nodes(page)[nid]
    box = page.locator("[data-role=graph-canvas]").bounding_box()
    if shift:
        page.keyboard.down("Shift")
    page.mouse.click(box["x"] + float(d["x"]) + float(d["w"]) / 2,
                     box["y"] + float(d["y"]) + float(d["h"]) / 2)
    if shift:
        page.keyboard.up("Shift")


def main() -> int:
    port = serve()
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: m.type == "error" and errors.append(m.text))
        page.goto(f"http://127.0.0.1:{port}/js/dev/harness.html")
        page.wait_for_function("window.__rw?.ready")
        wait_layout(page)
        ns = nodes(page)
        print("visible:", sorted(ns), "engine:", page.get_attribute(".rw-editor", "data-layout-engine"))
        assert set(ns) == {"input_layer", "block_0", "block_1", "block_2", "head", "output_0"}, ns
        page.screenshot(path="/tmp/rw_collapsed.png")

        # Expand block_0 by clicking its +; then attn.
        box = page.locator("[data-role=graph-canvas]").bounding_box()
        d = nodes(page)["block_0"]
        page.mouse.click(box["x"] + float(d["toggleX"]), box["y"] + float(d["toggleY"]))
        page.wait_for_timeout(50)
        wait_layout(page)
        ns = nodes(page)
        assert "block_0/attn" in ns and ns["block_0"]["expanded"] == "true", ns
        page.wait_for_timeout(200)
        saves = page.evaluate("window.__rw.model.saves")
        assert saves and saves[-1]["expanded"] == ["block_0"], saves
        d = ns["block_0/attn"]
        page.mouse.dblclick(box["x"] + float(d["x"]) + 20, box["y"] + float(d["y"]) + 20)
        wait_layout(page)
        ns = nodes(page)
        assert "block_0/attn/query" in ns, ns
        assert ns["block_0/attn/query"]["patch"] == "lora"

        # Click selects, shift-click adds.
        click_node(page, "block_0/attn/key")
        click_node(page, "block_0/attn/value", shift=True)
        ns = nodes(page)
        sel = sorted(k for k, v in ns.items() if v["selected"] == "true")
        assert sel == ["block_0/attn/key", "block_0/attn/value"], sel
        kinds = page.eval_on_selector_all("[data-role=patch-kind] option", "os => os.map(o => o.value)")
        assert kinds == ["lora", "svf", "sample", "vote", "sculpt"], kinds
        page.fill("[data-param=rank]", "4")
        page.click("[data-action=apply]")
        sent = page.evaluate("window.__rw.model.sent")
        assert sent[-1] == {"type": "apply", "kind": "lora", "params": {"rank": 4, "alpha": None, "dropout": 0},
                            "targets": ["block_0/attn/key", "block_0/attn/value"]}, sent
        assert page.evaluate("window.__rw.model.state.selection").__len__() == 2

        # Rubber band over the attention children.
        ns = nodes(page)
        q, o = ns["block_0/attn/query"], ns["block_0/attn/attention_output"]
        xs = [float(v["x"]) for k, v in ns.items() if k.startswith("block_0/attn/")]
        x0 = min(xs) - 5
        x1 = max(float(v["x"]) + float(v["w"]) for k, v in ns.items() if k.startswith("block_0/attn/")) + 5
        y0 = float(q["y"]) - 5
        y1 = float(o["y"]) + float(o["h"]) + 5
        page.mouse.move(box["x"] + x0, box["y"] + y0)
        page.mouse.down()
        page.mouse.move(box["x"] + (x0 + x1) / 2, box["y"] + (y0 + y1) / 2, steps=3)
        page.mouse.move(box["x"] + x1, box["y"] + y1, steps=3)
        page.screenshot(path="/tmp/rw_band.png")
        page.mouse.up()
        ns = nodes(page)
        sel = sorted(k for k, v in ns.items() if v["selected"] == "true")
        print("band selected:", sel)
        assert sel == sorted(["block_0/attn/query", "block_0/attn/key", "block_0/attn/value", "block_0/attn/attention_output"]), sel

        # Python answers an apply with a new graph: same structure, so no new layout is needed.
        page.evaluate("""() => { const g = structuredClone(window.__rw.model.state.graph);
            g.nodes.find(n => n.id === 'block_0/attn/key').patch = {kind: 'lora', params: {rank: 4}};
            window.__rw.model.py('graph', g); }""")
        assert page.get_attribute(".rw-editor", "data-layout") == "ready"
        page.wait_for_timeout(50)
        assert nodes(page)["block_0/attn/key"]["patch"] == "lora"

        # Toolbar buttons and Python status.
        page.evaluate("window.__rw.model.py('history', {entries: [{kind: 'lora', params: {}, targets: ['x'], label: 'LoRA r=4 on 2 layers'}], index: 1})")
        page.click("[data-action=undo]")
        assert page.evaluate("window.__rw.model.sent.at(-1)") == {"type": "undo"}
        assert page.is_disabled("[data-action=redo]")
        page.evaluate("window.__rw.model.py('status', {level: 'error', message: 'lora: `rank` must be >= 1'})")
        assert "rank" in page.text_content("[data-role=status]")
        page.fill("[data-role=export-path]", "out.keras")
        page.click("[data-action=export]")
        assert page.evaluate("window.__rw.model.sent.at(-1)") == {"type": "export", "path": "out.keras", "fold": True}

        summary = json.loads(page.get_attribute("[data-role=risk-plot]", "data-summary"))
        print("risk summary:", summary, "epoch text:", page.text_content("[data-role=epoch]"))
        assert summary["n"] == 400 and summary["epoch"] == 1
        page.evaluate("window.__rw.model.py('risk', window.__rw.risk(10000, 2))")
        summary = json.loads(page.get_attribute("[data-role=risk-plot]", "data-summary"))
        assert summary["n"] == 10000 and summary["epoch"] == 2, summary
        page.screenshot(path="/tmp/rw_expanded.png", full_page=True)

        # Python selects a layer inside a collapsed group: the view expands it and scrolls to it.
        page.evaluate("window.__rw.model.py('selection', ['block_2/attn/value'])")
        page.wait_for_function("document.querySelector('[data-node-id=\"block_2/attn/value\"]')")
        wait_layout(page)
        ns = nodes(page)
        assert ns["block_2"]["expanded"] == "true" and ns["block_2/attn"]["expanded"] == "true", ns
        assert ns["block_2/attn/value"]["selected"] == "true", ns["block_2/attn/value"]
        assert ns["block_2/attn/value"]["onscreen"] == "true", ns["block_2/attn/value"]
        assert ns["block_1"]["expanded"] == "false", ns["block_1"]
        page.wait_for_timeout(200)
        saved = page.evaluate("window.__rw.model.saves.at(-1).expanded")
        assert {"block_2", "block_2/attn"} <= set(saved), saved

        # Wheel zoom changes the node rectangles.
        w0 = float(nodes(page)["head"]["w"])
        page.mouse.move(box["x"] + 300, box["y"] + 200)
        page.mouse.wheel(0, -300)
        page.wait_for_timeout(100)
        assert float(nodes(page)["head"]["w"]) > w0

        # Without Worker support, ELK runs on the page.
        page.goto(f"http://127.0.0.1:{port}/js/dev/harness.html?noworker=1")
        page.wait_for_function("window.__rw?.ready")
        wait_layout(page)
        assert page.get_attribute(".rw-editor", "data-layout-engine") == "main-thread"
        assert "block_1" in nodes(page)

        # 1000+ visible nodes, all expanded.
        page.goto(f"http://127.0.0.1:{port}/js/dev/harness.html?blocks=150&expand=all&risk=0")
        page.wait_for_function("window.__rw?.ready")
        t0 = page.evaluate("performance.now()")
        page.wait_for_function("document.querySelector('.rw-editor')?.dataset.layout === 'ready'", timeout=120_000)
        t1 = page.evaluate("performance.now()")
        n = page.evaluate("document.querySelectorAll('[data-role=node-index] [data-node-id]').length")
        # Frame time of a pan (draw + mirror update).
        ms = page.evaluate("""async () => {
            const c = document.querySelector('[data-role=graph-canvas]');
            const r = c.getBoundingClientRect();
            const t = performance.now();
            for (let i = 0; i < 20; i++) {
              c.dispatchEvent(new WheelEvent('wheel', {deltaY: i % 2 ? 50 : -50, clientX: r.left + 100, clientY: r.top + 100, bubbles: true, cancelable: true}));
              await new Promise(requestAnimationFrame);
            }
            return (performance.now() - t) / 20;
        }""")
        print(f"{n} visible nodes laid out in {t1 - t0:.0f} ms after load; ~{ms:.1f} ms per zoom frame")
        assert n > 1000
        page.screenshot(path="/tmp/rw_big.png")
        browser.close()
    errors = [e for e in errors if "404" not in e]
    if errors:
        print("browser errors:", errors)
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())

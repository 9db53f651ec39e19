"""Risk plot update with 10k points: the Python side (`live.risk_view`: predict with risk and
pack the arrays as binary buffers) plus the page side (the `risk` trait change to the frame
that shows the new plot, in headless Chromium). The kernel-to-browser transfer between the
two (160 KB of float32 buffers over the local websocket) is not included."""

from __future__ import annotations

import os
import shutil
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(__file__))

import numpy as np  # noqa: E402
from timing import best_time, report  # noqa: E402

_PAGE = """async (n) => {
  const payload = window.__rw.risk(n, 7);
  const plot = document.querySelector('[data-role=risk-plot]');
  const best = [];
  for (let i = 0; i < 5; i++) {
    payload.epoch = 8 + i;
    await new Promise(requestAnimationFrame);
    const t0 = performance.now();
    window.__rw.model.py('risk', payload);
    await new Promise(requestAnimationFrame);
    if (JSON.parse(plot.dataset.summary).n !== n) throw new Error('plot not updated');
    best.push(performance.now() - t0);
  }
  return Math.min(...best);
}"""


def main(n: int = 10_000) -> list[dict]:
    from bench_frontend import server
    from playwright.sync_api import sync_playwright

    from risk_widgets import demo
    from risk_widgets.editor import live
    from risk_widgets.risk import sample

    model = sample.Wrapper(n_samples=16, rate=0.1)(demo.regression_mlp())
    x = np.linspace(-6, 6, n, dtype="float32")[:, None]
    y = (x**3 / 50).astype("float32")
    py_s = best_time(lambda: live.risk_view(model, x, y, epoch=1), repeat=3)
    with server() as port, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"),
                                    args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.goto(f"http://127.0.0.1:{port}/js/dev/harness.html")
        page.wait_for_function("window.__rw?.ready")
        page_ms = page.evaluate(_PAGE, n)
        browser.close()
    total = py_s + page_ms / 1e3
    return [report(f"risk plot update, {n:,} points (Python risk_view + page)", total, None, None,
                   target="< 100 ms", note=f"Python {py_s * 1e3:.0f} ms (sample T=16 predict + "
                   f"buffers), page {page_ms:.1f} ms; websocket transfer not included")]


if __name__ == "__main__":
    main()

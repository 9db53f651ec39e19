"""The standalone HTML export, opened from file:// in headless Chromium with every request
outside the file refused: the graph with its patch marks, the risk plot and the
calibration panel are drawn with the kernel's numbers, and groups still expand."""

from __future__ import annotations

import json

import numpy as np
import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    import keras

    import risk_widgets as rw
    from risk_widgets import demo

    keras.utils.set_random_seed(0)
    x, y = demo.cubic_data(n=200, seed=0)
    editor = rw.GraphEditor(demo.regression_mlp(), data=(x, y))
    editor.apply("lora", targets=["hidden_2"], rank=2)
    editor.apply("sample", n_samples=4, rate=0.2)
    path = editor.export_html(tmp_path_factory.mktemp("html") / "graph.html")
    return editor, path


def test_the_exported_page_draws_graph_marks_and_plots_without_a_kernel(page, exported):
    editor, path = exported
    outside = []

    def route(route):
        if route.request.url.startswith(("file:", "blob:", "data:")):
            return route.continue_()
        outside.append(route.request.url)
        return route.abort()

    page.route("**/*", route)
    page.goto(f"file://{path}")
    page.wait_for_selector("body[data-rendered=true]")
    rows = page.locator("[data-role=node-index] [data-node-id]")
    expect(rows.first).to_be_attached()
    ids = rows.evaluate_all("els => els.map(e => e.dataset.nodeId)")
    expected = {n["id"] for n in editor.graph["nodes"] if n.get("parent") is None}
    assert expected <= set(ids), (expected, ids)
    patched = page.locator("[data-role=node-index] [data-node-id][data-patch]:not([data-patch=''])")
    assert patched.count() >= 1

    plot = page.locator("[data-role=risk-plot]")
    page.wait_for_function("el => !!el.dataset.summary", arg=plot.element_handle())
    summary = json.loads(plot.get_attribute("data-summary"))
    assert summary["n"] == editor.risk["n"] == 200
    std = np.frombuffer(editor.risk["std"], dtype="<f4")
    assert summary["std_at_min_x"] == pytest.approx(float(std[0]), rel=1e-5)

    cal = json.loads(page.locator("[data-role=calibration]").get_attribute("data-summary"))
    assert cal["kind"] == "regression"
    assert cal["y"] == pytest.approx(editor.risk["calibration"]["observed"])
    assert page.locator("[data-role=calibration] canvas").count() >= 1
    assert page.locator(".rw-toolbar").is_hidden()  # nothing would answer it

    # find and the details panel need no kernel
    field = page.locator("[data-role=find-input]")
    field.fill("hidden_2")
    field.press("Enter")
    panel = page.locator("[data-role=details]")
    expect(panel).to_have_attribute("data-path", "hidden_2")
    node = next(n for n in editor.graph["nodes"] if n["id"] == "hidden_2")
    expect(panel).to_have_attribute("data-params", str(node["params"]))
    expect(panel.locator("[data-role=details-patches] tr[data-kind]")).to_have_count(
        len(node["patches"]))
    row = page.locator('[data-role=node-index] [data-node-id="hidden_2"]')
    expect(row).to_have_attribute("data-find", "hit")
    expect(row).to_have_attribute("data-class-name", "Dense")  # MC dropout on a LoRA on a Dense
    assert outside == [], outside

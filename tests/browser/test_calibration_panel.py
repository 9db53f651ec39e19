"""The calibration panel beside the live risk plot, in JupyterLab 4: a ``sample``-patched
cubic regression with targets shows its interval coverage at 10 nominal levels, the
numbers the kernel computes, and follows a patch (undo to the plain model: the panel says
there is no risk output), then takes a post-hoc conformal patch from the toolbar.
"""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

CELLS = [
    "import keras\n"
    "import numpy as np\n"
    "import risk_widgets as rw\n"
    "from risk_widgets import demo\n"
    "keras.utils.set_random_seed(0)\n"
    "x, y = demo.cubic_data(n=300, seed=0)\n"
    "editor = rw.GraphEditor(demo.regression_mlp(), data=(x, y))\n"
    "editor.apply('sample', n_samples=8, rate=0.2)\n"
    "editor",
]


def panel_summary(view) -> dict:
    raw = view.role("calibration").get_attribute("data-summary")
    assert raw, "the calibration panel has no data-summary"
    return json.loads(raw)


def test_calibration_panel_shows_the_kernels_coverage_and_follows_undo(notebook, browser_artifacts):
    nb = notebook(CELLS, app="lab")
    nb.run_all()
    view = nb.editor()
    panel = view.role("calibration")
    expect(panel).to_be_visible()
    page = panel_summary(view)
    kernel = json.loads(nb.execute(
        "import json\n"
        "print(json.dumps(editor.risk['calibration']))"
    ))
    assert page["kind"] == kernel["kind"] == "regression"
    assert len(page["x"]) == 10 and page["x"] == pytest.approx(kernel["nominal"])
    assert page["y"] == pytest.approx(kernel["observed"])
    expect(view.role("calibration-scores")).to_contain_text("calibration error")
    # the risk plot shares the row with the panel: both are drawn
    assert view.root.locator("[data-role=calibration] canvas").count() >= 1
    assert view.root.locator("[data-role=risk-plot] .rw-risk-plot canvas").count() >= 1

    view.role("risk-plot").screenshot(path=str(browser_artifacts / "calibration_panel.png"))

    view.click("undo")
    view.page.wait_for_function(
        "(el) => JSON.parse(el.dataset.summary || '{}').kind === 'none'",
        arg=panel.element_handle())
    expect(view.role("calibration-scores")).to_contain_text("no risk output")

    # post-hoc risk, no retraining: conformal from the toolbar, calibrated on the editor's
    # sample data; the panel reads its half-width as a std, so at the 0.8 level it shows the
    # conformal coverage, which on its own calibration rows is >= 0.8 by construction
    view.role("patch-kind").select_option("conformal")
    view.root.locator("[data-param=coverage]").fill("0.8")
    view.click("apply")
    view.page.wait_for_function(
        "(el) => JSON.parse(el.dataset.summary || '{}').kind === 'regression'",
        arg=panel.element_handle())
    # it replaces the undone sample entry: one entry, at index 1
    expect(view.role("history")).to_have_attribute("data-index", "1")
    expect(view.role("history")).to_contain_text("Conformal(coverage=0.8) on whole model")
    kernel = json.loads(nb.execute(
        "print(json.dumps([type(editor.model).__name__, editor.model.coverage,"
        " editor.risk['calibration']['observed']]))"))
    assert kernel[:2] == ["ConformalModel", 0.8]
    page = panel_summary(view)
    assert page["y"] == pytest.approx(kernel[2])
    assert page["y"][7] >= 0.8  # nominal level 0.8

"""The risk plot as the README shows it, taken from the real widget in JupyterLab (issue 29):
the quickstart's vote∘sculpt on ``demo.sine_data()``, the training rows drawn as dots, the
band narrow on the data and wide beyond it. And the calibration panel during a fit with
validation rows: held-out coverage per epoch, and the warning when it parts from the
training rows'.

The screenshot goes to ``artifacts/browser/risk.png``; with ``RW_DOCS_PICTURES=1``
also to ``docs/risk.png``, the README's picture: ``RW_DOCS_PICTURES=1 .venv/bin/python -m pytest
tests/browser/test_risk_picture.py -n 0``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

DOCS = Path(__file__).resolve().parents[2] / "docs"
EPOCHS = 60

CELLS = [
    "%load_ext risk_widgets",
    "import keras\n"
    "import numpy as np\n"
    "import risk_widgets as rw\n"
    "from risk_widgets import demo\n"
    "keras.utils.set_random_seed(0)\n"
    "x, y = demo.sine_data()\n"
    "grid = demo.plot_grid()\n"
    "editor = rw.GraphEditor(demo.regression_mlp(), data=grid)\n"
    "editor.apply('sculpt')\n"
    "editor.apply('vote', n_voters=5)\n"
    f"editor.fit(x, y, epochs={EPOCHS}, batch_size=32)\n"
    "editor",
]


def _summary(element) -> dict:
    raw = element.get_attribute("data-summary")
    assert raw, "no data-summary"
    return json.loads(raw)


def test_the_readme_picture_of_the_risk_plot(notebook, browser_artifacts):
    nb = notebook(CELLS, app="lab")
    nb.run_all()
    nb.page.evaluate("() => window.jupyterapp.shell.collapseLeft()")
    view = nb.editor()
    plot = view.role("risk-plot")
    expect(plot).to_be_visible()
    expect(view.role("epoch")).to_have_attribute("data-epoch", str(EPOCHS))
    page = _summary(plot)
    assert page["points"] == 256 and page["n"] == 400, page  # the dots and the grid
    legend = plot.locator(".u-legend .u-label").all_inner_texts()
    assert "training data" in legend and "prediction" in legend, legend
    # narrow on the data, wide beyond it (the kernel's numbers, as the page got them)
    kernel = json.loads(nb.execute(
        "import json\n"
        "_, std = editor.model(grid, return_risk=True)\n"
        "std = np.asarray(std)[:, 0]\n"
        "print(json.dumps({'min_x': float(std[0]), 'max_x': float(std[-1]),"
        " 'mid': float(std[np.abs(grid[:, 0]) < 1].mean())}))"))
    assert page["std_at_min_x"] == pytest.approx(kernel["min_x"], rel=1e-4)
    assert page["std_at_max_x"] == pytest.approx(kernel["max_x"], rel=1e-4)
    assert min(page["std_at_min_x"], page["std_at_max_x"]) > 3 * kernel["mid"], (page, kernel)
    plot.scroll_into_view_if_needed()
    shot = browser_artifacts / "risk.png"
    plot.screenshot(path=str(shot))
    if os.environ.get("RW_DOCS_PICTURES") == "1":
        shutil.copy(shot, DOCS / "risk.png")


HELD_OUT_CELLS = [
    "%load_ext risk_widgets",
    "import keras\n"
    "import numpy as np\n"
    "import risk_widgets as rw\n"
    "from risk_widgets import demo\n"
    "keras.utils.set_random_seed(0)\n"
    "x, y = demo.sine_data(n=200)\n"
    "editor = rw.GraphEditor(demo.regression_mlp(), data=demo.plot_grid())\n"
    "editor.apply('sculpt')\n"
    "history = editor.fit(x, y, epochs=3, batch_size=32, validation_split=0.25)\n"
    "editor",
]


def test_the_calibration_panel_shows_held_out_coverage_and_warns_when_it_parts(
        notebook, browser_artifacts):
    nb = notebook(HELD_OUT_CELLS, app="lab")
    nb.run_all()
    view = nb.editor()
    panel = view.role("calibration")
    expect(panel).to_be_visible()
    held = view.role("held-out")
    expect(held).to_contain_text("held-out 90% coverage")
    expect(held).to_contain_text("epoch 3:")
    shown = json.loads(panel.get_attribute("data-held-out"))
    kernel = json.loads(nb.execute(
        "import json; print(json.dumps(history.history['val_coverage']))"))
    assert shown["val_coverage"] == pytest.approx(kernel), (shown, kernel)
    assert _summary(view.role("risk-plot"))["points"] == 150  # without the held-out rows
    # a fit whose coverages part (the payload as live.held_out_view makes it for one)
    nb.execute(
        "from risk_widgets.editor.live import held_out_view\n"
        "risk = dict(editor.risk)\n"
        "risk['held_out'] = held_out_view({'val_nll': [0.4, 2.1], 'val_coverage': [0.9, 0.62],"
        " 'coverage': [0.9, 0.88]}, 150, 50)\n"
        "editor.risk = risk")
    warning = view.role("coverage-warning")
    expect(warning).to_be_visible()
    expect(warning).to_contain_text("part (gap 0.26)")
    expect(warning).to_contain_text("rw.risk.recalibrate(model, x_val, y_val)")
    panel.screenshot(path=str(browser_artifacts / "held_out_panel.png"))

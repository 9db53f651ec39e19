"""The live risk plot in JupyterLab 4: the cubic-regression demo, ``vote`` from the toolbar,
``editor.fit`` in the kernel streaming every epoch to the page, and bands that widen
outside the training range. Also: a bad parameter typed in the toolbar gives an inline
error and leaves the kernel and the model as they were.
"""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

EPOCHS = 4
N_VOTERS = 3

CELLS = [
    "%load_ext risk_widgets",
    "import keras\n"
    "import numpy as np\n"
    "import risk_widgets as rw\n"
    "from risk_widgets import demo\n"
    "keras.utils.set_random_seed(0)\n"
    "model = demo.regression_mlp()\n"
    "grid = demo.plot_grid()  # x in [-6, 6]; the training data is in [-4, 4]",
    "%risk_edit model --data grid",
    "editor = _\n"
    "assert isinstance(editor, rw.GraphEditor) and editor.original is model",
]

# Records every value [data-role=epoch] takes (a MutationObserver sees each change even
# when several arrive between two checks of the test).
_WATCH_EPOCHS = """(root) => {
  const el = root.querySelector('[data-role=epoch]');
  window.__rwEpochs = [];
  new MutationObserver(() => window.__rwEpochs.push(el.dataset.epoch))
    .observe(el, {attributes: true, attributeFilter: ['data-epoch']});
}"""

# The uPlot legend (label -> shown value) with the cursor where the test put it.
_LEGEND = """(root) => Object.fromEntries([...root.querySelectorAll(
  '[data-role=risk-plot] .u-legend .u-series')].map(r => [
    (r.querySelector('.u-label') || {}).textContent,
    (r.querySelector('.u-value') || {}).textContent]))"""


def summary(view) -> dict:
    raw = view.role("risk-plot").get_attribute("data-summary")
    assert raw, "the risk plot has no data-summary"
    return json.loads(raw)


def number(text: str) -> float:
    """A number as uPlot / the summary line shows it ("−0.012", "1,234.5", "1.2e-4")."""
    return float(text.strip().replace("\u2212", "-").replace(",", ""))


def std_at_plot_centre(view) -> tuple[float, float]:
    """``(x, std)`` read from the plot legend with the mouse over the middle of the plot
    (x = 0 on the [-6, 6] grid): std = (+2σ − −2σ) / 4 of the values the legend shows.

    The page's data-summary has std only at the ends of the x range; the middle comes from
    what the plot itself shows for the point under the cursor.
    """
    over = view.root.locator("[data-role=risk-plot] .u-over")
    over.scroll_into_view_if_needed()
    box = over.bounding_box()
    assert box is not None and box["width"] > 50, box
    view.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    legend = view.page.wait_for_function(
        "([root, js]) => { const l = eval(js)(root);"
        " return l.x && /\\d/.test(l.x) && /\\d/.test(l['+2σ'] || '') ? l : null; }",
        arg=[view.root.element_handle(), _LEGEND]).json_value()
    x = number(legend["x"])
    std = (number(legend["+2σ"]) - number(legend["−2σ"])) / 4
    return x, std


def test_vote_fit_streams_risk_and_bands_widen(notebook, browser_artifacts):
    nb = notebook(CELLS, app="lab")
    nb.run_all()
    view = nb.editor()
    plot = view.role("risk-plot")

    # the sample data gives a plot at once: the plain model, no risk yet
    expect(plot).to_be_visible()
    expect(plot).to_have_attribute("data-mode", "bands")
    before = summary(view)
    assert before["n"] == 400 and before["epoch"] is None, before
    assert before["std_at_min_x"] == 0 and before["std_at_max_x"] == 0, before
    expect(view.role("epoch")).to_have_text("before training")

    # -- a bad parameter from the toolbar: inline error, nothing changes --------------
    view.click_node("hidden_1")
    expect(view.role("selection-count")).to_have_text("1 selected")
    view.role("patch-kind").select_option("lora")
    view.root.locator("[data-param=rank]").fill("0")
    view.click("apply")
    status = view.role("status")
    expect(status).to_have_attribute("data-level", "error")
    expect(status).to_contain_text("rank")
    expect(status).to_contain_text(">= 1")
    expect(view.root.locator("[data-role=node-index] [data-node-id]:not([data-patch=''])")
           ).to_have_count(0)
    assert view.role("history").get_attribute("data-count") in (None, "0")
    assert nb.execute("print(editor.history['index'], editor.model is model, "
                      "editor.status['level'])") == "0 True error"
    view.click("clear-selection")
    expect(view.role("selection-count")).to_have_text("no selection")

    # -- vote from the toolbar, no selection: the whole model ------------------------
    view.role("patch-kind").select_option("vote")
    view.root.locator("[data-param=n_voters]").fill(str(N_VOTERS))
    view.click("apply")
    expect(view.role("history")).to_have_attribute("data-index", "1")
    expect(status).to_have_attribute("data-level", "info")
    expect(plot).to_be_visible()
    page_voted = view.page.wait_for_function(
        "(el) => { const s = JSON.parse(el.dataset.summary || 'null');"
        " return s && s.std_at_min_x > 0 && s.std_at_max_x > 0 ? s : null; }",
        arg=plot.element_handle()).json_value()
    assert page_voted["epoch"] is None, page_voted
    assert nb.execute(
        "print(type(editor.model).__name__, editor.history['entries'][0]['kind'],"
        " editor.history['entries'][0]['params'], editor.history['entries'][0]['targets'])"
    ) == f"RiskModel vote {{'n_voters': {N_VOTERS}}} []"

    # -- fit in the kernel: the page follows every epoch ---------------------------------
    view.root.evaluate(_WATCH_EPOCHS)
    nb.execute(
        "x, y = demo.cubic_data()  # x in [-4, 4]\n"
        f"history = editor.fit(x, y, epochs={EPOCHS})\n"
        "print(len(history.history['loss']))"
    )
    epoch = view.role("epoch")
    expect(epoch).to_have_attribute("data-epoch", str(EPOCHS))
    expect(epoch).to_contain_text(f"epoch {EPOCHS}/{EPOCHS}")
    expect(epoch).to_contain_text("loss")
    seen = [e for e in view.page.evaluate("() => window.__rwEpochs") if e]
    assert [int(e) for e in dict.fromkeys(seen)] == list(range(1, EPOCHS + 1)), seen
    after = summary(view)
    assert after["epoch"] == EPOCHS and after["n"] == 400, after
    assert after["y_pred_first"] != page_voted["y_pred_first"], (page_voted, after)
    assert after["y_pred_last"] != page_voted["y_pred_last"], (page_voted, after)
    expect(status).to_contain_text(f"Trained {EPOCHS} epochs")

    # the page got the kernel's numbers
    kernel = nb.execute(
        "import json\n"
        "y_hat, std = editor.model(grid, return_risk=True)\n"
        "std = np.asarray(std)[:, 0]\n"
        "mid = np.abs(grid[:, 0]) < 0.5\n"
        "print(json.dumps({'first': float(np.asarray(y_hat)[0, 0]), 'min_x': float(std[0]),"
        " 'max_x': float(std[-1]), 'mid': float(std[mid].mean())}))"
    )
    k = json.loads(kernel)
    assert after["y_pred_first"] == pytest.approx(k["first"], rel=1e-4, abs=1e-6), (after, k)
    assert after["std_at_min_x"] == pytest.approx(k["min_x"], rel=1e-4, abs=1e-6), (after, k)
    assert after["std_at_max_x"] == pytest.approx(k["max_x"], rel=1e-4, abs=1e-6), (after, k)

    # -- the bands widen outside the training range [-4, 4] -----------------------------
    x0, std0 = std_at_plot_centre(view)
    print(f"page: std at x=-6 {after['std_at_min_x']:.4g}, at x={x0:.3g} {std0:.4g}, "
          f"at x=6 {after['std_at_max_x']:.4g}; kernel: mean std for |x|<0.5 {k['mid']:.4g}")
    assert abs(x0) < 0.1, x0
    assert std0 == pytest.approx(k["mid"], abs=1e-3), (std0, k)
    assert after["std_at_min_x"] > 2 * std0, (after, std0)
    assert after["std_at_max_x"] > 2 * std0, (after, std0)
    mean_risk = re.search(r"mean risk (\S+)", view.role("risk-summary").inner_text())
    assert mean_risk, view.role("risk-summary").inner_text()
    assert max(after["std_at_min_x"], after["std_at_max_x"]) > number(mean_risk.group(1))
    nb.screenshot("live_risk_vote_fit")
    plot.screenshot(path=str(browser_artifacts / "live_risk_vote_fit_plot.png"))

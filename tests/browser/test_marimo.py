"""The editor in marimo (issue 28): ``notebooks/quickstart_marimo.py`` served by ``marimo
run``, driven in headless Chromium.

The kernel runs the quickstart (LoRA, undo / redo, export, a vote model's fit streaming to
the risk plot); the page then clicks a node (a cell that reads the editor runs again and
shows it), applies ``sample`` from the toolbar and sees the plot change, then undoes it. The
plot's numbers, decoded in the page from the ``risk`` trait's nested float32 buffers, equal
the kernel's after the fit, after the page's patch and after its undo: marimo once sent
nested bytes as base64 (marimo-team/marimo#2366) and fired no change event for a bytes
update (#5261).
"""

from __future__ import annotations

import ast
import json
import re
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect

from .editor_view import EditorView
from .marimo_server import start_marimo_app

pytestmark = pytest.mark.browser

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "quickstart_marimo.py"
EPOCHS = 30  # the notebook's fit
#: the kernel runs every cell when the page connects: TF import, LoRA, export, the fit
RUN_TIMEOUT_MS = 240_000


def summary(view: EditorView) -> dict:
    raw = view.role("risk-plot").get_attribute("data-summary")
    assert raw, "the risk plot has no data-summary"
    return json.loads(raw)


def wait_summary(view: EditorView, condition: str) -> dict:
    """The plot's summary once ``condition`` (JS over ``s``) holds."""
    return view.page.wait_for_function(
        "(el) => { const s = JSON.parse(el.dataset.summary || 'null');"
        f" return s && ({condition}) ? s : null; }}",
        arg=view.role("risk-plot").element_handle(), timeout=RUN_TIMEOUT_MS).json_value()


def kernel_view(page, reread: bool = True, **expected) -> dict:
    """The notebook's "kernel's risk view" cell (a dict literal), once it shows
    ``expected``; ``reread`` clicks its button first, so that the cell runs again."""
    if reread:
        page.get_by_role("button", name="Read the kernel's risk view again").click()
    # the cell's <pre> is drawn anew each time the cell runs: look it up on every check
    text = page.wait_for_function(
        "(want) => { const el = [...document.querySelectorAll('pre')]"
        ".find(e => e.textContent.includes(\"'y_pred_first'\"));"
        " if (!el) return null;"
        " const t = el.textContent.replaceAll(\"'\", '\"').replaceAll('None', 'null')"
        ".replaceAll('True', 'true').replaceAll('False', 'false');"
        " let v; try { v = JSON.parse(t); } catch (e) { return null; }"
        " return Object.entries(want).every(([k, x]) =>"
        " JSON.stringify(v[k]) === JSON.stringify(x)) ? el.textContent : null; }",
        arg=expected, timeout=RUN_TIMEOUT_MS).json_value()
    return ast.literal_eval(text)


def numbers(s: dict) -> dict:
    keys = ("n", "y_pred_first", "y_pred_last", "std_at_min_x", "std_at_max_x")
    return {k: s[k] for k in keys}


@pytest.fixture
def marimo_app(tmp_path, browser_artifacts):
    # a copy, so that the notebook's output/ folder lands in the temp folder
    shutil.copy(NOTEBOOK, tmp_path / NOTEBOOK.name)
    app = start_marimo_app(tmp_path / NOTEBOOK.name, tmp_path / "work")
    yield app
    app.stop()
    shutil.copy(app.log_path, browser_artifacts / "marimo_server.log")


def test_marimo_quickstart_click_patch_and_plot(page, marimo_app, tmp_path, browser_artifacts):
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.goto(marimo_app.url, wait_until="domcontentloaded")
    editors = page.locator(".rw-editor")
    expect(editors).to_have_count(2, timeout=RUN_TIMEOUT_MS)
    graph, risk = EditorView(page, editors.nth(0)), EditorView(page, editors.nth(1))
    graph.wait_ready(RUN_TIMEOUT_MS / 1000)
    risk.wait_ready(RUN_TIMEOUT_MS / 1000)

    # -- the kernel's steps reached the page: LoRA on query and value, the folded export
    expect(graph.root.locator("[data-node-id='block_0/attn/query'][data-patch='lora']")
           ).to_be_attached(timeout=RUN_TIMEOUT_MS)
    expect(graph.role("status")).to_contain_text("Exported folded model",
                                                 timeout=RUN_TIMEOUT_MS)
    assert (tmp_path / "output" / "quickstart_folded.keras").exists()

    # -- the fit streamed to the plot; the page decoded the kernel's arrays intact (the
    # button's run waits in marimo's queue until the fit's cell is done)
    fitted = wait_summary(risk, f"s.epoch === {EPOCHS} && s.std_at_max_x > 0")
    kernel = kernel_view(page, history=1, epoch=EPOCHS)
    assert numbers(fitted) == {k: kernel[k] for k in numbers(fitted)}, (fitted, kernel)
    assert fitted["n"] == 400, fitted

    # -- a click in the page reaches Python: the cell reading the editor runs again
    graph.click_node("token_embedding")
    expect(page.get_by_text(re.compile(r"Selected in the page:\W+token_embedding"))
           ).to_be_visible(timeout=60_000)

    # -- click a node of the risk model, apply `sample` from the toolbar: the plot follows
    risk.click_node("hidden_2")
    expect(risk.role("selection-count")).to_have_text("1 selected")
    kernel_view(page, reread=False, selection=["hidden_2"])  # ran again on the click
    risk.role("patch-kind").select_option("sample")
    risk.click("apply")
    expect(risk.role("history")).to_have_attribute("data-index", "2", timeout=60_000)
    sampled = wait_summary(risk, "s.epoch === null")
    assert numbers(sampled) != numbers(fitted), sampled
    kernel = kernel_view(page, history=2, epoch=None)
    assert numbers(sampled) == {k: kernel[k] for k in numbers(sampled)}, (sampled, kernel)

    # -- Undo in the page: epoch, n and mode stay as they were; the arrays go back to the
    # fitted model's, bit for bit
    risk.click("undo")
    expect(risk.role("history")).to_have_attribute("data-index", "1", timeout=60_000)
    undone = wait_summary(risk, f"s.y_pred_first === {json.dumps(fitted['y_pred_first'])}")
    assert numbers(undone) == numbers(fitted) and undone["epoch"] is None, (undone, fitted)
    kernel = kernel_view(page, history=1, epoch=None, mode="bands")
    assert numbers(undone) == {k: kernel[k] for k in numbers(undone)}, (undone, kernel)
    risk.role("risk-plot").screenshot(path=str(browser_artifacts / "marimo_risk_plot.png"))
    assert not errors, errors

"""Two adapters stacked on one node from the toolbar, both marked, and undo removing one.

A tiny MLP in JupyterLab: click ``head``, LoRA from the toolbar with a per-path rank
pattern (rank 4 on ``head``), DoRA rank 2 on the same (already adapted) node, both marks
listed on the node (``data-patches``, drawn from the same list as the canvas badges), Undo
leaves one. Each page state is checked against the kernel's model. The second adapter is
named in the toolbar (``name`` field); the Code button shows the history as a script (run in
the kernel: same adapters, outputs equal to 1e-6 after copying the weights) and the Params
toggle the parameter report (rows and totals those of ``rw.param_report``), which follows
the undo.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

CELLS = [
    "%load_ext risk_widgets",
    "import keras\n"
    "import risk_widgets as rw\n"
    "keras.utils.set_random_seed(0)\n"
    "x = keras.Input((4,), name='x')\n"
    "h = keras.layers.Dense(8, activation='relu', name='hidden')(x)\n"
    "model = keras.Model(x, keras.layers.Dense(2, name='head')(h), name='mlp')",
    "%risk_edit model",
    "editor = _",
]


def test_dora_stacked_on_a_lora_node_then_code_report_and_undo(notebook):
    nb = notebook(CELLS, app="lab")
    nb.run_all()
    view = nb.editor()
    view.wait_nodes(["x", "hidden", "head", "output_0"])
    head = view.root.locator('[data-node-id="head"]')

    view.click_node("head")
    expect(head).to_have_attribute("data-selected", "true")
    view.role("patch-kind").select_option("lora")
    view.root.locator("[data-param=rank]").fill("hid*: 2, head: 4")  # per-path ranks
    view.click("apply")
    expect(head).to_have_attribute("data-patches", "lora:default")
    expect(view.role("history")).to_have_attribute("data-index", "1")

    # the adapted node still offers adapters: a DoRA stacks on the LoRA
    expect(view.role("patch-kind").locator("option[value=lora]")).to_have_count(1)
    view.role("patch-kind").select_option("dora")
    view.root.locator("[data-param=rank]").fill("2")
    view.root.locator("[data-param=name]").fill("task_b")  # the adapter's name (else lora_1)
    view.click("apply")
    expect(head).to_have_attribute("data-patches", "lora:default dora:task_b")
    expect(head).to_have_text("head (Dense), patched: lora:default + dora:task_b")
    expect(view.role("history")).to_have_attribute("data-index", "2")
    assert nb.execute(
        "layer = editor.model.get_layer('head')\n"
        "print(type(layer).__name__, [(type(a).__name__, a.adapter_name, a.rank)"
        " for a in layer.adapters])"
    ) == "AdapterStack [('LoRAAdapter', 'default', 4), ('DoRAAdapter', 'task_b', 2)]"

    # -- Export as code: the panel shows the script, written next to the export path -----
    view.click("export_code")
    panel = view.role("code-panel")
    expect(panel).to_be_visible()
    expect(panel).to_have_attribute("data-patches", "2")
    expect(panel).to_have_attribute("data-path", "patched.py")
    text = view.role("code-text").input_value()
    assert "rw.add_lora(model, targets=['head'], rank={'hid*': 2, 'head': 4}" in text, text
    assert "rw.add_dora(" in text and "name='task_b'" in text, text
    view.role("code-copy").click()  # the clipboard, or (refused headless) the text selected
    expect(panel).to_have_attribute("data-copied", re.compile("^(clipboard|selected)$"))
    assert nb.execute(  # the text shown runs in the kernel and rebuilds the patched model
        "for v in editor.model.trainable_weights: v.assign(v + 0.1)  # B != 0\n"
        f"ns = {{'model': editor.original}}; exec({text!r}, ns); scripted = ns['model']\n"
        "scripted.set_weights(editor.model.get_weights())\n"
        "import numpy as np; xs = np.random.default_rng(0).normal(size=(8, 4)).astype('float32')\n"
        "gap = np.abs(scripted.predict(xs, verbose=0)\n"
        "             - editor.model.predict(xs, verbose=0)).max()\n"
        "print(sorted(rw.adapter_names(scripted)), gap <= 1e-6,"
        " open('patched.py').read() == editor.code_view['code'])"
    ).splitlines()[-1] == "['default', 'task_b'] True True"  # after add_lora's rank warning

    # -- the parameter report: rows and totals are rw.param_report's ---------------------
    view.role("params-toggle").click()
    report = view.role("param-report")
    expect(report).to_be_visible()
    expect(report).to_have_attribute("data-adapters", "2")
    # head: Dense(8 -> 2); LoRA rank 4: A (8, 4) + B (4, 2) = 40; DoRA rank 2: 16 + 4 and
    # a magnitude per output unit, 2: 22; the base 4*8+8 + 8*2+2 = 58: 62 trainable of 120
    expect(report).to_have_attribute("data-trainable", "62")
    expect(report.locator("tr[data-row=adapter]")).to_have_count(2)
    expect(report.locator("tr[data-row=total]")).to_have_text(re.compile(r"^total\s*62\s*120"))
    assert nb.execute("r = rw.param_report(editor.model)\n"
                      "print(r.trainable, r.total, [(a.name, a.trainable) for a in r.adapters])"
                      ) == "62 120 [('default', 40), ('task_b', 22)]"
    # a named adapter's checkbox turns it off in place (set_active; no new history entry)
    report.locator("[data-role=adapter-active][data-name=task_b]").uncheck()
    expect(view.role("status")).to_have_text("Active adapters: default.")
    expect(report.locator("[data-role=adapter-active][data-name=task_b]")).not_to_be_checked()
    expect(view.role("history")).to_have_attribute("data-index", "2")
    assert nb.execute("print(rw.active_adapters(editor.model))") == "['default']"

    view.click("undo")
    expect(head).to_have_attribute("data-patches", "lora:default")
    expect(view.role("history")).to_have_attribute("data-index", "1")
    assert nb.execute("print(rw.adapter_names(editor.model), "
                      "type(editor.model.get_layer('head')).__name__)") == (
        "['default'] LoRAAdapter")
    expect(report).to_have_attribute("data-adapters", "1")  # the open report follows undo
    expect(report).to_have_attribute("data-trainable", "40")
    expect(panel).to_have_attribute("data-patches", "1")  # and so does the code panel

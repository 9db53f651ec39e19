"""Two adapters stacked on one node from the toolbar, both marked, and undo removing one.

A tiny MLP in JupyterLab: click ``head``, LoRA rank 4 from the toolbar, LoRA rank 2 again on
the same (already adapted) node, both marks listed on the node (``data-patches``, drawn from
the same list as the canvas badges), Undo leaves one. Each page state is checked against the
kernel's model.
"""

from __future__ import annotations

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


def test_second_lora_on_a_patched_node_and_undo(notebook):
    nb = notebook(CELLS, app="lab")
    nb.run_all()
    view = nb.editor()
    view.wait_nodes(["x", "hidden", "head", "output_0"])
    head = view.root.locator('[data-node-id="head"]')

    view.click_node("head")
    expect(head).to_have_attribute("data-selected", "true")
    view.role("patch-kind").select_option("lora")
    view.root.locator("[data-param=rank]").fill("4")
    view.click("apply")
    expect(head).to_have_attribute("data-patches", "lora:default")
    expect(view.role("history")).to_have_attribute("data-index", "1")

    # the adapted node still offers LoRA: a second one stacks on it
    expect(view.role("patch-kind").locator("option[value=lora]")).to_have_count(1)
    view.role("patch-kind").select_option("lora")
    view.root.locator("[data-param=rank]").fill("2")
    view.click("apply")
    expect(head).to_have_attribute("data-patches", "lora:default lora:lora_1")
    expect(head).to_have_text("head (Dense), patched: lora:default + lora:lora_1")
    expect(view.role("history")).to_have_attribute("data-index", "2")
    assert nb.execute(
        "layer = editor.model.get_layer('head')\n"
        "print(type(layer).__name__, [(a.adapter_name, a.rank) for a in layer.adapters])"
    ) == "AdapterStack [('default', 4), ('lora_1', 2)]"

    view.click("undo")
    expect(head).to_have_attribute("data-patches", "lora:default")
    expect(view.role("history")).to_have_attribute("data-index", "1")
    assert nb.execute("print(rw.adapter_names(editor.model), "
                      "type(editor.model.get_layer('head')).__name__)") == (
        "['default'] LoRAAdapter")

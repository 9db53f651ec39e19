"""Smoke test: a GraphEditor renders the model's layers in Notebook 7.

JupyterLab 4 runs the full editor flow (tests/browser/test_editor_flow.py, which renders,
reads the node index and checks it against the kernel the same way and more), so its smoke
run only repeated a subset of it; Notebook 7 keeps both, this one to narrow down a failure.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

LAYERS = ["embed_in", "hidden_relu", "risk_head"]

CELLS = [
    "import keras\nimport risk_widgets as rw",
    "model = keras.Sequential(\n"
    "    [keras.Input((4,)),\n"
    "     keras.layers.Dense(8, name='embed_in'),\n"
    "     keras.layers.Dense(8, activation='relu', name='hidden_relu'),\n"
    "     keras.layers.Dense(1, name='risk_head')],\n"
    "    name='smoke_model',\n"
    ")\n"
    "editor = rw.GraphEditor(model)\n"
    "editor",
]


@pytest.mark.parametrize("app", ["notebook"])
def test_graph_editor_shows_layer_names(notebook, app):
    nb = notebook(CELLS, app=app)
    nb.run_all()

    expect(nb.widget_views()).to_have_count(1, timeout=30_000)
    view = nb.editor()
    # the graph is drawn on a canvas: read the layer names from its DOM node index
    nb.page.wait_for_function(
        "([root, names]) => names.every(n => root.querySelector("
        "`[data-role=node-index] [data-node-id][data-name=\"${n}\"]`))",
        arg=[view.root.element_handle(), LAYERS], timeout=30_000)
    layers = [n for n in view.nodes() if n["kind"] == "layer"]
    assert sorted(n["name"] for n in layers) == sorted(LAYERS)
    assert all(n["class_name"] == "Dense" for n in layers)
    assert all(n["onscreen"] and n["w"] > 0 and n["h"] > 0 for n in layers), layers
    expect(view.node_rows().filter(has_text="hidden_relu (Dense)")).to_have_count(1)

    # the kernel agrees with what the page shows
    assert nb.execute("print([layer.name for layer in model.layers])") == str(LAYERS)
    nb.screenshot(f"smoke_{app}")

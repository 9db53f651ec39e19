"""Smoke test: a GraphEditor renders the model's layers in JupyterLab 4 and Notebook 7."""

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


@pytest.mark.parametrize("app", ["lab", "notebook"])
def test_graph_editor_shows_layer_names(notebook, app):
    nb = notebook(CELLS, app=app)
    nb.run_all()

    views = nb.widget_views()
    expect(views).to_have_count(1, timeout=30_000)
    nodes = views.first.locator(".rw-node[data-id], [data-node-id]")
    expect(nodes).to_have_count(len(LAYERS), timeout=30_000)
    ids = [nodes.nth(i).get_attribute("data-id") or nodes.nth(i).get_attribute("data-node-id")
           for i in range(len(LAYERS))]
    assert ids == LAYERS
    text = views.first.inner_text()
    for name in LAYERS:
        assert name in text
    assert "smoke_model" in text

    # the kernel agrees with what the page shows, and kernel-side helpers work
    assert nb.execute("print([layer.name for layer in editor._model.layers])") == str(LAYERS)
    nb.screenshot(f"smoke_{app}")

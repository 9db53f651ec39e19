"""A user's own adapter kind applied by click (issue #33): the cells of
``notebooks/your_own_adapter.ipynb`` tagged ``editor-setup`` (data, base model, the (IA)³
class and its ``rw.register_adapter``, the editor) run in JupyterLab; then a click on
``hidden_2``, shift-click on ``head``, **ia3** picked in the toolbar (which offers it on Dense
layers only: not on the input), its parameter-less form applied. Each page state is checked
against the kernel's model.
"""

from __future__ import annotations

import pathlib

import nbformat
import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

NOTEBOOK = pathlib.Path(__file__).resolve().parents[2] / "notebooks" / "your_own_adapter.ipynb"


def setup_cells() -> list[str]:
    """The notebook's code cells tagged ``editor-setup``, in order, ending on the editor."""
    cells = [
        cell.source for cell in nbformat.read(NOTEBOOK, as_version=4).cells
        if cell.cell_type == "code" and "editor-setup" in cell.metadata.get("tags", [])
    ]
    assert cells and cells[-1].strip().endswith("editor"), cells
    return cells


def test_the_notebooks_ia3_is_offered_and_applied_from_the_toolbar(notebook):
    nb = notebook(setup_cells(), app="lab")
    nb.run_all()
    view = nb.editor()
    view.wait_nodes(["pixels", "hidden_1", "hidden_2", "head", "output_0"])
    kinds = view.role("patch-kind").locator("option")

    view.click_node("pixels")  # an input: no adapter kind applies
    expect(view.role("patch-kind").locator("option[value=ia3]")).to_have_count(0)
    view.click_node("hidden_2")
    view.click_node("head", shift=True)
    expect(view.root.locator("[data-node-id=head]")).to_have_attribute("data-selected", "true")
    expect(view.role("patch-kind").locator("option[value=ia3]")).to_have_count(1)
    assert "ia3" in kinds.evaluate_all("els => els.map(e => e.value)")
    view.role("patch-kind").select_option("ia3")
    view.click("apply")
    for node in ("hidden_2", "head"):
        expect(view.root.locator(f'[data-node-id="{node}"]')).to_have_attribute(
            "data-patches", "ia3:default")
    expect(view.role("history")).to_have_attribute("data-index", "1")
    out = nb.execute(
        "import numpy as np\n"
        "patched = editor.model\n"
        "print(sorted(rw.patch_layers(patched)))\n"
        "print(sorted({type(l).__name__ for l in rw.patch_layers(patched).values()}))\n"
        "print(rw.trainable_report(patched)['trainable'])\n"
        "print(np.allclose(patched.predict(x[:32], verbose=0), model.predict(x[:32], verbose=0)))"
    )
    assert out.splitlines() == ["['head', 'hidden_2']", "['IA3']", "42", "True"], out

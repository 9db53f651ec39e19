"""Target preview and patch diff in the page, checked against the kernel.

Three alike blocks (``b0/up0``, ``b1/up1``, ``b2/up2``: the names differ per block, the
structure does not). Typing ``*/up0`` highlights one layer and says "1 of 3 blocks", a bad
glob shows its error inline, ``*/up*`` highlights all three, nothing patched yet; Apply then
patches the previewed layers. With the adapters changed the diff shows the changed marks and a
|Δ| equal to the kernel's; a sculpt patch adds a node, marked as added.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

CELLS = [
    "%load_ext risk_widgets",
    "import keras, numpy as np\n"
    "import risk_widgets as rw\n"
    "keras.utils.set_random_seed(0)\n"
    "x_in = keras.Input((1,), name='x')\n"
    "h = x_in\n"
    "for i in range(3):\n"
    "    h = keras.Sequential([keras.layers.Dense(8, activation='relu', name=f'up{i}')],"
    " name=f'b{i}')(h)\n"
    "model = keras.Model(x_in, keras.layers.Dense(1, name='head')(h), name='mlp')\n"
    "x = np.linspace(-1, 1, 64, dtype='float32')[:, None]\n"
    "y = np.sin(3 * x)",
    "%risk_edit model --data x y",
    "editor = _",
]
UPS = ["b0/up0", "b1/up1", "b2/up2"]


def test_preview_then_apply_then_diff(notebook):
    nb = notebook(CELLS, app="lab")
    nb.run_all()
    view = nb.editor()
    view.click("expand-all")
    view.wait_nodes(["x", "b0", "b1", "b2", *UPS, "head", "output_0"])
    field, counts = view.role("target-input"), view.role("target-counts")
    row = {p: view.root.locator(f'[data-node-id="{p}"]') for p in [*UPS, "head"]}

    field.fill("*/up0")
    expect(counts).to_contain_text("*/up0: 1 layer, 1 of 3 blocks")
    expect(counts).to_have_attribute("data-warn", "true")  # a patch would warn
    expect(row["b0/up0"]).to_have_attribute("data-preview", "match")
    expect(row["b1/up1"]).to_have_attribute("data-preview", "")
    field.fill("*/nope")
    expect(view.role("target-error")).to_contain_text("matches no layer")
    field.fill("*/up*")
    expect(counts).to_contain_text("3 of 7 matched — */up*: 3 layers, 3 of 3 blocks")
    for p in UPS:
        expect(row[p]).to_have_attribute("data-preview", "match")
        expect(row[p]).to_have_attribute("data-selected", "false")  # not the selection
        expect(row[p]).to_have_attribute("data-patches", "")  # nothing patched yet
    expect(row["head"]).to_have_attribute("data-preview", "")
    expect(view.role("history")).to_have_attribute("data-count", "0")

    view.role("patch-kind").select_option("lora")
    view.root.locator("[data-param=rank]").fill("1")
    view.click("apply")
    for p in UPS:
        expect(row[p]).to_have_attribute("data-patches", "lora:default")
    # the kernel patched exactly the previewed layers; give their LoRA B a value (as
    # training would), so that the output changes, and measure |Δ| there
    patched, kernel = nb.execute(
        "for p, layer in rw.patch_layers(editor.model).items():\n"
        "    layer.lora_b.assign(np.full(layer.lora_b.shape, 0.1, 'float32'))\n"
        "print(sorted(rw.patch_layers(editor.model)))\n"
        "print(repr(rw.diff(editor.original, editor.model, x).output.max_abs))"
    ).splitlines()
    assert patched == str(UPS)
    view.role("diff-toggle").click()
    summary = view.role("diff-summary")
    expect(summary).to_have_attribute("data-changed", "3")
    expect(summary).to_contain_text("|Δ| max")
    for p in UPS:
        expect(row[p]).to_have_attribute("data-diff", "changed")
    shown = float(summary.get_attribute("data-max-abs"))
    assert shown == pytest.approx(float(kernel), rel=1e-9) and shown > 0

    view.role("target-clear").click()
    view.role("patch-kind").select_option("sculpt")
    view.click("apply")
    added = view.root.locator('[data-node-id="sculpt_variance"]')
    expect(added).to_have_attribute("data-diff", "added")  # the open diff follows the patch
    expect(summary).to_have_attribute("data-added", "1")

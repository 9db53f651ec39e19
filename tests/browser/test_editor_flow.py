"""The editor flow a user goes through, in JupyterLab 4 and Notebook 7.

``%risk_edit`` on the demo transformer; expand ``block_0`` then ``block_0/mlp`` with their
+/- toggles; rubber-band select the two Dense layers of the MLP; LoRA from the toolbar;
Undo / Redo; export with fold from the toolbar; the exported file reloads with plain Keras
and computes what the patched model computes. Every page action is a real mouse or keyboard
event; every page assertion is checked against the kernel.
"""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

UP, DOWN = "block_0/mlp/up", "block_0/mlp/down"
TARGETS = [UP, DOWN]

CELLS = [
    "%load_ext risk_widgets",
    "import keras\n"
    "import numpy as np\n"
    "import risk_widgets as rw\n"
    "from risk_widgets import demo\n"
    "keras.utils.set_random_seed(0)\n"
    "model = demo.transformer()",
    "%risk_edit model",
    "editor = _\n"
    "assert isinstance(editor, rw.GraphEditor) and editor.original is model",
]


def kernel_eventually(nb, code: str, expected: str, timeout: float = 15.0) -> str:
    """Runs ``code`` in the kernel until it prints ``expected`` (page -> kernel trait
    writes are debounced by 120 ms, so one run right after a page action may be early)."""
    deadline = time.monotonic() + timeout
    while True:
        got = nb.execute(code)
        if got == expected or time.monotonic() > deadline:
            return got


def canvas_box(view) -> dict:
    view.canvas.scroll_into_view_if_needed()
    box = view.canvas.bounding_box()
    assert box is not None, "the graph canvas is not visible"
    return box


def click_toggle(view, group: str) -> None:
    """Clicks the +/- button of ``group`` on the canvas and waits for the new layout."""
    node = view.node(group)
    assert node["kind"] == "group" and node["toggle_x"] is not None, node
    assert not node["expanded"], f"{group} is already expanded"
    box = canvas_box(view)
    # the first view shows the top of a tall graph at a readable zoom (viewport.ts): the
    # toggle must be on the canvas, or the click lands elsewhere
    assert 0 < node["toggle_x"] < box["width"] and 0 < node["toggle_y"] < box["height"], (
        f"the +/- of {group} is off the canvas: {node}, canvas {box}")
    view.page.mouse.click(box["x"] + node["toggle_x"], box["y"] + node["toggle_y"])
    # data-expanded comes from the layout: true once the new layout is on screen
    expect(view.root.locator(f'[data-node-id="{group}"][data-expanded="true"]')).to_have_count(1)
    expect(view.root).to_have_attribute("data-layout", "ready")


def pan_to_center(view, ids: list[str], grip: str) -> None:
    """Drags node ``grip`` (a drag on a node pans) so that ``ids`` are centred."""
    nodes = {n["id"]: n for n in view.nodes()}
    box = canvas_box(view)
    cy = sum(nodes[i]["y"] + nodes[i]["h"] / 2 for i in ids) / len(ids)
    cx = sum(nodes[i]["x"] + nodes[i]["w"] / 2 for i in ids) / len(ids)
    dx, dy = box["width"] / 2 - cx, box["height"] / 2 - cy
    g = nodes[grip]
    assert g["onscreen"], f"grip node {grip} is off screen: {g}"
    sx, sy = box["x"] + g["x"] + g["w"] / 2, box["y"] + g["y"] + g["h"] / 2
    view.page.mouse.move(sx, sy)
    view.page.mouse.down()
    view.page.mouse.move(sx + dx, sy + dy, steps=10)
    view.page.mouse.up()


def band_around(view, ids: list[str]) -> tuple[tuple[float, float], tuple[float, float]]:
    """Rubber-band corners (canvas CSS pixels) enclosing exactly the nodes ``ids``, with
    the start corner on background; checked against the node index before use."""
    nodes = view.nodes()
    byid = {n["id"]: n for n in nodes}
    x0 = min(byid[i]["x"] for i in ids)
    y0 = min(byid[i]["y"] for i in ids)
    x1 = max(byid[i]["x"] + byid[i]["w"] for i in ids)
    y1 = max(byid[i]["y"] + byid[i]["h"] for i in ids)
    leaves = [n for n in nodes if not n["expanded"] and n["id"] not in ids]

    def inside(n, a, b, c, d):
        return n["x"] >= a and n["y"] >= b and n["x"] + n["w"] <= c and n["y"] + n["h"] <= d

    def on_node(px, py):
        return any(n["x"] <= px <= n["x"] + n["w"] and n["y"] <= py <= n["y"] + n["h"]
                   for n in leaves + [byid[i] for i in ids])

    for margin in (8.0, 5.0, 3.0, 2.0):
        a, b, c, d = x0 - margin, y0 - margin, x1 + margin, y1 + margin
        if not any(inside(n, a, b, c, d) for n in leaves) and not on_node(a, b):
            box = view.canvas.bounding_box()
            assert a >= 0 and b >= 0 and c <= box["width"] and d <= box["height"], (
                f"band {(a, b, c, d)} leaves the canvas {box}")
            return (a, b), (c, d)
    raise AssertionError(f"no rubber band encloses only {ids}: {nodes}")


def marked(view) -> dict[str, str]:
    return {n["id"]: n["patch"] for n in view.nodes() if n["patch"]}


def expect_marks(view, ids: list[str], kind: str | None) -> None:
    """Waits until exactly ``ids`` carry ``data-patch=kind`` (none at all for None)."""
    rows = view.root.locator("[data-role=node-index] [data-node-id]:not([data-patch=''])")
    if kind is None:
        expect(rows).to_have_count(0)
        return
    for i in ids:
        expect(view.root.locator(f'[data-node-id="{i}"]')).to_have_attribute("data-patch", kind)
    expect(rows).to_have_count(len(ids))


def collapse_left_sidebar(nb) -> None:
    """More room for the widget in the docs screenshot (JupyterLab only)."""
    if nb.app == "lab":
        nb.page.evaluate("() => window.jupyterapp.shell.collapseLeft()")


@pytest.mark.parametrize("app", ["lab", "notebook"])
def test_expand_select_lora_undo_redo_export(notebook, app, browser_artifacts):
    nb = notebook(CELLS, app=app)
    nb.run_all()
    collapse_left_sidebar(nb)
    view = nb.editor()
    expect(view.root.locator('[data-node-id="block_0"][data-expanded="false"]')).to_have_count(1)
    assert not any(i.startswith("block_0/") for i in view.node_ids()), view.node_ids()

    # -- expand block_0, then block_0/mlp, by their +/- toggles -------------------------
    click_toggle(view, "block_0")
    expect(view.root.locator('[data-node-id="block_0/mlp"]')).to_have_count(1)
    click_toggle(view, "block_0/mlp")
    expect(view.root.locator(f'[data-node-id="{UP}"]')).to_have_count(1)
    expect(view.root.locator(f'[data-node-id="{DOWN}"]')).to_have_count(1)
    assert kernel_eventually(nb, "print(sorted(editor.expanded))",
                             "['block_0', 'block_0/mlp']") == "['block_0', 'block_0/mlp']"

    # -- rubber band around up and down ----------------------------------------------------
    pan_to_center(view, TARGETS, grip="block_0/norm_1")
    for i in TARGETS:
        expect(view.root.locator(f'[data-node-id="{i}"]')).to_have_attribute(
            "data-onscreen", "true")
    start, end = band_around(view, TARGETS)
    view.drag(start, end)
    expect(view.root.locator("[data-role=node-index] [data-selected=true]")).to_have_count(2)
    assert sorted(view.selected()) == sorted(TARGETS)
    expect(view.role("selection-count")).to_have_text("2 selected")
    assert kernel_eventually(nb, "print(sorted(editor.selection))",
                             str(sorted(TARGETS))) == str(sorted(TARGETS))

    # -- LoRA rank 4 from the toolbar --------------------------------------------------
    # the kernel records the messages it gets: "apply" must carry its targets itself
    nb.execute("received = []\n"
               "editor.on_msg(lambda _w, content, _b: received.append(content))")
    view.role("patch-kind").select_option("lora")
    rank = view.root.locator("[data-param=rank]")
    rank.fill("4")
    view.click("apply")
    expect_marks(view, TARGETS, "lora")
    assert nb.execute("print(sorted(received[-1]['targets']), received[-1]['kind'])") == (
        f"{sorted(TARGETS)} lora")
    expect(view.role("status")).to_have_attribute("data-level", "info")
    expect(view.role("history")).to_have_attribute("data-index", "1")
    assert sorted(view.selected()) == sorted(TARGETS)  # the selection stays shown
    report = nb.execute(
        "report = rw.trainable_report(editor.model)\n"
        "print(sorted(report['patched']))\n"
        "print(sorted({(v['kind'], v['params'].get('rank')) for v in report['patched'].values()}))"
    )
    assert report.splitlines() == [str(sorted(TARGETS)), "[('lora', 4)]"], report
    # the picture for the README: expanded block, selected and marked nodes, toolbar;
    # block_0 centred (a drag) and zoomed in a little (a wheel event); the marks stay
    pan_to_center(view, ["block_0"], grip="block_0/norm_1")
    zoom = float(view.role("node-index").get_attribute("data-zoom"))
    box, block = canvas_box(view), view.node("block_0")
    view.page.mouse.move(box["x"] + block["x"] + block["w"] / 2,
                         box["y"] + block["y"] + block["h"] / 2)
    view.page.mouse.wheel(0, -120)
    expect(view.role("node-index")).not_to_have_attribute("data-zoom", f"{zoom:.3f}")
    expect_marks(view, TARGETS, "lora")
    view.root.scroll_into_view_if_needed()
    nb.screenshot(f"editor_lora_{app}")
    view.root.screenshot(path=str(browser_artifacts / f"editor_lora_{app}_widget.png"))

    # -- Undo: marks gone, the original model back -------------------------------------
    view.click("undo")
    expect_marks(view, [], None)
    expect(view.role("history")).to_have_attribute("data-index", "0")
    assert nb.execute("print(editor.model is model, rw.trainable_report(editor.model)"
                      "['patched'])") == "True {}"

    # -- Redo: marks back ------------------------------------------------------------------
    expect(view.button("redo")).to_be_enabled()
    view.click("redo")
    expect_marks(view, TARGETS, "lora")
    expect(view.role("history")).to_have_attribute("data-index", "1")
    assert nb.execute("print(editor.model is model, sorted(rw.trainable_report("
                      "editor.model)['patched']))") == f"False {sorted(TARGETS)}"

    # -- export with fold from the toolbar -------------------------------------------------
    # Non-zero adapters first, so that folding has something to merge.
    nb.execute(
        "rng = np.random.default_rng(0)\n"
        "for w in editor.model.trainable_weights:\n"
        "    w.assign(0.2 * rng.standard_normal(w.shape).astype('float32'))"
    )
    target = f"exported_{app}.keras"
    view.role("export-path").fill(target)
    view.role("export-fold").check()
    view.click("export")
    expect(view.role("status")).to_have_attribute("data-level", "info")
    expect(view.role("status")).to_contain_text(f"Exported folded model to {target}")
    out = nb.execute(
        f"loaded = keras.models.load_model({target!r})\n"
        "tokens, _ = demo.toy_sequences(n=64)\n"
        "want = np.asarray(editor.model(tokens, training=False))\n"
        "got = np.asarray(loaded(tokens, training=False))\n"
        "base = np.asarray(model(tokens, training=False))\n"
        "print('MAXDIFF', float(np.max(np.abs(got - want))))\n"
        "print('LORA_EFFECT', float(np.max(np.abs(want - base))))\n"
        "print('PATCHED', rw.trainable_report(loaded)['patched'])\n"
        "print('CLASSES', sorted({type(l).__name__ for l in loaded._flatten_layers()}))"
    )
    values = dict(line.split(" ", 1) for line in out.splitlines())
    max_diff, effect = float(values["MAXDIFF"]), float(values["LORA_EFFECT"])
    print(f"[{app}] folded export vs editor.model: max |diff| = {max_diff:.3g}; "
          f"LoRA changed outputs by up to {effect:.3g}")
    assert max_diff < 1e-5, out
    assert effect > 1e-3, f"the adapters did not change the outputs, the check is empty: {out}"
    assert values["PATCHED"] == "{}", out
    assert not re.search(r"LoRA|Adapter|Patch", values["CLASSES"]), out


def test_python_select_expands_the_groups_holding_a_nested_layer(notebook):
    """``editor.select`` of a layer inside collapsed groups: the view expands exactly the
    groups that hold it, scrolls it on screen and shows it selected."""
    target = "block_1/mlp/down"
    nb = notebook(CELLS, app="lab")
    nb.run_all()
    view = nb.editor()
    expect(view.root.locator('[data-node-id="block_1"][data-expanded="false"]')).to_have_count(1)
    assert target not in view.node_ids()

    assert nb.execute(f"print(editor.select({target!r}))") == str([target])
    row = view.root.locator(f'[data-node-id="{target}"]')
    expect(row).to_have_attribute("data-selected", "true")
    expect(view.root).to_have_attribute("data-layout", "ready")
    for group in ("block_1", "block_1/mlp"):
        expect(view.root.locator(f'[data-node-id="{group}"]')).to_have_attribute(
            "data-expanded", "true")
    expect(row).to_have_attribute("data-onscreen", "true")
    expect(view.root.locator('[data-node-id="block_0"]')).to_have_attribute(
        "data-expanded", "false")
    expect(view.role("selection-count")).to_have_text("1 selected")
    assert view.selected() == [target]
    # the page wrote the groups it opened back to the kernel
    want = "['block_1', 'block_1/mlp']"
    assert kernel_eventually(nb, "print(sorted(editor.expanded))", want) == want

"""The graph view's reading aids in JupyterLab (issue #35), each checked against the kernel:
colours by layer family with their legend (down to the canvas pixels), find (Ctrl+F, a layer
inside collapsed groups found, revealed, selected and centred), the details panel beside the
graph (a layer's class, config and weights; a group's children), keyboard navigation
(arrows along the edges, Enter expands and collapses, Esc clears) and an overlay set from
Python (a collapsed group shows the sum of its children), then switched from the page; the
minimap while the graph is larger than the view.
"""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

CELLS = [
    "%load_ext risk_widgets",
    "import json, keras\n"
    "import risk_widgets as rw\n"
    "from risk_widgets import demo\n"
    "from risk_widgets.core.walk import iter_layers\n"
    "keras.utils.set_random_seed(0)\n"
    "model = demo.transformer()\n"
    "editor = rw.GraphEditor(model)\n"
    "editor",
]


def rows(view) -> dict[str, dict]:
    """Every node-index row's data attributes, by node id."""
    data = view.node_rows().evaluate_all("els => els.map(e => ({...e.dataset}))")
    return {d["nodeId"]: d for d in data}


def row(view, node_id: str):
    return view.root.locator(f'[data-role=node-index] [data-node-id="{node_id}"]')


def kernel_json(nb, expression: str):
    return json.loads(nb.execute(f"print(json.dumps({expression}))"))


def pixel(view, node_id: str) -> tuple[int, int, int]:
    """The canvas colour inside ``node_id``'s box, in its right margin (no text there)."""
    two_frames = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
    view.page.evaluate(two_frames)
    n = rows(view)[node_id]
    x = float(n["x"]) + float(n["w"]) - 5
    y = float(n["y"]) + float(n["h"]) / 2
    rgba = view.canvas.evaluate(
        "(c, [x, y]) => { const d = devicePixelRatio || 1;"
        " return Array.from(c.getContext('2d').getImageData(Math.round(x * d), Math.round(y * d),"
        " 1, 1).data); }", [x, y])
    return tuple(rgba[:3])


def rgb(hex_color: str) -> tuple[int, int, int]:
    return tuple(int(hex_color[i:i + 2], 16) for i in (1, 3, 5))


def close(a, b, tol: int = 3) -> bool:
    return all(abs(p - q) <= tol for p, q in zip(a, b, strict=True))


def focus_graph(view) -> None:
    view.canvas.scroll_into_view_if_needed()
    view.canvas.focus()


def test_colours_find_details_keys_and_overlays(notebook):
    nb = notebook(CELLS, app="lab")
    nb.run_all()
    view = nb.editor()
    page = view.page

    # --- colours by family, with a legend; the canvas shows each node's fill
    families = kernel_json(nb, "{n['id']: n['family'] for n in editor.graph['nodes']}")
    shown = rows(view)
    assert {i: r["family"] for i, r in shown.items()} == {i: families[i] for i in shown}
    chips = view.role("family-legend").locator("[data-family]").evaluate_all(
        "els => els.map(e => ({...e.dataset}))")
    legend = {c["family"]: c for c in chips}
    # the families of the whole graph (it stays put while groups open and close)
    assert set(legend) == set(families.values()) - {"group", "io"}
    for r in shown.values():
        if r["family"] in legend:
            assert r["fill"] == legend[r["family"]]["fill"], r
    assert shown["token_embedding"]["fill"] != shown["add"]["fill"]  # embedding vs merge
    for node_id in ("token_embedding", "add", "subtract"):
        assert shown[node_id]["onscreen"] == "true", shown[node_id]
        assert close(pixel(view, node_id), rgb(shown[node_id]["fill"])), node_id

    # --- the dark theme: its own fills, which the legend, the rows and the canvas follow
    theme = "() => window.jupyterapp.commands.execute('apputils:change-theme', {theme: '%s'})"
    page.evaluate(theme % "JupyterLab Dark")
    expect(view.root).to_have_attribute("data-dark", "true")
    expect(view.role("family-legend").locator("[data-family=embedding]")).not_to_have_attribute(
        "data-fill", legend["embedding"]["fill"])
    dark = {c["family"]: c["fill"] for c in view.role("family-legend").locator(
        "[data-family]").evaluate_all("els => els.map(e => ({...e.dataset}))")}
    assert set(dark) == set(legend) and all(dark[f] != legend[f]["fill"] for f in dark), dark
    for node_id in ("token_embedding", "add"):
        fill = rows(view)[node_id]["fill"]
        assert fill == dark[families[node_id]], (node_id, fill)
        assert close(pixel(view, node_id), rgb(fill)), node_id
    page.evaluate(theme % "JupyterLab Light")
    expect(view.root).to_have_attribute("data-dark", "false")

    # --- find: Ctrl+F, an inner layer of a collapsed group, revealed, selected and centred
    focus_graph(view)
    page.keyboard.press("Control+f")
    field, count = view.role("find-input"), view.role("find-count")
    expect(field).to_be_focused()
    page.keyboard.type("query")
    hits = kernel_json(nb, "[n['id'] for n in editor.graph['nodes'] if 'query' in "
                           "(n['id'] + n['name'] + n['class_name']).lower()]")
    assert hits == ["block_0/attn/query", "block_1/attn/query"]
    field.focus()
    expect(count).to_have_text("2 matches")
    expect(row(view, "block_0")).to_have_attribute("data-find", "inside")  # collapsed, holds one
    page.keyboard.press("Enter")
    expect(count).to_have_text("1 of 2")
    target = row(view, hits[0])
    expect(target).to_have_attribute("data-find", "hit")
    expect(target).to_have_attribute("data-selected", "true")
    expect(target).to_have_attribute("data-onscreen", "true")
    for group in ("block_0", "block_0/attn"):
        expect(row(view, group)).to_have_attribute("data-expanded", "true")
    expect(view.root).to_have_attribute("data-layout", "ready")
    box = view.canvas.bounding_box()
    hit = rows(view)[hits[0]]
    assert abs(float(hit["x"]) + float(hit["w"]) / 2 - box["width"] / 2) < 2, (hit, box)
    assert abs(float(hit["y"]) + float(hit["h"]) / 2 - box["height"] / 2) < 2, (hit, box)
    assert nb.execute_until("print(editor.selection, sorted(editor.expanded))",
                            "['block_0/attn/query'] ['block_0', 'block_0/attn']").startswith(
        "['block_0/attn/query']")
    cells = nb.cell_count()
    field.focus()
    page.keyboard.press("Shift+Enter")  # back, wrapping to the last hit
    expect(count).to_have_text("2 of 2")
    expect(row(view, hits[1])).to_have_attribute("data-selected", "true")
    assert nb.cell_count() == cells, "Shift+Enter in the find field ran a cell"

    # --- details of the selected layer, beside the graph, against the kernel's layer
    panel = view.role("details")
    expect(panel).to_be_visible()
    expect(panel).to_have_attribute("data-path", hits[1])
    layer = kernel_json(
        nb, "(lambda L: {'cls': type(L.layer if hasattr(L, 'layer') else L).__name__, "
            "'params': L.count_params(), 'equation': L.equation, "
            "'weights': [[w.name, list(w.shape), w.dtype, str(w.trainable).lower()] "
            "for w in L.weights]})"
            "({r.path: r.layer for r in iter_layers(editor.model)}['block_1/attn/query'])")
    expect(view.role("details-class")).to_have_text(layer["cls"])
    expect(panel).to_have_attribute("data-params", str(layer["params"]))
    weights = panel.locator("[data-role=details-weights] tr[data-weight]").evaluate_all(
        "els => els.map(e => [e.dataset.weight, e.dataset.shape, e.dataset.dtype, "
        "e.dataset.trainable])")
    assert weights == [[n, "(" + ", ".join(map(str, s)) + ")", d, t]
                       for n, s, d, t in layer["weights"]]
    equation = panel.locator("[data-role=details-config] tr[data-key=equation]")
    expect(equation).to_have_attribute("data-value", layer["equation"])
    panel_box, canvas_box = panel.bounding_box(), view.canvas.bounding_box()
    assert panel_box["x"] >= canvas_box["x"] + canvas_box["width"] - 1  # beside, not over
    view.role("details-close").click()
    expect(panel).to_be_hidden()
    page.wait_for_function("([c, w]) => c.getBoundingClientRect().width > w + 100",
                           arg=[view.canvas.element_handle(), canvas_box["width"]])

    # --- a group's details: its children and descendants, against the kernel
    field.fill("block_1")
    field.press("Enter")  # the group itself comes first (graph order)
    expect(panel).to_have_attribute("data-path", "block_1")
    children = kernel_json(nb, "{r.path: getattr(r.layer, 'count_params', lambda: 0)() for r in "
                               "iter_layers(editor.model) if r.parent == 'block_1'}")
    listed = panel.locator("[data-role=details-children] tr[data-child]").evaluate_all(
        "els => els.map(e => [e.dataset.child, Number(e.dataset.params)])")
    assert listed == [list(item) for item in children.items()]
    below = kernel_json(nb, "len([r for r in iter_layers(editor.model) "
                            "if r.path.startswith('block_1/')])")
    expect(view.role("details-descendants")).to_have_attribute("data-count", str(below))

    # --- keyboard: Enter collapses / expands the selected group, arrows follow the edges
    field.press("Escape")  # clears the field
    field.press("Escape")  # gives the keyboard back to the graph
    expect(view.canvas).to_be_focused()
    group = row(view, "block_1")
    page.keyboard.press("Enter")
    expect(group).to_have_attribute("data-expanded", "false")
    page.keyboard.press("Enter")
    expect(group).to_have_attribute("data-expanded", "true")
    page.keyboard.press("Enter")
    expect(group).to_have_attribute("data-expanded", "false")
    field.fill("output_0")
    field.press("Enter")
    expect(row(view, "output_0")).to_have_attribute("data-selected", "true")
    # output_0 <- head <- pool <- block_1 in the kernel's graph, one edge each
    chain = kernel_json(nb, "(lambda e: [e['output_0'], e[e['output_0']], e[e[e['output_0']]]])"
                            "({x['target']: x['source'] for x in editor.graph['edges']})")
    assert chain[:2] == ["head", "pool"] and chain[2].startswith("block_1/")
    focus_graph(view)  # after the kernel run, which focuses the notebook
    for expected in ("head", "pool", "block_1"):  # the last one's source sits inside block_1
        page.keyboard.press("ArrowUp")
        expect(row(view, expected)).to_have_attribute("data-selected", "true")
    assert nb.execute_until("print(editor.selection)", "['block_1']") == "['block_1']"
    focus_graph(view)
    page.keyboard.press("Escape")
    expect(view.root.locator("[data-role=node-index] [data-selected=true]")).to_have_count(0)
    assert nb.execute_until("print(editor.selection)", "[]") == "[]"

    # --- an overlay from Python: a collapsed group shows the sum of its children
    view.click("collapse-all")
    expect(row(view, "block_0")).to_have_attribute("data-expanded", "false")
    nb.execute("editor.overlay('saliency', {'block_0/attn/query': 3.0, "
               "'block_0/attn/key': 1.0, 'head': 2.0})")
    scale = view.role("overlay-legend")
    expect(scale).to_have_attribute("data-name", "saliency")
    expect(view.role("overlay-select")).to_have_value("saliency")
    expect(row(view, "block_0")).to_have_attribute("data-value", "4")
    expect(row(view, "head")).to_have_attribute("data-value", "2")
    expect(row(view, "pool")).to_have_attribute("data-value", "")
    assert (scale.get_attribute("data-min"), scale.get_attribute("data-max")) == ("2", "4")
    shown = rows(view)
    assert len({shown["block_0"]["fill"], shown["head"]["fill"], shown["pool"]["fill"]}) == 3
    view.role("find-input").fill("/^head$/")  # not "head": MultiHeadAttention matches too
    view.role("find-input").press("Enter")
    expect(row(view, "head")).to_have_attribute("data-onscreen", "true")
    focus_graph(view)
    page.keyboard.press("Escape")
    expect(row(view, "head")).to_have_attribute("data-selected", "false")
    assert close(pixel(view, "head"), rgb(shown["head"]["fill"]))
    # ... and switched from the page: the kernel follows, groups show their totals
    view.role("overlay-select").select_option("parameters")
    assert nb.execute_until("print(editor.overlay_shown)", "parameters") == "parameters"
    params = kernel_json(nb, "{r.path: r.layer.count_params() for r in iter_layers(editor.model)"
                             " if r.path in ('block_0', 'head')}")
    expect(row(view, "block_0")).to_have_attribute("data-value", str(params["block_0"]))
    expect(row(view, "head")).to_have_attribute("data-value", str(params["head"]))

    # --- the minimap: shown while the graph is larger than the view, hidden once it fits
    view.click("expand-all")
    expect(view.root).to_have_attribute("data-layout", "ready")
    minimap = view.role("minimap")
    expect(minimap).to_be_visible()
    focus_graph(view)
    page.keyboard.press("f")
    expect(minimap).to_be_hidden()

"""A standalone HTML page of the editor's view: the graph with its marks, the risk plot and
the calibration panel, viewable in any browser without a kernel.

The page inlines the built front-end bundle and the widget's trait values (bytes as base64,
revived as the `DataView`s the front end gets from ipywidgets), and renders them with a small
stand-in for the anywidget model. Groups still expand and collapse, pan and zoom work, find,
the details panel and the overlays work (they need no kernel); the toolbar (patching,
export, fit) is hidden, since nothing would answer it.

Example:
    >>> import keras, tempfile, os
    >>> import risk_widgets as rw
    >>> from risk_widgets.ui.html_export import write_html
    >>> inputs = keras.Input((2,))
    >>> editor = rw.GraphEditor(keras.Model(inputs, keras.layers.Dense(1, name="head")(inputs)))
    >>> path = write_html(editor, os.path.join(tempfile.mkdtemp(), "graph.html"))
    >>> text = open(path, encoding="utf-8").read()
    >>> '"head"' in text and "<script" in text
    True
"""

from __future__ import annotations

import base64
import html
import json
import os
import pathlib
import re
from typing import Any

__all__ = ["TRAITS", "page_html", "write_html"]

#: the widget traits the page needs (what the front end reads from its model)
TRAITS = ("graph", "catalog", "selection", "expanded", "history", "status", "risk",
          "target_preview", "diff_view", "code_view", "param_report_view",  # open panels too
          "overlays", "overlay_shown")  # and the overlay shown

_BUNDLE = pathlib.Path(__file__).parents[1] / "static" / "widget.js"

# Revives {"$bytes": base64} into DataViews, gives the bundle a model that answers get/on/set,
# and renders it. Runs from file:// too (the bundle is loaded from a Blob URL, as anywidget
# does).
_LOADER = """
const state = JSON.parse(document.getElementById("rw-state").textContent, (key, value) => {
  if (value && typeof value === "object" && typeof value.$bytes === "string") {
    const raw = atob(value.$bytes);
    const bytes = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return new DataView(bytes.buffer);
  }
  return value;
});
class StaticModel {
  constructor(values) { this.values = values; this.handlers = {}; }
  get(key) { return this.values[key]; }
  set(key, value) {
    this.values[key] = value;
    for (const fn of [...(this.handlers[`change:${key}`] ?? [])]) fn();
  }
  on(event, fn) { (this.handlers[event] ??= []).push(fn); }
  off(event, fn) {
    if (!event) { this.handlers = {}; return; }
    this.handlers[event] = (this.handlers[event] ?? []).filter((f) => fn && f !== fn);
  }
  save_changes() {}
  send() {}
}
const code = document.getElementById("rw-bundle").textContent;
const url = URL.createObjectURL(new Blob([code], { type: "text/javascript" }));
const mod = await import(url);
const out = document.getElementById("rw-out");
window.__rwStatic = { model: new StaticModel(state) };
mod.default.render({ model: window.__rwStatic.model, el: out });
document.body.dataset.rendered = "true";
"""


def _jsonable(value: Any) -> Any:
    """Trait values as JSON: bytes become ``{"$bytes": base64}``."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _script_text(text: str) -> str:
    """JavaScript source safe inside <script>: "</script" would end the element early."""
    if "<!--" in text:  # would bend the element's parsing; the bundle has none today
        raise ValueError("The front-end bundle contains '<!--'; it cannot be inlined as is.")
    return re.sub(r"</(script)", r"<\\/\1", text, flags=re.IGNORECASE)


def page_html(state: dict, title: str = "risk_widgets graph") -> str:
    """The standalone page for trait values ``state`` (see `TRAITS`)."""
    if not _BUNDLE.exists():
        raise FileNotFoundError(
            f"The front-end bundle {_BUNDLE} is missing: build it with `cd js && npm run build` "
            "(or `make setup`)."
        )
    bundle = _BUNDLE.read_text(encoding="utf-8")
    data = json.dumps(_jsonable({k: state.get(k) for k in TRAITS if k in state}))
    data = data.replace("<", "\\u003c")  # no "</script>" inside the JSON element
    return f"""<!doctype html>
<html>
<head>
<meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>
body {{ margin: 16px; font-family: system-ui, sans-serif; }}
#rw-out .rw-toolbar {{ display: none; }}
.rw-static-note {{ color: #666; font-size: 0.9em; margin: 0 0 8px; }}
</style>
</head>
<body data-jp-theme-light="true">
<p class="rw-static-note">{html.escape(title)}: a static export of the risk_widgets editor.
Groups expand and collapse; patching needs the notebook.</p>
<div id="rw-out"></div>
<script type="application/json" id="rw-state">{data}</script>
<script type="text/plain" id="rw-bundle">{_script_text(bundle)}</script>
<script type="module">{_LOADER}</script>
</body>
</html>
"""


def write_html(editor: Any, path: str | os.PathLike, *, overwrite: bool = True) -> str:
    """Writes the standalone page of ``editor`` (a `GraphEditor`) to ``path``; returns it."""
    target = pathlib.Path(path)
    if target.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"Export path {str(path)!r} must end in .html, e.g. 'graph.html'.")
    if target.exists() and not overwrite:
        raise FileExistsError(f"{str(path)!r} exists; pass overwrite=True or another path.")
    state = {name: getattr(editor, name) for name in TRAITS if hasattr(editor, name)}
    title = f"risk_widgets: {getattr(editor.model, 'name', 'model')}"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(page_html(state, title), encoding="utf-8")
    return str(target)

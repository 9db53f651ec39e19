"""Per-layer overlays of the graph view: the ``overlays`` and ``overlay`` traits of
`risk_widgets.ui.widget.GraphEditor` (docs/architecture.md "Overlays").

``editor.overlay(name, {path: value})`` colours the nodes by any number per layer; the page
computes the built-in ones itself (`BUILTIN`: parameters, trainable parameters, and risk
from the ``risk`` trait's ``layer_risk``), and ``editor.fit`` adds the gradient norm per
layer (`GRADIENT_NORM`). Values are checked here, before the page sees them: every path must
be a node of the current graph and every value a finite real number.

Example:
    >>> from risk_widgets.ui.overlays import check_overlay
    >>> graph = {"nodes": [{"id": "head"}, {"id": "block_0"}]}
    >>> check_overlay(graph, "saliency", {"head": 0.5})
    {'values': {'head': 0.5}, 'agg': 'sum'}
    >>> check_overlay(graph, "saliency", {"haed": 0.5})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: overlay 'saliency': unknown layer path 'haed' (close: 'head'). Paths are ...
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Mapping
from typing import Any

__all__ = ["BUILTIN", "GRADIENT_NORM", "check_overlay", "show_overlay", "refresh_gradient_norms"]

#: overlays the page computes from the graph and the risk view (values cannot be given)
BUILTIN = ("parameters", "trainable parameters", "risk")
#: the overlay `GraphEditor.fit` adds
GRADIENT_NORM = "gradient norm"
_AGGS = ("sum", "max")


def check_overlay(graph: dict, name: Any, values: Any, agg: Any = "sum") -> dict:
    """The ``overlays`` entry for ``values``, or a ValueError / TypeError naming the problem
    (the name, a path not in ``graph``, a value that is no finite number) and the way out."""
    if not isinstance(name, str) or not name.strip() or len(name) > 64:
        raise ValueError(
            f"An overlay name must be a non-empty text of at most 64 characters. Received: {name!r}"
        )
    if name in BUILTIN:
        raise ValueError(f"overlay {name!r} is built in (the page computes it); pick another "
                         f"name for your values, or show it with editor.overlay({name!r}).")
    if agg not in _AGGS:
        raise ValueError(f"overlay {name!r}: `agg` must be 'sum' or 'max' (how a group "
                         f"shows its children's values). Received: agg={agg!r}")
    if not isinstance(values, Mapping):
        raise TypeError(f"overlay {name!r}: values must be a dict {{layer path: number}}. "
                        f"Received: {type(values).__name__}")
    paths = [n["id"] for n in graph.get("nodes", [])]
    known = set(paths)
    checked: dict[str, float] = {}
    for path, value in values.items():
        if path not in known:
            close = difflib.get_close_matches(str(path), paths, n=3, cutoff=0.5)
            hint = f" (close: {', '.join(repr(c) for c in close)})" if close else ""
            raise ValueError(
                f"overlay {name!r}: unknown layer path {path!r}{hint}. Paths are the graph's "
                "node ids (`[n['id'] for n in editor.graph['nodes']]`)."
            )
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"overlay {name!r}: the value of {path!r} must be a real number. "
                            f"Received: {value!r} ({type(value).__name__})")
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"overlay {name!r}: the value of {path!r} is {number}; give "
                             "finite numbers (leave a layer out to show no value).")
        checked[str(path)] = number
    return {"values": checked, "agg": agg}


def show_overlay(editor: Any, name: str | None, values: Any = None, agg: str = "sum") -> str:
    """`GraphEditor.overlay`: adds ``values`` as overlay ``name`` (checked by `check_overlay`)
    and shows it; without values, shows overlay ``name`` (built in or added before); None:
    the layer families. Returns the name shown ("" for the families)."""
    if values is not None:
        entry = check_overlay(editor.graph, name, values, agg)
        editor.overlays = {**editor.overlays, name: entry}
    elif name is not None:
        offered = [*BUILTIN, *editor.overlays]
        if name not in offered:
            raise ValueError(f"No overlay named {name!r}: give its values, "
                             f"editor.overlay({name!r}, {{path: number}}), or pick one of "
                             f"{offered}.")
    editor.overlay_shown = name or ""
    return editor.overlay_shown


def refresh_gradient_norms(editor: Any, x: Any, y: Any) -> str | None:
    """After a fit: the ``gradient norm`` overlay of the current model on ``x``, ``y``;
    returns why it could not be measured (another backend), or None."""
    from risk_widgets.editor.grad_norms import gradient_norms

    try:
        norms = gradient_norms(editor.model, x, y)
    except (NotImplementedError, ValueError) as err:
        return str(err)
    editor.overlays = {**editor.overlays, GRADIENT_NORM: {"values": norms, "agg": "sum"}}
    return None

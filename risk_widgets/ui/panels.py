"""The widget's two panels: the exported code and the trainable-parameter report.

JSON payloads for traits of `risk_widgets.ui.widget.GraphEditor` (``code_view`` and
``param_report_view``, docs/architecture.md "Code export and parameter report panels"),
built from `risk_widgets.editor.state.EditorState`: plain data, nothing about pixels. An open
panel is made again after every change of the model (patch, undo, redo, reset).

Example:
    >>> import keras
    >>> from risk_widgets.editor.state import EditorState
    >>> from risk_widgets.ui.panels import code_payload, report_payload
    >>> inputs = keras.Input((4,))
    >>> state = EditorState(keras.Model(inputs, keras.layers.Dense(2, name="head")(inputs)))
    >>> _ = state.apply("svf", ["head"])
    >>> code_payload(state)["code"].splitlines()[-1]
    "model = rw.add_svf(model, targets=['head'], name=None)"
    >>> view = report_payload(state)
    >>> [(a["path"], a["kind"], a["trainable"]) for a in view["adapters"]], view["trainable"]
    ([('head', 'svf', 2)], 2)
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["code_payload", "on_panel_message", "refresh_panels", "report_payload"]


def code_payload(state: Any, path: str | os.PathLike | None = None) -> dict:
    """``code_view``: the history in effect as a runnable script (`EditorState.export_code`),
    written to ``path`` too when given (a ``.py`` file; raises ValueError naming the
    problem otherwise, nothing written).

    Returns ``{"code": str, "path": str | None, "patches": int, "error": None}``:
    ``path`` is where the script was written (None: shown only), ``patches`` the entries
    the script applies.
    """
    code = state.export_code(path)
    return {"code": code, "path": None if path is None else os.fspath(path),
            "patches": state.history()["index"], "error": None}


def report_payload(state: Any) -> dict:
    """``param_report_view``: `EditorState.param_report` as JSON plus ``fraction``
    (trainable / total, 0 for a model without weights) and ``error``; never raises (a
    model the report cannot read gives ``{"error": ...}``, shown in the panel).

    ``{"trainable", "total", "fraction", "adapters": [{"path", "kind", "name",
    "active", "trainable"}], "blocks": [{"name", "trainable", "total"}], "error": None}``
    """
    try:
        data = state.param_report().to_json()
    except Exception as err:  # noqa: BLE001 - shown in the panel; the kernel stays fine
        return {"error": f"{type(err).__name__}: {err}"}
    total = data["total"]
    return {**data, "fraction": data["trainable"] / total if total else 0.0, "error": None}


def refresh_panels(widget: Any) -> None:
    """After the model changed: an open report is made again, and an open code panel shows
    the new history's script (not written to a file again: ``path`` None)."""
    if widget.param_report_view:
        widget.param_report_view = report_payload(widget.editor_state)
    if widget.code_view:
        try:
            widget.code_view = code_payload(widget.editor_state)
        except Exception as err:  # noqa: BLE001 - e.g. a kind without code: in the panel
            widget.code_view = {"code": "", "path": None, "patches": 0, "error": str(err)}


def on_panel_message(widget: Any, kind: str, fields: dict) -> None:
    """The ``export_code``, ``code_close``, ``param_report`` and ``param_report_close``
    messages (``export_code`` goes through ``GraphEditor.export_code``: status, errors)."""
    if kind == "export_code":
        widget.export_code(fields["path"])
    elif kind == "code_close":
        widget.code_view = {}
    elif kind == "param_report":
        widget.param_report_view = report_payload(widget.editor_state)
    elif kind == "param_report_close":
        widget.param_report_view = {}

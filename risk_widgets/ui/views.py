"""The widget's two read-only views of the editor: the target preview and the patch diff.

Both are JSON payloads for traits of `risk_widgets.ui.widget.GraphEditor` (``target_preview``
and ``diff_view``, docs/architecture.md "Target preview and patch diff"), built from
`risk_widgets.editor.state.EditorState` and never raising: a problem becomes the payload's
``error`` text, which the page shows inline.

Example:
    >>> import keras
    >>> from risk_widgets.editor.state import EditorState
    >>> from risk_widgets.ui.views import diff_payload, preview_payload
    >>> inputs = keras.Input((4,))
    >>> state = EditorState(keras.Model(inputs, keras.layers.Dense(2, name="head")(inputs)))
    >>> preview_payload(state, "Dense", seq=3)["paths"]
    ['head']
    >>> diff_payload(state, None)["error"]
    'Nothing to diff yet: the history is empty. Apply a patch first.'
"""

from __future__ import annotations

from typing import Any

__all__ = ["diff_payload", "preview_payload", "refresh_views", "on_view_message"]


def preview_payload(state: Any, text: str, seq: int | None = None) -> dict:
    """``target_preview``: what ``text`` matches in the current model (`EditorState.preview`),
    with ``targets`` (the text) and ``seq`` (the request's number, echoed so that the page
    drops stale replies); blank text gives no rules and no error."""
    if not text.strip():
        result: dict = {"paths": [], "count": 0, "total": None, "rules": [], "warnings": [],
                        "error": None}
    else:
        try:
            result = state.preview(text)
        except Exception as err:  # noqa: BLE001 - shown inline; the kernel stays fine
            result = {"paths": [], "count": 0, "total": None, "rules": [], "warnings": [],
                      "error": f"{type(err).__name__}: {err}"}
    return {**result, "targets": text, "seq": seq}


def diff_payload(
    state: Any, x: Any, i: int | None = None, j: int | None = None, result: Any = None
) -> dict:
    """``diff_view``: `EditorState.diff` between history positions ``i`` and ``j`` (default:
    the current patch against the previous entry) on sample inputs ``x``, as JSON, with the
    positions resolved and their ``labels``; ``{"error": ...}`` when it cannot be made.
    ``result``: that diff when already made."""
    history = state.history()
    entries, index = history["entries"], history["index"]
    j_res = index if j is None else j
    i_res = j_res - 1 if i is None else i

    def label(k: Any) -> str:
        if k == 0:
            return "original"
        if isinstance(k, int) and 0 < k <= len(entries):
            return f"{k}. {entries[k - 1]['label']}"
        return str(k)

    try:
        made = (result if result is not None else state.diff(i_res, j_res, x=x)).to_json()
    except Exception as err:  # noqa: BLE001 - shown in the diff panel
        return {"error": str(err), "i": i_res, "j": j_res, "count": len(entries)}
    return {**made, "i": i_res, "j": j_res, "labels": [label(i_res), label(j_res)],
            "count": len(entries), "error": None}


def refresh_views(widget: Any) -> None:
    """After the model changed: the preview of the typed text, and an open diff (then of
    the current patch against the previous entry), are made again."""
    shown = widget.target_preview
    if shown.get("targets"):
        widget.target_preview = preview_payload(widget.editor_state, shown["targets"],
                                                shown.get("seq"))
    if widget.diff_view:
        widget.diff_view = diff_payload(widget.editor_state, widget.sample_x)


def on_view_message(widget: Any, kind: str, fields: dict) -> None:
    """The ``preview``, ``diff`` and ``diff_close`` messages."""
    if kind == "preview":
        widget.target_preview = preview_payload(widget.editor_state, fields["targets"],
                                                fields["seq"])
    elif kind == "diff":
        widget.diff_view = diff_payload(widget.editor_state, widget.sample_x,
                                        fields["i"], fields["j"])
    elif kind == "diff_close":
        widget.diff_view = {}

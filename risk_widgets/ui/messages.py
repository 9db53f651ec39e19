"""The messages the page sends (user intent): their fields, types, and the check on arrival.

The contract is in docs/architecture.md ("Messages"); the front end's side is ``js/src/types.ts``.
"""

from __future__ import annotations

from typing import Any

from risk_widgets.editor.catalog import CATALOG

_STR_LIST = "list of str"  # a field type: a list whose items are all strings
_OPT_INT = "int or null"  # a field type: an integer, or null / absent
_OPT_STR = "str or null"  # a field type: a string, or null / absent
_OPT_STR_LIST = "list of str or null"  # a field type: a list of strings, or null / absent

# Every message the front end sends: its fields and their types (docs/architecture.md).
MESSAGE_FIELDS: dict[str, dict[str, type | str]] = {
    "apply": {"kind": str, "params": dict, "targets": _STR_LIST},
    "undo": {},
    "redo": {},
    "reset": {},
    "export": {"path": str, "fold": bool},
    "export_svg": {"path": str},
    "export_html": {"path": str},
    "preview": {"targets": str, "seq": _OPT_INT},
    "diff": {"i": _OPT_INT, "j": _OPT_INT},
    "diff_close": {},
    "export_code": {"path": _OPT_STR},  # widget_panels.py
    "code_close": {},
    "param_report": {},
    "param_report_close": {},
    "set_active": {"names": _OPT_STR_LIST},
}


def validate_message(content: Any) -> tuple[str, dict]:
    """``(type, fields)`` of a message from the page, or a ValueError saying what is wrong.

    Example:
        >>> validate_message({"type": "undo"})
        ('undo', {})
        >>> validate_message({"type": "apply", "kind": "lora"})
        Traceback (most recent call last):
        ...
        ValueError: 'apply' needs field 'params' of type dict
    """
    if not isinstance(content, dict):
        raise ValueError(f"expected an object, got {type(content).__name__}")
    kind = content.get("type")
    if kind not in MESSAGE_FIELDS:
        expected = sorted(MESSAGE_FIELDS)
        raise ValueError(f"unknown message type {kind!r}; expected one of {expected}")
    fields = {}
    for name, expected in MESSAGE_FIELDS[kind].items():
        value = content.get(name, False if expected is bool else None)
        if expected in (_STR_LIST, _OPT_STR_LIST):
            ok = (value is None and expected == _OPT_STR_LIST) or (
                isinstance(value, list) and all(isinstance(v, str) for v in value))
        elif expected == _OPT_STR:
            ok = value is None or isinstance(value, str)
        elif expected == _OPT_INT:
            ok = value is None or (isinstance(value, int) and not isinstance(value, bool))
        else:
            ok = isinstance(value, expected)
        if not ok:
            type_name = expected if isinstance(expected, str) else expected.__name__
            raise ValueError(f"'{kind}' needs field '{name}' of type {type_name}")
        fields[name] = value
    if kind == "apply" and fields["kind"] not in CATALOG:
        raise ValueError(
            f"unknown patch kind {fields['kind']!r}; expected one of {sorted(CATALOG)}"
        )
    return kind, fields

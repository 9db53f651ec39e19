"""The editor's patch history as a short runnable Python script (`export_code`).

Each catalog kind says how its call is written (``PatchKind.code``, see
`risk_widgets.editor.catalog`): a template such as
``"rw.add_lora(model, targets={targets}, {params})"`` — ``{targets}`` becomes the list of
layer paths (``None`` when the patch ignores or has no selection), ``{params}`` the kind's
typed parameters as ``name=value`` pairs — or a function ``code(targets, params) -> str``
returning the expression. The script applies the entries in effect (undone ones are left
out), in order, to ``model``: the model the editor was opened on.

What it reproduces: the same calls with the same arguments, so the same architecture,
patches, parameters and frozen base weights. Weights that a patch initialises at random
(LoRA ``A``, vote members) come from the random state when the script runs; LoRA's
``B = 0`` and SVF's ``z = 1`` make fresh adapters predict exactly what the editor's fresh
ones predict. Trained weights are not in the script: save them with `rw.save_adapters` or
``editor.export``.

Example:
    >>> from risk_widgets.editor.code_export import history_code
    >>> print(history_code([("lora", ["head"], {"rank": 4, "alpha": None, "dropout": 0.0})]))
    # Reproduces the GraphEditor's patch history (1 patch) on the original model.
    # `model` is the model the editor was opened on (a built Keras model).
    import risk_widgets as rw
    <BLANKLINE>
    model = rw.add_lora(model, targets=['head'], rank=4, alpha=None, dropout=0.0)
    <BLANKLINE>
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["call_code", "history_code", "python_literal"]


def python_literal(value: Any) -> str:
    """``value`` as Python source (``repr``), refusing what would not read back.

    Example:
        >>> python_literal([1, 0.5, None, "a"])
        "[1, 0.5, None, 'a']"
    """
    if isinstance(value, float) and not math.isfinite(value):
        return f"float({str(value)!r})"
    if isinstance(value, (list, tuple)):
        inner = ", ".join(python_literal(v) for v in value)
        if isinstance(value, list):
            return f"[{inner}]"
        return f"({inner}{',' if len(value) == 1 else ''})"
    if isinstance(value, dict):
        pairs = (f"{python_literal(k)}: {python_literal(v)}" for k, v in value.items())
        return "{" + ", ".join(pairs) + "}"
    if value is None or isinstance(value, (bool, int, float, str)):
        return repr(value)
    raise TypeError(
        f"Cannot write {value!r} (of type {type(value).__name__}) as Python code: patch "
        "parameters must be numbers, strings, booleans, None, or lists/dicts of them."
    )


def call_code(kind: str, targets: Sequence[str] | None, params: dict[str, Any]) -> str:
    """The Python expression that applies patch ``kind`` to ``model`` (from the catalog).

    Raises:
        ValueError: ``kind`` is unknown or its catalog entry says nothing about its code.

    Example:
        >>> call_code("vote", None, {"n_voters": 3})
        'rw.risk.vote.Wrapper(n_voters=3)(model, targets=None)'
    """
    from risk_widgets.editor.catalog import CATALOG

    if kind not in CATALOG:
        raise ValueError(
            f"Unknown patch kind {kind!r}. Expected one of: {', '.join(sorted(CATALOG))}."
        )
    spec = CATALOG[kind]
    code = getattr(spec, "code", None)
    chosen = list(targets) if targets else None
    if callable(code):
        return str(code(chosen, dict(params)))
    if not isinstance(code, str) or not code:
        raise ValueError(
            f"Patch kind {kind!r} cannot be exported as code: its catalog entry has no "
            "`code` (a template such as \"rw.add_lora(model, targets={targets}, {params})\" "
            "or a function (targets, params) -> str). Add one in risk_widgets/editor/catalog.py."
        )
    shown = ", ".join(f"{name}={python_literal(value)}" for name, value in params.items())
    expression = code.format(targets=python_literal(chosen), params=shown)
    return expression.replace(", )", ")").replace("(, ", "(")


#: the adapter kinds risk_widgets registers itself
_BUILTIN = frozenset({"lora", "dora", "svf"})


def history_code(
    entries: Iterable[tuple[str, Sequence[str] | None, dict[str, Any]]],
    model_path: str | None = None,
) -> str:
    """A script applying ``entries`` (``(kind, targets, params)``, in order) to ``model``.

    ``model_path``: a ``.keras`` file the script loads ``model`` from first (otherwise the
    script expects a variable ``model``: the editor's original model).
    """
    entries = list(entries)
    count = f"{len(entries)} patch{'es' if len(entries) != 1 else ''}"
    lines = [f"# Reproduces the GraphEditor's patch history ({count}) on the original model."]
    if model_path is None:
        lines.append("# `model` is the model the editor was opened on (a built Keras model).")
        lines.append("import risk_widgets as rw")
    else:
        lines += ["import keras", "import risk_widgets as rw", "",
                  f"model = keras.saving.load_model({python_literal(str(model_path))})"]
    from risk_widgets.editor.catalog import CATALOG

    if any(kind in CATALOG and CATALOG[kind].needs_data for kind, _, _ in entries):
        lines.append("# `x_cal, y_cal`: the held-out rows the post-hoc patches are calibrated on "
                     "(the editor's sample data).")
    from risk_widgets.adapters import adapter_kinds

    own = sorted({kind for kind, _, _ in entries if kind in adapter_kinds()} - _BUILTIN)
    if own:
        lines.append(f"# {', '.join(repr(k) for k in own)}: your adapter kind(s); run the code "
                     "that defines and registers them (rw.register_adapter) first.")
    lines.append("")
    for kind, targets, params in entries:
        lines.append(f"model = {call_code(kind, targets, params)}")
    if not entries:
        lines.append("# (no patches: the model is used as it is)")
    return "\n".join(lines) + "\n"

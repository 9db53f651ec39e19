"""A target typed as text (the editor's target field): parsed, then previewed as JSON."""

from __future__ import annotations

from typing import Any

from keras import Operation

from risk_widgets.core.targets import find_layers
from risk_widgets.core.walk import iter_layers


def parse_target_text(model: Any, text: str) -> list[Any]:
    """The rules of a target typed as text: comma-separated paths, globs and class names.

    An item that is a path of ``model`` stays a path; otherwise an item that names the
    class of a layer in the model (``Dense``, ``EinsumDense``, or a base class such as
    ``Layer``) becomes that class; anything else stays a string (a glob or a path, which
    `find_layers` then matches or reports). Blank items are dropped.

    Raises:
        TypeError: ``text`` is not a string.
        ValueError: ``text`` holds no rule.

    Example:
        >>> import keras
        >>> from risk_widgets.core.target_text import parse_target_text
        >>> x = keras.Input((3,), name="x")
        >>> model = keras.Model(x, keras.layers.Dense(2, name="head")(x), name="m")
        >>> parse_target_text(model, " head, Dense ,*/q ")
        ['head', <class 'keras.src.layers.core.dense.Dense'>, '*/q']
    """
    if not isinstance(text, str):
        raise TypeError(f"A typed target is a string such as '*/query, Dense'. Received: {text!r}")
    items = [item.strip() for item in text.split(",")]
    items = [item for item in items if item]
    if not items:
        raise ValueError(
            "The target is empty: type a path ('block_0/attn/query'), a glob ('*/query'), a "
            "layer class name ('Dense') or a comma-separated list of them."
        )
    refs = list(iter_layers(model))
    paths = {ref.path for ref in refs}
    classes: dict[str, type] = {}
    for ref in refs:
        for cls in type(ref.layer).__mro__:
            if isinstance(cls, type) and issubclass(cls, Operation):
                classes.setdefault(cls.__name__, cls)
    return [
        classes[item] if item not in paths and item.isidentifier() and item in classes else item
        for item in items
    ]


def preview_json(model: Any, text: str) -> dict:
    """A typed target's matches as JSON, for a preview before anything is patched.

    ``text`` is parsed by `parse_target_text`; the result is
    ``TargetExplanation.to_json()`` plus ``"warnings"`` (the messages a patch would warn
    with) and ``"error"`` (None, or why the text as a whole cannot be used, e.g. it is
    empty). Nothing raises for a target that matches nothing: each rule says so.

    Example:
        >>> import keras
        >>> from risk_widgets.core.target_text import preview_json
        >>> x = keras.Input((3,), name="x")
        >>> model = keras.Model(x, keras.layers.Dense(2, name="head")(x), name="m")
        >>> got = preview_json(model, "Dense, hed")
        >>> got["paths"], [r["count"] for r in got["rules"]], got["rules"][1]["error"][:32]
        (['head'], [1, 0], "No layer at path 'hed' in model ")
    """
    try:
        explanation = find_layers(model, parse_target_text(model, text), explain=True)
    except (TypeError, ValueError) as err:
        return {"paths": [], "count": 0, "total": None, "rules": [], "warnings": [],
                "error": str(err)}
    return {**explanation.to_json(), "warnings": explanation.warnings(), "error": None}

"""The layers `add_lora` adapts when no targets are given, as KerasHub's ``enable_lora`` does.

A model that has ``default_lora_layer_names()`` (a KerasHub backbone or task, or any model
with that method; found on the model, its ``backbone`` attribute, or a layer inside it —
duck-typed, keras_hub is never imported) gets LoRA on the layers whose name is in that list
and that an adapter can take (Dense, EinsumDense, Embedding, Conv — what Keras'
``enable_lora`` takes). Any other model gets LoRA on every Dense and EinsumDense layer. A
patched model remembers the names it was patched with, so a second default patch on it
reaches the same layers.

Example:
    >>> import keras
    >>> from risk_widgets.adapters.defaults import default_targets
    >>> inputs = keras.Input((4,))
    >>> hidden = keras.layers.Dense(8, name="hidden")(inputs)
    >>> model = keras.Model(inputs, keras.layers.Dense(2, name="head")(hidden))
    >>> rule, why = default_targets(model)
    >>> why
    'every Dense and EinsumDense layer'
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras

from risk_widgets.adapters.adapter_layer import base_of, can_adapt
from risk_widgets.core.walk import iter_layers

__all__ = ["DEFAULT_NAMES_ATTR", "default_lora_names", "default_targets"]

#: a patched model's record of the names it was patched with (not saved in `.keras`)
DEFAULT_NAMES_ATTR = "_rw_default_lora_names"


def _names_of(obj: Any) -> list[str] | None:
    method = getattr(obj, "default_lora_layer_names", None)
    if not callable(method):
        return None
    try:
        names = list(method())
    except Exception:  # noqa: BLE001 - a model whose method needs more: ignore it
        return None
    return [n for n in names if isinstance(n, str)] or None


def default_lora_names(model: Any) -> list[str] | None:
    """The layer names ``model``'s ``default_lora_layer_names()`` gives (the model's, its
    ``backbone``'s, or those of the layers inside it that have the method, in graph order,
    each once), or None when neither has one.

    Example:
        >>> import keras
        >>> from risk_widgets.adapters.defaults import default_lora_names
        >>> class Backbone(keras.Model):
        ...     def default_lora_layer_names(self):
        ...         return ["query", "value"]
        >>> inputs = keras.Input((4,))
        >>> default_lora_names(Backbone(inputs, keras.layers.Dense(2)(inputs)))
        ['query', 'value']
    """
    remembered = vars(model).get(DEFAULT_NAMES_ATTR) if hasattr(model, "__dict__") else None
    if remembered:
        return list(remembered)
    for holder in (model, getattr(model, "backbone", None)):
        names = _names_of(holder) if holder is not None else None
        if names:
            return names
    found: dict[str, None] = {}
    for ref in iter_layers(model):
        if ref.kind == "group":
            found.update(dict.fromkeys(_names_of(ref.layer) or []))
    return list(found) or None


def default_targets(model: Any) -> tuple[Callable[[str, Any], bool], str]:
    """``(predicate(path, layer), description)``: what ``add_lora(model)`` without targets
    adapts (see the module docstring)."""
    names = default_lora_names(model)
    if names:
        wanted = set(names)

        def by_name(path: str, layer: Any) -> bool:
            return base_of(layer).name in wanted and can_adapt(layer, quantized=True)

        return by_name, f"the layers named in default_lora_layer_names(): {names}"

    def linear(path: str, layer: Any) -> bool:
        return isinstance(base_of(layer), (keras.layers.Dense, keras.layers.EinsumDense))

    return linear, "every Dense and EinsumDense layer"

"""The patch-kind registry: which patch a layer carries, and which kinds apply where.

Patch kinds (`risk_widgets.adapters`, `risk_widgets.risk`, your own) register themselves
here when imported; the graph view (`risk_widgets.graph.build`) reads the registry and imports no
patch kind. This is the one place allowed to import a higher layer, and only by name:
`load_builtin_kinds` imports the packages in `BUILTIN_KINDS` so that a graph drawn before
any adapter was used still offers them (docs/architecture.md, "Layers").

- `register_patch_inspector(fn)`: ``fn(layer) -> {"kind": ..., "params": {...}} | None``,
  the patch a layer carries; the first inspector returning a dict wins. The built-in one
  reads ``patch_info()`` of patch layers.
- `patches_of(layer, path)`: every patch of a layer (several named adapters can stack on
  one layer), each ``{"kind", "name", "params", "active"}``.
- `register_patchable(kind, predicate)`: ``predicate(layer) -> bool``, whether patch
  ``kind`` applies to a layer or group; `patchable_kinds` lists them in registration order.

Example:
    >>> import keras
    >>> from risk_widgets.engine import registry
    >>> _ = registry.register_patchable("mine", lambda layer: isinstance(layer, keras.layers.Dense))
    >>> "mine" in registry.patchable_kinds(keras.layers.Dense(2), wrapped=False)
    True
    >>> registry.unregister_patchable("mine")
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from risk_widgets.core.walk import is_patch_layer

__all__ = [
    "BUILTIN_KINDS",
    "load_builtin_kinds",
    "patch_of",
    "patchable_kinds",
    "patches_of",
    "register_patch_inspector",
    "register_patchable",
    "restore",
    "snapshot",
    "unregister_patch_inspector",
    "unregister_patchable",
]

#: modules that register the built-in patch kinds when imported (by name: most sit above;
#: engine.keras_native recognises Keras' own enable_lora)
BUILTIN_KINDS = (
    "risk_widgets.adapters", "risk_widgets.risk", "risk_widgets.engine.keras_native",
    # and the modules whose Keras classes a saved `.keras` file may name
    "risk_widgets.risk.sculpt", "risk_widgets.risk.conformal", "risk_widgets.risk.temperature",
    "risk_widgets.risk.laplace", "risk_widgets.risk.recalibration",
)

PatchInspector = Callable[[Any], "dict | None"]

_PATCH_INSPECTORS: list[PatchInspector] = []
_PATCHABLE: dict[str, Callable[[Any], bool]] = {}


class _Patchable:
    """A registered predicate with its ``through_wrappers`` flag (one registry entry)."""

    def __init__(self, predicate: Callable[[Any], bool], through_wrappers: bool):
        self.predicate = predicate
        self.through_wrappers = through_wrappers

    def __call__(self, layer: Any) -> bool:
        return bool(self.predicate(layer))


# ----------------------------------------------------------------------------- registries


def register_patch_inspector(fn: PatchInspector) -> PatchInspector:
    """Registers ``fn(layer) -> {"kind": str, "params": dict} | None`` for node ``patch``.

    Called for every layer and group node (not for inputs and outputs) with the layer
    object at that path; the first inspector that returns a dict gives the node's
    ``patch``. Returns ``fn`` (usable as a decorator); registering twice is a no-op.

    Example:
        >>> from risk_widgets.engine.registry import (
        ...     register_patch_inspector, unregister_patch_inspector)
        >>> def lora_patch(layer):
        ...     if getattr(layer, "patch_kind", None) == "lora":
        ...         return {"kind": "lora", "params": {"rank": layer.rank}}
        ...     return None
        >>> _ = register_patch_inspector(lora_patch)
        >>> unregister_patch_inspector(lora_patch)
    """
    if not callable(fn):
        raise TypeError(
            f"A patch inspector is fn(layer) -> dict | None. Received: {fn!r} "
            f"(of type {type(fn).__name__})"
        )
    if fn not in _PATCH_INSPECTORS:
        _PATCH_INSPECTORS.append(fn)
    return fn


def unregister_patch_inspector(fn: PatchInspector) -> None:
    """Removes an inspector added with `register_patch_inspector` (no error when absent)."""
    if fn in _PATCH_INSPECTORS:
        _PATCH_INSPECTORS.remove(fn)


def register_patchable(
    kind: str, predicate: Callable[[Any], bool], *, through_wrappers: bool = True
) -> Callable[[Any], bool]:
    """Declares that patch ``kind`` applies to the layers (or groups) ``predicate`` accepts.

    Node ``patchable`` lists, in registration order, every kind whose predicate returns
    True for the node's layer object. Registering a kind again replaces its predicate.
    ``through_wrappers=False`` declares a kind that applies only to a graph model itself,
    not through a model that wraps one (a `RiskModel`, see
    `risk_widgets.core.walk.register_graph_root`): the graph of such a model does not offer it.
    Returns ``predicate``.

    Example:
        >>> import keras
        >>> from risk_widgets.engine.registry import register_patchable, unregister_patchable
        >>> _ = register_patchable("my_kind", lambda layer: isinstance(layer, keras.layers.Dense))
        >>> unregister_patchable("my_kind")
    """
    if not isinstance(kind, str) or not kind:
        raise TypeError(f"`kind` must be a non-empty string such as 'lora'. Received: {kind!r}")
    if not callable(predicate):
        raise TypeError(
            f"`predicate` must be callable: predicate(layer) -> bool. Received: {predicate!r}"
        )
    _PATCHABLE[kind] = _Patchable(predicate, bool(through_wrappers))
    return predicate


def unregister_patchable(kind: str) -> None:
    """Removes the predicate of ``kind`` (no error when absent)."""
    _PATCHABLE.pop(kind, None)


def patch_of(layer: Any, path: str) -> dict | None:
    """``{"kind", "params"}`` of the patch ``layer`` carries (first inspector wins), or None."""
    for fn in _PATCH_INSPECTORS:
        info = fn(layer)
        if info is not None:
            if not isinstance(info, dict) or "kind" not in info:
                raise TypeError(
                    f"Patch inspector {getattr(fn, '__name__', fn)!r} returned {info!r} for "
                    f"layer {path!r}; expected None or {{'kind': str, 'params': dict}}."
                )
            return {"kind": info["kind"], "params": dict(info.get("params", {}))}
    return None


def patches_of(layer: Any, path: str) -> list[dict]:
    """Every patch ``layer`` carries: ``[{"kind", "name", "params", "active"}, ...]``.

    A layer holding named adapters (one, or a stack: ``named_adapters()``) gives one entry
    per adapter, in order; any other patch (a risk layer, your own) gives its `patch_of`
    entry with ``"name": None, "active": True``; an unpatched layer gives ``[]``.
    """
    if is_patch_layer(layer) and callable(getattr(layer, "named_adapters", None)):
        found = []
        for adapter in layer.named_adapters():
            info = adapter.patch_info()
            found.append({
                "kind": info["kind"],
                "name": adapter.adapter_name,
                "params": dict(info.get("params", {})),
                "active": bool(adapter.active),
            })
        return found
    patch = patch_of(layer, path)
    return [] if patch is None else [{**patch, "name": None, "active": True}]


def snapshot() -> tuple[list, dict]:
    """The registry's current entries (to `restore` later, e.g. around a test)."""
    return list(_PATCH_INSPECTORS), dict(_PATCHABLE)


def restore(state: tuple[list, dict]) -> None:
    """Puts back entries taken with `snapshot` (``([], {})`` empties the registry)."""
    inspectors, patchable = state
    _PATCH_INSPECTORS[:] = inspectors
    _PATCHABLE.clear()
    _PATCHABLE.update(patchable)


def load_builtin_kinds() -> None:
    """Imports the packages in `BUILTIN_KINDS`, which register their inspectors and kinds."""
    for name in BUILTIN_KINDS:
        importlib.import_module(name)


def load_model(path: Any, **kwargs: Any) -> Any:
    """`keras.saving.load_model` with every risk_widgets class registered first.

    Keras finds a custom class only once its module was imported; a file saved from a
    patched or risk model names adapter and risk layers that a fresh session has not
    imported yet. ``kwargs`` go to `keras.saving.load_model` (``compile``, ``safe_mode``).

    Example:
        >>> import keras, os, tempfile
        >>> import risk_widgets as rw
        >>> inputs = keras.Input((4,))
        >>> lora = rw.add_lora(keras.Model(inputs, keras.layers.Dense(2, name="head")(inputs)),
        ...                    "head", rank=2)
        >>> path = os.path.join(tempfile.mkdtemp(), "lora.keras")
        >>> lora.save(path)
        >>> rw.adapter_names(rw.load_model(path))
        ['default']
    """
    import keras

    load_builtin_kinds()
    return keras.saving.load_model(path, **kwargs)


def patchable_kinds(layer: Any, wrapped: bool) -> list[str]:
    """The kinds whose predicate accepts ``layer``; ``wrapped``: seen through a wrapper."""
    return [
        kind
        for kind, predicate in _PATCHABLE.items()
        if not (wrapped and not predicate.through_wrappers) and predicate(layer)
    ]


def inspect_patch(layer: Any) -> dict | None:
    """``layer.patch_info()`` for patch layers (the built-in inspector), else None."""
    if is_patch_layer(layer) and hasattr(layer, "patch_info"):
        return layer.patch_info()
    return None


register_patch_inspector(inspect_patch)

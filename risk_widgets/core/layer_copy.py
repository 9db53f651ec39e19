"""A structural copy of a layer: a new object of its class with some sub-layers swapped.

`rewire` patches a layer inside an opaque parent (LoRA on the ``query`` of a KerasHub
attention layer) without touching the user's model, so the parent on the way to the patch
must be a new object. Re-creating it from its config does not work for the models users
bring: KerasHub builds sub-layers in ``build()`` from arguments that do not serialize, and
some ``get_config``\\ s are incomplete. A **structural copy** never calls ``__init__`` or
``from_config``: it is ``cls.__new__(cls)`` given the original's state, in which

- every sub-layer is mapped (``remap(sub)``: the replacement, a copy on the way to one, or
  the original object itself), in plain attributes and inside lists, tuples and dicts
  (KerasHub's ``transformer_layers``, MoE expert lists), and in the containers that track
  them (Keras' ``_layers`` and tracker, TensorFlow's checkpoint dependencies, torch's
  ``_modules``);
- variables, config attributes and untouched sub-layers are shared (no weight is copied);
- every container of the original's own attributes is copied one level deep, so neither
  object ever appends to the other's lists; the node lists start empty.

Locations name where a sub-layer sits in its parent: ``"attr"``, ``"attr[2]"``,
``"attr['key']"`` (`sublayer_locations`, `set_sublayer`); `RewiredModel` saves patches
inside opaque layers by location.

Example:
    >>> import keras
    >>> from risk_widgets.core.layer_copy import structural_copy
    >>> attn = keras.layers.MultiHeadAttention(2, 4, name="attn")
    >>> _ = attn(keras.ops.ones((1, 3, 8)), keras.ops.ones((1, 3, 8)))
    >>> query = keras.layers.EinsumDense("abc,cde->abde", (None, 2, 4), name="query")
    >>> twin = structural_copy(attn, lambda sub: query if sub is attn.query_dense else sub)
    >>> twin.query_dense is query, twin.key_dense is attn.key_dense, attn.query_dense is query
    (True, True, False)
"""

from __future__ import annotations

import ast
import contextlib
import inspect
import re
import types
from collections.abc import Callable
from typing import Any

import keras

from risk_widgets.core import keras_internals as ki

__all__ = [
    "copy_state",
    "independent_copy",
    "layer_attributes",
    "set_sublayer",
    "sublayer_at",
    "structural_copy",
    "sublayer_locations",
]

_KEY = re.compile(r"\[([^\]]*)\]")
_MAX_DEPTH = 4  # containers inside containers looked into


def layer_attributes(layer: Any) -> dict[str, Any]:
    """``layer``'s own attributes (what its class set), without Keras' bookkeeping; on
    torch this includes the sub-layers kept in the module's ``_modules``.

    Example:
        >>> import keras
        >>> from risk_widgets.core.layer_copy import layer_attributes
        >>> dense = keras.layers.Dense(2)
        >>> sorted(k for k in layer_attributes(dense) if k in ("units", "_tracker"))
        ['units']
    """
    found = {k: v for k, v in vars(layer).items() if not ki.is_framework_attribute(k)}
    modules = ki.torch_modules(layer)
    if modules is not None:
        found.update((k, v) for k, v in modules.items() if k != ki.TORCH_PARAMS)
    return found


def sublayer_locations(layer: Any) -> list[tuple[str, Any]]:
    """``[(location, sub-layer)]`` for every layer held in ``layer``'s own attributes,
    also inside lists, tuples and dicts: ``"attr"``, ``"attr[2]"``, ``"attr['key']"``.

    Example:
        >>> import keras
        >>> from risk_widgets.core.layer_copy import sublayer_locations
        >>> attn = keras.layers.MultiHeadAttention(2, 4)
        >>> _ = attn(keras.ops.ones((1, 3, 8)), keras.ops.ones((1, 3, 8)))
        >>> [loc for loc, _ in sublayer_locations(attn)][:2]
        ['_query_dense', '_key_dense']
    """
    found: list[tuple[str, Any]] = []

    def visit(location: str, value: Any, depth: int) -> None:
        if isinstance(value, keras.layers.Layer):
            found.append((location, value))
        elif depth < _MAX_DEPTH and isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                visit(f"{location}[{i}]", item, depth + 1)
        elif depth < _MAX_DEPTH and isinstance(value, dict):
            for key, item in value.items():
                if isinstance(key, (str, int)):
                    visit(f"{location}[{key!r}]", item, depth + 1)

    for key, value in layer_attributes(layer).items():
        visit(key, value, 0)
    return found


def _parse(location: str) -> tuple[str, list]:
    attr = location.split("[", 1)[0]
    try:
        keys = [ast.literal_eval(k) for k in _KEY.findall(location[len(attr):])]
    except (ValueError, SyntaxError):
        raise ValueError(f"Not a sub-layer location: {location!r}") from None
    return attr, keys


def _with_item(container: Any, keys: list, new: Any) -> Any:
    """``container`` with the item at ``keys`` set to ``new``: lists and dicts in place
    (without re-tracking), tuples rebuilt."""
    key, rest = keys[0], keys[1:]
    item = new if not rest else _with_item(container[key], rest, new)
    if isinstance(container, tuple):
        items = list(container)
        items[key] = item
        if hasattr(container, "_fields"):
            return type(container)(*items)
        return type(container)(items)
    setter = dict.__setitem__ if isinstance(container, dict) else list.__setitem__
    setter(container, key, item)
    return container


def _locate(layer: Any, location: str) -> tuple[dict, str, list, Any]:
    attr, keys = _parse(location)
    modules = ki.torch_modules(layer)
    holder = modules if modules is not None and attr in modules else vars(layer)
    found = holder.get(attr)
    try:
        for key in keys:
            found = found[key]
    except (KeyError, IndexError, TypeError):
        found = None
    if not isinstance(found, keras.layers.Layer):
        raise ValueError(
            f"{type(layer).__name__} {layer.name!r} holds no layer at {location!r}."
        )
    return holder, attr, keys, found


def sublayer_at(layer: Any, location: str) -> Any:
    """The sub-layer at ``location`` of ``layer`` (see `sublayer_locations`).

    Raises:
        ValueError: ``location`` holds no layer.

    Example:
        >>> import keras
        >>> from risk_widgets.core.layer_copy import sublayer_at
        >>> attn = keras.layers.MultiHeadAttention(2, 4)
        >>> _ = attn(keras.ops.ones((1, 3, 8)), keras.ops.ones((1, 3, 8)))
        >>> sublayer_at(attn, "_query_dense") is attn.query_dense
        True
    """
    return _locate(layer, location)[3]


def set_sublayer(layer: Any, location: str, new: Any) -> Any:
    """Puts ``new`` at ``location`` of ``layer`` in place (and where Keras tracks it);
    returns the layer that was there. Meant for a layer nobody else holds (just loaded).

    Raises:
        ValueError: ``location`` holds no layer.

    Example:
        >>> import keras
        >>> from risk_widgets.core.layer_copy import set_sublayer
        >>> attn = keras.layers.MultiHeadAttention(2, 4)
        >>> _ = attn(keras.ops.ones((1, 3, 8)), keras.ops.ones((1, 3, 8)))
        >>> other = keras.layers.EinsumDense("abc,cde->abde", (None, 2, 4))
        >>> old = set_sublayer(attn, "_query_dense", other)
        >>> attn.query_dense is other, other in attn._layers, old in attn._layers
        (True, True, False)
    """
    holder, attr, keys, old = _locate(layer, location)
    holder[attr] = _with_item(holder[attr], keys, new) if keys else new
    ki.swap_tracked(layer, old, new)
    return old


def structural_copy(
    layer: Any, remap: Callable[[Any], Any], state: Callable[[Any], Any] | None = None
) -> Any:
    """A new object of ``layer``'s class sharing its state, each sub-layer ``sub`` replaced
    by ``remap(sub)`` (``sub`` itself for the untouched ones).

    See the module docstring for what is shared and what is copied. ``layer`` itself is not
    changed; ``remap`` is called for every layer the copy holds (including layers it only
    refers to, such as a tied embedding) and must return ``sub`` for the ones to keep.
    ``state``, if given, is called on every variable and seed generator the layer holds
    itself and returns what the copy holds instead (`fold`: new variables); by default
    they are shared.

    Raises:
        ValueError: a replaced sub-layer would still be reached through something the copy
            cannot see into (an attribute object holding it, a function closing over it);
            the message names the attribute.

    Example:
        >>> import keras
        >>> from risk_widgets.core.layer_copy import structural_copy
        >>> attn = keras.layers.MultiHeadAttention(2, 4, name="attn")
        >>> _ = attn(keras.ops.ones((1, 3, 8)), keras.ops.ones((1, 3, 8)))
        >>> twin = structural_copy(attn, lambda sub: sub)
        >>> type(twin).__name__, twin is attn, twin.weights[0] is attn.weights[0]
        ('MultiHeadAttention', False, True)
    """
    cls = type(layer)
    new = cls.__new__(cls)  # Layer.__new__ wraps build / quantize around ``new``
    wrappers = {k: v for k, v in vars(new).items() if k in ("build", "quantize")}
    memo: dict[int, Any] = {id(layer): new}
    keep: list[Any] = []  # originals of the memo's ids stay alive while it is in use

    def copy(value: Any, top: bool = False) -> Any:
        if id(value) in memo:
            return memo[id(value)]
        if isinstance(value, keras.layers.Layer):
            return remap(value)
        if state is not None and isinstance(value, (keras.Variable, keras.random.SeedGenerator)):
            memo[id(value)] = state(value)
            keep.append(value)
            return memo[id(value)]
        if inspect.ismethod(value) and value.__self__ is layer:
            return types.MethodType(value.__func__, new)
        if ki.is_checkpoint_reference(value):
            return type(value)(value.name, copy(value.ref))
        if isinstance(value, tuple):
            items = [copy(v) for v in value]
            if all(a is b for a, b in zip(items, value, strict=True)):
                return value
            kind = type(getattr(value, "__wrapped__", value))  # TensorFlow's tuple proxy
            return kind(*items) if hasattr(value, "_fields") else kind(items)
        if not isinstance(value, (list, dict, set)):
            return value
        if isinstance(value, dict):
            items = {copy(k): copy(v) for k, v in value.items() if k != ki.TORCH_PARAMS}
            changed = len(items) != len(value) or any(
                a is not value.get(k) for k, a in items.items()
            )
        else:
            items = [copy(v) for v in value]
            changed = any(a is not b for a, b in zip(items, value, strict=True))
        if not (top or changed):
            return value
        fresh = _empty_like(value, memo, items)
        keep.append(value)
        memo[id(value)] = fresh
        return fresh

    tracker = ki.copy_tracker(layer, lambda store: copy(store, top=True))
    if tracker is not None:
        keep.append(ki.tracker_of(layer))
        memo[id(ki.tracker_of(layer))] = tracker
    attrs = {}  # not ``state``: copy() reads that name (a closure) while this loop runs
    for key, value in vars(layer).items():
        if key in wrappers:
            continue
        if key in ki.NODE_LISTS and isinstance(value, list):
            attrs[key] = _empty_like(value, memo)
        else:
            attrs[key] = copy(value, top=True)
    vars(new).clear()
    vars(new).update(attrs)
    vars(new).update(wrappers)
    _check_no_leftovers(layer, new, remap)
    return new


def _empty_like(container: Any, memo: dict[int, Any], items: Any = ()) -> Any:
    """A container of ``container``'s type holding ``items``; a Keras Tracked container is
    bound to the copy's tracker once filled (so nothing is tracked twice)."""
    factory = getattr(container, "default_factory", None)
    fresh = type(container)(factory) if factory is not None else type(container)()
    if isinstance(container, dict) and type(container).__mro__.count(dict):
        dict.update(fresh, items)
    elif isinstance(container, dict):  # TensorFlow's _DictWrapper: a proxy, not a dict
        fresh.update(items)  # (a compiled model's `_compiled_trainable_state`)
    elif isinstance(container, set):
        set.update(fresh, items)
    else:
        list.extend(fresh, items)
    tracker = vars(container).get("tracker") if hasattr(container, "__dict__") else None
    if tracker is not None:
        fresh.tracker = memo.get(id(tracker), tracker)
    return fresh


def _check_no_leftovers(layer: Any, new: Any, remap: Callable[[Any], Any]) -> None:
    """Refuses a copy that would still reach a replaced sub-layer (or the original layer)
    through an object or a function it cannot see into."""
    replaced = {id(sub) for sub in ki.sublayers(layer) if remap(sub) is not sub}
    if not replaced:
        return
    for key, value in layer_attributes(new).items():
        if isinstance(value, (keras.layers.Layer, list, tuple, dict, set, type)):
            continue
        if inspect.ismodule(value) or inspect.ismethod(value):
            continue
        inner = list(vars(value).values()) if hasattr(value, "__dict__") else []
        closure = getattr(value, "__closure__", None) or ()
        inner += [cell.cell_contents for cell in closure if _filled(cell)]
        for held in inner:
            if id(held) in replaced or held is layer:
                what = "the layer itself" if held is layer else f"its sub-layer {held.name!r}"
                raise ValueError(
                    f"its attribute {key!r} ({type(value).__name__}) holds {what}, which a "
                    "copy cannot swap"
                )


def _filled(cell: Any) -> bool:
    try:
        cell.cell_contents  # noqa: B018 - an empty cell raises
    except ValueError:
        return False
    return True


def variable_like(value: Any, initial: Any, trainable: bool | None = None) -> Any:
    """A new variable holding ``initial``, made like ``value``: the same path, name, dtype,
    aggregation and synchronization, and its trainable flag unless ``trainable`` is given."""
    with contextlib.ExitStack() as scopes:  # the same path as the original
        for part in value.path.split("/")[:-1]:
            scopes.enter_context(keras.name_scope(part))
        return keras.Variable(
            initial, dtype=value.dtype,
            trainable=value.trainable if trainable is None else trainable,
            aggregation=value.aggregation, synchronization=value.synchronization,
            name=value.name,
        )


def copy_state(value: Any, trainable: bool | None = None) -> Any:
    """A new variable (or seed generator) holding ``value``'s current value, under the
    same path; ``trainable`` overrides a variable's flag (see `variable_like`)."""
    if isinstance(value, keras.random.SeedGenerator):
        new = keras.random.SeedGenerator(seed=0, name=value.name)
        new.state.assign(value.state.value)
        return new
    return variable_like(value, keras.ops.convert_to_numpy(value), trainable)


def independent_copy(layer: Any, state: Callable[[Any], Any] = copy_state) -> Any:
    """A structural copy of ``layer`` and of every layer inside it, each owning new
    variables with the same values: for a layer that cannot be re-created from its config
    (KerasHub's ``RMSNormalization`` has no ``get_config``). ``state(value)`` makes each
    new variable or seed generator (once per original; default `copy_state`).

    Example:
        >>> import keras
        >>> from risk_widgets.core.layer_copy import independent_copy
        >>> dense = keras.layers.Dense(2)
        >>> dense.build((None, 3))
        >>> twin = independent_copy(dense)
        >>> twin.kernel is dense.kernel, bool((twin.kernel.numpy() == dense.kernel.numpy()).all())
        (False, True)
    """
    memo: dict[int, Any] = {}
    states: dict[int, Any] = {}

    def remap(sub: Any) -> Any:
        if id(sub) not in memo:
            memo[id(sub)] = structural_copy(sub, remap, copied)
        return memo[id(sub)]

    def copied(value: Any) -> Any:
        if id(value) not in states:
            states[id(value)] = state(value)
        return states[id(value)]

    return remap(layer)

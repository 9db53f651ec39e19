"""Walks a model and names every layer by its **path** (docs/architecture.md "Paths").

This module is the one place that knows how to descend into containers:

- graph containers: `CompositeLayer`, nested Functional models and nested Sequential
  models. Their children are the operations of their own traced graph (`Function`), in
  graph order, without their `InputLayer`s; ops such as ``x + y`` are children too.
- opaque containers: any other layer that tracks sub-layers (e.g. `MultiHeadAttention`
  -> ``query``, ``key``, ``value``, ``softmax``, ``dropout``, ``attention_output``). Their
  children are the layer's own tracked sub-layers (non-recursive), in tracking order; a
  repeated name gets a ``#k`` suffix.
- patch layers (classes with ``is_patch_layer = True``: adapters, risk layers) are leaves,
  so a patched layer keeps the path of the layer it replaced.

The walk reads each container's own graph (its operations and nodes by depth), never
``layer._inbound_nodes``: a reused layer accumulates inbound nodes from every model it was
ever called in.

Example:
    >>> import keras
    >>> from risk_widgets.core.walk import iter_layers, get_layer_by_path
    >>> inner = keras.Sequential([keras.layers.Dense(4, name="dense")], name="inner")
    >>> x = keras.Input((3,), name="x")
    >>> model = keras.Model(x, keras.layers.Dense(2, name="head")(inner(x)), name="m")
    >>> [(ref.path, ref.parent, ref.kind) for ref in iter_layers(model)]
    [('inner', None, 'group'), ('inner/dense', 'inner', 'layer'), ('head', None, 'layer')]
    >>> get_layer_by_path(model, "inner/dense").name
    'dense'
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Any, Literal, NamedTuple

import keras

from risk_widgets.core import keras_internals as ki

__all__ = [
    "LayerRef",
    "iter_layers",
    "get_layer_by_path",
    "named_children",
    "container_chain",
    "children",
    "graph_of",
    "is_graph_container",
    "is_opaque_container",
    "is_patch_layer",
    "register_graph_root",
    "unregister_graph_root",
    "resolve_root",
]


class LayerRef(NamedTuple):
    """One layer of a walk.

    Attributes:
        path: ``"outer/inner/layer"``, without the top-level model's name.
        layer: the layer object (or the `Operation` for ops such as ``x + y``).
        parent: the path of the enclosing container, or None at the top level.
        kind: ``"group"`` for containers (graph or opaque), ``"layer"`` otherwise.
    """

    path: str
    layer: Any
    parent: str | None
    kind: Literal["layer", "group"]


# ----------------------------------------------------------------------------- roots

_ROOT_RESOLVERS: list[Callable[[Any], Any]] = []


def register_graph_root(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Registers ``fn(model) -> inner model or None`` for models that wrap a graph.

    A model class whose own ``call`` is not a graph (e.g. a subclassed model that runs a
    Functional ``body``) can register a resolver so that paths, targets and the graph view
    are those of the inner model. The first resolver returning a model wins; resolution
    repeats until none applies. Returns ``fn`` (usable as a decorator).

    Example:
        >>> from risk_widgets.core.walk import register_graph_root, unregister_graph_root
        >>> resolver = register_graph_root(lambda m: getattr(m, "my_body", None))
        >>> unregister_graph_root(resolver)
    """
    if not callable(fn):
        raise TypeError(f"`fn` must be callable: fn(model) -> model or None. Received: {fn!r}")
    if fn not in _ROOT_RESOLVERS:
        _ROOT_RESOLVERS.append(fn)
    return fn


def unregister_graph_root(fn: Callable[[Any], Any]) -> None:
    """Removes a resolver added with `register_graph_root` (no error when absent)."""
    if fn in _ROOT_RESOLVERS:
        _ROOT_RESOLVERS.remove(fn)


def resolve_root(model: Any) -> Any:
    """The model whose layers are walked: ``model`` after the registered root resolvers."""
    seen = {id(model)}
    changed = True
    while changed and _ROOT_RESOLVERS:
        changed = False
        for fn in _ROOT_RESOLVERS:
            inner = fn(model)
            if inner is not None and id(inner) not in seen:
                seen.add(id(inner))
                model, changed = inner, True
                break
    return model


# ----------------------------------------------------------------------------- structure


def _composite_class() -> type | None:
    try:
        from risk_widgets.core.composite import CompositeLayer
    except ImportError:  # pragma: no cover - composite.py ships with the package
        return None
    return CompositeLayer


def is_patch_layer(layer: Any) -> bool:
    """True for patch layers (their class sets ``is_patch_layer = True``): always leaves."""
    return bool(getattr(layer, "is_patch_layer", False))


def graph_of(layer: Any) -> Any:
    """The traced `Function` of a graph container, or None.

    Functional models are their own graph; a Sequential model's graph is its
    ``_functional`` (None until built); a `CompositeLayer`'s is ``layer.function``
    (None until built). Patch layers and every other layer have none.
    """
    if is_patch_layer(layer):
        return None
    if isinstance(layer, keras.Sequential):
        return ki.sequential_graph(layer)
    composite = _composite_class()
    if composite is not None and isinstance(layer, composite):
        return layer.function
    if isinstance(layer, ki.Functional):
        return layer
    return None


def is_graph_container(layer: Any) -> bool:
    """True for CompositeLayers and nested Functional / Sequential models."""
    if is_patch_layer(layer):
        return False
    if isinstance(layer, keras.Sequential):
        return True
    return isinstance(layer, ki.Functional)


def _tracked_sublayers(layer: Any) -> list:
    try:
        subs = ki.tracked_sublayers(layer)
    except (AttributeError, TypeError):
        return []
    return list(subs)


def is_opaque_container(layer: Any) -> bool:
    """True for layers that are not graphs but track sub-layers (e.g. MultiHeadAttention)."""
    if not isinstance(layer, keras.layers.Layer):
        return False
    if is_patch_layer(layer) or is_graph_container(layer):
        return False
    return bool(_tracked_sublayers(layer))


def children(layer: Any) -> list:
    """The direct children of a container as the path scheme sees them ([] for leaves).

    Graph containers: the operations of their graph in graph order, `InputLayer`s left out
    (an unbuilt Sequential: its layers). Opaque containers: their tracked sub-layers.
    """
    if is_patch_layer(layer):
        return []
    if is_graph_container(layer):
        graph = graph_of(layer)
        if graph is None:
            if isinstance(layer, keras.Sequential):
                return [c for c in layer.layers if not isinstance(c, keras.layers.InputLayer)]
            return []
        return [op for op in graph.operations if not isinstance(op, keras.layers.InputLayer)]
    if isinstance(layer, keras.layers.Layer):
        return _tracked_sublayers(layer)
    return []


def named_children(layer: Any) -> list[tuple[str, Any]]:
    """``[(name, child)]`` with ``#k`` suffixes for repeated names (stable, in order)."""
    counts: dict[str, int] = {}
    named = []
    for child in children(layer):
        name = getattr(child, "name", None) or type(child).__name__
        k = counts.get(name, 0)
        counts[name] = k + 1
        named.append((name if k == 0 else f"{name}#{k}", child))
    return named


# ----------------------------------------------------------------------------- walking


def iter_layers(model: Any) -> Iterator[LayerRef]:
    """Yields every layer of ``model`` with its path, depth first, in graph order.

    Containers (kind ``"group"``) come before their children. The model's own inputs and
    the `InputLayer`s of nested models are not yielded. A layer object reachable twice is
    yielded once per container it is used in; within one container a name that repeats
    (only possible in opaque layers) gets a ``#k`` suffix: ``"head#1"``.

    Args:
        model: a built Keras model (Functional, Sequential, CompositeLayer, or any layer;
            registered root resolvers are applied first, see `register_graph_root`).

    Example:
        >>> import keras
        >>> from risk_widgets.core.walk import iter_layers
        >>> x = keras.Input((6, 8), name="x")
        >>> y = keras.layers.MultiHeadAttention(2, 4, name="attn")(x, x)
        >>> model = keras.Model(x, y)
        >>> [ref.path for ref in iter_layers(model)][:4]
        ['attn', 'attn/query', 'attn/key', 'attn/value']
    """
    root = resolve_root(model)
    stack: list[tuple[Iterator[tuple[str, Any]], str | None]] = [
        (iter(named_children(root)), None)
    ]
    while stack:
        items, parent = stack[-1]
        item = next(items, None)
        if item is None:
            stack.pop()
            continue
        name, child = item
        path = name if parent is None else f"{parent}/{name}"
        named = named_children(child)
        yield LayerRef(path, child, parent, "group" if named else "layer")
        if named:
            stack.append((iter(named), path))


def _path_error(model: Any, path: str, reason: str) -> ValueError:
    paths = [ref.path for ref in iter_layers(model)]
    close = difflib.get_close_matches(path, paths, n=5, cutoff=0.5)
    hint = f" Close matches: {', '.join(map(repr, close))}." if close else ""
    name = getattr(model, "name", type(model).__name__)
    return ValueError(
        f"No layer at path {path!r} in model {name!r}: {reason}.{hint} List every path with "
        "`[ref.path for ref in risk_widgets.core.walk.iter_layers(model)]` or "
        "`risk_widgets.find_layers(model, '*')`."
    )


def container_chain(model: Any, path: str) -> list[tuple[Any, Any]]:
    """The ``(container, child)`` pairs from the root down to the layer at ``path``.

    The first container is the (resolved) root model, the last child is the layer at
    ``path``; each child is the container of the next pair. For ``"a/b/c"``:
    ``[(model, a), (a, b), (b, c)]``.

    Raises:
        TypeError: ``path`` is not a string.
        ValueError: no layer at ``path`` (the message lists close matches).

    Example:
        >>> import keras
        >>> from risk_widgets.core.walk import container_chain
        >>> inner = keras.Sequential([keras.layers.Dense(4, name="dense")], name="inner")
        >>> x = keras.Input((3,), name="x")
        >>> model = keras.Model(x, inner(x), name="m")
        >>> [(c.name, l.name) for c, l in container_chain(model, "inner/dense")]
        [('m', 'inner'), ('inner', 'dense')]
    """
    if not isinstance(path, str):
        raise TypeError(
            f"A layer path is a string such as 'block_0/attn/query'. Received: {path!r} "
            f"(of type {type(path).__name__})"
        )
    root = resolve_root(model)
    if not path:
        raise _path_error(model, path, "the path is empty")
    chain = []
    container = root
    parts = path.split("/")
    for depth, part in enumerate(parts):
        named = dict(named_children(container))
        if part not in named:
            if depth == 0:
                reason = f"the model has no layer named {part!r}"
            elif not named:
                reason = f"{'/'.join(parts[:depth])!r} is not a container"
            else:
                reason = f"{'/'.join(parts[:depth])!r} has no child named {part!r}"
            raise _path_error(model, path, reason)
        child = named[part]
        chain.append((container, child))
        container = child
    return chain


def get_layer_by_path(model: Any, path: str) -> Any:
    """The layer (or op) at ``path``.

    Raises:
        TypeError: ``path`` is not a string.
        ValueError: no layer at ``path`` (the message lists close matches).

    Example:
        >>> import keras
        >>> from risk_widgets.core.walk import get_layer_by_path
        >>> x = keras.Input((6, 8), name="x")
        >>> model = keras.Model(x, keras.layers.MultiHeadAttention(2, 4, name="attn")(x, x))
        >>> get_layer_by_path(model, "attn/query").__class__.__name__
        'EinsumDense'
    """
    return container_chain(model, path)[-1][1]

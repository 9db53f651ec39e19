"""The rewiring engine: `rewire(model, targets, replace)`, a new model with chosen layers replaced.

This module is named ``rewiring`` so that ``risk_widgets.rewire`` (the package attribute) is
the plain function `rewire` defined here, with its own signature and docstring: a submodule
named ``rewire`` would be bound on the package over the function as soon as it is imported.

The one walk-and-swap routine behind every patch (LoRA, SVF, risk wrappers, unpatch, fold).
It rebuilds only the containers on the way to a target (nested Functional and Sequential
models, CompositeLayers, opaque layers such as `MultiHeadAttention` whose sub-layer is
targeted) and shares every other layer object with the input model: base weights are never
copied. It walks each container's own graph (its nodes by depth), never
`layer._inbound_nodes`, and it never mutates the input model.

Example:
    >>> import keras
    >>> from risk_widgets.rewiring import rewire
    >>> inputs = keras.Input((4,), name="x")
    >>> hidden = keras.layers.Dense(8, name="hidden")(inputs)
    >>> model = keras.Model(inputs, keras.layers.Dense(2, name="head")(hidden), name="mlp")
    >>> new = rewire(model, "head", lambda layer, path: keras.layers.Dense(2, name="head"))
    >>> new.get_layer("hidden") is model.get_layer("hidden")
    True
    >>> new.get_layer("head") is model.get_layer("head")
    False
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import keras
from keras import Sequential, tree
from keras.layers import InputLayer

from risk_widgets import keras_internals as ki
from risk_widgets.keras_internals import Functional
from risk_widgets.targets import find_layers
from risk_widgets.walk import (
    children as walk_children,
)
from risk_widgets.walk import (
    get_layer_by_path,
    graph_of,
    is_graph_container,
    is_patch_layer,
    iter_layers,
)

__all__ = ["is_patch_layer", "rewire"]

Replace = Callable[[keras.layers.Layer, str], keras.layers.Layer]

#: attribute of a re-created opaque layer: ``{attribute name: replaced sub-layer}``
SUBLAYER_PATCHES = "_rw_sublayer_patches"


# ----------------------------------------------------------------------------- structure
# Paths and containers come from `risk_widgets.walk` (the one place that knows them).


def _composite_class():
    from risk_widgets.composite import CompositeLayer

    return CompositeLayer


def _is_graph_container(layer: Any) -> bool:
    return is_graph_container(layer)


def _graph_of(layer: Any):
    """The `Function` graph of a Functional / Sequential / CompositeLayer, or None."""
    return graph_of(layer)


def _children(layer: Any) -> list:
    return walk_children(layer)


def _iter_paths(model: Any) -> Iterator[tuple[str, Any]]:
    """Yields ``(path, layer)`` for every layer (patch layers are leaves)."""
    for ref in iter_layers(model):
        yield ref.path, ref.layer


def _all_paths(model: Any) -> dict[str, Any]:
    return dict(_iter_paths(model))


def _find_paths(model: Any, targets: Any) -> list[str]:
    return list(find_layers(model, targets))


def _layer_at(model: Any, path: str) -> Any:
    return get_layer_by_path(model, path)


# ----------------------------------------------------------------------------- rebuilding


_BARE_LAYER_KEYS: set[str] | None = None


def _bare_layer_keys() -> set[str]:
    """Framework attributes every Layer has (never transplanted between instances)."""
    global _BARE_LAYER_KEYS
    if _BARE_LAYER_KEYS is None:
        _BARE_LAYER_KEYS = set(keras.layers.Layer().__dict__)
    return _BARE_LAYER_KEYS


def _new_input(tensor: Any) -> Any:
    """A fresh `keras.Input` like ``tensor`` (same name, shape, dtype, optional flag)."""
    origin = ki.keras_history(tensor).operation
    if isinstance(origin, InputLayer):
        return keras.Input(
            batch_shape=origin.batch_shape,
            dtype=origin.dtype,
            sparse=origin.sparse,
            ragged=getattr(origin, "ragged", False),
            name=origin.name,
            optional=getattr(origin, "optional", False),
        )
    return keras.Input(batch_shape=tensor.shape, dtype=tensor.dtype, name=tensor.name)


class _Rebuilder:
    """Rebuilds containers on the way to replaced layers; shares everything else.

    Args:
        replacements: ``id(original layer) -> new layer``.
        paths: ``id(original layer) -> path`` (for messages).
        plain: True to turn CompositeLayers into plain Functional models (fold).
    """

    def __init__(self, replacements: dict[int, Any], paths: dict[int, str], plain=False):
        self.replacements = replacements
        self.paths = paths
        self.plain = plain
        self.memo: dict[int, Any] = {}
        self._contains: dict[int, bool] = {}
        self._keep: list[Any] = []  # keeps originals alive while ids are in use

    # -- what needs work --------------------------------------------------------------
    def _forced(self, layer: Any) -> bool:
        composite = _composite_class()
        return self.plain and composite is not None and isinstance(layer, composite)

    def needs_rebuild(self, layer: Any) -> bool:
        key = id(layer)
        if key not in self._contains:
            self._contains[key] = False  # guards cycles
            self._keep.append(layer)
            self._contains[key] = (
                key in self.replacements
                or self._forced(layer)
                or any(self.needs_rebuild(c) for c in _children(layer))
            )
        return self._contains[key]

    # -- mapping ------------------------------------------------------------------------
    def map(self, obj: Any, path: str) -> Any:
        if id(obj) in self.replacements:
            return self.replacements[id(obj)]
        if not isinstance(obj, keras.layers.Layer) or not self.needs_rebuild(obj):
            return obj
        if id(obj) not in self.memo:
            self.memo[id(obj)] = self._rebuild(obj, path)
        return self.memo[id(obj)]

    def _map_value(self, value: Any, path: str) -> Any:
        if isinstance(value, keras.layers.Layer):
            return self.map(value, f"{path}/{value.name}")
        if isinstance(value, (list, tuple)) and any(
            isinstance(v, keras.layers.Layer) for v in value
        ):
            return type(value)(self._map_value(v, path) for v in value) if isinstance(
                value, tuple
            ) else [self._map_value(v, path) for v in value]
        if isinstance(value, dict) and any(
            isinstance(v, keras.layers.Layer) for v in value.values()
        ):
            return {k: self._map_value(v, path) for k, v in value.items()}
        return value

    def _rebuild(self, layer: Any, path: str) -> Any:
        if _is_graph_container(layer):
            return self._rebuild_graph_container(layer, path)
        return self._rebuild_opaque(layer, path)

    # -- graphs -------------------------------------------------------------------------
    def run_graph(self, graph: Any, path: str) -> tuple[Any, Any]:
        """Re-applies ``graph`` (a `Function`) to fresh inputs with mapped operations.

        Returns ``(inputs, outputs)`` structured like the graph's own.
        """
        flat_inputs = [_new_input(x) for x in graph.inputs]
        tensors = {id(x): y for x, y in zip(graph.inputs, flat_inputs, strict=True)}
        prefix = f"{path}/" if path else ""
        nodes_by_depth = ki.nodes_by_depth(graph)
        for depth in sorted(nodes_by_depth, reverse=True):
            for node in nodes_by_depth[depth]:
                if not node.operation or node.is_input:
                    continue
                if any(id(x) not in tensors for x in node.input_tensors):
                    continue
                op = node.operation
                op_path = prefix + op.name
                new_op = self.map(op, op_path)
                args, kwargs = node.arguments.fill_in(tensors)
                where = self.paths.get(id(op), op_path)
                try:
                    outputs = new_op(*args, **kwargs)
                except (ValueError, TypeError) as err:
                    if new_op is op:
                        raise
                    raise ValueError(
                        f"The replacement for {where!r} ({type(new_op).__name__} "
                        f"{new_op.name!r}) cannot be called where {type(op).__name__} "
                        f"{op.name!r} was: {err}. replace(layer, path) must return a layer "
                        "that accepts the same inputs."
                    ) from err
                flat_out = tree.flatten(outputs)
                if new_op is not op:
                    self._check_shapes(where, op, new_op, node.outputs, flat_out)
                for x, y in zip(node.outputs, flat_out, strict=False):
                    tensors[id(x)] = y
        flat_outputs = []
        for x in graph.outputs:
            if id(x) not in tensors:  # pragma: no cover - the graph was connected before
                raise ValueError(f"Rebuilding {path or 'the model'!r} disconnected output {x}.")
            flat_outputs.append(tensors[id(x)])
        inputs = tree.pack_sequence_as(ki.inputs_struct(graph), flat_inputs)
        outputs = tree.pack_sequence_as(ki.outputs_struct(graph), flat_outputs)
        return inputs, outputs

    @staticmethod
    def _check_shapes(where, op, new_op, old_outputs, new_outputs) -> None:
        old = [tuple(x.shape) for x in tree.flatten(old_outputs)]
        new = [tuple(getattr(y, "shape", ())) for y in new_outputs]
        if old != new:
            shown_old = old[0] if len(old) == 1 else old
            shown_new = new[0] if len(new) == 1 else new
            raise ValueError(
                f"The replacement for {where!r} ({type(new_op).__name__} {new_op.name!r}) "
                f"returns shape {shown_new}, but the original {type(op).__name__} returned "
                f"{shown_old}. replace(layer, path) must keep the output shape so that the "
                "rest of the model still fits; nothing was changed."
            )

    def _rebuild_graph_container(self, layer: Any, path: str) -> Any:
        graph = _graph_of(layer)
        if graph is None:
            raise ValueError(
                f"Cannot rewire inside {type(layer).__name__} {path!r}: it is not built. "
                "Call the model on data (or build it with an Input) before patching."
            )
        inputs, outputs = self.run_graph(graph, path)
        composite = _composite_class()
        if isinstance(layer, Sequential):
            input_layer = ki.keras_history(inputs).operation
            children = [self.map(c, f"{path}/{c.name}") for c in layer.layers]
            new = Sequential([input_layer, *children], name=layer.name)
        elif composite is not None and isinstance(layer, composite) and not self.plain:
            new = type(layer).from_graph(inputs, outputs, name=layer.name)
        else:
            new = Functional(inputs, outputs, name=layer.name)
        ki.set_trainable_flag(new, layer.trainable)  # no propagation to shared layers
        return new

    # -- opaque layers ------------------------------------------------------------------
    def _rebuild_opaque(self, layer: Any, path: str) -> Any:
        """A new instance from config whose tracked sub-layers are the mapped originals."""
        try:
            new = type(layer).from_config(layer.get_config())
        except Exception as err:  # noqa: BLE001 - any failure here means "cannot re-create"
            raise ValueError(
                f"Cannot patch inside {type(layer).__name__} {path!r}: it could not be "
                f"re-created from its config ({type(err).__name__}: {err}). Implement "
                "get_config()/from_config() for this layer, or target the whole layer."
            ) from err
        skip = _bare_layer_keys()
        swapped = {}
        for key, value in layer.__dict__.items():
            if key in skip or key == SUBLAYER_PATCHES:
                continue
            mapped = self._map_value(value, path)
            if isinstance(value, keras.layers.Layer) and id(value) in self.replacements:
                swapped[key] = mapped
            object.__setattr__(new, key, mapped)
        # the config of an opaque layer does not describe its sub-layers: remember which
        # were replaced, so PatchedModel.get_config()/from_config() can restore them
        old_swaps = getattr(layer, SUBLAYER_PATCHES, {})
        kept = {k: v for k, v in old_swaps.items() if k not in swapped}
        object.__setattr__(new, SUBLAYER_PATCHES, {
            k: self._map_value(v, path) for k, v in kept.items()} | swapped)
        ki.adopt_layer_state(new, layer, [self._map_value(c, path) for c in ki.sublayers(layer)])
        return new

    # -- top level ----------------------------------------------------------------------
    def rebuild_model(self, model: Any, cls: type) -> Any:
        graph = _graph_of(model)
        if graph is None:
            raise ValueError(
                f"Cannot rewire model {model.name!r} ({type(model).__name__}): it has no "
                "graph of layers. Use a Functional or Sequential model (or a subclassed "
                "model built from one), and build it first."
            )
        inputs, outputs = self.run_graph(graph, "")
        try:
            new = cls(inputs, outputs, name=model.name)
        except ValueError as err:
            raise ValueError(
                f"Rebuilding model {model.name!r} failed: {err}. If a replacement has the "
                "same name as another layer, give it a unique name."
            ) from err
        ki.set_trainable_flag(new, model.trainable)
        return new


# ----------------------------------------------------------------------------- public


def _check_model(model: Any) -> None:
    if not isinstance(model, keras.Model):
        raise TypeError(
            "rewire() needs a Keras 3 model (Functional or Sequential). "
            f"Received: {type(model).__name__}"
        )
    if getattr(model, "body", None) is not None and hasattr(model, "wrappers"):
        raise TypeError(  # a RiskModel: its layers are copies inside its body
            f"Cannot patch {model.name!r}: it is a risk model (vote / sample / sculpt). Add "
            "adapters first, then wrap: vote.Wrapper()(rw.add_lora(model, targets)); in the "
            "editor, undo the risk wrapper, apply the adapter, then the wrapper again."
        )
    if not model.built or _graph_of(model) is None:
        raise ValueError(
            f"Model {model.name!r} is not built (or has no graph of layers): call it on "
            "data or give it an Input shape first."
        )


def _replace_all(model, targets, replace) -> tuple[dict[int, Any], dict[int, str]]:
    """Calls ``replace`` once per distinct target layer; checks every result."""
    if not callable(replace):
        raise TypeError(
            "`replace` must be a function replace(layer, path) -> Layer. "
            f"Received: replace={replace!r}"
        )
    paths = _find_paths(model, targets)
    if not paths:
        raise ValueError(f"`targets` matched no layer of model {model.name!r}: {targets!r}")
    for path in paths:
        inner = [p for p in paths if p.startswith(path + "/")]
        if inner:
            raise ValueError(
                f"Targets overlap: {inner[0]!r} is inside {path!r}, which is also targeted. "
                "Target either the container or the layers inside it."
            )
    replacements: dict[int, Any] = {}
    where: dict[int, str] = {}
    keep = []
    for path in paths:
        layer = _layer_at(model, path)
        if id(layer) in where:
            continue  # a shared layer: one replacement object everywhere
        keep.append(layer)
        where[id(layer)] = path
        new = replace(layer, path)
        if not isinstance(new, keras.layers.Layer):
            raise TypeError(
                f"replace(layer, path) must return a Keras layer for {path!r}. "
                f"Received: {new!r} (of type {type(new).__name__}). Return `layer` itself "
                "to keep it unchanged."
            )
        if new is not layer:
            _build_like(new, layer, path)
            replacements[id(layer)] = new
    return replacements, where


def _build_like(new: Any, layer: Any, path: str) -> None:
    """Builds ``new`` on the input shape ``layer`` was built with; checks output shapes.

    Needed for sub-layers of opaque parents (e.g. `MultiHeadAttention` computes its
    symbolic output without calling its sub-layers, so they would stay unbuilt).
    """
    config = layer.get_build_config() if layer.built else None
    shapes = (config or {}).get("shapes_dict") or (
        {"input_shape": config["input_shape"]} if config and "input_shape" in config else {}
    )
    if not new.built and shapes:
        try:
            new.build_from_config(config)
        except Exception as err:  # noqa: BLE001 - reported with the path and the fix
            raise ValueError(
                f"The replacement for {path!r} ({type(new).__name__}) could not be built on "
                f"the input shape of the original layer {shapes}: {err}. Build it inside "
                "replace(layer, path), or return a layer that accepts that input."
            ) from err
    if len(shapes) != 1:
        return
    (input_shape,) = shapes.values()
    try:
        old = layer.compute_output_shape(input_shape)
        got = new.compute_output_shape(input_shape)
    except Exception:  # noqa: BLE001 - shape inference is optional; the graph checks too
        return
    if tuple(old) != tuple(got):
        raise ValueError(
            f"The replacement for {path!r} ({type(new).__name__} {new.name!r}) returns "
            f"shape {tuple(got)}, but the original {type(layer).__name__} returned "
            f"{tuple(old)}. replace(layer, path) must keep the output shape so that the "
            "rest of the model still fits; nothing was changed."
        )


def rebuild(model, replacements, where=None, cls=None, plain=False):
    """Internal: rebuilds ``model`` with ``replacements`` (``id(layer) -> new``).

    Used by `rewire`, `unpatch` and `fold`; ``cls`` is the top-level class (default
    `PatchedModel`), ``plain=True`` turns CompositeLayers into Functional models.
    """
    if cls is None:
        from risk_widgets.patched import PatchedModel

        cls = PatchedModel
    rebuilder = _Rebuilder(replacements, where or {}, plain=plain)
    return rebuilder.rebuild_model(model, cls)


def rewire(model: Any, targets: Any, replace: Replace, *, freeze_base: bool = True) -> Any:
    """Returns a new model with the layers at ``targets`` replaced by ``replace``.

    Every other layer object is **shared** with ``model`` (base weights are not copied);
    only the containers on the way to a target (nested Functional / Sequential models,
    CompositeLayers, opaque layers such as `MultiHeadAttention`) are re-created, with the
    same names, so every path stays valid. A layer used in several places is replaced by
    one object everywhere (``replace`` is called once, with its first path).

    The result is a `risk_widgets.PatchedModel`: its trainable weights are only those of
    patch layers (layers with ``is_patch_layer = True``, e.g. adapters); the shared base
    is frozen by the patched model without touching its ``trainable`` flags, so training
    the result leaves ``model`` bit-identical. Pass ``freeze_base=False`` for a `RewiredModel`
    (a Functional model) whose layers, shared with ``model``, all train as usual.

    Everything is checked before anything is returned (targets exist, ``replace`` returns
    a Layer, output shapes match); a failure raises ValueError/TypeError naming the path
    and leaves ``model`` untouched.

    Args:
        model: a built Functional or Sequential model.
        targets: a path (``"block_0/attn/query"``), a glob (``"*/query"``), a list of
            them, a layer class, or ``predicate(path, layer) -> bool``.
        replace: ``replace(layer, path) -> Layer``, the new layer for ``layer``.
        freeze_base: see above.

    Returns:
        A new model (`PatchedModel`, or a `RewiredModel` — a Functional model in which
        everything trains — with ``freeze_base=False``).

    Example:
        >>> import keras, numpy as np
        >>> from risk_widgets import rewire
        >>> inputs = keras.Input((3,))
        >>> model = keras.Model(inputs, keras.layers.Dense(2, name="head")(inputs))
        >>> new = rewire(model, "head", lambda layer, path: keras.layers.Dense(2, name="head"))
        >>> type(new).__name__, new.get_layer("head") is model.get_layer("head")
        ('PatchedModel', False)
    """
    _check_model(model)
    replacements, where = _replace_all(model, targets, replace)
    from risk_widgets.patched import RewiredModel  # patched imports this module

    cls = None if freeze_base else RewiredModel
    new = rebuild(model, replacements, where, cls=cls)
    if freeze_base:  # the patched model freezes its base itself: a frozen model's patches train
        ki.set_trainable_flag(new, True)
    return new

"""Every use of Keras internals in risk_widgets, in one place.

risk_widgets walks, rebuilds and subclasses Keras graphs, which needs a few things Keras does
not export (``keras.src`` names) and a few private attributes (``tensor._keras_history``,
``graph._nodes_by_depth``, ``layer._trainable``, ...). They are all reached through this
module: no other module imports ``keras.src`` (``grep -rn "keras.src" risk_widgets/``) or
reads a private Keras attribute, so a Keras upgrade that moves or renames one breaks here,
and in ``tests/test_keras_internals.py``, which imports every name below and exercises it
on the installed Keras.

Checked on Keras 3.15.1 (:data:`KERAS_VERSIONS_CHECKED`). After an upgrade, run
``pytest tests/test_keras_internals.py`` and add the version once it passes.

Not movable here: ``CompositeLayer`` (a ``Functional`` subclass) overrides the private hooks
named in :data:`LAYER_HOOKS`; the test checks Keras still has them.

Example:
    >>> import keras
    >>> from risk_widgets.core import keras_internals as ki
    >>> x = keras.Input((3,), name="x")
    >>> y = keras.layers.Dense(2, name="head")(x)
    >>> ki.keras_history(y).operation.name
    'head'
"""

from __future__ import annotations

import copy
from typing import Any

import keras
from keras.src.backend import get_keras_mask, set_keras_mask
from keras.src.backend.common import global_state
from keras.src.layers.convolutional.base_conv import BaseConv
from keras.src.models.functional import (
    Functional,
    clone_graph_nodes,
    functional_from_config,
    is_input_keras_tensor,
    unpack_singleton,
)
from keras.src.quantizers.quantizers import dequantize_with_sz_map
from keras.src.saving import object_registration
from keras.src.utils.tracking import DotNotTrackScope

__all__ = [
    "GRAPH_ATTRS",
    "KERAS_VERSIONS_CHECKED",
    "LAYER_HOOKS",
    "NODE_LISTS",
    "TORCH_PARAMS",
    "BaseConv",
    "DotNotTrackScope",
    "Functional",
    "accept_raw_and_none_inputs",
    "adopt_graph",
    "aggregate_additional_loss",
    "build_shapes",
    "call_context_args",
    "call_takes_training",
    "clone_graph_nodes",
    "float_policy",
    "compile_arguments",
    "compiled_loss",
    "copy_tracker",
    "functional_from_config",
    "get_keras_mask",
    "graph_inputs",
    "graph_operations",
    "graph_outputs",
    "has_adopted_graph",
    "inputs_struct",
    "is_checkpoint_reference",
    "is_framework_attribute",
    "is_input_keras_tensor",
    "kernel_variable",
    "keras_history",
    "lock_state",
    "nodes_by_depth",
    "own_non_trainable_variables",
    "own_trainable_variables",
    "outputs_struct",
    "producer_node",
    "quantized_linear",
    "dequantized_kernel",
    "replace_sublayer",
    "run_through_graph",
    "sequential_graph",
    "set_keras_mask",
    "set_trainable_flag",
    "standardize_inputs",
    "sublayers",
    "swap_tracked",
    "torch_modules",
    "tracker_of",
    "track",
    "tracked_sublayers",
    "trainable_flag",
    "all_sublayers",
    "unbuilt_layers",
    "unpack_singleton",
    "variable_shape",
]

#: Keras versions on which every name here was checked (tests/test_keras_internals.py).
KERAS_VERSIONS_CHECKED = ("3.15.1",)

#: The attributes of a `keras.Function` that describe its graph; a CompositeLayer traces a
#: throw-away `Function` and adopts them (`risk_widgets.core.composite`).
GRAPH_ATTRS = (
    "_inputs_struct",
    "_outputs_struct",
    "_inputs",
    "_outputs",
    "_nodes",
    "_nodes_by_depth",
    "_operations",
    "_operations_by_depth",
)

#: Private methods of `keras.layers.Layer` / `Functional` that `CompositeLayer` overrides.
LAYER_HOOKS = ("_lock_state", "_assert_input_compatibility")


# ----------------------------------------------------------------------------- graphs


def keras_history(tensor: Any) -> Any:
    """``(operation, node_index, tensor_index)`` of a symbolic tensor (its producer)."""
    return tensor._keras_history


def producer_node(tensor: Any) -> Any:
    """The `Node` that produced the symbolic ``tensor``."""
    op, node_index, _ = tensor._keras_history
    return op._inbound_nodes[node_index]


def nodes_by_depth(graph: Any) -> dict:
    """``{depth: [Node, ...]}`` of a `Function` / Functional graph (inputs deepest)."""
    return graph._nodes_by_depth


def inputs_struct(graph: Any, default: Any = None) -> Any:
    """The (nested) input structure of a Functional / `Function` graph, else ``default``."""
    return getattr(graph, "_inputs_struct", default)


def outputs_struct(graph: Any, default: Any = None) -> Any:
    """The (nested) output structure of a Functional / `Function` graph, else ``default``."""
    return getattr(graph, "_outputs_struct", default)


def adopt_graph(obj: Any, function: Any) -> None:
    """Gives ``obj`` the graph of ``function`` (its `GRAPH_ATTRS`: the same lists and nodes),
    set without Keras' attribute tracking."""
    for attr in GRAPH_ATTRS:
        object.__setattr__(obj, attr, getattr(function, attr))


def has_adopted_graph(obj: Any) -> bool:
    """Whether ``obj`` holds a graph of its own (set by `adopt_graph` or a Function)."""
    return "_operations" in vars(obj)


def graph_inputs(graph: Any) -> list:
    """The flat input tensors a graph object holds itself (``_inputs``)."""
    return graph._inputs


def graph_outputs(graph: Any) -> list:
    """The flat output tensors a graph object holds itself (``_outputs``)."""
    return graph._outputs


def graph_operations(graph: Any) -> list:
    """The operations a graph object holds itself, in graph order (``_operations``)."""
    return graph._operations


def sequential_graph(model: Any) -> Any:
    """The Functional graph of a built Sequential model, or None."""
    return getattr(model, "_functional", None)


def standardize_inputs(graph: Any, inputs: Any) -> list:
    """``inputs`` flattened and checked against a Functional's inputs (as its call does)."""
    return graph._standardize_inputs(inputs)


def run_through_graph(graph: Any, inputs: list, operation_fn: Any) -> Any:
    """Runs a Functional's graph on flat ``inputs``, calling ``operation_fn(op)(*a, **k)``."""
    return graph._run_through_graph(inputs, operation_fn=operation_fn)


# ----------------------------------------------------------------------------- layers


def tracked_sublayers(layer: Any) -> list:
    """The layers ``layer`` tracks directly (attributes, lists), in tracking order."""
    return list(layer._flatten_layers(include_self=False, recursive=False))


def sublayers(layer: Any) -> list:
    """``layer``'s own list of tracked sub-layers (``_layers``; [] for ops)."""
    return list(getattr(layer, "_layers", None) or [])


def replace_sublayer(layer: Any, old: Any, new: Any) -> None:
    """Puts ``new`` where ``old`` is in ``layer``'s list of tracked sub-layers."""
    layer._layers[:] = [new if sub is old else sub for sub in layer._layers]


def all_sublayers(model: Any) -> list:
    """Every layer inside ``model``, at any depth (not ``model`` itself)."""
    return list(model._flatten_layers(include_self=False))


def unbuilt_layers(model: Any) -> list:
    """The layers inside ``model`` (any depth) that are not built."""
    return [layer for layer in all_sublayers(model) if not layer.built]


def track(layer: Any, sub: Any) -> None:
    """Tracks ``sub`` as a sub-layer of ``layer`` (its weights become ``layer``'s)."""
    layer._tracker.track(sub)


def trainable_flag(layer: Any) -> bool:
    """``layer``'s own trainable flag, read without any override of ``trainable``."""
    return layer._trainable


def set_trainable_flag(layer: Any, value: bool) -> None:
    """Sets ``layer``'s own trainable flag only: unlike the ``trainable`` setter, the flags
    of its variables and sub-layers (possibly shared with another model) are untouched."""
    layer._trainable = bool(value)


def entry_layer() -> Any:
    """The outermost layer of the call in progress (the model being trained), or None."""
    context = global_state.get_global_attribute("current_call_ctx")
    return getattr(context, "entry_layer", None)


def own_trainable_variables(layer: Any) -> list:
    """The trainable variables ``layer`` created itself (not its sub-layers')."""
    return layer._trainable_variables


def own_non_trainable_variables(layer: Any) -> list:
    """The non-trainable variables ``layer`` created itself (e.g. BatchNorm statistics)."""
    return layer._non_trainable_variables


def call_takes_training(layer: Any) -> bool:
    """Whether ``layer.call`` has a ``training`` argument."""
    return bool(getattr(layer, "_call_has_training_arg", False))


def call_context_args(op: Any) -> set:
    """The call-context arguments (``training``, ...) Keras passes down to ``op``."""
    return getattr(op, "_call_context_args", set())


def build_shapes(layer: Any) -> dict | None:
    """``{argument name: shape}`` that ``layer`` was built with, or None."""
    return getattr(layer, "_build_shapes_dict", None)


def variable_shape(variable: Any) -> Any:
    """A `KerasVariable`'s shape as Keras keeps it (a tuple; ``.shape`` may build a backend
    shape), or None."""
    return getattr(variable, "_shape", None)


def kernel_variable(layer: Any) -> Any:
    """The variable behind a Dense / EinsumDense ``kernel`` property (``_kernel``), or an
    Embedding's ``embeddings`` (``_embeddings``), or None."""
    found = getattr(layer, "_kernel", None)
    return found if found is not None else getattr(layer, "_embeddings", None)


def float_policy(policy: Any) -> Any:
    """The float `DTypePolicy` a quantized policy (``"int8_from_float32"``) comes from."""
    return keras.DTypePolicy(getattr(policy, "_source_name", None) or policy.name)


def quantized_linear(layer: Any, inputs: Any) -> Any:
    """A quantized Dense / EinsumDense's own forward pass (``quantized_call``) without its
    activation: the activation is switched off for the call and restored after it."""
    activation = layer.activation
    layer.activation = None
    try:
        return layer.quantized_call(inputs)
    finally:
        layer.activation = activation


def dequantized_kernel(layer: Any) -> Any:
    """An int8 / int4 Dense or EinsumDense kernel in float, in the kernel's own shape: the
    first step of Keras' own ``_get_kernel_with_merged_lora`` (int4: unpacked, then per
    channel ``q / scale`` or per group ``(q - zero) * scale``; int8: ``q / scale``)."""
    mode = layer.quantization_mode
    dense = not isinstance(layer, keras.layers.EinsumDense)
    if mode == "int4":
        columns = layer._orig_output_dim if dense else layer._int4_unpacked_column_size
        unpacked = keras.quantizers.unpack_int4(layer._kernel, columns, axis=-1)
        block = getattr(layer, "_int4_block_size", None)
        if block is not None and block != -1:
            kernel = dequantize_with_sz_map(unpacked, layer.kernel_scale, layer.kernel_zero,
                                            layer.g_idx, group_axis=0)
        else:
            kernel = keras.ops.divide(keras.ops.cast(unpacked, layer.compute_dtype),
                                      layer.kernel_scale)
        kernel = keras.ops.cast(kernel, layer.compute_dtype)
        return kernel if dense else keras.ops.reshape(kernel, layer.original_kernel_shape)
    if mode == "int8":
        scale = layer.kernel_scale if dense else layer._adjust_scale_for_dequant(
            layer.kernel_scale)
        return keras.ops.divide(keras.ops.cast(layer._kernel, layer.compute_dtype), scale)
    raise ValueError(f"dequantized_kernel: {mode!r} layers are not supported (int8, int4).")


def accept_raw_and_none_inputs(layer: Any) -> None:
    """Lets ``layer`` take raw arrays (converted) and None positionally, like Functional."""
    layer._convert_input_args = True
    layer._allow_non_tensor_positional_args = True


def lock_state(layer: Any) -> None:
    """Locks ``layer``'s tracked state, as Keras does once a layer is built."""
    layer._lock_state()


# ----------------------------------------------------------------------------- copying a layer
#
# What `risk_widgets.core.layer_copy` needs to know of a Layer's bookkeeping: the attributes
# every Layer has (never the layer's own state), its node lists (a copy starts them empty),
# its tracker (a copy gets its own, bound to its own stores), TensorFlow's checkpoint
# dependencies and torch's ``_modules`` (where an `nn.Module` keeps its sub-layers).

#: a layer's lists of the nodes it was called in: a copy starts with empty ones
NODE_LISTS = ("_inbound_nodes", "_outbound_nodes")
#: torch: the `ParameterDict` of a layer's variables, made again on first use
TORCH_PARAMS = "_torch_params"
_CHECKPOINT_DEPS = "_self_unconditional_checkpoint_dependencies"
_CHECKPOINT_NAMES = "_self_unconditional_dependency_names"
_FRAMEWORK_KEYS: frozenset | None = None


def is_framework_attribute(name: str) -> bool:
    """Whether ``name`` is an attribute every Layer has (Keras' or the backend's
    bookkeeping: trackers, node lists, TensorFlow's ``_self_*`` tracking)."""
    global _FRAMEWORK_KEYS
    if _FRAMEWORK_KEYS is None:
        _FRAMEWORK_KEYS = frozenset(vars(keras.layers.Layer()))
    return name in _FRAMEWORK_KEYS or name.startswith("_self_")


def torch_modules(layer: Any) -> dict | None:
    """torch: the `nn.Module`'s ``_modules`` dict (its sub-layers); None on other backends."""
    modules = vars(layer).get("_modules")
    return modules if isinstance(modules, dict) else None


def copy_tracker(layer: Any, copy_store: Any) -> Any:
    """A new Keras tracker like ``layer``'s, bound to ``copy_store(store)`` of each of its
    stores (``_layers``, ``_trainable_variables``, ...), with the same lock; None when
    ``layer`` has none."""
    old = vars(layer).get("_tracker")
    if old is None:
        return None
    tracker = copy.copy(old)
    tracker.config = {name: (test, copy_store(store)) for name, (test, store) in old.config.items()}
    tracker.stored_ids = {name: {id(v) for v in s} for name, (_, s) in tracker.config.items()}
    tracker.exclusions = dict(old.exclusions)
    return tracker


def tracker_of(layer: Any) -> Any:
    """``layer``'s Keras tracker, or None."""
    return vars(layer).get("_tracker")


def swap_tracked(layer: Any, old: Any, new: Any) -> None:
    """Puts ``new`` where ``old`` is in ``layer``'s tracked sub-layers (``_layers`` and the
    tracker's ids) and in TensorFlow's checkpoint dependencies, in place."""
    layer._layers[:] = [new if sub is old else sub for sub in layer._layers]
    stored = layer._tracker.stored_ids.get("layers")
    if stored is not None and id(old) in stored:
        stored.discard(id(old))
        stored.add(id(new))
    deps = vars(layer).get(_CHECKPOINT_DEPS) or []
    for i, ref in enumerate(deps):
        if getattr(ref, "ref", None) is old:
            deps[i] = type(ref)(ref.name, new)
    names = vars(layer).get(_CHECKPOINT_NAMES) or {}
    for key, value in list(names.items()):
        if value is old:
            dict.__setitem__(names, key, new)


def is_checkpoint_reference(value: Any) -> bool:
    """Whether ``value`` is one of TensorFlow's checkpoint references (``.name``, ``.ref``)."""
    return type(value).__name__ == "TrackableReference" and hasattr(value, "ref")


# ----------------------------------------------------------------------------- training


def compiled_loss(model: Any) -> Any:
    """The loss `compile` made (called as ``loss(y, y_pred, sample_weight)``), or None."""
    return model._compile_loss


def compile_arguments(model: Any) -> dict | None:
    """The arguments ``model.compile`` received, as the objects passed (the optimizer after
    ``keras.optimizers.get``), or None if it was never compiled. ``get_compile_config()``
    serializes them instead, and a loss re-created from that config can differ (Keras 3.15's
    ``Huber.get_config`` drops ``delta``) or fail (an unregistered Python function)."""
    config = getattr(model, "_compile_config", None)
    return dict(config.config) if config is not None else None


def aggregate_additional_loss(model: Any, loss: Any) -> Any:
    """One of ``model.losses`` reduced as Keras' ``compute_loss`` reduces it."""
    return model._aggregate_additional_loss(loss)


def register_name_only(cls: Any, name: str) -> None:
    """Makes ``keras.saving`` write ``cls`` under the registered ``name`` of another class
    (loading then finds that class), without registering ``cls`` itself: a class made at
    run time (a patched task, `engine.rebuild.with_class`) has no name of its own to load."""
    object_registration.GLOBAL_CUSTOM_NAMES[cls] = name

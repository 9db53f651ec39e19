"""Tracing a `CompositeLayer`: its two constructor forms, the checks on its arguments, the
symbolic inputs it is traced on (from shapes or a manual input spec) and the trace itself.
"""

from __future__ import annotations

import inspect
import re

import keras
from keras import Input, Operation, tree
from keras.layers import Layer


class NotBuiltError(ValueError, AttributeError):
    """Raised when the graph of an unbuilt CompositeLayer is asked for.

    It is a `ValueError` (as in Keras) and an `AttributeError`, so that
    `hasattr(layer, "inputs")` and `getattr(layer, "inputs", None)` stay safe.
    """


def is_keras_tensor_structure(x):
    if isinstance(x, keras.KerasTensor):
        return True
    if not isinstance(x, (list, tuple, dict)):
        return False
    flat = tree.flatten(x)
    return bool(flat) and all(isinstance(t, keras.KerasTensor) for t in flat)


def split_graph_args(args, kwargs):
    """Detects the graph form `(inputs, outputs, name=None, **kwargs)`.

    Returns `(inputs, outputs, kwargs)` or `None` when the arguments are
    not KerasTensor structures (the user form `(layers, name=None, ...)`).
    """
    kwargs = dict(kwargs)
    if "inputs" in kwargs and "outputs" in kwargs and not args:
        inputs, outputs = kwargs.pop("inputs"), kwargs.pop("outputs")
    elif len(args) >= 2 and "outputs" not in kwargs:
        inputs, outputs = args[0], args[1]
        if len(args) > 3:
            return None
        if len(args) == 3:
            if "name" in kwargs:
                return None
            kwargs["name"] = args[2]
    else:
        return None
    if not (is_keras_tensor_structure(inputs) and is_keras_tensor_structure(outputs)):
        return None
    return inputs, outputs, kwargs


class InputNames:
    """Stable names for the inputs a CompositeLayer traces its graph on."""

    def __init__(self, prefix):
        self.prefix = prefix
        self.count = 1
        self.index = 0

    def next(self):
        index, self.index = self.index, self.index + 1
        if self.count == 1:
            return f"{self.prefix}_input"
        return f"{self.prefix}_input_{index}"


def describe(value):
    text = repr(value)
    if len(text) > 120:
        text = text[:117] + "..."
    return f"{text} (of type {type(value).__name__})"


def check_layers_arg(layers):
    """Validates the user form `layers` argument (a function or a list)."""
    if isinstance(layers, (list, tuple)) and len(layers) > 0:
        for index, item in enumerate(layers):
            if not isinstance(item, Operation):
                raise ValueError(
                    "Every element of the `layers` list of a CompositeLayer must be a "
                    f"Keras layer. Received at index {index}: {describe(item)}. Wrap "
                    "plain functions in a `layer_fn(inputs) -> outputs` and pass that "
                    "instead of a list."
                )
        return
    if callable(layers) and not isinstance(layers, Layer):
        try:
            params = list(inspect.signature(layers).parameters.values())
        except (TypeError, ValueError):  # some builtins have no signature
            return
        positional = [
            p
            for p in params
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
        ]
        if not positional:
            raise ValueError(
                "The function used to initialize a CompositeLayer must take the "
                "layer's inputs as its first argument: `layer_fn(inputs) -> outputs`. "
                "Additional arguments (with defaults) may be used for configuration; "
                "if the layer needs several inputs at runtime, pass them as one list "
                f"or dict. Received a function with parameters {[p.name for p in params]}: "
                f"{describe(layers)}"
            )
        return
    raise ValueError(
        "Must provide a layers parameter that is either a function "
        "`layer_fn(inputs) -> outputs` that defines the layer's computation graph "
        "or a non-empty list of layers (applied in sequence). "
        f"Received: layers={describe(layers)}. "
        "Example: `CompositeLayer([keras.layers.Dense(8), keras.layers.Dense(4)])`."
    )


def symbolic_inputs(name, dtype, input_shape, manual_spec=None):
    """The `keras.Input` structure a CompositeLayer named ``name`` traces its graph on.

    Inputs get stable names (``"<name>_input"``, ``"<name>_input_<k>"``): unnamed
    `keras.Input`s would be named from a global counter. A manual input spec, when set,
    wins over ``input_shape`` (its shapes, dtypes, names and ``optional`` flags are used).
    """
    names = InputNames(name)
    if manual_spec is not None:
        names.count = len(tree.flatten(manual_spec))
        return tree.map_structure(
            lambda spec: _spec_to_input(name, spec, dtype, names), manual_spec
        )
    if input_shape is None:
        raise ValueError(
            f"CompositeLayer '{name}' needs an input shape to trace its "
            "graph. Call it on inputs, or call `build(input_shape)` with a "
            "shape (or a list/dict of shapes) including the batch dimension, "
            "e.g. `build((None, 16))`."
        )
    names.count = len(tree.flatten(tree.map_shape_structure(lambda s: 0, input_shape)))
    return tree.map_shape_structure(lambda shape: _shape_to_input(shape, dtype, names),
                                    input_shape)


def trace(name, spec, inputs):
    """Calls ``spec`` (a ``layer_fn`` or a list of layers, in sequence) on ``inputs``."""
    if callable(spec) and not isinstance(spec, list):
        outputs = spec(inputs)
    else:
        outputs = inputs
        for layer in spec:
            outputs = layer(outputs)
    if not is_keras_tensor_structure(outputs):
        raise ValueError(
            f"The graph of CompositeLayer '{name}' must return symbolic "
            "tensors computed from its inputs (a tensor or a list/tuple/dict of "
            f"them). Received: {describe(outputs)}. Return the outputs of the "
            "layers or `keras.ops` called on `inputs`."
        )
    return outputs


def _shape_to_input(shape, dtype, names):
    shape = tuple(shape)
    name = names.next()
    if not shape:  # A scalar without batch dimension (e.g. an index).
        return Input(batch_shape=(), dtype=dtype, name=name)
    return Input(shape=shape[1:], dtype=dtype, name=name)


def _spec_to_input(layer_name, spec, dtype, names):
    if spec is None or spec.shape is None:
        raise ValueError(
            f"A manual input_spec of CompositeLayer '{layer_name}' must give a "
            f"shape for every input, e.g. InputSpec(shape=(None, 4)). Received: "
            f"{spec}."
        )
    shape = tuple(spec.shape)
    dtype = spec.dtype or dtype
    name = spec.name or names.next()
    if not shape:
        return Input(batch_shape=(), dtype=dtype, name=name, optional=spec.optional)
    return Input(shape=shape[1:], dtype=dtype, name=name, optional=spec.optional)


_NAMED = re.compile(r"expects (\d+) named input\(s\) with keys .*?, but it received (\d+) input")


def input_error_text(message: str) -> str:
    """An input-check message of Keras, worded first as keras PR #21099's CompositeLayer
    words it (its tests match that), then Keras' own text.

    Example:
        >>> from risk_widgets.core.composite_trace import input_error_text
        >>> input_error_text("The input 'x' is not optional, but None was passed.")[:32]
        'Optional inputs must be declared'
    """
    if "is not optional" in message:
        return (
            "Optional inputs must be declared: give the layer an input_spec with "
            "InputSpec(optional=True) at that position, or build it on an "
            f"Input(..., optional=True). {message}"
        )
    named = _NAMED.search(message)
    if named:
        return (
            f"This layer expects {named.group(1)} input(s), but it received "
            f"{named.group(2)} input tensors. {message}"
        )
    return message

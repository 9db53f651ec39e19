"""What the graph JSON says about one layer besides its place in the graph: its **family**
(for the colours), its key **config** fields, and its **weights** (for the details panel).

All three are read from the layer object, never from ``get_config()`` (too slow on 10k
layers, and incomplete for some subclassed layers), and kept small: long texts and lists are
cut, at most `MAX_WEIGHTS` weights are listed. A patch layer is described by the layer it
wraps (a LoRA on a Dense is a dense layer with a patch); a patch layer that wraps nothing
(a variance head) is of the ``"patch"`` family.

Example:
    >>> import keras
    >>> from risk_widgets.graph.details import key_config, layer_family
    >>> dense = keras.layers.Dense(4, activation="relu")
    >>> dense.build((None, 3))
    >>> layer_family(dense), layer_family(keras.layers.LayerNormalization())
    ('dense', 'normalization')
    >>> key_config(dense)
    {'units': 4, 'activation': 'relu', 'use_bias': True, 'dtype': 'float32'}
"""

from __future__ import annotations

import re
from typing import Any

import keras
from keras import layers as kl

from risk_widgets.core import keras_internals as ki

__all__ = [
    "FAMILIES",
    "MAX_WEIGHTS",
    "base_layer",
    "key_config",
    "layer_family",
    "weight_rows",
]

#: every value of a node's ``family`` (docs/architecture.md "Graph JSON"); the front end
#: colours the first twelve (js/src/families.ts); ``group`` is a container of no family,
#: ``io`` a model input or output
FAMILIES = (
    "dense", "convolution", "attention", "normalization", "embedding", "activation",
    "pooling", "merge", "recurrent", "dropout", "reshape", "patch", "other", "group", "io",
)

#: a leaf lists at most this many weights (``weights_more`` counts the others)
MAX_WEIGHTS = 16
_MAX_TEXT = 64
_MAX_ITEMS = 8


def _classes(*names: str) -> tuple[type, ...]:
    """The public Keras layer classes of these names that this Keras version has."""
    return tuple(getattr(kl, n) for n in names if isinstance(getattr(kl, n, None), type))


# First match wins: recurrent before convolution (ConvLSTM is an RNN), attention before dense.
_BY_CLASS: tuple[tuple[str, tuple[type, ...]], ...] = (
    ("recurrent", _classes("RNN", "Bidirectional", "LSTMCell", "GRUCell", "SimpleRNNCell")),
    ("attention", _classes("MultiHeadAttention", "GroupQueryAttention", "Attention",
                           "AdditiveAttention")),
    ("dense", _classes("Dense", "EinsumDense")),
    ("convolution", _classes("Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose",
                             "Conv2DTranspose", "Conv3DTranspose", "SeparableConv1D",
                             "SeparableConv2D", "DepthwiseConv1D", "DepthwiseConv2D")),
    ("normalization", _classes("BatchNormalization", "LayerNormalization",
                               "GroupNormalization", "UnitNormalization", "RMSNormalization",
                               "SpectralNormalization", "Normalization")),
    ("embedding", _classes("Embedding")),
    ("activation", _classes("Activation", "ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax")),
    ("pooling", _classes("MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D",
                         "AveragePooling2D", "AveragePooling3D", "GlobalMaxPooling1D",
                         "GlobalMaxPooling2D", "GlobalMaxPooling3D", "GlobalAveragePooling1D",
                         "GlobalAveragePooling2D", "GlobalAveragePooling3D",
                         "AdaptiveAveragePooling1D", "AdaptiveAveragePooling2D",
                         "AdaptiveMaxPooling1D", "AdaptiveMaxPooling2D")),
    ("merge", _classes("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum",
                       "Concatenate", "Dot")),
    ("dropout", _classes("Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
                         "GaussianDropout", "GaussianNoise", "AlphaDropout")),
    ("reshape", _classes("Flatten", "Reshape", "Permute", "RepeatVector", "Cropping1D",
                         "Cropping2D", "Cropping3D", "ZeroPadding1D", "ZeroPadding2D",
                         "ZeroPadding3D", "UpSampling1D", "UpSampling2D", "UpSampling3D")),
)

# Classes Keras does not know (a user's or KerasHub's subclass, ops such as `x + y`): by the
# names in their class hierarchy, the first pattern that matches.
_BY_NAME: tuple[tuple[str, re.Pattern], ...] = (
    ("recurrent", re.compile(r"LSTM|GRU|RNN")),
    ("attention", re.compile(r"Attention")),
    ("normalization", re.compile(r"Norm(alization)?$|Norm[A-Z]|^RMSNorm")),
    ("embedding", re.compile(r"Embedding")),
    ("convolution", re.compile(r"Conv")),
    ("pooling", re.compile(r"Pool")),
    ("dropout", re.compile(r"Dropout")),
    ("dense", re.compile(r"Dense|Linear$|^Linear")),
    ("merge", re.compile(r"^(Add|Subtract|Multiply|Average|Maximum|Minimum|Concatenate|Dot"
                         r"|Matmul|Einsum)$")),
    ("activation", re.compile(r"^(Relu|Relu6|Gelu|Silu|Swish|Sigmoid|Tanh|Softmax|LogSoftmax"
                              r"|Elu|Selu|Softplus|LeakyRelu|HardSigmoid|HardSilu|Mish"
                              r"|Activation)$")),
    ("reshape", re.compile(r"^(Reshape|Flatten|Permute|Transpose|ExpandDims|Squeeze"
                           r"|RepeatVector)$|^(Cropping|ZeroPadding|UpSampling)")),
)

_SKIP_NAMES = {"Layer", "Operation", "KerasSaveable", "object", "Model", "Functional",
               "Sequential", "Module"}


def base_layer(layer: Any) -> Any:
    """The layer a patch layer wraps, through every patch (a sample on a LoRA on a Dense ->
    the Dense); ``layer`` itself when it is no patch layer; None for a patch layer that
    wraps nothing (a variance head)."""
    seen = set()
    while getattr(layer, "is_patch_layer", False) and id(layer) not in seen:
        seen.add(id(layer))
        voters = getattr(layer, "voters", None)  # an ensemble holds copies, not the layer
        inner = getattr(layer, "layer", None) or (voters[0] if voters else None)
        if inner is None:
            return None
        layer = inner
    return layer


def layer_family(layer: Any, kind: str = "layer") -> str:
    """The family of a layer, for colouring (one of `FAMILIES`).

    ``kind`` is the node's kind: ``"input"`` / ``"output"`` are ``"io"``; a group whose class
    has no family (a CompositeLayer, a nested model) is ``"group"``, one that has one (a
    MultiHeadAttention) takes it.
    """
    if kind in ("input", "output"):
        return "io"
    base = base_layer(layer)
    if base is None:
        return "patch"
    for family, classes in _BY_CLASS:
        if classes and isinstance(base, classes):
            return family
    for cls in type(base).__mro__:
        name = cls.__name__
        if name in _SKIP_NAMES:
            break
        for family, pattern in _BY_NAME:
            if pattern.search(name):
                return family
    return "group" if kind == "group" else "other"


# The attributes the details panel shows, in this order, when the layer has them.
_CONFIG_KEYS = (
    "units", "filters", "kernel_size", "strides", "padding", "dilation_rate", "pool_size",
    "num_heads", "num_query_heads", "num_key_value_heads", "key_dim", "value_dim",
    "head_dim", "equation", "input_dim", "output_dim", "activation", "rate", "axis",
    "epsilon", "return_sequences", "use_bias",
)


def _value(value: Any) -> Any:
    """A config value as small plain JSON: None when it is no number, text or short list."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else None
    if isinstance(value, str):
        return value if len(value) <= _MAX_TEXT else value[: _MAX_TEXT - 1] + "…"
    if callable(value):  # an activation function
        name = getattr(value, "__name__", None)
        return _value(name) if isinstance(name, str) else None
    if isinstance(value, (tuple, list)):
        items = [_value(v) for v in value[:_MAX_ITEMS]]
        if any(v is None and w is not None for v, w in zip(items, value, strict=False)):
            return None
        return items + (["…"] if len(value) > _MAX_ITEMS else [])
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item) and getattr(value, "ndim", 1) == 0:
        try:
            return _value(item())
        except (TypeError, ValueError):
            return None
    return None


def key_config(layer: Any) -> dict[str, Any]:
    """The layer's key config fields (`_CONFIG_KEYS` it has, then ``dtype`` and, when
    quantized, ``quantization_mode``), as small JSON; a patch layer's are its base's."""
    base = base_layer(layer) or layer
    config: dict[str, Any] = {}
    if not isinstance(base, keras.layers.Layer):
        return config
    for key in _CONFIG_KEYS:
        try:
            raw = getattr(base, key, None)
        except Exception:  # noqa: BLE001 - a property that fails: not shown
            continue
        value = _value(raw)
        if value is not None:
            config[key] = value
    policy = getattr(base, "dtype_policy", None)
    name = getattr(policy, "name", None)
    if isinstance(name, str):
        config["dtype"] = name
    mode = getattr(base, "quantization_mode", None)
    if isinstance(mode, str) and mode:
        config["quantization_mode"] = mode
    return config


def weight_rows(layer: Any, trainable_ids: set[int]) -> tuple[list[dict], int]:
    """``(rows, more)``: one ``{"name", "shape", "dtype", "trainable"}`` per weight of
    ``layer`` (each variable once, at most `MAX_WEIGHTS`), and how many were left out.

    ``trainable`` says whether the root model trains it (``trainable_ids``), as the node's
    ``trainable_params`` does; ``name`` is the variable's name, or its path where two
    weights of the layer share a name (stacked adapters).
    """
    if not isinstance(layer, keras.layers.Layer):
        return [], 0
    variables = list({id(v): v for v in layer.weights}.values())
    names = [str(getattr(v, "name", "")) for v in variables]
    repeated = {n for n in names if names.count(n) > 1}
    owners = _owners(layer) if repeated else {}
    rows = []
    for v, name in zip(variables[:MAX_WEIGHTS], names, strict=False):
        shape = ki.variable_shape(v)
        if not isinstance(shape, tuple):
            shape = tuple(v.shape)
        if name in repeated and id(v) in owners:
            name = f"{owners[id(v)]}/{name}"
        rows.append({
            "name": name,
            "shape": [int(d) for d in shape],
            "dtype": str(getattr(v, "dtype", "")),
            "trainable": id(v) in trainable_ids,
        })
    return rows, max(0, len(variables) - MAX_WEIGHTS)


def _owners(layer: Any) -> dict[int, str]:
    """Variable id -> the name of the sub-layer of ``layer`` holding it: an adapter's name
    (``default``, ``task_b``) for stacked adapters, else the sub-layer's name."""
    owners: dict[int, str] = {}
    for sub in ki.tracked_sublayers(layer):
        label = getattr(sub, "adapter_name", None) or getattr(sub, "name", "")
        for v in getattr(sub, "weights", []):
            owners.setdefault(id(v), str(label))
    return owners

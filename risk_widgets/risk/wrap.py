"""`wrap_model`: the one wrapping routine behind vote, sample and sculpt.

It checks the model, copies it with the selected layers replaced by risk layers
(`risk_widgets.risk.compose.rebuild`), lets sculpt add variance outputs, and returns a
:class:`~risk_widgets.risk.model.RiskModel` whose member count is the product of every
wrapper's. ``last_layers`` finds the layers that feed an output (sample skips them).

Example:
    >>> import keras
    >>> from risk_widgets.risk.wrap import last_layers
    >>> inputs = keras.Input((2,))
    >>> h = keras.layers.Dense(4, name="body")(inputs)
    >>> model = keras.Model(inputs, keras.layers.Dense(1, name="head")(h))
    >>> [layer.name for layer in last_layers(model, (keras.layers.Dense,))]
    ['head']
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import keras
from keras import tree

from risk_widgets.core import keras_internals as ki
from risk_widgets.engine.models import RewiredModel
from risk_widgets.risk.compose import leaf_layers, model_io, rebuild, unwrap
from risk_widgets.risk.model import RiskModel

__all__ = ["last_layers", "wrap_model"]


def _check_model(model: Any, kind: str) -> None:
    if not isinstance(model, keras.Model):
        raise TypeError(
            f"{kind}: expected a keras.Model (Functional or Sequential). Received: "
            f"{type(model).__name__}. For a single layer, wrap it: "
            "keras.Sequential([keras.Input(shape), layer])."
        )
    if isinstance(model, RiskModel):
        return
    if not (isinstance(model, keras.Sequential) or ki.inputs_struct(model) is not None):
        raise TypeError(
            f"{kind}: {model.name!r} is a subclassed model, whose layers are not a graph. Wrap a "
            "Functional or Sequential model; to wrap it whole, make it one layer of a Functional "
            "model: inputs = keras.Input(shape); keras.Model(inputs, model(inputs))."
        )
    if not model.built or not getattr(model, "outputs", None):
        raise ValueError(
            f"{kind}: model {model.name!r} is not built, so its layers have no shapes yet. Give "
            "it an input (keras.Sequential([keras.Input(shape), ...])) or call it once on data."
        )


def _output_layout(model: Any) -> tuple[str, list[str] | None, list[str]]:
    """(format, keys, names) of a plain model's outputs, in ``model.outputs`` order."""
    struct = ki.outputs_struct(model)
    names = [ki.keras_history(out).operation.name for out in model.outputs]
    if isinstance(struct, dict):
        keys = tree.flatten({k: k for k in struct})
        return "dict", keys, keys
    if len(model.outputs) == 1 and not isinstance(struct, (list, tuple)):
        return "single", None, names
    return "list", None, names


def last_layers(model: Any, site_classes: tuple[type, ...], n_outputs: int | None = None):
    """Site layers (by class, looking through risk layers) that feed an output with no other
    site layer in between; descends into nested Functional models."""
    found: list[Any] = []
    seen: set[int] = set()
    outputs = list(model.outputs)[: n_outputs or len(model.outputs)]
    stack = list(outputs)
    while stack:
        tensor = stack.pop()
        op, node_index, _ = ki.keras_history(tensor)
        key = id(op) * 1000 + node_index
        if key in seen or isinstance(op, keras.layers.InputLayer):
            continue
        seen.add(key)
        if isinstance(unwrap(op), site_classes):
            found.append(op)
            continue
        if isinstance(op, keras.Model) and getattr(op, "outputs", None):
            found.extend(last_layers(op, site_classes))
        stack.extend(ki.producer_node(tensor).input_tensors)
    return found


Select = Callable[[list[tuple[str, Any]], dict], list[str]]


def wrap_model(
    model: Any,
    *,
    kind: str,
    params: dict,
    n_members: int,
    select: Select | None,
    replace: Callable[..., Any] | None,
    extend: Callable[[list[Any], list[str]], list[Any]] | None = None,
) -> RiskModel:
    """The one wrapping routine behind vote, sample and sculpt.

    Checks everything, copies ``model`` with the selected layers replaced (``replace(layer,
    path, copy, stride)``), lets ``extend(means, names)`` add variance outputs, and returns a
    :class:`RiskModel` with ``members = model's members × n_members``. Compile settings of
    ``model`` are carried over. ``model`` itself is never modified.
    """
    _check_model(model, kind)
    if isinstance(model, RiskModel):
        base, stride, n_out = model.body, model.members, model.n_outputs
        fmt, keys = model.output_format, model.output_keys
        names = keys or [ki.keras_history(out).operation.name for out in base.outputs[:n_out]]
        previous = model.wrappers
    else:
        base, stride, n_out = model, 1, len(model.outputs)
        fmt, keys, names = _output_layout(model)
        previous = []
    leaves = leaf_layers(base)
    state = {"base": base, "stride": stride, "n_outputs": n_out}
    paths = _rnn_layers(base, select(leaves, state)) if select is not None else []
    replacements = {
        p: (lambda layer, path, copy: replace(layer, path, copy, stride)) for p in paths
    }
    new = rebuild(base, replacements)
    inputs, outputs = model_io(new)
    means, variances = outputs[:n_out], outputs[n_out:]
    if extend is not None:
        variances = extend(means, names)
    # RewiredModel saves risk layers swapped inside opaque layers (e.g. attention)
    body = RewiredModel(inputs, means + variances, name=base.name)
    risky = RiskModel(
        body,
        members=stride * n_members,
        n_outputs=n_out,
        has_variance=bool(variances),
        output_format=fmt,
        output_keys=keys,
        wrappers=[*previous, {"kind": kind, "params": dict(params), "targets": paths}],
        name=f"{model.name}_{kind}",
    )
    _carry_compile(model, risky)
    return risky


def _carry_compile(source: Any, target: RiskModel) -> None:
    if not getattr(source, "compiled", False):
        return
    try:
        target.compile_from_config(source.get_compile_config())
    except Exception as err:  # e.g. an unregistered custom loss
        warnings.warn(
            f"Could not carry over the compile settings of {source.name!r} ({err}). Compile the "
            "risk model yourself: risky.compile(optimizer=..., loss=...).",
            stacklevel=3,
        )


def _rnn_layers(base: Any, paths: list[str]) -> list[str]:
    """``paths`` with each RNN step cell replaced by its outermost RNN layer (``"bi"`` for
    ``"bi/forward_lstm/lstm_cell"``): the recurrent loop reads its cell's attributes, so a
    wrapped cell cannot run, and the RNN layer holds exactly the cells' weights."""
    from risk_widgets.core.walk import container_chain

    chosen: list[str] = []
    for path in paths:
        parts = path.split("/")
        unit = path
        for depth, (_, child) in enumerate(container_chain(base, path)[:-1]):
            if isinstance(child, (keras.layers.RNN, keras.layers.Bidirectional)):
                unit = "/".join(parts[: depth + 1])
                break
        if unit not in chosen:
            chosen.append(unit)
    return chosen

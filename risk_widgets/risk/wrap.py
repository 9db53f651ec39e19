"""`wrap_model`: the one wrapping routine behind vote, sample and sculpt.

It checks the model (a subclassed model becomes the one layer of a Functional model:
``as_graph``), copies it with the selected layers replaced by risk layers
(`risk_widgets.risk.compose.rebuild`), lets sculpt add variance outputs, and returns a
:class:`~risk_widgets.risk.model.RiskModel` whose member count is the product of every
wrapper's, compiled as the model was (``carry_compile``, from
`risk_widgets.core.compile_settings` and re-exported here: the user's own loss and metric
objects, a fresh optimizer of the same config). ``last_layers`` finds the layers that feed
an output (sample skips them).

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
import numpy as np
from keras import ops, tree

from risk_widgets.core import keras_internals as ki
from risk_widgets.core.compile_settings import carry_compile
from risk_widgets.core.walk import is_opaque_container, iter_layers
from risk_widgets.engine.models import RewiredModel
from risk_widgets.risk.compose import leaf_layers, model_io, rebuild, unwrap
from risk_widgets.risk.model import RiskModel

__all__ = ["as_graph", "carry_compile", "has_compiled_loss", "last_layers", "wrap_model"]


def _check_model(model: Any, kind: str) -> Any:
    """``model`` if it can be wrapped as it is; a subclassed model as one layer of a Functional
    model (:func:`as_graph`); otherwise a TypeError / ValueError naming the way out."""
    if not isinstance(model, keras.Model):
        raise TypeError(
            f"{kind}: expected a keras.Model (Functional, Sequential or subclassed). Received: "
            f"{type(model).__name__}. For a single layer, wrap it: "
            "keras.Sequential([keras.Input(shape), layer])."
        )
    if isinstance(model, RiskModel):
        return model
    if not (isinstance(model, keras.Sequential) or ki.inputs_struct(model) is not None):
        return as_graph(model, kind)
    if not model.built or not getattr(model, "outputs", None):
        raise ValueError(
            f"{kind}: model {model.name!r} is not built, so its layers have no shapes yet. Give "
            "it an input (keras.Sequential([keras.Input(shape), ...])) or call it once on data."
        )
    return model


def as_graph(model: Any, kind: str = "wrap") -> Any:
    """A subclassed model as the one layer of a Functional model built on its input shape.

    The layer is a structural copy of ``model`` (:func:`~risk_widgets.core.layer_copy.
    structural_copy`: same class, same sub-layers and variables, its own node lists), so
    ``model`` is not even given a new node. The input shape is the one ``model`` was built
    with (a first call, or ``model.build(shape)``); the input dtype is ``model``'s compute
    dtype. Its inside is not a graph, so the wrappers see it as an opaque layer: its
    sub-layers keep their paths (``"my_model/dense_1"``).

    Raises:
        ValueError: ``model`` is not built, takes several call arguments, or cannot be called
            on a symbolic input of that shape (then the message says how to build the
            Functional model yourself).

    Example:
        >>> import keras, numpy as np
        >>> from risk_widgets.risk.wrap import as_graph
        >>> class Net(keras.Model):
        ...     def __init__(self, **kwargs):
        ...         super().__init__(**kwargs)
        ...         self.hidden = keras.layers.Dense(4)
        ...     def call(self, x):
        ...         return self.hidden(x)
        >>> net = Net(name="net")
        >>> _ = net(np.zeros((1, 3)))
        >>> graph = as_graph(net)
        >>> [type(layer).__name__ for layer in graph.layers], graph.output.shape
        (['InputLayer', 'Net'], (None, 4))
        >>> graph.layers[1] is net, graph.layers[1].hidden is net.hidden
        (False, True)
    """
    from risk_widgets.core.layer_copy import structural_copy

    yourself = (
        "Make it one layer of a Functional model yourself: inputs = keras.Input(shape, "
        "dtype=...); keras.Model(inputs, model(inputs)), and wrap that."
    )
    shapes = ki.build_shapes(model) if model.built else None
    if not shapes:
        raise ValueError(
            f"{kind}: subclassed model {model.name!r} is not built, so its input shape is "
            "unknown. Call it once on data (model(x[:1])) or build it (model.build((None, "
            "n_features))) before wrapping it."
        )
    if len(shapes) != 1:
        raise ValueError(
            f"{kind}: subclassed model {model.name!r} was built with several call arguments "
            f"({', '.join(shapes)}), so its one input is unknown. {yourself}"
        )
    shape = next(iter(shapes.values()))
    dtype = model.compute_dtype or keras.config.floatx()

    def make_input(leaf_shape: Any, name: str | None = None) -> Any:
        return keras.Input(batch_shape=(None, *tuple(leaf_shape)[1:]), dtype=dtype, name=name)

    twin = structural_copy(model, lambda sub: sub)
    try:
        if isinstance(shape, dict):  # named inputs: Keras matches dict keys to input names
            inputs = {
                key: make_input(value, str(key))
                if all(d is None or isinstance(d, int) for d in value)
                else tree.map_shape_structure(make_input, value)
                for key, value in shape.items()
            }
        else:
            inputs = tree.map_shape_structure(make_input, shape)
        outputs = twin(inputs)
        return keras.Model(inputs, outputs, name=model.name)
    except Exception as err:
        raise ValueError(
            f"{kind}: could not call subclassed model {model.name!r} on a symbolic input of "
            f"shape {shape} and dtype {dtype} ({type(err).__name__}: {err}). {yourself}"
        ) from err


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


def last_layers(
    model: Any, site_classes: tuple[type, ...], n_outputs: int | None = None, batch: int = 1
) -> list[Any]:
    """Site layers (by class, looking through risk layers) that feed an output with no other
    site layer in between; descends into nested Functional models.

    Inside an opaque layer (a subclassed block or model, whose inside is not a graph) that
    feeds an output with no site layer in between, the site layers that feed it are found by
    running ``model`` (:func:`_last_inside`). ``batch``: the rows of that run (a multiple
    of the members of the wrappers already applied).
    """
    found: list[Any] = []
    opaque: list[Any] = []
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
            found.extend(last_layers(op, site_classes, batch=batch))
        elif is_opaque_container(op) and _sites_inside(op, site_classes):
            opaque.append(op)
            continue
        stack.extend(ki.producer_node(tensor).input_tensors)
    if opaque:
        found.extend(_last_inside(model, opaque, site_classes, n_outputs, batch))
    return found


def _sites_inside(container: Any, site_classes: tuple[type, ...]) -> list[Any]:
    return [
        ref.layer
        for ref in iter_layers(container)
        if ref.kind == "layer" and isinstance(unwrap(ref.layer), site_classes)
    ]


class _Probe(keras.layers.Layer):
    """Runs ``layer``; its output is all NaN when ``poisoned``, else cleared of NaN. Used
    only by :func:`_last_inside`, on a rewired copy of the model (the user's layers are
    shared, never changed)."""

    def __init__(self, layer: Any, **kwargs: Any):
        super().__init__(name=layer.name, **kwargs)
        self.layer = layer
        self.poisoned = False

    def call(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        outputs = self.layer(inputs, *args, **kwargs)
        if self.poisoned:
            return tree.map_structure(lambda t: ops.full_like(t, float("nan")), outputs)
        return tree.map_structure(lambda t: ops.where(ops.isnan(t), ops.zeros_like(t), t), outputs)

    def compute_output_spec(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        return self.layer.compute_output_spec(inputs, *args, **kwargs)


def _last_inside(
    model: Any,
    containers: list[Any],
    site_classes: tuple[type, ...],
    n_outputs: int | None,
    batch: int,
) -> list[Any]:
    """The site layers inside ``containers`` (opaque layers) whose output reaches one of
    ``model``'s first ``n_outputs`` outputs without passing another site layer.

    There is no graph to read inside an opaque layer, so ``model`` runs: a copy in which
    every site layer is a :class:`_Probe` (``rewire``: the layers are shared, nothing is
    copied), once per candidate, with the candidate's output all NaN and every other site
    clearing NaN from its own. The candidates whose NaN reaches an output are the last ones.
    """
    from risk_widgets.engine.rewiring import rewire

    inside = {id(layer) for c in containers for layer in _sites_inside(c, site_classes)}
    sites = [
        (p, layer) for p, layer in leaf_layers(model) if isinstance(unwrap(layer), site_classes)
    ]
    candidates = [(p, layer) for p, layer in sites if id(layer) in inside]
    probes: dict[str, _Probe] = {}

    def replace(layer: Any, path: str) -> Any:
        probes[path] = _Probe(layer)
        return probes[path]

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            probed = rewire(model, [p for p, _ in sites], replace, freeze_base=False)
        x = tree.map_structure(lambda t: _probe_input(t, batch), model_io(probed)[0])
        last = []
        for path, layer in candidates:
            for probe_path, probe in probes.items():
                probe.poisoned = probe_path == path
            outputs = tree.flatten(probed(x, training=False))[: n_outputs or None]
            if any(np.isnan(ops.convert_to_numpy(out)).any() for out in outputs):
                last.append(layer)
        return last
    except Exception as err:  # a model that does not run on made-up inputs
        names = ", ".join(repr(c.name) for c in containers)
        warnings.warn(
            f"Could not tell which layers inside {names} make the prediction: running the "
            f"model on made-up inputs failed ({type(err).__name__}: {err}). Dropout may sit on "
            "the prediction layer; pass targets=[...] naming the layers to put it after.",
            stacklevel=4,
        )
        return []


def _probe_input(spec: Any, batch: int) -> Any:
    """Made-up data shaped like the symbolic input ``spec`` (None: ``batch`` rows, 2 steps)."""
    shape = tuple(batch if i == 0 else (2 if d is None else d) for i, d in enumerate(spec.shape))
    dtype = str(spec.dtype)
    if "float" in dtype:
        return np.random.default_rng(0).normal(size=shape).astype(dtype)
    return np.ones(shape, dtype=dtype)


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
    ``model`` are carried over (:func:`carry_compile`; a risk model's assigned
    ``compute_loss`` too). ``model`` itself is never modified.
    """
    source, model = model, _check_model(model, kind)
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
    carry_compile(source, risky, stacklevel=4)
    if isinstance(source, RiskModel) and source.user_compute_loss is not None:
        risky.compute_loss = source.user_compute_loss
    return risky


def has_compiled_loss(model: Any) -> bool:
    """Whether ``model`` was compiled with a loss (its own or carried over).

    Example:
        >>> import keras
        >>> from risk_widgets.risk.wrap import has_compiled_loss
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        >>> model.compile(optimizer="adam")
        >>> has_compiled_loss(model)
        False
        >>> model.compile(optimizer="adam", loss="mse")
        >>> has_compiled_loss(model)
        True
    """
    arguments = ki.compile_arguments(model) if getattr(model, "compiled", False) else None
    return bool(arguments) and arguments.get("loss") is not None


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

"""`CompositeLayer`: a layer made of layers, traced into a functional graph.

The semantics follow keras-team/keras PR #21099 ("Adding functional
CompositeLayer"), implemented on top of the Keras that is installed (no edits
to Keras itself).
"""

from __future__ import annotations

import inspect

import keras
from keras import Function, InputSpec, Model, tree
from keras.layers import Layer

from risk_widgets.core import keras_internals as ki
from risk_widgets.core.composite_trace import (
    NotBuiltError,
    check_layers_arg,
    describe,
    input_error_text,
    is_keras_tensor_structure,
    split_graph_args,
    symbolic_inputs,
    trace,
)
from risk_widgets.core.keras_internals import (
    Functional,
    clone_graph_nodes,
    functional_from_config,
    is_input_keras_tensor,
)

__all__ = ["CompositeLayer"]

# A CompositeLayer traces a throw-away `Function` and adopts the attributes
# that describe its graph (`keras_internals.GRAPH_ATTRS`, see `_adopt_graph`).
# Keys of `get_config()` that hold the serialized graph.
_GRAPH_CONFIG_KEYS = ("layers", "input_layers", "output_layers")


@keras.saving.register_keras_serializable(package="risk_widgets")
class CompositeLayer(Functional):
    """A layer made of layers: a functional sub-graph, traced lazily.

    `CompositeLayer` packages a graph of layers as one layer, like a nested
    functional model, but without its inputs fixed in advance: the graph is
    traced on the first call (or on `build(input_shape)`) into a
    `keras.Function`, so the same composite works on any input
    shape it is first given, eagerly and symbolically. Its inner layers stay
    reachable (`layers`, `get_layer`), which is what lets tools edit a model's
    graph (swap a `Dense` for a LoRA-wrapped one) with plain Keras APIs. This
    follows keras-team/keras PR #21099.

    A composite is created from either:

    1. a function `layer_fn(inputs) -> outputs` that builds the graph from
       symbolic `inputs` (a tensor, or a list/tuple/dict/nested structure of
       them); extra parameters with defaults may carry configuration;
    2. a non-empty list of layers, applied in sequence.

    Once built it behaves like a Keras `Functional` model used as a layer:
    `training` (and masks) reach the inner layers (`Dropout`,
    `BatchNormalization`); `layers` lists the inner layers (`InputLayer`s
    first); weights are tracked with paths `"composite/inner/kernel"`;
    `trainable = False` freezes every inner layer; composites nest; they work
    inside Functional and Sequential models, `TimeDistributed`, `summary()`,
    `get_config()`/`from_config()` (restored built, same weights layout) and
    `.keras` saving (`safe_mode=True`, no lambdas).

    Optional inputs are declared with a manual input spec before the first
    call: `layer.input_spec = [InputSpec(shape=(None, 2), optional=True),
    InputSpec(shape=(None, 2))]`, then `layer([None, x])` works.

    Implementation choice (cloning): `CompositeLayer` is a subclass of Keras'
    `Functional` whose graph is created lazily, and whose constructor also
    accepts the graph form `CompositeLayer(inputs, outputs, name=None)`
    (symbolic tensors, as used by `keras.models.clone_model` and by
    `CompositeLayer.from_graph`). As a result the stock
    `keras.models.clone_model(model, clone_function=f, call_function=g,
    recursive=True)` recurses into composites (Keras recognises nested
    models by `isinstance(layer, Functional)`), reaches and replaces their
    inner layers and rebuilds each composite with its own class. Subclasses
    keep their class too: their `__init__` is run with `name=` only when it
    accepts that, otherwise it is skipped (like unpickling) and only the base
    `CompositeLayer` state is set. `clone_model` itself creates plain (not
    optional) inputs and drops manual input specs; pass `input_tensors` to
    keep optional inputs. A composite is a `keras.Model` by inheritance, but
    is meant to be used as a layer (its state is locked once built, like a
    layer's); check `isinstance(x, CompositeLayer)` before `Functional`.

    Args:
        layers: A function `layer_fn(inputs) -> outputs` building the graph,
            or a non-empty list of layers to apply in sequence.
        name: Optional name of the layer (unique names keep weight paths and
            saved files readable).
        **kwargs: Base layer arguments: `trainable`, `dtype` (every input is
            created with the layer's input dtype).

    Input shape:
        Any structure of tensors accepted by `layer_fn` (or by the first layer
        of the list); the batch size is left free when tracing.

    Output shape:
        The structure returned by `layer_fn` (or by the last layer).

    Example:

    >>> import numpy as np, keras
    >>> from risk_widgets import CompositeLayer
    >>> def mlp_fn(x):
    ...     x = keras.layers.Dense(8, activation="relu", name="hidden")(x)
    ...     return keras.layers.Dense(2, name="head")(x)
    >>> mlp = CompositeLayer(mlp_fn, name="mlp")
    >>> mlp(np.ones((3, 4))).shape
    TensorShape([3, 2])
    >>> [w.path for w in mlp.weights][:2]
    ['mlp/hidden/kernel', 'mlp/hidden/bias']
    >>> stack = CompositeLayer([keras.layers.Dense(4), keras.layers.Dropout(0.1)])
    >>> inputs = keras.Input((4,))
    >>> model = keras.Model(inputs, stack(mlp(inputs)))
    >>> [type(layer).__name__ for layer in model.layers]
    ['InputLayer', 'CompositeLayer', 'CompositeLayer']
    """

    def __init__(self, layers=None, *args, **kwargs):
        positional = args if layers is None else (layers, *args)
        graph = split_graph_args(positional, kwargs)
        if graph is not None:
            inputs, outputs, kwargs = graph
            self._init_from_graph(inputs, outputs, **kwargs)
            return

        # User form: CompositeLayer(layers, name=None, **kwargs).
        if args:
            if len(args) > 1 or not (args[0] is None or isinstance(args[0], str)):
                raise TypeError(
                    "CompositeLayer takes `(layers, name=None, **kwargs)`, or the graph "
                    "form `(inputs, outputs, name=None)` with symbolic tensors. "
                    f"Received extra positional arguments: {describe(args)}. "
                    "Pass base layer arguments by keyword, e.g. `trainable=False`."
                )
            if "name" in kwargs:
                raise TypeError(
                    "CompositeLayer got two values for `name`: "
                    f"{args[0]!r} (positional) and {kwargs['name']!r} (keyword)."
                )
            kwargs["name"] = args[0]
        check_layers_arg(layers)
        self._init_base(**kwargs)
        spec = list(layers) if isinstance(layers, (list, tuple)) else layers
        object.__setattr__(self, "_layer_spec", spec)

    # ------------------------------------------------------------------ init

    def _init_base(self, name=None, **kwargs):
        """Base `Layer`/`Model` state, shared by every construction path."""
        Model.__init__(self, name=name, **kwargs)
        object.__setattr__(self, "_layer_spec", None)
        object.__setattr__(self, "_function", None)
        # Like Functional: raw arrays are converted, `None` may stand for an
        # optional input in the first (positional) argument.
        ki.accept_raw_and_none_inputs(self)
        self.output_names = []

    def _init_from_graph(self, inputs, outputs, name=None, **kwargs):
        trainable = kwargs.pop("trainable", None)
        self._init_base(name=name, **kwargs)
        self._finish_from_graph(inputs, outputs, trainable)

    def _finish_from_graph(self, inputs, outputs, trainable):
        self._adopt_graph(inputs, outputs)
        if trainable is not None:
            # The composite's own flag only: the inner (possibly shared)
            # layers keep theirs; a frozen composite has no trainable weights.
            ki.set_trainable_flag(self, trainable)
        self.built = True
        ki.lock_state(self)

    def __init_subclass__(cls, **kwargs):
        """Lets subclasses be rebuilt from a graph (cloning, `from_graph`).

        A subclass's own `__init__` (e.g. `def __init__(self, **kwargs):
        super().__init__(my_layer_fn, **kwargs)`) is wrapped so that the graph
        form `Subclass(inputs, outputs, name=...)` also works: the subclass's
        `__init__` is run with `name=` (and any extra keyword arguments) when
        its signature accepts them, then the given graph is adopted instead of
        tracing `layer_fn` again.
        """
        super().__init_subclass__(**kwargs)
        original = cls.__dict__.get("__init__")
        if original is None or getattr(original, "_composite_original", None):
            return

        def __init__(self, *args, **kwargs):
            graph = split_graph_args(args, kwargs)
            if graph is None:
                original(self, *args, **kwargs)
                return
            inputs, outputs, rest = graph
            trainable = rest.pop("trainable", None)
            try:
                inspect.signature(original).bind(self, **rest)
                bindable = True
            except TypeError:
                bindable = False
            if bindable:
                original(self, **rest)
                if self.built:
                    raise ValueError(
                        f"The `__init__` of {type(self).__name__} builds the layer, so "
                        "it cannot be rebuilt from a graph. Create the graph in "
                        "`build()` (pass a `layer_fn` to `CompositeLayer.__init__`)."
                    )
                self._finish_from_graph(inputs, outputs, trainable)
            else:
                rest = {k: v for k, v in rest.items() if k in ("name", "dtype")}
                CompositeLayer._init_from_graph(self, inputs, outputs, trainable=trainable, **rest)

        # No `functools.wraps`: Keras inspects `__init__` both with
        # `inspect.signature` (which follows `__wrapped__`) and with
        # `inspect.getfullargspec` (which does not); both must see
        # `(self, *args, **kwargs)`, the signature Keras' cloning accepts.
        __init__.__name__ = "__init__"
        __init__.__qualname__ = f"{cls.__qualname__}.__init__"
        __init__.__doc__ = original.__doc__
        __init__.__module__ = original.__module__
        __init__._composite_original = original
        cls.__init__ = __init__

    @classmethod
    def from_graph(cls, inputs, outputs, name=None, **kwargs):
        """Builds an already-built composite from symbolic tensors.

        The graph between `inputs` and `outputs` is adopted as is: the layers
        on it are reused (no new layer, no new weight). `inputs` may be
        `keras.Input` tensors or intermediate tensors of another graph (their
        nodes are then cloned, as `keras.Model(inputs, outputs)` does).

        Args:
            inputs: A KerasTensor or a (nested) structure of KerasTensors.
            outputs: A KerasTensor or a (nested) structure of KerasTensors
                computed from `inputs`.
            name: Name of the new layer.
            **kwargs: Constructor arguments: `trainable`, `dtype`, or a
                subclass's own keyword arguments. `trainable=False` sets the
                composite's own flag only (it then has no trainable weights);
                the flags of the reused inner layers are left as they are.

        Returns:
            A built instance of `cls`.

        Example:

        >>> import keras
        >>> from risk_widgets import CompositeLayer
        >>> x = keras.Input((4,))
        >>> dense = keras.layers.Dense(2, name="d")
        >>> block = CompositeLayer.from_graph(x, dense(x), name="block")
        >>> block.built, block.get_layer("d") is dense
        (True, True)
        """
        for label, value in (("inputs", inputs), ("outputs", outputs)):
            if not is_keras_tensor_structure(value):
                raise ValueError(
                    f"CompositeLayer.from_graph expects `{label}` to be a KerasTensor "
                    "or a (nested) list/tuple/dict of KerasTensors, e.g. from "
                    f"`keras.Input(...)`. Received: {label}={describe(value)}. To "
                    "build from layers instead, use `CompositeLayer(layer_fn)` or "
                    "`CompositeLayer([layer, ...])`."
                )
        return cls(inputs, outputs, name=name, **kwargs)

    # ----------------------------------------------------------------- graph

    def _adopt_graph(self, inputs, outputs):
        """Makes `inputs -> outputs` this layer's graph and tracks its layers."""
        if not all(is_input_keras_tensor(t) for t in tree.flatten(inputs)):
            inputs, outputs = clone_graph_nodes(inputs, outputs)
        try:
            with ki.DotNotTrackScope():
                function = Function(inputs, outputs, name=self.name)
        except ValueError as error:
            raise ValueError(
                f"CompositeLayer '{self.name}' cannot make a graph from its inputs to "
                f"its outputs: {error} Every output must be computed from the given "
                "inputs only: pass every tensor the graph needs as an input, and "
                "give the layers unique names."
            ) from error
        # Plain assignment: no Keras/TF tracking wrappers around the graph.
        # The layer shares the graph of `function` (the same lists and nodes).
        object.__setattr__(self, "_function", function)
        ki.adopt_graph(self, function)
        for layer in self.layers:
            ki.track(self, layer)
        self.output_names = [ki.keras_history(x).operation.name for x in ki.graph_outputs(self)]
        object.__setattr__(self, "_layer_spec", None)

    def _has_graph(self):
        return ki.has_adopted_graph(self)

    def build(self, input_shape=None):
        """Traces `layer_fn` (or the list of layers) on symbolic inputs.

        Args:
            input_shape: A shape tuple, or a list/tuple/dict (possibly nested)
                of shape tuples, batch dimension first. Ignored when a manual
                `input_spec` was set (its shapes and `optional` flags are used).
        """
        if self._has_graph():
            return  # Built already (also from a graph or a config).
        spec = self._layer_spec
        if spec is None:
            raise ValueError(
                f"CompositeLayer '{self.name}' has neither a graph nor a `layers` "
                "argument to build one. Create it with `CompositeLayer(layer_fn)`, "
                "`CompositeLayer([layers...])` or `CompositeLayer.from_graph(...)`."
            )
        manual = self.__dict__.get("_manual_input_spec")
        inputs = symbolic_inputs(self.name, self.input_dtype, input_shape, manual)
        outputs = trace(self.name, spec, inputs)
        self._adopt_graph(inputs, outputs)
        if not self.trainable:
            self.trainable = False  # freeze the layers just traced

    # ------------------------------------------------------------ accessors

    def _not_built(self, what):
        return NotBuiltError(
            f"CompositeLayer '{self.name}' has no graph of layers yet (asked for "
            f"`{what}`): this model has no graph of layers. It is probably not built. "
            "Call it on inputs, or call `build(input_shape)`, first."
        )

    @property
    def function(self):
        """The traced graph (a `keras.Function`), or `None`.

        Its `.operations`, `._nodes_by_depth`, `.inputs`, `.outputs`,
        `._inputs_struct` and `._outputs_struct` are the very objects the layer
        runs (the layer, a `Functional`, shares them), so a tool can walk or
        re-run the graph (`function._run_through_graph(...)`) like a
        Functional model's. Read-only: to change the graph, build a new
        composite with `from_graph`.
        """
        return self._function if self._has_graph() else None

    @property
    def layers(self):
        """Inner layers in graph order, `InputLayer`s first; `[]` before build."""
        if not self._has_graph():
            return []
        return [op for op in ki.graph_operations(self) if isinstance(op, Layer)]

    @layers.setter
    def layers(self, _):
        raise AttributeError(
            "`CompositeLayer.layers` attribute is reserved and should not be used. "
            "Please use another name."
        )

    @property
    def operations(self):
        if not self._has_graph():
            raise self._not_built("operations")
        return ki.graph_operations(self)[:]

    @property
    def inputs(self):
        if not self._has_graph():
            raise self._not_built("inputs")
        return ki.graph_inputs(self)

    @property
    def outputs(self):
        if not self._has_graph():
            raise self._not_built("outputs")
        return ki.graph_outputs(self)

    @property
    def input(self):
        if not self._has_graph():
            raise self._not_built("input")
        return ki.inputs_struct(self)

    @property
    def output(self):
        if not self._has_graph():
            raise self._not_built("output")
        return ki.outputs_struct(self)

    @property
    def input_spec(self):
        if "_manual_input_spec" in self.__dict__ and self._manual_input_spec is not None:
            return self._manual_input_spec
        if not self._has_graph():
            return None
        specs = Functional.input_spec.fget(self)
        struct = ki.inputs_struct(self)
        if specs is None or isinstance(struct, dict):
            return specs  # dict inputs are matched by key names
        # Positional inputs: unnamed specs, so that errors speak of positions.
        specs = [
            InputSpec(
                shape=spec.shape,
                allow_last_axis_squeeze=spec.allow_last_axis_squeeze,
                optional=spec.optional,
            )
            for spec in specs
        ]
        # one input that is not a list: one InputSpec, as keras PR #21099 keeps it
        single = len(specs) == 1 and not isinstance(struct, (list, tuple))
        return specs[0] if single else specs

    @input_spec.setter
    def input_spec(self, value):
        object.__setattr__(self, "_manual_input_spec", value)

    def get_layer(self, name=None, index=None):
        """Returns an inner layer by `name` (unique) or by `index` in `layers`."""
        if not self._has_graph():
            raise self._not_built("get_layer")
        return Functional.get_layer(self, name=name, index=index)

    # ------------------------------------------------------------- behaviour

    def _lock_state(self):
        # Like a layer (and unlike Functional): no new state once built.
        Layer._lock_state(self)

    def _assert_input_compatibility(self, *args):
        if not self._has_graph():
            return Layer._assert_input_compatibility(self, *args)
        try:
            return Functional._assert_input_compatibility(self, *args)
        except ValueError as err:  # keras PR #21099's wording, Keras' kept after it
            raise ValueError(input_error_text(str(err))) from None

    def call(self, inputs, training=None, mask=None, **kwargs):
        return Functional.call(self, inputs, training=training, mask=mask, **kwargs)

    def compute_output_spec(self, inputs, training=None, mask=None):
        return Function.compute_output_spec(self, inputs)

    def compute_output_shape(self, input_shape):
        return Function.compute_output_shape(self, input_shape)

    # --------------------------------------------------------- serialization

    def get_config(self):
        if not self._has_graph():
            raise ValueError(
                f"CompositeLayer '{self.name}' is not built yet, so it has no graph to "
                "serialize. Call it on inputs or call `build(input_shape)` first."
            )
        config = Functional.get_config(self)
        config["dtype"] = keras.dtype_policies.serialize(self.dtype_policy)
        return config

    def get_build_config(self):
        # from_config() restores the layer built, from its graph.
        return None

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        missing = [key for key in _GRAPH_CONFIG_KEYS if key not in config]
        if missing:
            raise ValueError(
                f"Cannot restore a {cls.__name__} from a config without its graph: "
                f"missing keys {missing}. Expected the output of `get_config()` of a "
                f"built CompositeLayer. Received keys: {sorted(config)}."
            )
        graph_config = {key: config.pop(key) for key in _GRAPH_CONFIG_KEYS}
        name = config.pop("name", None)
        trainable = config.pop("trainable", None)
        dtype = config.get("dtype")
        if dtype is not None:
            config["dtype"] = keras.dtype_policies.deserialize(dtype)

        captured = {}

        def capture(inputs, outputs, **_):
            captured["graph"] = (inputs, outputs)

        graph_config["name"] = name
        # Re-create and call the inner layers under this layer's name, so that
        # their weights get the same paths ("name/inner/kernel") as before.
        with keras.name_scope(name or cls.__name__.lower()):
            functional_from_config(capture, graph_config, custom_objects)
        inputs, outputs = captured["graph"]
        return cls(inputs, outputs, name=name, trainable=trainable, **config)

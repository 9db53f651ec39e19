"""Rebuilding a model with some layers replaced: `Rebuilder`, `rebuild`, `build_like`.

The engine under `rewire`, `unpatch` and `fold`. It rebuilds only the containers on the way
to a replaced layer (nested Functional and Sequential models, CompositeLayers, opaque layers
such as `MultiHeadAttention` whose sub-layer is replaced: structural copies, see
`risk_widgets.core.layer_copy`) and shares every other layer object with the input model:
base weights are never copied. It walks each container's own graph (its nodes by depth),
never ``layer._inbound_nodes``, and never mutates the input.

Example:
    >>> import keras
    >>> from risk_widgets.engine.rebuild import rebuild
    >>> inputs = keras.Input((4,))
    >>> hidden = keras.layers.Dense(8, name="hidden")(inputs)
    >>> model = keras.Model(inputs, keras.layers.Dense(2, name="head")(hidden))
    >>> head = keras.layers.Dense(2, name="head")
    >>> new = rebuild(model, {id(model.get_layer("head")): head}, cls=keras.Model)
    >>> new.get_layer("head") is head, new.get_layer("hidden") is model.get_layer("hidden")
    (True, True)
"""

from __future__ import annotations

from typing import Any

import keras
from keras import Sequential, tree
from keras.layers import InputLayer

from risk_widgets.core import keras_internals as ki
from risk_widgets.core.compile_settings import carry_compile
from risk_widgets.core.composite import CompositeLayer
from risk_widgets.core.keras_internals import Functional
from risk_widgets.core.layer_copy import (
    copy_state,
    structural_copy,
    sublayer_locations,
    variable_like,
)
from risk_widgets.core.walk import children, graph_of, is_graph_container

__all__ = [
    "SUBLAYER_PATCHES", "CopyError", "Rebuilder", "build_like", "copy_variable", "own_class",
    "rebuild", "with_class",
]

#: attribute of a re-created opaque layer: ``{attribute name: replaced sub-layer}``
SUBLAYER_PATCHES = "_rw_sublayer_patches"


# ----------------------------------------------------------------------------- rebuilding


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


class Rebuilder:
    """Rebuilds containers on the way to replaced layers; shares everything else.

    Args:
        replacements: ``id(original layer) -> new layer``.
        paths: ``id(original layer) -> path`` (for messages).
        plain: True for a plain Keras model that owns copies of all its weights (fold):
            CompositeLayers become Functional models, and every layer is copied
            (`structural_copy`) with new variables holding the original values.
        share_state: with ``plain``, the copied layers share the original variables (and
            seed generators) instead of holding copies (`fold(share_base=True)`).
    """

    def __init__(
        self,
        replacements: dict[int, Any],
        paths: dict[int, str],
        plain: bool = False,
        share_state: bool = False,
    ):
        self.replacements = replacements
        self.paths = paths
        self.plain = plain
        self.share_state = share_state
        self.memo: dict[int, Any] = {}
        self._state: dict[int, Any] = {}  # plain: id(variable / seed generator) -> its copy
        self._contains: dict[int, bool] = {}
        self._keep: list[Any] = []  # keeps originals alive while ids are in use

    # -- what needs work --------------------------------------------------------------
    def _forced(self, layer: Any) -> bool:
        return self.plain and isinstance(layer, keras.layers.Layer)

    def needs_rebuild(self, layer: Any) -> bool:
        key = id(layer)
        if key not in self._contains:
            self._contains[key] = False  # guards cycles
            self._keep.append(layer)
            self._contains[key] = (
                key in self.replacements
                or self._forced(layer)
                or any(self.needs_rebuild(c) for c in children(layer))
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
        """``value`` with every layer in it mapped, at any depth of lists, tuples and dicts
        (ALBERT keeps its blocks as a list of lists); anything else as it is."""
        if isinstance(value, keras.layers.Layer):
            return self.map(value, f"{path}/{value.name}")
        if not _holds_layers(value):
            return value
        if isinstance(value, dict):
            return {k: self._map_value(v, path) for k, v in value.items()}
        mapped = [self._map_value(v, path) for v in value]
        if isinstance(value, tuple):  # a named tuple takes its fields one by one
            return type(value)(*mapped) if hasattr(value, "_fields") else tuple(mapped)
        return mapped

    def _rebuild(self, layer: Any, path: str) -> Any:
        if is_graph_container(layer):
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
            raise _shape_mismatch(where, new_op, op, shown_new, shown_old)

    def _rebuild_graph_container(self, layer: Any, path: str) -> Any:
        graph = graph_of(layer)
        if graph is None:
            raise ValueError(
                f"Cannot rewire inside {type(layer).__name__} {path!r}: it is not built. "
                "Call the model on data (or build it with an Input) before patching."
            )
        inputs, outputs = self.run_graph(graph, path)
        if isinstance(layer, Sequential):
            input_layer = ki.keras_history(inputs).operation
            children = [self.map(c, f"{path}/{c.name}") for c in layer.layers]
            new = Sequential([input_layer, *children], name=layer.name)
        elif isinstance(layer, CompositeLayer) and not self.plain:
            new = type(layer).from_graph(inputs, outputs, name=layer.name)
        else:
            new = Functional(inputs, outputs, name=layer.name)
            own = own_class(layer)
            if own is not None:  # a KerasHub backbone inside a task: keep what it is
                self.carry_state(layer, new, own, path)
        ki.set_trainable_flag(new, layer.trainable)  # no propagation to shared layers
        return new

    def carry_state(self, layer: Any, new: Any, cls: type, path: str) -> set[str]:
        """Makes ``new`` (a Functional built on ``layer``'s rebuilt graph) an object of
        ``cls`` holding ``layer``'s own state: every attribute a plain Functional does not
        have (a backbone's ``transformer_layers``, a task's ``backbone``, its sampler, its
        config numbers), sub-layers mapped as in the graph, training state left out.

        Why: KerasHub's ``generate()`` and ``call_with_cache`` read the blocks through
        those attributes, not through the graph; a plain Functional would lose them (and
        the class with its methods), so a patched CausalLM could no longer generate.
        Returns the names of the attributes carried over.
        """
        mine = vars(new)
        carried = set()
        for key, value in list(vars(layer).items()):
            if key in mine or key.startswith("_rw_"):
                continue
            if key in _TRAINING_STATE:
                if key in _FRESH:  # what the class's __init__ would have set
                    object.__setattr__(new, key, _FRESH[key])
                continue
            object.__setattr__(new, key, self._map_value(value, path))
            carried.add(key)
        if "_functional_layer_ids" in vars(layer):  # KerasHub: ids of the graph's layers
            object.__setattr__(new, "_functional_layer_ids",
                               {id(sub) for sub in ki.all_sublayers(new)})
        new.__class__ = cls
        return carried

    # -- opaque layers ------------------------------------------------------------------
    def _rebuild_opaque(self, layer: Any, path: str) -> Any:
        """A structural copy of ``layer`` (`risk_widgets.core.layer_copy`): the same class
        and state, its sub-layers mapped; never re-created from its config."""
        try:
            new = structural_copy(
                layer,
                lambda sub: self.map(sub, f"{path}/{sub.name}"),
                state=self._copy_state if self.plain and not self.share_state else None,
            )
        except CopyError:
            raise  # from a layer inside this one: it names the innermost layer
        except Exception as err:  # noqa: BLE001 - reported with the path, class and way out
            raise _not_copyable(layer, path, err, self.plain) from err
        if self.plain:  # a plain model: nothing to restore on load
            vars(new).pop(SUBLAYER_PATCHES, None)
            return new
        # the config of an opaque layer does not describe its sub-layers: remember which
        # were replaced (by location), so RewiredModel.get_config()/from_config() restore them
        swapped = {
            location: self.replacements[id(sub)]
            for location, sub in sublayer_locations(layer)
            if id(sub) in self.replacements
        }
        old_swaps = getattr(layer, SUBLAYER_PATCHES, {})
        kept = {
            location: self._map_value(sub, path)
            for location, sub in old_swaps.items()
            if location not in swapped
        }
        object.__setattr__(new, SUBLAYER_PATCHES, kept | swapped)
        return new

    def _copy_state(self, value: Any) -> Any:
        """plain: a new variable (or seed generator) holding ``value``'s current value."""
        if id(value) not in self._state:
            self._keep.append(value)
            self._state[id(value)] = copy_variable(value)
        return self._state[id(value)]

    # -- top level ----------------------------------------------------------------------
    def rebuild_model(self, model: Any, cls: type) -> Any:
        graph = graph_of(model)
        if graph is None:
            raise ValueError(
                f"Cannot rewire model {model.name!r} ({type(model).__name__}): it has no "
                "graph of layers. Use a Functional or Sequential model (or a subclassed "
                "model built from one), and build it first."
            )
        inputs, outputs = self.run_graph(graph, "")
        cls = getattr(cls, "_rw_base_class", cls)  # loading: the class a patched task made
        own = own_class(model)
        try:
            new = (cls if own is None else Functional)(inputs, outputs, name=model.name)
        except ValueError as err:
            raise ValueError(
                f"Rebuilding model {model.name!r} failed: {err}. If a replacement has the "
                "same name as another layer, give it a unique name."
            ) from err
        if own is not None:  # a KerasHub task or backbone: the result is one too
            keys = self.carry_state(
                model, new, own if cls is Functional else with_class(cls, own), "")
            carried = {key: vars(new)[key] for key in keys}
            carry_compile(model, new, stacklevel=5)  # a task compiles itself in __init__
            # what compile() set back to its defaults, that the user chose (a CausalLM's
            # `sampler`: compile(sampler=...), not one of the compile arguments)
            for key, value in carried.items():
                object.__setattr__(new, key, value)
        ki.set_trainable_flag(new, model.trainable)
        return new


#: what `carry_state` leaves out: a patched model is compiled again, and its generate
#: function is traced again on its own layers
_TRAINING_STATE = frozenset({
    "optimizer", "_compile_config", "_compiled_trainable_state", "stop_training",
    "generate_function", "_compile_loss", "_compile_metrics", "_loss_tracker",
    "train_function", "test_function", "predict_function", "compiled", "loss",
    "_functional_layer_ids",
})
#: the values a fresh object has for some of them
_FRESH = {"generate_function": None, "stop_training": False}


def _holds_layers(value: Any) -> bool:
    """Whether a list, tuple or dict holds a layer, at any depth."""
    if isinstance(value, keras.layers.Layer):
        return True
    if isinstance(value, dict):
        return any(_holds_layers(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_holds_layers(v) for v in value)
    return False


def own_class(model: Any) -> type | None:
    """The class of a graph model that is more than its graph, or None.

    A Functional subclass with its own attributes and methods (a KerasHub backbone or task,
    your own ``keras.Model`` subclass built functionally) keeps its class when patched; a
    plain Functional, Sequential, CompositeLayer or one of risk_widgets' own models does not
    need to. For a patched task (`with_class`), the task's class.
    """
    cls = type(model)
    if "_rw_own_class" in vars(cls):
        return cls._rw_own_class
    if (cls in (Functional, keras.Model) or isinstance(model, (Sequential, CompositeLayer))
            or cls.__module__.startswith("risk_widgets.")):
        return None
    return cls if isinstance(model, Functional) else None


_WITH_CLASS: dict[tuple[type, type], type] = {}


def with_class(base: type, own: type) -> type:
    """``base`` (`PatchedModel` / `RewiredModel`) mixed with ``own`` (e.g. ``GPT2CausalLM``):
    the patched model is an ``own`` (``generate``, ``compile`` defaults, its attributes)
    whose weights, call and saving are ``base``'s. Saved under ``base``'s registered name,
    so a file loads in a session that never made this class.

    Example:
        >>> import keras
        >>> from risk_widgets.engine.models import PatchedModel
        >>> from risk_widgets.engine.rebuild import with_class
        >>> class Mine(keras.Model):
        ...     pass
        >>> mixed = with_class(PatchedModel, Mine)
        >>> mixed.__name__, issubclass(mixed, Mine), keras.saving.get_registered_name(mixed)
        ('PatchedMine', True, 'risk_widgets>PatchedModel')
    """
    key = (base, own)
    if key not in _WITH_CLASS:
        name = base.__name__.replace("Model", "") + own.__name__
        mixed = type(name, (base, own), {
            "_rw_own_class": own, "_rw_base_class": base, "__module__": base.__module__,
        })
        ki.register_name_only(mixed, keras.saving.get_registered_name(base))
        _WITH_CLASS[key] = mixed
    return _WITH_CLASS[key]


def copy_variable(value: Any) -> Any:
    """A new variable holding ``value``'s current value, under the same path, copied by the
    backend (`keras.ops.copy`) without a trip through NumPy; seed generators as
    `copy_state` does.

    Why: `copy_state` goes through NumPy (``convert_to_numpy``, then a new tensor from the
    array), two copies of each weight and, for bfloat16, a slow element-wise conversion:
    folding a 1B-parameter bfloat16 model took 5.2x a ``get_weights()`` (issue 32).

    Example:
        >>> import keras
        >>> from risk_widgets.engine.rebuild import copy_variable
        >>> v = keras.Variable([1.0, 2.0], dtype="bfloat16", name="w")
        >>> twin = copy_variable(v)
        >>> twin is v, twin.dtype, twin.name, keras.ops.convert_to_numpy(twin).tolist()
        (False, 'bfloat16', 'w', [1.0, 2.0])
    """
    if not isinstance(value, keras.Variable):
        return copy_state(value)
    return variable_like(value, keras.ops.copy(value.value))


class CopyError(ValueError):
    """A layer on the way to a patch could not be copied (`structural_copy`)."""


def _not_copyable(layer: Any, path: str, err: Exception, plain: bool) -> CopyError:
    cls = type(layer).__name__
    if plain:
        return CopyError(
            f"Cannot fold: {cls} {path!r} could not be copied ({type(err).__name__}: {err}). "
            "Nothing was changed. Use rw.unpatch(model) to drop the patches instead, or keep "
            f"the sub-layers of {cls} in plain attributes (or lists / dicts of them)."
        )
    return CopyError(
        f"Cannot patch inside {cls} {path!r}: a copy of it with the patched sub-layer "
        f"swapped in could not be made ({type(err).__name__}: {err}). Nothing was changed. "
        f"Target the whole layer ({path!r}) or layers outside it instead, or keep the "
        f"sub-layers of {cls} in plain attributes (or lists / dicts of them) and not inside "
        "other objects or functions."
    )


def _shape_mismatch(where: str, new: Any, original: Any, got: Any, expected: Any) -> ValueError:
    return ValueError(
        f"The replacement for {where!r} ({type(new).__name__} {new.name!r}) returns shape "
        f"{got}, but the original {type(original).__name__} returned {expected}. "
        "replace(layer, path) must keep the output shape so that the rest of the model still "
        "fits; nothing was changed."
    )


def build_like(new: Any, layer: Any, path: str) -> None:
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
        raise _shape_mismatch(path, new, layer, tuple(got), tuple(old))


def rebuild(
    model: Any,
    replacements: dict[int, Any],
    where: dict[int, str] | None = None,
    *,
    cls: type,
    plain: bool = False,
    share_state: bool = False,
) -> Any:
    """Rebuilds ``model`` with ``replacements`` (``id(original layer) -> new layer``).

    ``where`` maps the same ids to paths (for messages); ``cls`` is the class of the new
    top-level model (e.g. `PatchedModel`); ``plain=True`` turns CompositeLayers into
    Functional models and copies every layer with copies of its variables (`fold`), or
    with its own variables shared when ``share_state=True`` (`fold(share_base=True)`).
    """
    new = Rebuilder(
        replacements, where or {}, plain=plain, share_state=share_state
    ).rebuild_model(model, cls)
    if where is not None and set(where) >= set(replacements):  # what saving a recipe needs
        attach_recipe(new, model, [(where[k], replacements[k]) for k in replacements])
    return new


RECIPE = "_rw_recipe"  # a function returning (source model, [(path, new layer), ...])


def attach_recipe(model: Any, source: Any, swapped: list[tuple[str, Any]]) -> None:
    """Records that ``model`` is ``source`` with the layers at the given paths swapped
    (`risk_widgets.engine.recipe` saves a patched KerasHub model that way)."""
    recipe = (source, list(swapped))
    # a function, not the tuple: Keras' saving walks a model's attributes and would save the
    # source's layers (the adapters' shared bases among them) a second time
    object.__setattr__(model, RECIPE, lambda: recipe)


def recipe_of(model: Any) -> tuple[Any, list] | None:
    """``(source, [(path, layer swapped in), ...])`` of a model `rebuild` made, or None."""
    held = model.__dict__.get(RECIPE)
    return None if held is None else held()

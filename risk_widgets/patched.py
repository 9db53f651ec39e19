"""`PatchedModel` and what works on it: `unpatch`, `fold`, `trainable_report`,
`save_adapters`, `load_adapters`.

A `PatchedModel` is a Keras Functional model (registered with `keras.saving`) whose
``trainable_weights`` are only the weights of its *patch layers*: layers whose class sets
``is_patch_layer = True`` (`risk_widgets.adapters.base.PatchLayer` and subclasses, risk
wrappers). Every other layer is shared with the model that was patched and frozen *by the
patched model*: the layers' own ``trainable`` flags are never changed, and base layers with
state (e.g. `BatchNormalization`) run in inference mode while the patched model trains, so
training it leaves the original's weights, flags and outputs bit-identical.

Example:
    >>> import keras, numpy as np
    >>> import risk_widgets as rw
    >>> inputs = keras.Input((4,))
    >>> hidden = keras.layers.Dense(8, name="hidden")(inputs)
    >>> model = keras.Model(inputs, keras.layers.Dense(1, name="head")(hidden))
    >>> lora = rw.add_lora(model, "hidden", rank=2)
    >>> report = rw.trainable_report(lora)
    >>> report["trainable"], report["patched"]["hidden"]["kind"]
    (24, 'lora')
    >>> plain = rw.fold(lora)
    >>> type(plain).__name__
    'Functional'
"""

from __future__ import annotations

import json
import os
from typing import Any

import keras
import numpy as np
from keras import Sequential, tree

from risk_widgets import keras_internals as ki
from risk_widgets.adapters.base import TrainableSubset
from risk_widgets.keras_internals import Functional
from risk_widgets.rewiring import (
    SUBLAYER_PATCHES,
    _build_like,
    _graph_of,
    _iter_paths,
    _Rebuilder,
    is_patch_layer,
)
from risk_widgets.walk import graph_of, is_graph_container

__all__ = [
    "PatchedModel",
    "fold",
    "is_patch_layer",
    "load_adapters",
    "patch_layers",
    "save_adapters",
    "trainable_report",
    "unpatch",
]


def _has_state(layer) -> bool:
    """A leaf layer whose call takes ``training`` and that has non-trainable state
    (BatchNormalization's moving statistics)."""
    return bool(
        ki.call_takes_training(layer)
        and ki.own_non_trainable_variables(layer)
        and not ki.sublayers(layer)
    )


class _FrozenBase:
    """How a `PatchedModel` runs its shared base without touching it.

    Stateful base layers (`_has_state`) are called with ``training=False``, so they run on
    their moving statistics and never update them. Graph containers that hold one
    (nested Functional / Sequential models, CompositeLayers, shared or rebuilt) are run
    through their own graph the same way; an opaque layer that holds one (a subclassed
    layer whose call is not a graph) is called with ``training=False`` as a whole. Nothing
    is set on any layer: the user's model, which shares these layers, can run at the same
    time in another thread.
    """

    def __init__(self, model):
        self.stateful: set[int] = set()
        self.holders: set[int] = set()  # non-patch layers with a stateful layer inside
        self._keep = []  # the layers whose ids are used above
        self._visit(model, set())

    def _visit(self, layer, seen: set) -> bool:
        found = False
        for sub in ki.sublayers(layer):
            if is_patch_layer(sub):
                continue  # patch layers train as they are; their base is not entered
            if id(sub) not in seen:
                seen.add(id(sub))
                self._keep.append(sub)
                if _has_state(sub):
                    self.stateful.add(id(sub))
                elif self._visit(sub, seen):
                    self.holders.add(id(sub))
            found = found or id(sub) in self.stateful or id(sub) in self.holders
        return found

    def run(self, graph, inputs, training, mask, context: dict):
        """`Functional.call` of ``graph`` (a Functional or CompositeLayer), frozen."""
        inputs = ki.standardize_inputs(graph, inputs)
        if mask is not None:
            for x, m in zip(inputs, tree.flatten(mask), strict=False):
                if m is not None:
                    ki.set_keras_mask(x, m)
        outputs = ki.run_through_graph(
            graph, inputs, lambda op: self.operation_fn(op, training, context)
        )
        return ki.unpack_singleton(outputs)

    def operation_fn(self, op, outer_training, context: dict):
        """The call of ``op`` inside a frozen graph: Keras' ``operation_fn`` (the outer
        call's ``training`` and context arguments win when set), except for stateful base
        layers and the layers that hold one."""
        key = id(op)
        forced = key in self.stateful or key in self.holders
        graph = None
        if key in self.holders and is_graph_container(op) and graph_of(op) is not None:
            graph = ki.sequential_graph(op) if isinstance(op, Sequential) else op

        def call(*args, **kwargs):
            names = ki.call_context_args(op)
            for name, value in {"training": outer_training, **context}.items():
                if name in names and value is not None:
                    kwargs[name] = value
            if graph is not None and len(args) == 1:  # a container: run its graph, frozen
                training, mask = kwargs.pop("training", None), kwargs.pop("mask", None)
                return self.run(graph, args[0], training, mask, kwargs)
            if forced and "training" in names:
                kwargs["training"] = False
            return op(*args, **kwargs)

        return call


@keras.saving.register_keras_serializable(package="risk_widgets")
class RewiredModel(Functional):
    """A Functional model built by `rewire` that saves the sub-layers it swapped.

    `rewire` can replace a sub-layer inside an opaque layer (LoRA on the ``query`` of a
    `MultiHeadAttention`); that layer's own config does not describe its sub-layers, so this
    model's config records them and puts them back on load. Everything else is plain
    Functional: all weights train. `PatchedModel` adds the frozen base on top.

    Example:
        >>> import keras
        >>> from risk_widgets.patched import RewiredModel
        >>> inputs = keras.Input((4,))
        >>> model = RewiredModel(inputs, keras.layers.Dense(2)(inputs))
        >>> type(RewiredModel.from_config(model.get_config())).__name__
        'RewiredModel'
    """

    # -- saving -------------------------------------------------------------------------
    def get_config(self):
        """Functional config plus the patched sub-layers of opaque layers.

        The config of an opaque layer (e.g. `MultiHeadAttention`) does not describe its
        sub-layers, so ``"sublayer_patches"`` maps ``path -> {attribute: layer config}``
        for every sub-layer `rewire` replaced inside one.
        """
        config = super().get_config()
        patches = {}
        for path, layer in _iter_paths(self):
            swaps = getattr(layer, SUBLAYER_PATCHES, None)
            if swaps:
                patches[path] = {
                    attr: keras.saving.serialize_keras_object(sub)
                    for attr, sub in swaps.items()
                }
        if patches:
            config["sublayer_patches"] = patches
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        patches = config.pop("sublayer_patches", {})
        model = ki.functional_from_config(cls, config, custom_objects=custom_objects)
        paths = dict(_iter_paths(model))
        for path, swaps in patches.items():
            if path not in paths:
                raise ValueError(
                    f"Cannot restore the patches inside {path!r}: no such layer in the "
                    f"restored model {model.name!r}."
                )
            _restore_sublayers(paths[path], path, swaps, custom_objects)
        return model


@keras.saving.register_keras_serializable(package="risk_widgets")
class PatchedModel(TrainableSubset, RewiredModel):
    """A Functional model that trains only its patch layers.

    Created by `rewire` (and `add_lora`, `add_svf`, risk wrappers); not usually
    constructed by hand. The base layers are **shared** with the model that was patched
    (base weights are not copied) and **frozen** by this model: ``trainable_weights``
    (what `fit` and the optimizer see) are only the trainable weights of patch layers,
    the base layers' ``trainable`` flags are never touched, and base layers with state
    (`BatchNormalization`) run in inference mode during training.

    The patch-layer marker: a layer is a patch layer when ``layer.is_patch_layer`` is
    True (subclass `risk_widgets.adapters.base.PatchLayer`, or set the class attribute).
    Its ``trainable_weights`` must list only its own new weights.

    Example:
        >>> import keras
        >>> import risk_widgets as rw
        >>> inputs = keras.Input((4,))
        >>> model = keras.Model(inputs, keras.layers.Dense(2, name="head")(inputs))
        >>> lora = rw.add_lora(model, "head", rank=1)
        >>> isinstance(lora, rw.PatchedModel), len(lora.trainable_weights)
        (True, 2)
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)

    # -- which weights train ------------------------------------------------------------
    def patch_layers(self) -> list:
        """The patch layers of this model (every depth), without duplicates."""
        found, seen = [], set()

        def visit(layer):
            for sub in ki.sublayers(layer):
                if id(sub) in seen:
                    continue
                seen.add(id(sub))
                if is_patch_layer(sub):
                    found.append(sub)
                else:
                    visit(sub)

        visit(self)
        return found

    @property
    def trainable(self):
        return ki.trainable_flag(self)

    @trainable.setter
    def trainable(self, value):
        """Sets the flag of the model and its patch layers only (never the shared base)."""
        value = bool(value)
        ki.set_trainable_flag(self, value)
        for layer in self.patch_layers():
            layer.trainable = value

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        weights, seen = [], set()
        for layer in self.patch_layers():
            for v in layer.trainable_weights:
                if id(v) not in seen:
                    seen.add(id(v))
                    weights.append(v)
        return weights


    # -- frozen statistics --------------------------------------------------------------
    def _frozen_base(self) -> _FrozenBase:
        cached = self.__dict__.get("_rw_frozen_base")
        if cached is None:
            cached = _FrozenBase(self)
            object.__setattr__(self, "_rw_frozen_base", cached)  # untracked by Keras
        return cached

    def call(self, inputs, training=None, mask=None, **kwargs):
        """Runs the graph like `Functional.call`, with the shared stateful base layers
        (BatchNormalization) called with ``training=False`` (see `_FrozenBase`)."""
        return self._frozen_base().run(self, inputs, training, mask, kwargs)


def _restore_sublayers(layer, path, swaps, custom_objects) -> None:
    """Puts deserialized sub-layers back into a freshly restored opaque layer."""
    restored = {}
    for attr, sub_config in swaps.items():
        old = getattr(layer, attr, None)
        if not isinstance(old, keras.layers.Layer):
            raise ValueError(
                f"Cannot restore {path!r}.{attr}: the restored {type(layer).__name__} has "
                "no such sub-layer."
            )
        new = keras.saving.deserialize_keras_object(sub_config, custom_objects=custom_objects)
        _build_like(new, old, f"{path}/{old.name}")
        object.__setattr__(layer, attr, new)
        ki.replace_sublayer(layer, old, new)
        restored[attr] = new
    object.__setattr__(layer, SUBLAYER_PATCHES, restored)


# ----------------------------------------------------------------------------- helpers


def patch_layers(model) -> dict[str, Any]:
    """``{path: patch layer}`` for every patch layer of ``model``, in graph order."""
    return {path: layer for path, layer in _iter_paths(model) if is_patch_layer(layer)}


def _check_model(model, what):
    if not isinstance(model, keras.Model) or _graph_of(model) is None:
        hint = ""
        if getattr(model, "body", None) is not None and hasattr(model, "wrappers"):
            hint = (  # a RiskModel (risk.model imports this module)
                f" {model.name!r} is a risk model (vote / sample / sculpt): {what} works on "
                "the model rw.add_lora / rw.add_svf returned, before wrapping. Fold first, "
                "then wrap (vote.Wrapper()(rw.fold(patched))); save a risk model whole with "
                "model.save('risky.keras')."
            )
        raise TypeError(
            f"{what} needs a built Keras Functional or Sequential model. "
            f"Received: {type(model).__name__}.{hint}"
        )


def _check_patched(model, what, verb):
    if not patch_layers(model):
        raise ValueError(
            f"{what}: model {model.name!r} has no patches, so there is nothing to {verb}. "
            "Pass the model that rw.add_lora / rw.add_svf returned (the unpatched model is "
            "plain Keras already)."
        )


def _swap_patches(model, how, plain=False):
    patches = patch_layers(model)
    replacements, where = {}, {}
    for path, layer in patches.items():
        if id(layer) in replacements:
            continue
        replacements[id(layer)] = how(layer, path)
        where[id(layer)] = path
    return _Rebuilder(replacements, where, plain=plain).rebuild_model(model, Functional)


def unpatch(model) -> Any:
    """Returns ``model`` without its patches: each patch layer replaced by its base layer.

    The result is a plain Keras Functional model that shares the base layers (and their
    weights) with ``model``; ``model`` itself is unchanged.

    Example:
        >>> import keras, numpy as np
        >>> import risk_widgets as rw
        >>> inputs = keras.Input((4,))
        >>> model = keras.Model(inputs, keras.layers.Dense(2, name="head")(inputs))
        >>> base = rw.unpatch(rw.add_lora(model, "head", rank=1))
        >>> base.get_layer("head") is model.get_layer("head")
        True
    """
    _check_model(model, "unpatch()")
    _check_patched(model, "unpatch()", "remove")
    return _swap_patches(model, lambda layer, path: layer.unpatched())


def _folded(layer, path):
    try:
        with np.errstate(over="ignore", invalid="ignore"):  # checked below, with the way out
            new = layer.folded()
    except NotImplementedError as err:
        raise TypeError(f"Cannot fold the patch at {path!r}: {err}") from None
    if not isinstance(new, keras.layers.Layer):
        raise TypeError(f"folded() of the patch at {path!r} returned {new!r}, not a Layer.")
    _check_finite_fold(layer, new, path)
    return new


def _non_finite(weights) -> dict[str, int]:
    """``{weight name: count}`` of the NaN/infinite values in float ``weights``."""
    bad = {}
    for v in weights:
        value = np.asarray(keras.ops.convert_to_numpy(v))
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            bad[v.name] = int((~np.isfinite(value)).sum())
    return bad


def _check_finite_fold(layer, new, path) -> None:
    """Refuses to fold a patch whose merged weights are not finite (nothing is changed)."""
    bad = _non_finite(new.weights)
    if not bad:
        return
    cause = _non_finite(_adapter_weights(layer))
    dtype = next(v.dtype for v in new.weights if v.name in bad)
    why = (
        f"its own weights are not finite ({', '.join(f'{k}: {n}' for k, n in cause.items())} "
        "NaN/infinite values; training diverged?)"
        if cause
        else f"the merged values overflow the layer's {dtype} weights"
    )
    raise ValueError(
        f"Cannot fold the patch at {path!r}: the folded layer would hold "
        f"{sum(bad.values())} NaN/infinite value(s) in {', '.join(bad)}, because {why}. "
        "Nothing was changed. Retrain the patch with a lower learning rate, load finite "
        "adapter weights (rw.load_adapters), or drop the patch with rw.unpatch(model)."
    )


def fold(model) -> Any:
    """Merges every adapter into its base layer; returns a plain Keras Functional model.

    Each adapter becomes a layer of its base class (same name and config) whose kernel is
    the merged one (``W + (alpha/rank) A B`` for LoRA, ``U diag(s z) Vᵀ`` for SVF);
    CompositeLayers become nested Functional models. The result owns **new** copies of all
    its weights (the shared original variables are never written, and training the folded
    model leaves the original untouched) and loads in a Python that never imported
    risk_widgets. A patch whose folded weights would not be finite is refused with a
    ValueError naming its path (nothing is changed).

    Example:
        >>> import keras, numpy as np
        >>> import risk_widgets as rw
        >>> inputs = keras.Input((4,))
        >>> model = keras.Model(inputs, keras.layers.Dense(2, name="head")(inputs))
        >>> plain = rw.fold(rw.add_lora(model, "head", rank=1))
        >>> [type(layer).__name__ for layer in plain.layers]
        ['InputLayer', 'Dense']
    """
    _check_model(model, "fold()")
    _check_patched(model, "fold()", "merge")
    merged = _swap_patches(model, _folded, plain=True)
    config = merged.get_config()
    leftover = sorted(set(_modules(config)) & {"risk_widgets"})
    if leftover:  # pragma: no cover - every known patch folds to plain layers
        raise TypeError(
            "fold() left risk_widgets layers in the model; unpatch the patches that "
            "cannot be folded first."
        )
    plain = Functional.from_config(config)
    plain.set_weights(merged.get_weights())
    return plain


def _modules(config) -> list[str]:
    found = []
    if isinstance(config, dict):
        module = config.get("module")
        if isinstance(module, str):
            found.append(module.split(".")[0])
        for value in config.values():
            found.extend(_modules(value))
    elif isinstance(config, (list, tuple)):
        for value in config:
            found.extend(_modules(value))
    return found


def _count(weights) -> int:
    return int(sum(int(np.prod(v.shape)) for v in weights))


def trainable_report(model) -> dict:
    """Parameter counts: ``{"total", "trainable", "non_trainable", "patched": {...}}``.

    ``patched`` maps each patched path to ``{"kind", "params", "trainable"}``.

    Example:
        >>> import keras
        >>> import risk_widgets as rw
        >>> inputs = keras.Input((4,))
        >>> model = keras.Model(inputs, keras.layers.Dense(2, name="head")(inputs))
        >>> report = rw.trainable_report(rw.add_lora(model, "head", rank=1))
        >>> report["total"], report["trainable"], report["non_trainable"]
        (16, 6, 10)
        >>> report["patched"]["head"]["kind"], report["patched"]["head"]["trainable"]
        ('lora', 6)
    """
    _check_model(model, "trainable_report()")
    trainable = _count(model.trainable_weights)
    total = _count(model.weights)
    patched = {}
    for path, layer in patch_layers(model).items():
        info = layer.patch_info() if hasattr(layer, "patch_info") else {"kind": "patch"}
        patched[path] = {
            "kind": info.get("kind"),
            "params": dict(info.get("params", {})),
            "trainable": _count(layer.trainable_weights),
        }
    return {
        "total": total,
        "trainable": trainable,
        "non_trainable": total - trainable,
        "patched": patched,
    }


def _adapter_weights(layer) -> list:
    weights = getattr(layer, "adapter_weights", None)
    return list(weights) if weights is not None else list(layer.trainable_weights)


def _base_kernel_shape(layer) -> tuple | None:
    """The shape of the kernel an adapter patches (None for other patch layers)."""
    kernel = getattr(getattr(layer, "layer", None), "kernel", None)
    return None if kernel is None else tuple(int(d) for d in kernel.shape)


def save_adapters(model, path: str | os.PathLike) -> str:
    """Saves only the adapter weights of ``model`` to an ``.npz`` file keyed by path.

    Keys are ``"<layer path>::<weight name>"``; ``"__patches__"`` holds each patch's
    ``patch_info()`` as JSON. Base weights are not saved.

    Example:
        >>> import keras, tempfile, os
        >>> import risk_widgets as rw
        >>> inputs = keras.Input((4,))
        >>> model = keras.Model(inputs, keras.layers.Dense(2, name="head")(inputs))
        >>> lora = rw.add_lora(model, "head", rank=1)
        >>> file = rw.save_adapters(lora, os.path.join(tempfile.mkdtemp(), "a.npz"))
        >>> rw.load_adapters(rw.add_lora(model, "head", rank=1), file)
        ['head']
    """
    _check_model(model, "save_adapters()")
    path = os.fspath(path)
    if not path.endswith(".npz"):
        raise ValueError(f"Adapter files end with '.npz'. Received: {path!r}")
    patches = patch_layers(model)
    if not patches:
        raise ValueError(
            f"Model {model.name!r} has no patch layers: nothing to save. Patch it first "
            "(rw.add_lora / rw.add_svf), or save the whole model with model.save('m.keras')."
        )
    arrays, info = {}, {}
    for where, layer in patches.items():
        info[where] = dict(layer.patch_info()) if hasattr(layer, "patch_info") else {}
        base_shape = _base_kernel_shape(layer)
        if base_shape is not None:  # checked by load_adapters: same-sized z fits any base
            info[where]["base_shape"] = list(base_shape)
        for v in _adapter_weights(layer):
            arrays[f"{where}::{v.name}"] = keras.ops.convert_to_numpy(v)
    arrays["__patches__"] = np.array(json.dumps(info))
    np.savez(path, **arrays)
    return path


def load_adapters(model, path: str | os.PathLike) -> list[str]:
    """Loads adapter weights saved by `save_adapters` into ``model`` (patched alike).

    Everything is checked first (same patched paths, kinds, weight names and shapes);
    on a mismatch a ValueError names it and no weight is changed.

    Returns:
        The patched paths that were loaded.
    """
    _check_model(model, "load_adapters()")
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"No adapter file at {path!r}. Write one with rw.save_adapters(patched, {path!r}) "
            "or check the path."
        )
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except Exception as err:  # truncated, not a zip, pickled, a bare .npy: not our file
        raise ValueError(
            f"Cannot read adapters from {path!r}: it is not a complete .npz file written by "
            f"rw.save_adapters ({type(err).__name__}: {err}). Save the adapters again with "
            "rw.save_adapters(patched, path)."
        ) from None
    info = json.loads(str(arrays.pop("__patches__", np.array("{}"))))
    patches = patch_layers(model)
    if sorted(info) != sorted(patches):
        raise ValueError(
            f"The adapters in {os.fspath(path)!r} are for paths {sorted(info)}, but model "
            f"{model.name!r} is patched at {sorted(patches)}. Patch the model the same "
            "way (same targets and kinds) before loading."
        )
    plan = []
    for where, layer in patches.items():
        kind = layer.patch_info().get("kind") if hasattr(layer, "patch_info") else None
        if info[where].get("kind") != kind:
            raise ValueError(
                f"{where!r} holds a {info[where].get('kind')!r} patch in the file but a "
                f"{kind!r} patch in the model. Patch the model the same way (same targets and "
                "kinds) before loading."
            )
        saved_shape = info[where].get("base_shape")
        base_shape = _base_kernel_shape(layer)
        if saved_shape is not None and base_shape is not None and (
            tuple(saved_shape) != tuple(base_shape)
        ):
            raise ValueError(
                f"The adapters for {where!r} in {path!r} were saved on a kernel of shape "
                f"{tuple(saved_shape)}, but the layer patched there in model {model.name!r} has "
                f"a kernel of shape {tuple(base_shape)}. Load them into a model of the same "
                "architecture as the one they were saved from."
            )
        for v in _adapter_weights(layer):
            key = f"{where}::{v.name}"
            if key not in arrays:
                raise ValueError(f"{os.fspath(path)!r} has no weight {key!r}.")
            if tuple(arrays[key].shape) != tuple(v.shape):
                raise ValueError(
                    f"Weight {key!r} has shape {tuple(arrays[key].shape)} in the file but "
                    f"{tuple(v.shape)} in the model (a different rank?). Patch the model with "
                    "the same kind, rank and targets as the one the adapters were saved from."
                )
            plan.append((v, arrays[key]))
    for v, value in plan:
        v.assign(value)
    return list(patches)


# ----------------------------------------------------------------------------- graph view


def inspect_patch(layer) -> dict | None:
    """``layer.patch_info()`` for patch layers (the graph's patch inspector), else None."""
    if is_patch_layer(layer) and hasattr(layer, "patch_info"):
        return layer.patch_info()
    return None


def _register_with_graph() -> None:
    from risk_widgets.graph import register_patch_inspector

    register_patch_inspector(inspect_patch)


_register_with_graph()

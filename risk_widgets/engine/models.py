"""The models `rewire` builds: `RewiredModel` (saves swapped sub-layers) and `PatchedModel`.

A `PatchedModel` is a Keras Functional model (registered with `keras.saving`) whose
``trainable_weights`` are only the weights of its *patch layers*: layers whose class sets
``is_patch_layer = True`` (`risk_widgets.engine.patch_layer.PatchLayer` and subclasses,
risk layers). Every other layer is shared with the model that was patched and frozen *by
the patched model*: the layers' own ``trainable`` flags are never changed, and base layers
with state (e.g. `BatchNormalization`) run in inference mode while the patched model
trains (`risk_widgets.engine.frozen_base`), so training it leaves the original's weights,
flags and outputs bit-identical.

Example:
    >>> import keras
    >>> import risk_widgets as rw
    >>> inputs = keras.Input((4,))
    >>> model = keras.Model(inputs, keras.layers.Dense(2, name="head")(inputs))
    >>> type(rw.add_lora(model, "head", rank=1)).__name__
    'PatchedModel'
"""

from __future__ import annotations

import warnings

import keras
import numpy as np
from keras import tree

from risk_widgets.core import keras_internals as ki
from risk_widgets.core.keras_internals import Functional
from risk_widgets.core.layer_copy import set_sublayer, sublayer_at
from risk_widgets.core.walk import is_patch_layer, iter_layers
from risk_widgets.engine import recipe, registry
from risk_widgets.engine.frozen_base import FrozenBase
from risk_widgets.engine.patch_layer import PatchLayer, TrainableSubset
from risk_widgets.engine.rebuild import SUBLAYER_PATCHES, build_like, rebuild

__all__ = ["PatchedModel", "RewiredModel", "mark_trained", "rebuild_as"]


@keras.saving.register_keras_serializable(package="risk_widgets")
class RewiredModel(Functional):
    """A Functional model built by `rewire` that saves the sub-layers it swapped.

    `rewire` can replace a sub-layer inside an opaque layer (LoRA on the ``query`` of a
    `MultiHeadAttention`); that layer's own config does not describe its sub-layers, so this
    model's config records them and puts them back on load. Everything else is plain
    Functional: all weights train. `PatchedModel` adds the frozen base on top.

    Example:
        >>> import keras
        >>> from risk_widgets.engine.models import RewiredModel
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
        if recipe.source_builds_itself(self):  # a KerasHub backbone: see engine/recipe.py
            return recipe.recipe_config(self)
        config = super().get_config()
        patches = {}
        for ref in iter_layers(self):
            path, layer = ref.path, ref.layer
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
        registry.load_builtin_kinds()  # the adapter / risk classes the config names
        if "recipe" in config:
            model = recipe.replay(config, custom_objects, lambda *args: rebuild_as(cls, *args))
            if not config.get("trainable", True):
                model.trainable = False
            return model
        config = dict(config)
        patches = config.pop("sublayer_patches", {})
        model = ki.functional_from_config(cls, config, custom_objects=custom_objects)
        paths = {ref.path: ref.layer for ref in iter_layers(model)}
        for path, swaps in patches.items():
            if path not in paths:
                raise ValueError(
                    f"Cannot restore the patches inside {path!r}: no such layer in the "
                    f"restored model {model.name!r}."
                )
            _restore_sublayers(paths[path], path, swaps, custom_objects)
        _build_lazy_layers(model)
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
    True (subclass `risk_widgets.engine.patch_layer.PatchLayer`, or set the class attribute).
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

    def trained_layers(self) -> list:
        """Layers `rewire` put in that are not patch layers (your own replacement layers):
        their new weights train too."""
        return list(self.__dict__.get("_rw_trained_layers", ()))

    def shared_variables(self) -> list:
        """The variables shared with the model this one was patched from (its frozen
        base): never trained through this model, whatever a replacement layer reports."""
        return list(self.__dict__.get("_rw_shared", {}).values())

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        return self._trained_weights()

    def _trained_weights(self) -> list:
        """What trains when the model's flag is on: the trainable weights of its patch
        layers and of `trained_layers`, without the shared base's variables."""
        shared = self.__dict__.get("_rw_shared", {})
        weights, seen = [], set(shared)
        for layer in [*self.patch_layers(), *self.trained_layers()]:
            for v in layer.trainable_weights:
                if id(v) not in seen:
                    seen.add(id(v))
                    weights.append(v)
        return weights

    # -- saving what trains ----------------------------------------------------------
    def get_config(self):
        """`RewiredModel`'s config, plus what a reload cannot see: the paths of
        `trained_layers` and, per layer holding some, which of its weights are shared."""
        config = super().get_config()
        if "recipe" in config:
            return config
        trained = {id(layer) for layer in self.trained_layers()}
        shared = self.__dict__.get("_rw_shared", {})
        paths, frozen = [], {}
        for ref in iter_layers(self):
            layer = ref.layer
            if id(layer) in trained and ref.path not in paths:
                paths.append(ref.path)
            foreign = is_patch_layer(layer) and not isinstance(layer, PatchLayer)
            if id(layer) in trained or foreign:
                held = [i for i, v in enumerate(layer.weights) if id(v) in shared]
                if held:
                    frozen[ref.path] = held
        if paths:
            config["trained_layers"] = paths
        if frozen:
            config["shared_weights"] = frozen
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        trained = config.pop("trained_layers", [])
        frozen = config.pop("shared_weights", {})
        model = super().from_config(config, custom_objects)
        if trained or frozen:
            layers = {ref.path: ref.layer for ref in iter_layers(model)}
            object.__setattr__(model, "_rw_trained_layers", [layers[p] for p in trained])
            object.__setattr__(model, "_rw_shared", {
                id(v): v for path, held in frozen.items()
                for i, v in enumerate(layers[path].weights) if i in held
            })
        return model


    # -- frozen statistics --------------------------------------------------------------
    def _frozen_base(self) -> FrozenBase:
        cached = self.__dict__.get("_rw_frozen_base")
        if cached is None:
            cached = FrozenBase(self)
            object.__setattr__(self, "_rw_frozen_base", cached)  # untracked by Keras
        return cached

    def call(self, inputs, training=None, mask=None, **kwargs):
        """Runs the graph like `Functional.call`, with the shared stateful base layers
        (BatchNormalization) called with ``training=False`` (see `FrozenBase`)."""
        if training:
            self._warn_if_trained_inside()
        return self._frozen_base().run(self, inputs, training, mask, kwargs)

    def _warn_if_trained_inside(self) -> None:
        """Warns (once) when a model built around this one trains its shared base.

        Keras' trainer asks the outer model for its trainable variables, which lists every
        trainable variable of the layers inside, never this model's `trainable_weights`:
        a task built around a patched backbone (``GPT2CausalLM(backbone=patched)``) would
        train the base weights it shares with the user's model."""
        outer = ki.entry_layer()
        checked = self.__dict__.setdefault("_rw_checked_outer", set())
        if outer is None or outer is self or id(outer) in checked:
            return
        checked.add(id(outer))  # once per outer model: its weight list is not free per step
        shared = self.__dict__.get("_rw_shared", {})
        if any(id(v) in shared for v in getattr(outer, "trainable_weights", [])):
            warnings.warn(
                f"{outer.name!r} is training {self.name!r} from outside, and Keras then trains "
                f"every weight of {self.name!r}, the base it shares with your model too (a "
                "patched model freezes its base only when it is the model trained). Patch the "
                f"outer model instead (rw.add_lora({outer.name}, ...) trains only adapters), or "
                f"build it around rw.fold({self.name}) to train everything on a copy.",
                stacklevel=2,
            )


def rebuild_as(cls: type, source, replacements: dict, where: dict):
    """`rebuild` into ``cls`` (`RewiredModel` or `PatchedModel`); a `PatchedModel` gets its
    own flag on, since it freezes its base itself: a frozen source's patches still train.
    What `rewire`, `unpatch` / a partial `fold` and loading a recipe all build with."""
    new = rebuild(source, replacements, where, cls=cls)
    if issubclass(cls, PatchedModel):
        ki.set_trainable_flag(new, True)
        _share_base(new, source)
    return new


def mark_trained(model, layers) -> None:
    """Adds ``layers`` (replacements `rewire` put in that are not patch layers) to what
    ``model`` (a `PatchedModel`) trains: their weights, less the shared base's."""
    kept = model.trained_layers()
    known = {id(layer) for layer in kept}
    kept += [layer for layer in layers if id(layer) not in known]
    object.__setattr__(model, "_rw_trained_layers", kept)


def _share_base(new, source) -> None:
    """Records in ``new`` which variables it shares with ``source``'s frozen base (all of
    ``source``'s variables but those ``source`` itself trains, when it is a PatchedModel),
    and carries over ``source``'s trained layers that ``new`` still holds. Only variables
    ``new`` holds are kept (references, so no id is reused while ``new`` lives)."""
    trained = set()
    if isinstance(source, PatchedModel):
        trained = {id(v) for v in source._trained_weights()}
        held = {id(ref.layer) for ref in iter_layers(new)}
        mark_trained(new, [layer for layer in source.trained_layers() if id(layer) in held])
    for inner in ki.all_sublayers(source):  # a patched backbone inside a user's task:
        if isinstance(inner, PatchedModel):  # its adapters train on in the new model
            trained |= {id(v) for v in inner._trained_weights()}
    base = {id(v) for v in source.variables if id(v) not in trained}
    object.__setattr__(new, "_rw_shared", {id(v): v for v in new.variables if id(v) in base})


def _restore_sublayers(layer, path, swaps, custom_objects) -> None:
    """Puts deserialized sub-layers back into a freshly restored opaque layer, in place
    (``swaps``: ``{location: layer config}``, see `risk_widgets.core.layer_copy`)."""
    restored, done = {}, {}
    for location, sub_config in swaps.items():
        try:
            old = sublayer_at(layer, location)
        except ValueError:
            raise ValueError(
                f"Cannot restore {path!r} {location}: the restored {type(layer).__name__} "
                "has no such sub-layer."
            ) from None
        new = done.get(id(old))  # one sub-layer held at two locations stays one object
        if new is None:
            new = keras.saving.deserialize_keras_object(sub_config, custom_objects=custom_objects)
            build_like(new, old, f"{path}/{old.name}")
            done[id(old)] = new
        set_sublayer(layer, location, new)
        restored[location] = new
    object.__setattr__(layer, SUBLAYER_PATCHES, restored)


def _build_lazy_layers(model) -> None:
    """Builds the layers that a config round trip leaves unbuilt: a layer without its own
    ``build()`` whose sub-layers are built on its first call (KerasHub's DeBERTa
    ``RelativeEmbedding``) is only marked built on load, so its weights could not load. One
    call on zeros (unknown sizes 1, else 8) builds them; nothing runs when all are built."""
    if not ki.unbuilt_layers(model):
        return
    for size in (1, 8):
        dummies = [
            np.zeros([1 if d is None and i == 0 else size if d is None else d
                      for i, d in enumerate(x.shape)], dtype=x.dtype)
            for x in model.inputs
        ]
        try:
            with warnings.catch_warnings():  # e.g. a softmax over one position
                warnings.simplefilter("ignore")
                model(tree.pack_sequence_as(ki.inputs_struct(model), dummies), training=False)
        except Exception:  # noqa: BLE001 - Keras reports what stays unbuilt when loading
            continue
        if not ki.unbuilt_layers(model):
            return

"""Saving a patched model as its source's config plus the layers swapped in (a recipe).

A patched model is saved as a Functional config by default: every layer's own config.
That does not work for the models KerasHub builds: a backbone saves only its constructor
arguments (``LlamaBackbone.get_config``) and its inner blocks often cannot be re-created
from their own configs (Llama's decoder has no ``rope_scaling_factor`` when asked for its
config, ViT's patch embedding refuses its own). For a model whose **source** (the model
the first patch was applied to) is such a model, the config is a recipe instead:

- ``"source"``: the source model, serialized the way it serializes itself;
- ``"steps"``: for every rebuild since (each `rewire`, `unpatch`, partial `fold`), the
  layers swapped in, each with its path and its address (`risk_widgets.core.addresses`:
  auto-numbered names differ in a model built again).

Loading re-creates the source from its config and replays the steps; Keras then loads the
weights into the replayed model, built exactly like the saved one. A patched model's
layers that train whole (``add_lora(..., train=...)``: `PatchedModel.trained_layers`) are
listed by path (``"trained_layers"``, and ``"shared_weights"`` for those holding some of
the source's variables), as in a layer-by-layer config.

Example:
    >>> import keras
    >>> from risk_widgets.engine.recipe import source_builds_itself
    >>> x = keras.Input((3,))
    >>> source_builds_itself(keras.Model(x, keras.layers.Dense(2)(x)))
    False
"""

from __future__ import annotations

from typing import Any

import keras

from risk_widgets.core import keras_internals as ki
from risk_widgets.core.addresses import address_of, path_at
from risk_widgets.core.walk import get_layer_by_path, iter_layers
from risk_widgets.engine.rebuild import build_like, recipe_of

__all__ = ["recipe_config", "replay", "source_builds_itself"]

_FUNCTIONAL_CONFIGS = (ki.Functional.get_config, keras.Sequential.get_config)


def source_builds_itself(model: Any) -> bool:
    """Whether the model at the start of ``model``'s recipe chain has its own
    ``get_config`` (a KerasHub backbone: its constructor arguments), so that it is saved
    whole and patched again on load rather than saved layer by layer."""
    while (recipe := recipe_of(model)) is not None:
        model = recipe[0]
    if type(model).__name__ in ("PatchedModel", "RewiredModel"):
        return False  # loaded from a layer-by-layer config: nothing to replay
    return isinstance(model, keras.Model) and type(model).get_config not in _FUNCTIONAL_CONFIGS


def recipe_config(model: Any) -> dict:
    """``model``'s config as a recipe (see the module docstring)."""
    source, swapped = recipe_of(model)
    steps = [
        {"path": path, "address": address_of(source, path),
         "layer": keras.saving.serialize_keras_object(layer)}
        for path, layer in swapped
    ]
    return {
        "name": model.name,
        "trainable": ki.trainable_flag(model),
        "recipe": {"source": keras.saving.serialize_keras_object(source), "steps": steps},
        **_trained_layers(model),
    }


def _trained_layers(model: Any) -> dict:
    """``{"trained_layers": paths, "shared_weights": {path: indices}}`` of a patched model
    (`PatchedModel.from_config` reads them), or ``{}``."""
    trained_of = getattr(model, "trained_layers", None)
    trained = {id(layer) for layer in trained_of()} if callable(trained_of) else set()
    if not trained:
        return {}
    shared = {id(v) for v in model.shared_variables()}
    paths, frozen = [], {}
    for ref in iter_layers(model):
        if id(ref.layer) in trained and ref.path not in paths:
            trained.discard(id(ref.layer))  # a layer used twice: its first path
            paths.append(ref.path)
            held = [i for i, v in enumerate(ref.layer.weights) if id(v) in shared]
            if held:
                frozen[ref.path] = held
    return {"trained_layers": paths, **({"shared_weights": frozen} if frozen else {})}


def replay(config: dict, custom_objects: Any, rebuild_as: Any) -> Any:
    """The model a `recipe_config` describes: its source re-created, then each swap made
    again with ``rebuild_as(source, replacements, where)``."""
    recipe = config["recipe"]
    source = keras.saving.deserialize_keras_object(recipe["source"],
                                                   custom_objects=custom_objects)
    replacements, where = {}, {}
    for step in recipe["steps"]:
        path = path_at(source, step["address"])
        old = get_layer_by_path(source, path)
        new = keras.saving.deserialize_keras_object(step["layer"], custom_objects=custom_objects)
        build_like(new, old, path)
        replacements[id(old)] = new
        where[id(old)] = path
    return rebuild_as(source, replacements, where)

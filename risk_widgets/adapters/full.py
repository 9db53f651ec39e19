"""Whole layers that train beside the adapters (PEFT's ``modules_to_save``): ``train=``.

``add_lora(model, targets, train=["classifier*"])`` (``add_dora``, ``add_svf``,
``rw.add_adapter`` and the editor's ``full`` kind through `train_fully`) replaces each
layer ``train`` names by an **independent copy**: a new object of the layer's class owning
new variables that hold the same values (`risk_widgets.core.layer_copy.independent_copy`).
`rewire` trains the new weights of a replacement that is not a patch layer, so the copy
trains whole while the user's layer, shared by nothing, keeps its weights and flags.
Outputs are unchanged until the model trains.

By default (``train=None``) the head of a KerasHub classifier task trains: the layers of a
task whose class is a ``*Classifier`` (``TextClassifier``, ``ImageClassifier``, …) that
hold weights and are not its ``backbone`` (``pooled_dense`` and ``logits`` of a
``RobertaTextClassifier``): its head is new and random, and PEFT trains the classifier of a
sequence-classification task too. ``train=[]`` trains adapters only. Duck-typed: keras_hub
is never imported.

Example:
    >>> import keras
    >>> import risk_widgets as rw
    >>> inputs = keras.Input((4,))
    >>> hidden = keras.layers.Dense(8, name="hidden")(inputs)
    >>> model = keras.Model(inputs, keras.layers.Dense(2, name="head")(hidden))
    >>> lora = rw.add_lora(model, "hidden", rank=2, train=["head"])
    >>> [(row.path, row.kind, row.trainable) for row in rw.param_report(lora).adapters]
    [('hidden', 'lora', 24), ('head', 'full', 18)]
    >>> lora.get_layer("head") is model.get_layer("head")
    False
"""

from __future__ import annotations

from typing import Any

import keras

from risk_widgets.core import keras_internals as ki
from risk_widgets.core.layer_copy import copy_state, independent_copy
from risk_widgets.core.walk import is_patch_layer, iter_layers

__all__ = ["FULL_KIND", "can_train_fully", "classifier_head", "full_patch_info",
           "is_trained_copy", "train_fully", "train_paths", "trained_copy"]

#: the kind `param_report` and the graph give a layer that trains whole
FULL_KIND = "full"
#: set (untracked) on each copy, so the graph can mark it (lost in a `.keras` round trip)
_MARK = "_rw_trained_fully"


def trained_copy(layer: Any, path: str) -> Any:
    """An independent copy of ``layer`` (new variables, same values), trainable even where
    ``layer`` was frozen; a TypeError naming ``path`` for a patch layer or a layer without
    weights."""
    if is_patch_layer(layer):
        raise TypeError(
            f"Cannot train {path!r} fully: it is a patch layer ({type(layer).__name__}), "
            "whose own weights already train. Name the layers around it in train=..., or "
            "rw.unpatch(model) first."
        )
    if not layer.weights:
        raise TypeError(
            f"Cannot train {path!r} fully: {type(layer).__name__} has no weights. Name "
            "layers with weights in train=... (rw.find_layers(model, '*') lists the paths)."
        )
    if any(is_patch_layer(sub) for sub in ki.all_sublayers(layer)):
        raise TypeError(
            f"Cannot train {path!r} fully: it holds patch layers (adapters or risk layers), "
            "whose own weights already train. Name the layers beside them in train=..., or "
            "rw.unpatch(model) first."
        )
    try:
        copy = _trainable_copy(layer)
    except (TypeError, ValueError):
        if not isinstance(layer, keras.Model):
            raise
        copy = _config_copy(layer)  # a nested Sequential / Functional model: its config
    copy.trainable = True  # its own flags: the user's layer keeps its own
    object.__setattr__(copy, _MARK, True)
    return copy


def _trainable_copy(layer: Any) -> Any:
    """`risk_widgets.core.layer_copy.independent_copy`, but the variables the layers
    created as trainable are new *trainable* variables even when the user froze the layer
    (TensorFlow's tape only watches variables created trainable: flipping the flag after
    would train nothing)."""
    wanted = {id(v) for sub in [layer, *ki.all_sublayers(layer)]
              for v in ki.own_trainable_variables(sub)}
    return independent_copy(
        layer, lambda value: copy_state(value, trainable=True if id(value) in wanted else None))


def _config_copy(model: Any) -> Any:
    """A nested Keras model re-created from its config (every layer trainable, so its
    variables are created trainable) holding ``model``'s weights: where a structural copy
    cannot go (TensorFlow's list wrappers of a nested Sequential)."""
    def trainable(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: True if k == "trainable" else trainable(v) for k, v in value.items()}
        if isinstance(value, list):
            return [trainable(v) for v in value]
        return value

    copy = keras.saving.deserialize_keras_object(
        trainable(keras.saving.serialize_keras_object(model)))
    copy.set_weights(model.get_weights())
    return copy


def is_trained_copy(layer: Any) -> bool:
    """Whether ``layer`` was made by `trained_copy` in this session (the graph's mark)."""
    return bool(vars(layer).get(_MARK, False)) if hasattr(layer, "__dict__") else False


def full_patch_info(layer: Any) -> dict | None:
    """The graph's patch inspector for a copy that trains whole (``{"kind": "full"}``)."""
    return {"kind": FULL_KIND, "params": {}} if is_trained_copy(layer) else None


def can_train_fully(layer: Any) -> bool:
    """Whether `train_fully` takes ``layer`` (the graph's ``patchable``): a layer with
    weights that neither is nor holds a patch layer and is not trained whole yet."""
    return (isinstance(layer, keras.layers.Layer) and not is_patch_layer(layer)
            and bool(layer.weights) and not is_trained_copy(layer)
            and not any(is_patch_layer(sub) for sub in ki.all_sublayers(layer)))


def _is_classifier_task(model: Any) -> bool:
    backbone = getattr(model, "backbone", None)
    return isinstance(backbone, keras.layers.Layer) and any(
        cls.__name__.endswith("Classifier") for cls in type(model).__mro__
    )


def classifier_head(model: Any) -> list[str]:
    """The paths of a KerasHub classifier task's head: its top-level layers with weights
    other than its ``backbone`` (``[]`` for any other model).

    Example:
        >>> import keras
        >>> from risk_widgets.adapters.full import classifier_head
        >>> inputs = keras.Input((4,))
        >>> classifier_head(keras.Model(inputs, keras.layers.Dense(2)(inputs)))
        []
    """
    if not isinstance(model, keras.Model) or not _is_classifier_task(model):
        return []
    backbone = model.backbone
    return [
        ref.path for ref in iter_layers(model)
        if ref.parent is None and ref.layer is not backbone
        and isinstance(ref.layer, keras.layers.Layer) and ref.layer.weights
    ]


def _already_trained(model: Any) -> set[int]:
    trained = getattr(model, "trained_layers", None)
    return {id(layer) for layer in trained()} if callable(trained) else set()


def train_paths(model: Any, train: Any, adapted: list[str] = ()) -> list[str]:
    """The paths ``train`` names that are not trained yet (checked, nothing changed).

    ``train`` is None (the default: a KerasHub classifier task's head on its first patch,
    else nothing), or targets as `rw.find_layers` takes them (``[]``: nothing). A layer the
    model already trains is left out, and so are weightless matches and the matches inside
    another (a glob takes its outermost matches); a layer that is also ``adapted`` (an
    adapter's target, or a layer inside / around one) is a ValueError naming it.
    """
    from risk_widgets.core.targets import find_layers
    from risk_widgets.core.walk import get_layer_by_path

    if train is None:
        if callable(getattr(model, "trained_layers", None)):
            return []  # a patched model: the first patch decided (``train=`` adds more)
        paths = classifier_head(model)
    elif isinstance(train, (list, tuple)) and not train:
        return []
    else:
        try:
            paths = list(find_layers(model, train))
        except ValueError as err:
            raise ValueError(f"train=: {err}") from None
    layers = {path: get_layer_by_path(model, path) for path in paths}
    outer = [p for p in paths if not any(p.startswith(q + "/") for q in paths)]
    weighted = [p for p in outer if getattr(layers[p], "weights", None)]
    if train is not None and not weighted:
        raise ValueError(
            f"train={train!r} names no layer with weights ({', '.join(outer[:5])}). Name "
            "layers with weights (rw.find_layers(model, '*') lists every path)."
        )
    done = _already_trained(model)
    kept = []
    for path in weighted:  # a glob's outermost matches, as the risk wrappers take them
        clash = next((a for a in adapted if a == path or a.startswith(path + "/")
                      or path.startswith(a + "/")), None)
        if clash is not None and train is None:
            continue  # the default head: an adapter the user asked for wins
        if clash is not None:
            raise ValueError(
                f"{path!r} is named by train=... and {clash!r} by the adapter targets: a "
                "layer either gets an adapter or trains whole, and a container trains all "
                "it holds. Leave it out of one of them."
            )
        if id(layers[path]) not in done:
            kept.append(path)
    return kept


def train_fully(model: Any, targets: Any) -> Any:
    """Returns a `PatchedModel` in which the layers at ``targets`` train whole.

    Each target is replaced by an independent copy holding the same values (so outputs do
    not change); the copy's weights train, the rest of the model stays frozen and shared,
    and ``model`` is never changed. The same as ``train=targets`` of `rw.add_lora`, alone:
    the editor's ``full`` kind. Layers ``model`` already trains are left as they are.

    Args:
        model: a built Keras model (or a patched one).
        targets: path, glob, list, layer class or predicate (`rw.find_layers`); each a
            layer with weights that is not a patch layer.

    Returns:
        A new `PatchedModel`; ValueError/TypeError naming the path, and nothing changed,
        when a target is missing, weightless or a patch layer.

    Example:
        >>> import keras
        >>> from risk_widgets.adapters.full import train_fully
        >>> inputs = keras.Input((4,))
        >>> hidden = keras.layers.Dense(8, name="hidden")(inputs)
        >>> model = keras.Model(inputs, keras.layers.Dense(2, name="head")(hidden))
        >>> [v.path for v in train_fully(model, "head").trainable_weights]
        ['head/kernel', 'head/bias']
    """
    from risk_widgets.engine.rewiring import rewire

    if targets is None or (isinstance(targets, (list, tuple)) and not targets):
        raise ValueError(
            "train_fully(model, targets) needs the layers to train: a path, glob, list, "
            "layer class or predicate (rw.find_layers(model, '*') lists every path)."
        )
    paths = train_paths(model, targets)
    if not paths:
        raise ValueError(
            f"train_fully: every layer {targets!r} names already trains in this model."
        )
    return rewire(model, paths, trained_copy)

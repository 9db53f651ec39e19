"""`rewire(model, targets, replace)`: a new model with chosen layers replaced.

The one walk-and-swap routine behind every patch (LoRA, SVF, risk wrappers). It checks
everything first (targets exist and do not overlap, ``replace`` returns layers of the right
output shape), then rebuilds with `risk_widgets.engine.rebuild`. This module is named
``rewiring`` so that ``risk_widgets.rewire`` (the package attribute) is the plain function.

Example:
    >>> import keras
    >>> from risk_widgets.engine.rewiring import rewire
    >>> inputs = keras.Input((4,), name="x")
    >>> hidden = keras.layers.Dense(8, name="hidden")(inputs)
    >>> model = keras.Model(inputs, keras.layers.Dense(2, name="head")(hidden), name="mlp")
    >>> new = rewire(model, "head", lambda layer, path: keras.layers.Dense(2, name="head"))
    >>> new.get_layer("hidden") is model.get_layer("hidden")
    True
    >>> new.get_layer("head") is model.get_layer("head")
    False
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import keras

from risk_widgets.core.targets import find_layers, user_stacklevel, warn_partial_targets
from risk_widgets.core.walk import get_layer_by_path, graph_of, is_patch_layer
from risk_widgets.engine.models import PatchedModel, RewiredModel, mark_trained, rebuild_as
from risk_widgets.engine.rebuild import build_like

__all__ = ["Replace", "rewire"]

Replace = Callable[[keras.layers.Layer, str], keras.layers.Layer]


def _check_model(model: Any) -> None:
    if not isinstance(model, keras.Model):
        raise TypeError(
            "rewire() needs a Keras 3 model (Functional or Sequential). "
            f"Received: {type(model).__name__}"
        )
    if getattr(model, "body", None) is not None and hasattr(model, "wrappers"):
        raise TypeError(  # a RiskModel: its layers are copies inside its body
            f"Cannot patch {model.name!r}: it is a risk model (vote / sample / sculpt). Add "
            "adapters first, then wrap: vote.Wrapper()(rw.add_lora(model, targets)); in the "
            "editor, undo the risk wrapper, apply the adapter, then the wrapper again."
        )
    if not model.built or graph_of(model) is None:
        raise ValueError(
            f"Model {model.name!r} is not built (or has no graph of layers): call it on "
            "data or give it an Input shape first."
        )


def _replace_all(model, targets, replace) -> tuple[dict[int, Any], dict[int, str]]:
    """Calls ``replace`` once per distinct target layer; checks every result."""
    if not callable(replace):
        raise TypeError(
            "`replace` must be a function replace(layer, path) -> Layer. "
            f"Received: replace={replace!r}"
        )
    paths = list(find_layers(model, targets))
    if not paths:
        raise ValueError(f"`targets` matched no layer of model {model.name!r}: {targets!r}")
    warn_partial_targets(model, targets)  # a rule reaching only some repeated blocks
    for path in paths:
        inner = [p for p in paths if p.startswith(path + "/")]
        if inner:
            raise ValueError(
                f"Targets overlap: {inner[0]!r} is inside {path!r}, which is also targeted. "
                "Target either the container or the layers inside it."
            )
    replacements: dict[int, Any] = {}
    where: dict[int, str] = {}
    keep = []
    for path in paths:
        layer = get_layer_by_path(model, path)
        if id(layer) in where:
            continue  # a shared layer: one replacement object everywhere
        keep.append(layer)
        where[id(layer)] = path
        new = replace(layer, path)
        if not isinstance(new, keras.layers.Layer):
            raise TypeError(
                f"replace(layer, path) must return a Keras layer for {path!r}. "
                f"Received: {new!r} (of type {type(new).__name__}). Return `layer` itself "
                "to keep it unchanged."
            )
        if new is not layer:
            build_like(new, layer, path)
            replacements[id(layer)] = new
    return replacements, where


def rewire(model: Any, targets: Any, replace: Replace, *, freeze_base: bool = True) -> Any:
    """Returns a new model with the layers at ``targets`` replaced by ``replace``.

    Every other layer object is **shared** with ``model`` (base weights are not copied);
    only the containers on the way to a target (nested Functional / Sequential models,
    CompositeLayers, opaque layers such as `MultiHeadAttention`) are re-created, with the
    same names, so every path stays valid. A layer used in several places is replaced by
    one object everywhere (``replace`` is called once, with its first path).

    The result is a `risk_widgets.PatchedModel`: what trains are the new weights the
    replacements bring (an adapter's ``A`` and ``B``, a new layer's kernel), never a
    variable of ``model``: the shared base is frozen by the patched model without touching
    its ``trainable`` flags, even where a replacement wraps the original layer and reports
    its kernel as trainable, so training the result leaves ``model`` bit-identical. A
    replacement that holds only the original's weights (it adds none) trains nothing and
    warns. For fold, unpatch and adapter files, subclass `rw.Adapter` (``rw.add_adapter``).
    Pass ``freeze_base=False`` for a `RewiredModel` (a Functional model) whose layers,
    shared with ``model``, all train as usual.

    Everything is checked before anything is returned (targets exist, ``replace`` returns
    a Layer, output shapes match); a failure raises ValueError/TypeError naming the path
    and leaves ``model`` untouched.

    Args:
        model: a built Functional or Sequential model.
        targets: a path (``"block_0/attn/query"``), a glob (``"*/query"``), a list of
            them, a layer class, or ``predicate(path, layer) -> bool``.
        replace: ``replace(layer, path) -> Layer``, the new layer for ``layer``.
        freeze_base: see above.

    Returns:
        A new model (`PatchedModel`, or a `RewiredModel` — a Functional model in which
        everything trains — with ``freeze_base=False``).

    Example:
        >>> import keras, numpy as np
        >>> from risk_widgets import rewire
        >>> inputs = keras.Input((3,))
        >>> model = keras.Model(inputs, keras.layers.Dense(2, name="head")(inputs))
        >>> new = rewire(model, "head", lambda layer, path: keras.layers.Dense(2, name="head"))
        >>> type(new).__name__, new.get_layer("head") is model.get_layer("head")
        ('PatchedModel', False)
    """
    _check_model(model)
    replacements, where = _replace_all(model, targets, replace)
    new = rebuild_as(PatchedModel if freeze_base else RewiredModel, model, replacements, where)
    if freeze_base:
        own = [layer for layer in replacements.values() if not is_patch_layer(layer)]
        mark_trained(new, own)
        _warn_untrained(new, replacements, where)
    return new


def _warn_untrained(model, replacements: dict, where: dict) -> None:
    """Warns when replacements that hold weights add none that train: a layer wrapping the
    original (shared, so frozen) with no new trainable weight of its own trains nothing."""
    shared = {id(v) for v in model.shared_variables()}
    idle = [
        where[old_id] for old_id, layer in replacements.items()
        if layer.weights and all(id(v) in shared or not v.trainable for v in layer.weights)
    ]
    if idle:
        warnings.warn(
            f"rewire: the replacement at {', '.join(repr(p) for p in idle)} adds no trainable "
            "weights: what it holds is the original layer's (shared with the model you "
            "patched, so frozen), and the patched model trains nothing there. Create new "
            "weights in it (e.g. subclass rw.Adapter and write build_adapter), or pass "
            "freeze_base=False to train the shared layers (that changes your model).",
            stacklevel=user_stacklevel(),
        )

"""What works on a patched model: `patch_layers`, `unpatch`, `fold`, `trainable_report`.

Example:
    >>> import keras
    >>> import risk_widgets as rw
    >>> inputs = keras.Input((4,))
    >>> hidden = keras.layers.Dense(8, name="hidden")(inputs)
    >>> model = keras.Model(inputs, keras.layers.Dense(1, name="head")(hidden))
    >>> lora = rw.add_lora(model, "hidden", rank=2)
    >>> report = rw.trainable_report(lora)
    >>> report["trainable"], report["patched"]["hidden"]["kind"]
    (24, 'lora')
    >>> type(rw.fold(lora)).__name__
    'Functional'
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from risk_widgets.engine.rebuild import rebuild
from risk_widgets.keras_internals import Functional
from risk_widgets.walk import graph_of, is_patch_layer, iter_layers

__all__ = [
    "adapter_weights",
    "check_model",
    "fold",
    "patch_layers",
    "trainable_report",
    "unpatch",
]


def patch_layers(model) -> dict[str, Any]:
    """``{path: patch layer}`` for every patch layer of ``model``, in graph order."""
    return {ref.path: ref.layer for ref in iter_layers(model) if is_patch_layer(ref.layer)}


def check_model(model: Any, what: str) -> None:
    """Raises a TypeError (with the way out) unless ``model`` is a built graph model."""
    if not isinstance(model, keras.Model) or graph_of(model) is None:
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
    return rebuild(model, replacements, where, cls=Functional, plain=plain)


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
    check_model(model, "unpatch()")
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
    cause = _non_finite(adapter_weights(layer))
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
    check_model(model, "fold()")
    _check_patched(model, "fold()", "merge")
    merged = _swap_patches(model, _folded, plain=True)
    config = merged.get_config()
    # the demo models' own classes (risk_widgets.demo) are user layers, not patches
    leftover = sorted(
        m for m in set(_modules(config))
        if m.split(".")[0] == "risk_widgets" and m != "risk_widgets.demo"
    )
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
            found.append(module)
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
    check_model(model, "trainable_report()")
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


def adapter_weights(layer: Any) -> list:
    """The weights that make a patch (its own, not the base's): what `save_adapters` saves."""
    weights = getattr(layer, "adapter_weights", None)
    return list(weights) if weights is not None else list(layer.trainable_weights)

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

import contextlib
from collections.abc import Iterator
from typing import Any

import keras
import numpy as np

from risk_widgets.core import keras_internals as ki
from risk_widgets.core.keras_internals import Functional
from risk_widgets.core.walk import get_layer_by_path, graph_of, is_patch_layer, iter_layers
from risk_widgets.engine import keras_native
from risk_widgets.engine.models import PatchedModel, rebuild_as
from risk_widgets.engine.rebuild import rebuild, recipe_of

__all__ = [
    "active_adapters",
    "adapter_names",
    "adapter_weights",
    "check_model",
    "check_names",
    "disable_adapters",
    "fold",
    "named_adapters",
    "patch_layers",
    "set_active",
    "trainable_report",
    "unpatch",
]


def patch_layers(model) -> dict[str, Any]:
    """``{path: patch layer}`` for every patch layer of ``model``, in graph order; a layer
    used in two places (a tied embedding: a backbone's input, its task's output) once, at
    its first path."""
    found, seen = {}, set()
    for ref in iter_layers(model):
        if is_patch_layer(ref.layer) and id(ref.layer) not in seen:
            seen.add(id(ref.layer))
            found[ref.path] = ref.layer
    return found


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
    if not patch_layers(model) and not keras_native.lora_layers(model):
        own = [layer.name for layer in getattr(model, "trained_layers", list)()]
        if own:
            raise ValueError(
                f"{what}: model {model.name!r} holds layers of your own that rw.rewire put in "
                f"({', '.join(own)}), and they are not patch layers, so there is nothing to "
                f"{verb}. Subclass rw.Adapter (build_adapter, delta, delta_matrix) and apply it "
                "with rw.add_adapter, or set is_patch_layer = True on your layer with "
                "unpatched() / folded()."
            )
        raise ValueError(
            f"{what}: model {model.name!r} has no patches, so there is nothing to {verb}. "
            "Pass the model that rw.add_lora / rw.add_svf returned (the unpatched model is "
            "plain Keras already)."
        )


def _plan(model, how, native=None) -> tuple[dict[int, Any], dict[int, str], bool]:
    """``how(layer, path)`` for each patch layer: the replacements that change something,
    their paths, and whether any patch layer is left afterwards. ``native(layer, path)``:
    the replacement of each layer with Keras' own LoRA (`keras_native`), if given."""
    replacements, where, left = {}, {}, False
    if native is not None:
        for path, layer in keras_native.lora_layers(model).items():
            where[id(layer)] = path
            replacements[id(layer)] = native(layer, path)
    for path, layer in patch_layers(model).items():
        if id(layer) in where:
            continue
        where[id(layer)] = path
        new = how(layer, path)
        left = left or is_patch_layer(new)
        if new is not layer:
            replacements[id(layer)] = new
    return replacements, where, left


def _swap_patches(model, how, plain=False, plan=None, share_state=False):
    replacements, where, left = plan or _plan(model, how)
    if left:  # some adapters stay: the result trains only them, as rewire's does
        return rebuild_as(PatchedModel, model, replacements, where)
    return rebuild(
        model, replacements, where, cls=Functional, plain=plain, share_state=share_state
    )


def unpatch(model, names: Any = None) -> Any:
    """Returns ``model`` without its patches: each patch layer replaced by its base layer.

    The result is a plain Keras Functional model that shares the base layers (and their
    weights) with ``model``; ``model`` itself is unchanged. With ``names`` (an adapter
    name or a list of them, see `adapter_names`) only those adapters are removed; the
    others stay (the same adapter objects, so they keep their weights and gates) and the
    result is a `PatchedModel` while any patch is left.

    Example:
        >>> import keras, numpy as np
        >>> import risk_widgets as rw
        >>> inputs = keras.Input((4,))
        >>> model = keras.Model(inputs, keras.layers.Dense(2, name="head")(inputs))
        >>> base = rw.unpatch(rw.add_lora(model, "head", rank=1))
        >>> base.get_layer("head") is model.get_layer("head")
        True
        >>> both = rw.add_lora(rw.add_lora(model, "head", rank=1), "head", rank=1, name="b")
        >>> rw.adapter_names(rw.unpatch(both, names="default"))
        ['b']
    """
    check_model(model, "unpatch()")
    _check_patched(model, "unpatch()", "remove")
    wanted = check_names(model, names, "unpatch()")
    if wanted is not None:
        return _swap_patches(
            model, lambda layer, path: layer.without_adapters(wanted) if _named(layer) else layer
        )
    plan = _plan(model, lambda layer, path: _unpatched(model, layer, path),
                 native=keras_native.unpatched)
    return _swap_patches(model, None, plan=plan)


def _unpatched(model, layer, path):
    """The layer a patch replaced: its ``unpatched()``, or, for a patch layer of your own
    without one, the layer `rewire` found at ``path`` (from the model's recipe)."""
    if callable(getattr(layer, "unpatched", None)):
        return layer.unpatched()
    original = _replaced_at(model, path)
    if original is None:
        raise TypeError(
            f"Cannot unpatch {path!r}: its {type(layer).__name__} is a patch layer of your own "
            "without unpatched(), and the layer it replaced is not known here (the model was "
            "loaded from a file). Define unpatched() returning the original layer, or subclass "
            "rw.Adapter and apply it with rw.add_adapter."
        )
    return original


def _replaced_at(model, path):
    """The layer at ``path`` before the rebuild that put a replacement there, or None."""
    recipe = recipe_of(model)
    while recipe is not None:
        source, swapped = recipe
        if any(p == path for p, _ in swapped):
            try:
                original = get_layer_by_path(source, path)
            except (KeyError, ValueError):
                return None
            return original if not is_patch_layer(original) else _replaced_at(source, path)
        recipe = recipe_of(source)
    return None


def _folded(layer, path, names=None, dequantize=False):
    if names is not None and not _named(layer):
        return layer  # not an adapter: a named fold leaves it as it is
    if not callable(getattr(layer, "folded", None)):
        raise TypeError(
            f"Cannot fold the patch at {path!r}: its {type(layer).__name__} is a patch layer "
            "of your own without folded() (a plain layer with the merged weights). Subclass "
            "rw.Adapter and give delta_matrix(), define folded(), or drop the patch with "
            "rw.unpatch(model)."
        )
    try:
        with np.errstate(over="ignore", invalid="ignore"):  # checked below, with the way out
            if dequantize:  # only asked of patch layers when requested (yours may not take it)
                new = (layer.folded(dequantize=True) if names is None
                       else layer.fold_adapters(names, dequantize=True))
            else:
                new = layer.folded() if names is None else layer.fold_adapters(names)
    except NotImplementedError as err:
        raise TypeError(f"Cannot fold the patch at {path!r}: {err}") from None
    if new is layer:
        return layer
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


def fold(model, names: Any = None, *, share_base: bool = False, dequantize: bool = False) -> Any:
    """Merges every adapter into its base layer; returns a plain Keras Functional model.

    With ``names`` (an adapter name or a list of them) only those adapters are merged:
    each layer that holds one gets a new plain base layer with them merged in, and its
    other adapters are re-created on it (same weights and gates); the result is a
    `PatchedModel` while any patch is left. An inactive adapter (`set_active`) merges as
    nothing, so the folded model predicts what ``model`` predicts now.

    Each adapter becomes a layer of its base class (same name and config) whose kernel is
    the merged one (``W + (alpha/rank) A B`` for LoRA, ``U diag(s z) Vᵀ`` for SVF);
    CompositeLayers become nested Functional models, and every other layer is a structural
    copy (`risk_widgets.core.layer_copy`: same class and state, never re-created from its
    config, so KerasHub blocks fold too). The result owns **new** copies of all
    its weights (the shared original variables are never written, and training the folded
    model leaves the original untouched; ``share_base`` does the opposite) and loads in a
    Python that never imported risk_widgets. A patch whose folded weights would not be
    finite is refused with a ValueError naming its path (nothing is changed).

    Cost: the copies are made by the backend, variable by variable (`keras.ops.copy`, no
    trip through NumPy), so a fold takes at most about one copy of the weights in time and
    memory, plus the merged kernels (computed in float64, one layer at a time). With
    TensorFlow a copy shares its buffer with the original until either is written
    (copy-on-write), so the memory of the full copy is only taken once the folded model
    trains (bench/RESULTS.md, *Fold at scale*: 1.03x a ``get_weights()`` and +0.2 GB on a
    1.1B-parameter bfloat16 model).

    Args:
        model: the patched model (`add_lora`, `add_dora`, `add_svf`, or Keras' own
            ``enable_lora``).
        names: an adapter name or a list of them (None: all).
        share_base: True to **share** every variable the fold does not change with
            ``model`` instead of copying it, for a model that does not fit in memory twice:
            only the merged layers get new weights. The folded model and ``model`` (and
            the model it was patched from) then hold the same variables: **training the
            folded model, or assigning to its weights, changes the original model too**
            (and the other way round). Where adapters are left (``names``), the result
            shares its base layers in any case, as every patched model does.
        dequantize: an adapter on an int8 / int4 layer is refused by default (its int
            weights cannot hold the merge; the error says the ways out); True folds it into
            a float layer of the base's class holding the dequantized kernel plus the
            update (int4 is weight-only: the same outputs; int8 also rounds its inputs to
            int8, which the float layer does not).

    Example:
        >>> import keras, numpy as np
        >>> import risk_widgets as rw
        >>> inputs = keras.Input((4,))
        >>> model = keras.Model(inputs, keras.layers.Dense(2, name="head")(inputs))
        >>> plain = rw.fold(rw.add_lora(model, "head", rank=1))
        >>> [type(layer).__name__ for layer in plain.layers]
        ['InputLayer', 'Dense']
        >>> both = rw.add_lora(rw.add_lora(model, "head", rank=1), "head", rank=1, name="b")
        >>> rw.adapter_names(rw.fold(both, names=["default"]))
        ['b']
        >>> shared = rw.fold(rw.add_lora(model, "head", rank=1), share_base=True)
        >>> shared.get_layer("head").bias is model.get_layer("head").bias  # merged: new
        False
        >>> inputs = keras.Input((4,))
        >>> hidden = keras.layers.Dense(3, name="hidden")
        >>> model = keras.Model(inputs, keras.layers.Dense(2, name="head")(hidden(inputs)))
        >>> shared = rw.fold(rw.add_lora(model, "head", rank=1), share_base=True)
        >>> shared.get_layer("hidden").kernel is hidden.kernel  # unchanged: shared
        True
    """
    check_model(model, "fold()")
    if not isinstance(share_base, bool):
        raise TypeError(
            f"fold(): `share_base` is True (share the unchanged variables with the original "
            f"model) or False (copy them). Received: share_base={share_base!r}"
        )
    _check_patched(model, "fold()", "merge")
    wanted = check_names(model, names, "fold()")
    plan = _plan(
        model, lambda layer, path: _folded(layer, path, wanted, dequantize is True),
        native=keras_native.folded if wanted is None else None,  # Keras' LoRA has no name
    )
    if plan[2]:  # adapters left: a patched model on the partly folded layers
        return _swap_patches(model, None, plan=plan)
    merged = _swap_patches(model, None, plain=True, plan=plan, share_state=share_base)
    # the demo models' own classes (risk_widgets.demo) are user layers, not patches; walk
    # the layers, not get_config(): some KerasHub blocks' get_config is broken (Llama's)
    leftover = sorted(
        type(layer).__module__ for layer in ki.all_sublayers(merged)
        if type(layer).__module__.split(".")[0] == "risk_widgets"
        and type(layer).__module__.split(".")[:2] != ["risk_widgets", "demo"]
    )
    if leftover:  # pragma: no cover - every known patch folds to plain layers
        raise TypeError(
            "fold() left risk_widgets layers in the model; unpatch the patches that "
            "cannot be folded first."
        )
    return merged


def _count(weights) -> int:
    return int(sum(int(np.prod(v.shape)) for v in weights))


def trainable_report(model) -> dict:
    """Parameter counts: ``{"total", "trainable", "non_trainable", "patched": {...}}``.

    ``patched`` maps each patched path to ``{"kind", "params", "trainable"}``; a layer with
    Keras' own LoRA (``enable_lora``) is listed too, ``params`` with ``"source": "keras"``,
    ``trainable`` its LoRA weights (`risk_widgets.engine.keras_native`).

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
    trained = {id(v) for v in model.trainable_weights}  # a patched model freezes them
    for path, layer in keras_native.lora_layers(model).items():  # Keras' own enable_lora
        patched[path] = {
            **keras_native.lora_info(layer),
            "trainable": _count([v for v in keras_native.lora_weights(layer) if id(v) in trained]),
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


# ----------------------------------------------------------------------------- named adapters
#
# Patch layers that hold named adapters (risk_widgets.adapters: one adapter or a stack of
# them) offer ``named_adapters()`` (each with ``adapter_name`` and a settable ``active``),
# ``without_adapters(names)`` and ``fold_adapters(names)``; the engine reads only that.


def named_adapters(layer: Any) -> list:
    """The named adapters a patch layer holds (``[]`` for other layers)."""
    fn = getattr(layer, "named_adapters", None)
    return list(fn()) if callable(fn) else []


_named = named_adapters


def adapter_names(model: Any) -> list[str]:
    """The names of the adapters in ``model``, in graph order, each once.

    Example:
        >>> import keras
        >>> import risk_widgets as rw
        >>> inputs = keras.Input((4,))
        >>> model = keras.Model(inputs, keras.layers.Dense(2, name="head")(inputs))
        >>> rw.adapter_names(rw.add_lora(model, "head", rank=1, name="task_a"))
        ['task_a']
    """
    check_model(model, "adapter_names()")
    names: dict[str, None] = {}
    for layer in patch_layers(model).values():
        for adapter in _named(layer):
            names[adapter.adapter_name] = None
    return list(names)


def active_adapters(model: Any) -> list[str]:
    """The names of the adapters of ``model`` that are active (on at least one layer)."""
    check_model(model, "active_adapters()")
    names: dict[str, None] = {}
    for layer in patch_layers(model).values():
        for adapter in _named(layer):
            if adapter.active:
                names[adapter.adapter_name] = None
    return list(names)


def check_names(model: Any, names: Any, what: str) -> set[str] | None:
    """``names`` (a name, a list of them, or None = all) as a set, checked against ``model``."""
    if names is None:
        return None
    if isinstance(names, str):
        names = [names]
    try:
        wanted = list(names)
    except TypeError:
        wanted = [names]
    if not all(isinstance(n, str) for n in wanted):
        raise TypeError(
            f"{what}: `names` is an adapter name, a list of names, or None (all). "
            f"Received: {names!r}"
        )
    known = adapter_names(model)
    missing = [n for n in wanted if n not in known]
    if missing:
        raise ValueError(
            f"{what}: model {model.name!r} has no adapter named "
            f"{', '.join(repr(n) for n in missing)}. Its adapters: "
            f"{', '.join(repr(n) for n in known) or 'none'} (rw.adapter_names(model))."
        )
    return set(wanted)


def set_active(model: Any, names: Any = None) -> list[str]:
    """Makes the adapters named ``names`` active and every other adapter inactive.

    ``names`` is a name, a list of names, or None (all adapters). Each adapter's gate is a
    variable read when the model runs, so this takes effect at once, also in a model that
    was already compiled, fitted or traced (no rebuild, no recompile). An inactive adapter
    adds nothing to its layer's output; `fold` merges only active ones. This is the one
    call that changes ``model`` in place (its gates, nothing else); models that share the
    adapter layers (a model patched further with `add_lora`) share their gates too. The
    state is saved with the model (``.keras``) and in adapter files.

    Returns:
        The names now active.

    Example:
        >>> import keras, numpy as np
        >>> import risk_widgets as rw
        >>> inputs = keras.Input((4,))
        >>> model = keras.Model(inputs, keras.layers.Dense(2, name="head")(inputs))
        >>> both = rw.add_lora(rw.add_lora(model, "head", rank=1), "head", rank=1, name="b")
        >>> rw.set_active(both, "b")
        ['b']
        >>> rw.set_active(both, None)
        ['default', 'b']
    """
    check_model(model, "set_active()")
    wanted = check_names(model, names, "set_active()")
    adapters = [a for layer in patch_layers(model).values() for a in _named(layer)]
    if not adapters:
        raise ValueError(
            f"set_active(): model {model.name!r} has no adapters. Add one first "
            "(rw.add_lora(model, targets, name=...))."
        )
    for adapter in adapters:
        adapter.active = wanted is None or adapter.adapter_name in wanted
    return active_adapters(model)


@contextlib.contextmanager
def disable_adapters(model: Any) -> Iterator[Any]:
    """A context in which every adapter of ``model`` is inactive (PEFT's ``disable_adapter``).

    On exit each adapter gets back the state it had (also after an exception). Works on a
    compiled model without rebuilding it (see `set_active`).

    Example:
        >>> import keras, numpy as np
        >>> import risk_widgets as rw
        >>> inputs = keras.Input((4,))
        >>> model = keras.Model(inputs, keras.layers.Dense(2, name="head")(inputs))
        >>> lora = rw.add_lora(model, "head", rank=1)
        >>> with rw.disable_adapters(lora):
        ...     rw.active_adapters(lora)
        []
        >>> rw.active_adapters(lora)
        ['default']
    """
    check_model(model, "disable_adapters()")
    adapters = [a for layer in patch_layers(model).values() for a in _named(layer)]
    before = [(a, a.active) for a in adapters]
    for adapter in adapters:
        adapter.active = False
    try:
        yield model
    finally:
        for adapter, state in before:
            adapter.active = state

"""Adapter kinds: `register_adapter` makes an `Adapter` subclass a first-class patch kind,
and `add_adapter(model, kind, targets, **params)` applies any registered kind.

A registered kind is offered everywhere a built-in one is: ``rw.add_adapter``, the editor's
toolbar (with a field per parameter, for the layers it applies to), ``editor.export_code``,
`rw.fold` (when the class gives ``delta_matrix``), `rw.unpatch`, adapter files,
`rw.param_report`, ``.keras`` files and stacking by name. LoRA, DoRA and SVF are registered
through this same call (at the end of their modules).

Example:
    >>> import keras, numpy as np
    >>> import risk_widgets as rw
    >>> class Scale(rw.Adapter):
    ...     '''Learns one factor per output unit: W' = W diag(s).'''
    ...     def build_adapter(self):
    ...         self.s = self.add_weight(name="s", shape=(self.output_dim,), initializer="ones")
    ...     def delta(self, inputs, training=None):
    ...         return self.apply_matrix(inputs, self.kernel_tensor() * (self.s - 1.0))
    ...     def delta_matrix(self):
    ...         return self.kernel_matrix() * (self.value(self.s) - 1.0)
    >>> _ = rw.register_adapter("scale_doc", Scale)
    >>> inputs = keras.Input((4,))
    >>> model = keras.Model(inputs, keras.layers.Dense(3, name="head")(inputs))
    >>> patched = rw.add_adapter(model, "scale_doc", "head")
    >>> rw.trainable_report(patched)["trainable"]
    3
    >>> rw.unregister_adapter("scale_doc")
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import keras

from risk_widgets.adapters.adapter_layer import AdapterLayer, base_of, can_adapt
from risk_widgets.adapters.base import stack_adapters
from risk_widgets.core.params import ParamSpec

__all__ = [
    "AdapterKind",
    "adapter_kind",
    "adapter_kinds",
    "add_adapter",
    "register_adapter",
    "unregister_adapter",
]

#: the kinds of the risk wrappers and post-hoc methods: not adapter kinds
_TAKEN = frozenset({
    "sample", "vote", "sculpt", "lora_ensemble", "conformal", "temperature", "laplace",
    "laplace_diag", "stack", "patch", "adapters", "full",
})
_TYPES = {bool: "bool", int: "int", float: "float", str: "str"}


@dataclasses.dataclass(frozen=True)
class AdapterKind:
    """One registered adapter kind (what `register_adapter` records)."""

    kind: str
    cls: type
    #: the constructor's parameters, as the toolbar shows them (without ``name``)
    params: tuple[ParamSpec, ...]
    applies_to: Callable[[Any], bool]
    label: str
    help: str
    #: ``add(model, targets, name=None, **params) -> model``: the kind's own ``add_<kind>``
    add: Callable[..., Any]
    #: the expression `editor.export_code` writes (``{targets}``, ``{params}`` filled in)
    code: str
    #: "model": the toolbar offers it with nothing selected (``add`` has default targets)
    targets: str = "layers"

    def check(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``params`` typed and checked against the specs, defaults filled in; a ValueError
        naming an unknown parameter and the ones this kind takes."""
        known = {p.name: p for p in self.params}
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise ValueError(
                f"Adapter kind {self.kind!r} has no parameter(s) {unknown}. Its parameters: "
                f"{', '.join(known) or 'none'}."
            )
        return {name: spec.check(params.get(name, spec.default)) for name, spec in known.items()}


_KINDS: dict[str, AdapterKind] = {}


def _specs(params: Any) -> tuple[ParamSpec, ...]:
    """`ParamSpec`s from a ``{name: default}`` dict or an iterable of specs."""
    if params is None:
        return ()
    if isinstance(params, Mapping):
        specs = []
        for name, default in params.items():
            kind = _TYPES.get(type(default))
            if kind is None:
                raise TypeError(
                    f"Cannot infer the type of adapter parameter {name!r} from its default "
                    f"{default!r}: use a bool, int, float or str default, or pass a "
                    f"rw.ParamSpec({name!r}, 'float', {default!r}, min=..., max=...)."
                )
            specs.append(ParamSpec(name, kind, default))
        params = specs
    specs = tuple(params)
    for spec in specs:
        if not isinstance(spec, ParamSpec):
            raise TypeError(
                "`params` is a dict {name: default} or a list of rw.ParamSpec. Received an "
                f"item {spec!r} (of type {type(spec).__name__})."
            )
        if spec.name in ("layer", "name", "adapter_name", "active"):
            raise ValueError(
                f"Adapter parameter {spec.name!r} is reserved (the base layer, the adapter's "
                "name and its gate are set by risk_widgets). Rename it."
            )
    return specs


def _predicate(applies_to: Any) -> Callable[[Any], bool]:
    """``applies_to`` (None, a layer class or tuple of them, or a predicate) as a
    predicate on the base layer (an adapted layer counts as its base)."""
    if applies_to is None:
        return can_adapt
    if isinstance(applies_to, type) or (
        isinstance(applies_to, tuple) and all(isinstance(c, type) for c in applies_to)
    ):
        classes = applies_to
        return lambda layer: isinstance(base_of(layer), classes) and can_adapt(layer)
    if callable(applies_to):
        return lambda layer: bool(applies_to(base_of(layer)))
    raise TypeError(
        "`applies_to` is None (every layer with a kernel the adapter API reads: "
        "rw.adapters.supported_types()), a layer class or tuple of classes, or a predicate "
        f"layer -> bool. Received: {applies_to!r}"
    )


def register_adapter(
    kind: str,
    cls: type | None = None,
    *,
    params: Mapping[str, Any] | Iterable[ParamSpec] | None = None,
    applies_to: Any = None,
    label: str | None = None,
    help: str = "",
    add: Callable[..., Any] | None = None,
    code: str | None = None,
    targets: str = "layers",
) -> Any:
    """Makes the `Adapter` subclass ``cls`` the patch kind ``kind``; returns ``cls``.

    After this call ``rw.add_adapter(model, kind, targets, **params)`` applies it, the
    editor's toolbar offers it (for the layers ``applies_to`` accepts, with a field per
    parameter; editors opened before the call do not), ``editor.export_code`` writes it,
    and `rw.fold`, `rw.unpatch`, `rw.save_adapters` / `rw.load_adapters`,
    `rw.param_report`, ``.keras`` files and stacking by name work as for LoRA. Usable as a
    decorator: ``@rw.register_adapter("ia3")``. Registering a kind again replaces it.

    The class is registered with ``keras.saving`` (package ``"risk_widgets_adapters"``) if it
    is not already, so a saved model loads where the module that defines and registers
    it has been imported.

    Args:
        kind: the kind's name (``"ia3"``): letters, digits and ``_``.
        cls: a subclass of `rw.Adapter` (see its docstring for what to write).
        params: the constructor's parameters: ``{name: default}`` (the type is taken from
            the default), or a list of `rw.ParamSpec` (with limits). Each becomes an
            attribute of the adapter, part of its config and of ``patch_info``.
        applies_to: which layers it adapts: None (every layer with a kernel the adapter API
            reads: Dense, EinsumDense, Embedding, Conv1D/2D/3D), a layer class or tuple
            of classes, or ``predicate(layer) -> bool``.
        label: the toolbar's name (default: ``kind``).
        help: the toolbar's tooltip (default: the class docstring's first line).
        add: for built-in kinds with their own ``add_<kind>``; by default `add_adapter`.
        targets: ``"layers"`` (the toolbar needs a selection) or ``"model"`` (offered with
            nothing selected: ``add`` has default targets, as LoRA's).
        code: the expression `editor.export_code` writes; by default
            ``rw.add_adapter(model, '<kind>', targets=..., <params>)``.

    Example:
        >>> import risk_widgets as rw
        >>> sorted(k for k in rw.adapter_kinds() if k in ("lora", "dora", "svf"))
        ['dora', 'lora', 'svf']
    """
    if cls is None:  # used as a decorator with arguments
        def decorate(c):
            return register_adapter(kind, c, params=params, applies_to=applies_to,
                                    label=label, help=help, add=add, code=code,
                                    targets=targets)
        return decorate
    if not isinstance(kind, str) or not kind.isidentifier() or kind in _TAKEN:
        raise ValueError(
            f"An adapter kind is a name of letters, digits and '_' that is not a risk kind "
            f"({', '.join(sorted(_TAKEN))}). Received: kind={kind!r}"
        )
    if not (isinstance(cls, type) and issubclass(cls, AdapterLayer)):
        raise TypeError(
            f"register_adapter({kind!r}, cls) takes a subclass of rw.Adapter, which gives "
            "the base layer, its kernel, the gate, fold and saving. Received: "
            f"{cls!r}. Write `class MyAdapter(rw.Adapter)` with build_adapter() and delta()."
        )
    if targets not in ("layers", "model"):
        raise ValueError(f"`targets` is 'layers' or 'model'. Received: targets={targets!r}")
    specs = _specs(params)
    predicate = _predicate(applies_to)
    if add is None:
        cls.adapter_params = {s.name: s.default for s in specs}
    if "patch_kind" not in vars(cls):
        cls.patch_kind = kind
    if keras.saving.get_registered_object(keras.saving.get_registered_name(cls)) is not cls:
        keras.saving.register_keras_serializable(package="risk_widgets_adapters")(cls)
    doc = (cls.__doc__ or "").strip().splitlines()
    shown = "".join(", {params}" if specs else "")
    entry = AdapterKind(
        kind=kind, cls=cls, params=specs, applies_to=predicate,
        label=label or kind, help=help or (doc[0] if doc else ""),
        add=add or _generic_add(kind),
        code=code or f"rw.add_adapter(model, {kind!r}, targets={{targets}}{shown})",
        targets=targets,
    )
    _KINDS[kind] = entry
    from risk_widgets.engine.registry import register_patchable

    register_patchable(kind, predicate, through_wrappers=False)
    return cls


def unregister_adapter(kind: str) -> None:
    """Removes a kind added with `register_adapter` (no error when absent); the built-in
    kinds cannot be removed."""
    if kind in ("lora", "dora", "svf"):
        raise ValueError(f"{kind!r} is a built-in adapter kind and cannot be unregistered.")
    from risk_widgets.engine.registry import unregister_patchable

    if _KINDS.pop(kind, None) is not None:
        unregister_patchable(kind)


def adapter_kinds() -> dict[str, AdapterKind]:
    """Every registered adapter kind, built-in first, in registration order."""
    return dict(_KINDS)


def adapter_kind(kind: str) -> AdapterKind:
    """The registered kind ``kind``, or a ValueError listing the registered ones."""
    found = _KINDS.get(kind)
    if found is None:
        raise ValueError(
            f"Unknown adapter kind {kind!r}. Registered: {', '.join(_KINDS)}. Register your "
            "own with rw.register_adapter(kind, MyAdapter, params=...)."
        )
    return found


def _generic_add(kind: str) -> Callable[..., Any]:
    def add(model, targets, name=None, train=None, **params):
        entry = adapter_kind(kind)
        typed = entry.check(params)

        def make(layer, path):
            if not entry.applies_to(layer):
                raise TypeError(
                    f"Adapter kind {kind!r} does not apply to {path!r} "
                    f"({type(layer).__name__}). Target layers it applies to (the editor "
                    "offers it only on those), or register it with another applies_to=."
                )
            adapter = entry.cls(layer, **typed)
            adapter.build(layer.get_build_config()["input_shape"])
            return adapter

        if targets is None:  # every layer the kind applies to, as add_lora's fallback
            targets = lambda path, layer: entry.applies_to(layer)  # noqa: E731
        return stack_adapters(model, targets, make, kind, name, train)

    return add


def add_adapter(
    model: Any, kind: str, targets: Any = None, *, name: str | None = None, train: Any = None,
    **params: Any,
) -> Any:
    """Returns a `PatchedModel` with an adapter of the registered ``kind`` on ``targets``.

    The same as the kind's own function for built-in kinds (``add_adapter(model, "lora",
    "*/query", rank=4)`` is ``add_lora(model, "*/query", rank=4)``); for kinds registered
    with `register_adapter`, each target gets ``cls(layer, **params)``. Base weights are
    shared and frozen, only the adapters' weights train, ``model`` is never changed; a
    target that already holds adapters keeps them and gets this one too (named ``name``).

    Args:
        model: a built Keras model.
        kind: a registered kind (`adapter_kinds`).
        targets: path, glob, list, layer class or predicate (see `rw.find_layers`); None:
            the kind's default (every layer it applies to for a registered kind).
        name: the adapters' name (default ``"default"``, or ``"<kind>_1"``, ... when a
            target already has an adapter).
        train: layers that train whole beside the adapters, as for `rw.add_lora` (None: a
            KerasHub classifier task's head on its first patch; ``[]``: none). A kind
            registered with its own ``add=`` receives it only when given.
        **params: the kind's parameters (defaults from its registration).

    Example:
        >>> import keras
        >>> import risk_widgets as rw
        >>> inputs = keras.Input((4,))
        >>> model = keras.Model(inputs, keras.layers.Dense(2, name="head")(inputs))
        >>> rw.adapter_names(rw.add_adapter(model, "lora", "head", rank=2, name="a"))
        ['a']
    """
    entry = adapter_kind(kind)
    if train is not None:
        params["train"] = train
    return entry.add(model, targets, name=name, **params)

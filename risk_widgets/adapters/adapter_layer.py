"""`AdapterLayer` (a `PatchLayer` on a kernel layer, with a name and a gate) and
`AdapterStack` (several named adapters on one base layer).

Patch layers in general (the marker, `PatchLayer`, which weights train) are the engine's
contract: `risk_widgets.engine.patch_layer`; kernels are read through
`risk_widgets.adapters.kernel_views`.
"""

from __future__ import annotations

import contextlib
from typing import Any

import keras
import numpy as np
from keras import ops

from risk_widgets.adapters.kernel_views import kernel_view, quantization_mode
from risk_widgets.core import keras_internals as ki
from risk_widgets.engine.patch_layer import PatchLayer

#: the name of an adapter created without ``name=`` on a layer that has none yet (as PEFT)
DEFAULT_NAME = "default"


def check_adapter_name(name: Any) -> str:
    """``name`` if it is a usable adapter name, else a ValueError naming the rule."""
    if not isinstance(name, str) or not name.strip() or name != name.strip() or any(
        c in name for c in "/:,"
    ):
        raise ValueError(
            f"An adapter name is a non-empty string without spaces around it and without "
            f"'/', ':' or ','. Received: name={name!r}. Use e.g. name='task_b'."
        )
    return name


class _ReversibleBase(PatchLayer):
    """A patch layer whose base may be a tied `ReversibleEmbedding`, also called with
    ``reverse=True`` (logits against its table)."""

    def compute_output_spec(self, inputs, training=None, reverse=False):
        if reverse:  # Keras asks compute_output_shape with shapes only, never `reverse`
            return self.layer.compute_output_spec(inputs, reverse=True)
        return super().compute_output_spec(inputs, training=training)


class AdapterLayer(_ReversibleBase):
    """An adapter: new weights on a kernel layer, with a name and a gate (``rw.Adapter``).

    The base class of every adapter kind, built-in (LoRA, DoRA, SVF) or your own. Write a
    subclass with:

    - ``build_adapter(self)``: create the new weights with ``self.add_weight`` (sizes from
      ``self.input_dim`` and ``self.output_dim``: the kernel seen as an ``(in, out)``
      matrix, whatever the layer: Dense, EinsumDense, Embedding, Conv);
    - ``delta(self, inputs, training=None)``: the update added to the base layer's output
      before its activation, e.g. ``self.low_rank(inputs, A, B)`` (``x A B``) or
      ``self.apply_matrix(inputs, M)`` (``x M``, M an ``(in, out)`` tensor; the base
      kernel is ``self.kernel_tensor()``);
    - optionally ``delta_matrix(self)``: the same update as an ``(in, out)`` NumPy matrix
      (``self.kernel_matrix()`` is the base kernel, ``self.value(w)`` a weight), which lets
      `rw.fold` merge it.

    and register it: ``rw.register_adapter("ia3", IA3, params={"init": 1.0})``. Each
    registered parameter becomes an attribute (``self.init``), part of the config (so
    ``.keras`` files and stacks restore it) and of ``patch_info`` (the graph, the editor).
    The base layer (``self.layer``) is shared with the user's model and frozen: only the
    weights the adapter adds train, and nothing of the base is written.

    ``call`` computes ``act(base_linear(x) + gate * delta(x))`` where ``delta`` is given by
    the subclass; ``folded()`` returns a plain layer of the base class whose kernel is
    ``W + gate * merged_delta()`` (new weights; the shared base's variables are never
    written).

    Every adapter has a name (``adapter_name``, ``"default"`` unless given) and a gate: a
    float32 variable, 1.0 when active and 0.0 when not, read by ``call`` at run time, so
    `risk_widgets.set_active` takes effect in an already compiled (traced) model without
    rebuilding it. The gate is not one of the layer's weights (parameter counts and weight
    files are as without it); its value is saved in the config (``"active"``).
    Several adapters on one layer are an `AdapterStack`; subclasses only implement
    ``build_adapter``, ``delta`` and ``delta_matrix`` and take the base layer as their first
    argument ``layer`` (the stack re-creates them with ``cls(layer=base, **config)``).

    Args:
        layer: the base layer.
        adapter_name: see above.
        active: the initial state of the gate.
        **kwargs: base Layer arguments.
    """

    #: whether the adapter takes an int8 / int4 base (`kernel_view(quantized=True)`)
    accepts_quantized = False
    #: ``{name: default}`` of the constructor parameters a registered kind declared
    #: (`register_adapter(params=...)`): attributes, config and ``patch_info``
    adapter_params: dict = {}

    def __init__(self, layer, adapter_name: str = DEFAULT_NAME, active: bool = True, **kwargs):
        adapter_name = check_adapter_name(adapter_name)
        params = {name: kwargs.pop(name, default)
                  for name, default in type(self).adapter_params.items()}
        if quantization_mode(layer):  # the adapter itself computes in float (Keras would
            kwargs.setdefault("dtype", ki.float_policy(layer.dtype_policy))  # dispatch it)
        super().__init__(layer, **kwargs)
        for name, value in params.items():
            setattr(self, name, value)
        self.adapter_name = adapter_name
        gate = keras.Variable(
            1.0 if active else 0.0, trainable=False, dtype="float32", name="adapter_gate"
        )
        object.__setattr__(self, "_rw_gate", gate)  # untracked: not a weight, not saved

    @property
    def wrapped_layer(self):
        """The base layer: risk wrappers look through adapters (a patched Dense is a Dense
        dropout site, and a class target ``keras.layers.Dense`` matches it)."""
        return self.layer

    # -- gate ---------------------------------------------------------------------------
    @property
    def active(self) -> bool:
        """Whether the adapter's update is added (its gate is 1); settable, no rebuild."""
        return bool(float(keras.ops.convert_to_numpy(self._rw_gate)) > 0.5)

    @active.setter
    def active(self, value: bool) -> None:
        self._rw_gate.assign(1.0 if value else 0.0)

    def gated_delta(self, inputs, training=None):
        """``gate * delta(inputs)``, in the dtype of ``delta``."""
        delta = self.delta(inputs, training)
        return ops.multiply(delta, ops.cast(self._rw_gate, delta.dtype))

    # -- what subclasses implement ------------------------------------------------------
    def build(self, input_shape=None):
        if not self.layer.built:
            self.layer.build(input_shape)
        self.view = kernel_view(
            self.layer, self.name, self.patch_kind, quantized=self.accepts_quantized
        )
        self.build_adapter()
        self.built = True

    def build_adapter(self):
        """Creates the adapter's weights (``self.add_weight``); none by default."""

    def delta(self, inputs, training=None):
        """The update added to the base layer's output (before its activation)."""
        raise NotImplementedError(
            f"{type(self).__name__} defines no delta(self, inputs, training=None): the update "
            "it adds to the base layer's output. Write it, e.g. `return self.low_rank(inputs, "
            "self.a, self.b)`."
        )

    def delta_matrix(self) -> np.ndarray:
        """The change of the kernel as an ``(in, out)`` float64 matrix (what fold adds)."""
        raise NotImplementedError(
            f"adapter kind {self.patch_kind!r} ({type(self).__name__}) defines no "
            "delta_matrix(), so its update cannot be merged into the kernel. Add "
            "`def delta_matrix(self)` returning the (in, out) change of the kernel, or drop "
            "the adapters with rw.unpatch(model) (names=[...] for some)."
        )

    # -- what a subclass reads ----------------------------------------------------------
    @property
    def input_dim(self) -> int:
        """Rows of the base kernel seen as an ``(in, out)`` matrix (built adapters only)."""
        return int(self.view.matrix_shape[0])

    @property
    def output_dim(self) -> int:
        """Columns of the base kernel seen as an ``(in, out)`` matrix."""
        return int(self.view.matrix_shape[1])

    def kernel_tensor(self):
        """The base kernel as an ``(in, out)`` tensor (read-only; use it in ``delta``)."""
        return self.view.kernel_matrix_tensor()

    def kernel_matrix(self) -> np.ndarray:
        """The base kernel as an ``(in, out)`` float64 NumPy matrix (for ``delta_matrix``)."""
        return self.view.kernel_matrix()

    @staticmethod
    def value(variable) -> np.ndarray:
        """A weight's current value as a float64 NumPy array, on any backend (for
        ``delta_matrix``; ``np.asarray`` of a torch variable can share its memory)."""
        return np.asarray(ops.convert_to_numpy(variable), dtype="float64")

    def apply_matrix(self, inputs, matrix):
        """``inputs`` times an ``(in, out)`` tensor as the base applies its kernel (no bias,
        no activation): ``x M`` on a Dense, the same contraction on an EinsumDense / Conv."""
        return self.view.matrix_apply(inputs, matrix)

    def low_rank(self, inputs, down, up):
        """``inputs`` times ``down`` ``(in, r)`` then ``up`` ``(r, out)``: cheaper than
        `apply_matrix` of ``down @ up``."""
        return self.view.low_rank(inputs, down, up)

    def patch_info(self) -> dict:
        """``{"kind", "params"}``: the registered parameters' values (the graph, editor)."""
        return {"kind": self.patch_kind,
                "params": {name: getattr(self, name) for name in type(self).adapter_params}}

    def call(self, inputs, training=None, reverse=False):
        if reverse:  # a tied ReversibleEmbedding used as the output projection
            return self.view.reversed(inputs, [self.gated_reverse_delta(inputs)])
        return self.view.updated(inputs, [self.gated_delta(inputs, training)])

    def reverse_delta(self, inputs):
        """``x ΔEᵀ``: the update of a tied embedding's output logits (``reverse=True``)."""
        raise NotImplementedError(
            f"adapter kind {self.patch_kind!r} cannot adapt the embedding {self.name!r}, "
            "whose table is also the model's output projection (a ReversibleEmbedding called "
            "with reverse=True): it defines no reverse_delta(inputs), the update of x Eᵀ. "
            "Write one, use LoRA or SVF on it, or target other layers."
        )

    def gated_reverse_delta(self, inputs):
        delta = self.reverse_delta(inputs)
        return ops.multiply(delta, ops.cast(self._rw_gate, delta.dtype))

    def merged_kernel(self) -> np.ndarray:
        """``W + gate * delta`` in the base kernel's shape (float64 NumPy)."""
        matrix = self.view.kernel_matrix() + (self.delta_matrix() if self.active else 0.0)
        return self.view.matrix_to_kernel(matrix)

    def folded(self, dequantize: bool = False) -> keras.layers.Layer:
        """A new plain layer of the base's class holding the merged kernel. A quantized
        base is refused (its int kernel cannot hold the merge) unless ``dequantize``: then
        a float layer holds the dequantized kernel plus the update."""
        with self.view.dequantizing(dequantize):
            return self.view.plain_layer(self.merged_kernel())

    def get_config(self):
        params = {name: getattr(self, name) for name in type(self).adapter_params}
        return {**super().get_config(), **params, "adapter_name": self.adapter_name,
                "active": self.active}

    # -- the named-adapter protocol (read by risk_widgets.engine, which imports no adapter)
    def named_adapters(self) -> list[AdapterLayer]:
        """The adapters this patch layer holds, in order: here just itself."""
        return [self]

    def without_adapters(self, names) -> keras.layers.Layer:
        """This layer without the adapters named in ``names`` (the base when none is left)."""
        kept = [a for a in self.named_adapters() if a.adapter_name not in names]
        return assemble(self.layer, kept)

    def fold_adapters(self, names, dequantize: bool = False) -> keras.layers.Layer:
        """The adapters named in ``names`` merged into a new plain base layer; the others
        re-created (same weights, same gate) on that layer. Nothing of ``self`` is written.
        ``dequantize``: a quantized base becomes a float layer (see `folded`)."""
        merged = [a for a in self.named_adapters() if a.adapter_name in names]
        if not merged:
            return self
        views = [a.view for a in self.named_adapters()]
        with contextlib.ExitStack() as scopes:
            for view in views:
                scopes.enter_context(view.dequantizing(dequantize))
            view = views[0]
            matrix = view.kernel_matrix()
            for a in merged:
                if a.active:
                    matrix = matrix + a.delta_matrix()
            base = view.plain_layer(view.matrix_to_kernel(matrix))
        kept = [a.rebased(base) for a in self.named_adapters() if a.adapter_name not in names]
        return assemble(base, kept)

    def rebased(self, base) -> AdapterLayer:
        """A copy of this adapter (config, own weights, gate) on another base layer."""
        config = {k: v for k, v in self.get_config().items() if k != "layer"}
        new = type(self)(layer=base, **config)
        new.build(self.layer.get_build_config()["input_shape"])
        frozen = self._frozen_ids()
        mine = [v for v in self.weights if id(v) not in frozen]
        theirs = [v for v in new.weights if id(v) not in {id(w) for w in base.variables}]
        for dst, src in zip(theirs, mine, strict=True):
            dst.assign(keras.ops.convert_to_numpy(src))
        return new


def assemble(base, adapters: list) -> keras.layers.Layer:
    """``base`` alone, one adapter, or an `AdapterStack` of several (all on ``base``)."""
    if not adapters:
        return base
    if len(adapters) == 1:
        return adapters[0]
    return AdapterStack(base, adapters)


@keras.saving.register_keras_serializable(package="risk_widgets")
class AdapterStack(_ReversibleBase):
    """Several named adapters on one base layer: ``act(x W + b + Σ gate_i delta_i(x))``.

    Made by `add_lora` / `add_svf` (any `AdapterLayer` kind) on a layer that already has an
    adapter; not usually constructed by hand. The adapters are shared with the model they
    came from (a stack holds the same adapter objects), the base layer is shared and frozen
    as for one adapter. Their updates add up in order; folding merges each one's
    ``delta_matrix`` (times its gate) into the kernel.

    Args:
        layer: the base layer.
        adapters: `AdapterLayer`s on ``layer`` (at least two, with distinct names).
        **kwargs: base Layer arguments (``name`` defaults to the base layer's name).

    Example:
        >>> import keras, numpy as np
        >>> from risk_widgets.adapters.adapter_layer import AdapterStack
        >>> from risk_widgets.adapters.lora import LoRAAdapter
        >>> dense = keras.layers.Dense(3)
        >>> dense.build((None, 4))
        >>> stack = AdapterStack(dense, [LoRAAdapter(dense, rank=1),
        ...                              LoRAAdapter(dense, rank=2, adapter_name="b")])
        >>> stack(np.ones((1, 4))).shape, [a.adapter_name for a in stack.named_adapters()]
        (TensorShape([1, 3]), ['default', 'b'])
    """

    patch_kind = "stack"

    def __init__(self, layer, adapters, **kwargs):
        if quantization_mode(layer):
            kwargs.setdefault("dtype", ki.float_policy(layer.dtype_policy))
        super().__init__(layer, **kwargs)
        adapters = list(adapters)
        names = [getattr(a, "adapter_name", None) for a in adapters]
        if len(adapters) < 2 or not all(isinstance(a, AdapterLayer) for a in adapters):
            raise TypeError(
                f"AdapterStack {self.name!r} holds two or more AdapterLayers. Received: "
                f"{[type(a).__name__ for a in adapters]}. One adapter is used on its own."
            )
        if any(a.layer is not layer for a in adapters):
            raise ValueError(
                f"Every adapter of AdapterStack {self.name!r} must wrap the stack's base layer "
                f"{layer.name!r} itself; re-create them with adapter.rebased(layer)."
            )
        duplicate = sorted({n for n in names if names.count(n) > 1})
        if duplicate:
            raise ValueError(
                f"Adapter names on {self.name!r} must be distinct; {duplicate} appear twice. "
                "Give each adapter its own name=."
            )
        self.adapters = adapters

    def build(self, input_shape=None):
        if not self.layer.built:
            self.layer.build(input_shape)
        for a in self.adapters:
            if not a.built:
                a.build(input_shape)
        self.view = kernel_view(
            self.layer, self.name, "adapters",
            quantized=all(a.accepts_quantized for a in self.adapters),
        )
        self.built = True

    def call(self, inputs, training=None, reverse=False):
        if reverse:
            updates = [a.gated_reverse_delta(inputs) for a in self.adapters]
            return self.view.reversed(inputs, updates)
        return self.view.updated(inputs, [a.gated_delta(inputs, training) for a in self.adapters])

    @property
    def wrapped_layer(self):
        return self.layer

    @property
    def adapter_weights(self) -> list:
        return [v for a in self.adapters for v in a.adapter_weights]

    def named_adapters(self) -> list[AdapterLayer]:
        return list(self.adapters)

    without_adapters = AdapterLayer.without_adapters
    fold_adapters = AdapterLayer.fold_adapters

    def folded(self, dequantize: bool = False) -> keras.layers.Layer:
        return self.fold_adapters({a.adapter_name for a in self.adapters}, dequantize)

    def patch_info(self) -> dict:
        """The first adapter's ``{"kind", "params"}`` (the node's ``patch``), plus
        ``"patches"``: every adapter's kind, name, params and active state."""
        first = self.adapters[0].patch_info()
        return {**first, "patches": [adapter_info(a) for a in self.adapters]}

    def get_config(self):
        config = super().get_config()
        members = []
        for a in self.adapters:
            entry = keras.saving.serialize_keras_object(a)
            entry["config"] = {k: v for k, v in entry["config"].items() if k != "layer"}
            members.append(entry)
        return {**config, "adapters": members}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        base = keras.saving.deserialize_keras_object(config.pop("layer"), custom_objects)
        adapters = []
        for entry in config.pop("adapters"):
            member = keras.saving.get_registered_object(
                entry.get("registered_name") or entry["class_name"], custom_objects
            )
            if member is None:
                raise TypeError(
                    f"Cannot restore adapter {entry.get('class_name')!r} of stack "
                    f"{config.get('name')!r}: its class is not registered. Import the module "
                    "that defines it before loading."
                )
            adapters.append(member(layer=base, **entry["config"]))
        return cls(base, adapters, **config)


def adapter_info(adapter) -> dict:
    """``{"kind", "name", "params", "active"}`` of one adapter (a graph node's ``patches``)."""
    info = adapter.patch_info()
    return {
        "kind": info.get("kind"),
        "name": adapter.adapter_name,
        "params": dict(info.get("params", {})),
        "active": adapter.active,
    }


def base_of(layer):
    """The base layer under an adapter or a stack; ``layer`` itself otherwise."""
    return layer.layer if isinstance(layer, (AdapterLayer, AdapterStack)) else layer


def can_adapt(layer, quantized: bool = False) -> bool:
    """True when `add_lora` / `add_svf` accept ``layer`` (the graph's ``patchable``): a
    supported kernel layer, or one that already holds adapters (a new one stacks).
    ``quantized``: an int8 / int4 Dense or EinsumDense counts too (LoRA and DoRA take one,
    SVF does not)."""
    try:
        kernel_view(base_of(layer), "", quantized=quantized)
    except (TypeError, ValueError, AttributeError):
        return False
    return True

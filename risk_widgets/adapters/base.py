"""`AdapterLayer` (a `PatchLayer` on a kernel layer) and the kernel dispatch list.

Patch layers in general (the marker, `PatchLayer`, which weights train) are the engine's
contract: `risk_widgets.engine.patch_layer`. Adapters (`LoRAAdapter`, `SVFAdapter`) support
`Dense` and `EinsumDense` through `KernelView`, chosen by `KERNEL_DISPATCH` (first match
wins); the "unsupported layer" message is built from that list.

Example:
    >>> import keras
    >>> from risk_widgets.adapters.base import kernel_view
    >>> dense = keras.layers.Dense(3)
    >>> dense.build((None, 4))
    >>> view = kernel_view(dense, "head")
    >>> view.equation, view.matrix_shape
    ('...i,io->...o', (4, 3))
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
from keras import ops

from risk_widgets import keras_internals as ki
from risk_widgets.engine.patch_layer import PatchLayer, TrainableSubset

__all__ = [
    "AdapterLayer",
    "AdapterStack",
    "DEFAULT_NAME",
    "TrainableSubset",
    "KERNEL_DISPATCH",
    "KernelView",
    "PatchLayer",
    "adapter_info",
    "add_adapter",
    "base_of",
    "can_adapt",
    "check_adapter_name",
    "kernel_view",
    "supported_types",
]


# ----------------------------------------------------------------------------- kernels


def _letters(spec: str) -> list[str]:
    return [c for c in spec.replace("...", "") if c.isalpha()]


class KernelView:
    """A kernel layer seen as ``y = act(einsum(equation, x, kernel) + bias)``.

    Gives the kernel as a matrix ``(in, out)`` (contracted axes first, output axes
    second) and the einsum equations of a low-rank path ``x -> (…, r) -> y``.

    Args:
        layer: a built `Dense` or `EinsumDense` layer.
        equation: its einsum equation (``"...i,io->...o"`` for Dense).
        path: the layer's path (for messages).
    """

    def __init__(self, layer, equation: str, path: str):
        self.layer = layer
        self.path = path
        self.equation = equation
        #: the base's quantization mode ("int8") or None; see `kernel_view(quantized=)`
        self.quantized = quantization_mode(layer)
        lhs, out = equation.split("->")
        x_spec, k_spec = lhs.split(",")
        x_letters, k_letters, out_letters = _letters(x_spec), _letters(k_spec), _letters(out)
        shared = [c for c in k_letters if c in x_letters and c in out_letters]
        lonely = [c for c in k_letters if c not in x_letters and c not in out_letters]
        if shared or lonely or len(set(k_letters)) != len(k_letters):
            raise ValueError(
                f"Cannot adapt {type(layer).__name__} at {path!r}: its equation "
                f"{equation!r} has kernel axes that are neither only contracted nor only "
                "output axes. Supported equations contract input axes with the kernel and "
                "produce new output axes (e.g. 'abc,cde->abde')."
            )
        self.contracted = [c for c in k_letters if c in x_letters]
        self.produced = [c for c in k_letters if c not in x_letters]
        kernel_shape = tuple(int(d) for d in self.kernel.shape)
        self.dims = dict(zip(k_letters, kernel_shape, strict=True))
        self.kernel_letters = k_letters
        self.kernel_shape = kernel_shape
        self.matrix_shape = (
            math.prod(self.dims[c] for c in self.contracted),
            math.prod(self.dims[c] for c in self.produced),
        )
        r = next(c for c in "rstuvwxyzqponmlkjihgfedcba" if c not in equation)
        kept = "".join(c for c in out if c not in self.produced)  # keeps "..."
        mid = kept + r
        self.down_equation = f"{x_spec},{''.join(self.contracted)}{r}->{mid}"
        self.up_equation = f"{mid},{r}{''.join(self.produced)}->{out}"
        self._equations_by_ndim: dict[int, tuple[str, str]] = {}
        n_in, n_out = len(self.contracted), len(self.produced)
        # contracted axes last in x (in kernel order), produced axes last in y, the same
        # leading axes in both: the low-rank path is a matmul of x as a (batch, in) matrix
        self.trailing = (
            n_in > 0 and n_out > 0
            and list(x_spec[-n_in:]) == self.contracted
            and list(out[-n_out:]) == self.produced
            and x_spec[:-n_in] == out[:-n_out]
        )
        self.down_shape = tuple(self.dims[c] for c in self.contracted)
        self.up_shape = tuple(self.dims[c] for c in self.produced)
        order = self.contracted + self.produced
        self._to_matrix_perm = [k_letters.index(c) for c in order]
        self._from_matrix_perm = [order.index(c) for c in k_letters]

    @property
    def kernel(self):
        return self.layer.kernel

    def linear(self, inputs):
        """The base layer's output before its activation (same ops as its ``call``; a
        quantized base runs its own quantized forward pass)."""
        if self.quantized:
            return ki.quantized_linear(self.layer, inputs)
        return self.float_linear(inputs)

    def float_linear(self, inputs):  # pragma: no cover - abstract
        raise NotImplementedError

    def check_float(self, what: str) -> None:
        """Raises a TypeError naming the layer and the way out when the base is quantized
        (its int8 kernel cannot hold ``W + delta`` exactly)."""
        if self.quantized:
            raise TypeError(
                f"Cannot {what} {self.path!r}: its base {type(self.layer).__name__} is "
                f"quantized ({self.quantized}), and {self.quantized} weights cannot hold the "
                "merged float kernel exactly. Drop the adapters with rw.unpatch(model), or "
                "fold before quantizing: add LoRA to the float model, train, rw.fold(model), "
                "then quantize the folded model (layer.quantize('int8'))."
            )

    def kernel_variable(self):
        """The variable that holds the kernel (written by `plain_layer`)."""
        return ki.kernel_variable(self.layer)

    def activate(self, outputs):
        activation = getattr(self.layer, "activation", None)
        return outputs if activation is None else activation(outputs)

    def low_rank(self, inputs, down, up):
        """``einsum`` of ``inputs`` with ``down`` (in, r) then ``up`` (r, out) matrices."""
        rank = down.shape[-1]
        if self.trailing:  # two plain matmuls on 2-D views: the cheapest gradient
            leading = ops.shape(inputs)[: len(inputs.shape) - len(self.contracted)]
            flat = ops.reshape(inputs, (-1, self.matrix_shape[0]))
            hidden = ops.matmul(flat, ops.cast(down, inputs.dtype))
            delta = ops.matmul(hidden, ops.cast(up, inputs.dtype))
            return ops.reshape(delta, (*leading, *self.up_shape))
        down = ops.reshape(down, (*self.down_shape, rank))
        up = ops.reshape(up, (rank, *self.up_shape))
        down_equation, up_equation = self._explicit_equations(len(inputs.shape))
        hidden = ops.einsum(down_equation, inputs, ops.cast(down, inputs.dtype))
        return ops.einsum(up_equation, hidden, ops.cast(up, inputs.dtype))

    def matrix_apply(self, inputs, matrix):
        """``inputs`` contracted with an ``(in, out)`` matrix (a tensor) as the base contracts
        them with its kernel, without bias or activation (DoRA's full-rank update)."""
        if self.trailing:
            leading = ops.shape(inputs)[: len(inputs.shape) - len(self.contracted)]
            flat = ops.reshape(inputs, (-1, self.matrix_shape[0]))
            out = ops.matmul(flat, ops.cast(matrix, inputs.dtype))
            return ops.reshape(out, (*leading, *self.up_shape))
        lhs, out = self.equation.split("->")
        x_spec = lhs.split(",")[0]
        equation = f"{x_spec},{''.join(self.contracted + self.produced)}->{out}"
        if "..." in x_spec:  # letters, not "...": see _explicit_equations
            free = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in equation]
            n_free = len(inputs.shape) - len(_letters(x_spec))
            equation = equation.replace("...", "".join(free[:n_free]))
        kernel = ops.reshape(matrix, (*self.down_shape, *self.up_shape))
        return ops.einsum(equation, inputs, ops.cast(kernel, inputs.dtype))

    def kernel_matrix_tensor(self):
        """The kernel as an ``(in, out)`` tensor (differentiable; for DoRA's norms)."""
        return ops.reshape(ops.transpose(self.kernel, self._to_matrix_perm), self.matrix_shape)

    def _explicit_equations(self, ndim: int) -> tuple[str, str]:
        """The low-rank equations with ``...`` spelled out for inputs of rank ``ndim``.

        Why: TensorFlow's einsum gradient treats ``...`` as broadcasting, so the gradient of
        the small ``(in, r)`` factor materialised an ``(in, r, batch, seq)`` tensor before
        summing it (a LoRA train step was 1.6x Keras' ``enable_lora``); with letters it is
        one plain contraction.
        """
        cached = self._equations_by_ndim.get(ndim)
        if cached is None:
            x_spec = self.down_equation.split(",")[0]
            if "..." not in x_spec:
                cached = (self.down_equation, self.up_equation)
            else:
                n_free = ndim - len(_letters(x_spec))
                used = set(self.down_equation + self.up_equation)
                free = "".join([c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in used][:n_free])
                cached = (self.down_equation.replace("...", free),
                          self.up_equation.replace("...", free))
            self._equations_by_ndim[ndim] = cached
        return cached

    def kernel_matrix(self) -> np.ndarray:
        """The kernel as an ``(in, out)`` float64 NumPy matrix."""
        self.check_float("fold the adapters of")
        kernel = np.asarray(keras.ops.convert_to_numpy(self.kernel), dtype="float64")
        return kernel.transpose(self._to_matrix_perm).reshape(self.matrix_shape)

    def matrix_to_kernel(self, matrix: np.ndarray) -> np.ndarray:
        shaped = np.asarray(matrix).reshape(
            [self.dims[c] for c in self.contracted + self.produced]
        )
        return shaped.transpose(self._from_matrix_perm)

    def plain_layer(self, kernel: np.ndarray) -> keras.layers.Layer:
        """A new plain layer of the base's class with ``kernel`` and the base's bias."""
        self.check_float("fold the adapters of")
        base = self.layer
        new = type(base).from_config(base.get_config())
        new.build_from_config(base.get_build_config())
        old_kernel = self.kernel_variable()
        for new_v, old_v in zip(new.weights, base.weights, strict=True):
            if old_v is old_kernel:
                new_v.assign(kernel.astype(new_v.dtype))
            else:
                new_v.assign(keras.ops.convert_to_numpy(old_v))
        return new


class DenseView(KernelView):
    def __init__(self, layer, path):
        super().__init__(layer, "...i,io->...o", path)

    def float_linear(self, inputs):
        x = ops.matmul(inputs, self.kernel)
        if self.layer.bias is not None:
            x = ops.add(x, self.layer.bias)
        return x


class EinsumDenseView(KernelView):
    def __init__(self, layer, path):
        super().__init__(layer, layer.equation, path)

    def float_linear(self, inputs):
        x = ops.einsum(self.layer.equation, inputs, self.kernel)
        if self.layer.bias is not None:
            x = ops.add(x, self.layer.bias)
        return x


class EmbeddingView(KernelView):
    """An `Embedding` seen as a kernel layer: ``y = embeddings[ids]``, as the one-hot
    matmul ``onehot(ids) @ E`` (``in`` = vocabulary, ``out`` = dimension). The low-rank
    path is ``A[ids] @ B``; folding writes ``E + delta`` into a new `Embedding`."""

    def __init__(self, layer, path):
        if layer.mask_zero:
            raise TypeError(
                f"Cannot adapt Embedding {path!r}: it has mask_zero=True, and the adapted "
                "layer would not pass its mask on. Use an Embedding with mask_zero=False "
                "(and keras.layers.Masking after it), or target other layers."
            )
        super().__init__(layer, "...i,io->...o", path)
        self.trailing = False

    @property
    def kernel(self):
        return self.layer.embeddings


    @staticmethod
    def _ids(inputs):
        return inputs if inputs.dtype in ("int32", "int64") else ops.cast(inputs, "int32")

    def float_linear(self, inputs):
        return ops.cast(
            ops.take(self.layer.embeddings, self._ids(inputs), axis=0), self.layer.compute_dtype
        )

    def activate(self, outputs):
        return outputs

    def low_rank(self, inputs, down, up):
        hidden = ops.take(down, self._ids(inputs), axis=0)  # (..., r)
        return ops.matmul(hidden, up)


#: (layer class, view factory): the first class the layer is an instance of wins.
KERNEL_DISPATCH: list[tuple[type, Callable[[Any, str], KernelView]]] = [
    (keras.layers.EinsumDense, EinsumDenseView),
    (keras.layers.Dense, DenseView),
    (keras.layers.Embedding, EmbeddingView),
]


def quantization_mode(layer) -> str | None:
    """The layer's quantization mode (``"int8"``, …) or None for a float layer."""
    return getattr(layer, "quantization_mode", None) or getattr(
        getattr(layer, "dtype_policy", None), "quantization_mode", None
    )


def supported_types() -> list[str]:
    """Names of the layer classes adapters support, from `KERNEL_DISPATCH`."""
    return [cls.__name__ for cls, _ in KERNEL_DISPATCH]


def kernel_view(layer, path: str, kind: str = "adapter", quantized: bool = False) -> KernelView:
    """Returns the `KernelView` of ``layer`` or raises a TypeError naming what works.

    ``quantized=True`` (LoRA) accepts an ``int8``-quantized `Dense` / `EinsumDense`: the
    view's ``linear`` runs the layer's quantized forward pass (the float delta is added).
    """
    if is_patch(layer):
        raise TypeError(
            f"Cannot add {kind} to {path!r}: it is already patched "
            f"({type(layer).__name__}). Call rw.unpatch(model) first, or target "
            "another layer."
        )
    factory = next((f for cls, f in KERNEL_DISPATCH if isinstance(layer, cls)), None)
    if factory is None:
        inner = getattr(layer, "layer", None)  # TimeDistributed, Bidirectional, ...
        hint = (
            f" It wraps a {type(inner).__name__}: target {path + '/' + inner.name!r} instead."
            if isinstance(layer, keras.layers.Wrapper) and can_adapt(inner)
            else ""
        )
        raise TypeError(
            f"Cannot add {kind} to {path!r}: {type(layer).__name__} is not supported.{hint} "
            f"Supported layer types: {', '.join(supported_types())}. Choose targets of "
            "those types (e.g. targets=keras.layers.Dense), or add a (class, view) entry "
            "to risk_widgets.adapters.base.KERNEL_DISPATCH."
        )
    if not layer.built:
        raise ValueError(f"Cannot add {kind} to {path!r}: the layer is not built yet.")
    mode = quantization_mode(layer)
    if mode and not (
        quantized and mode == "int8" and not isinstance(layer, keras.layers.Embedding)
    ):
        also = " LoRA takes int8 Dense / EinsumDense layers." if kind != "LoRA" else ""
        raise TypeError(
            f"Cannot add {kind} to {path!r}: its {type(layer).__name__} is quantized "
            f"({mode}), which {kind} does not support.{also} Patch the float model, then "
            "quantize the folded one."
        )
    if getattr(layer, "lora_enabled", False):
        raise TypeError(
            f"Cannot add {kind} to {path!r}: Keras' built-in LoRA is enabled on this "
            "layer (enable_lora). Use a layer without it."
        )
    return factory(layer, path)


def is_patch(layer) -> bool:
    return bool(getattr(layer, "is_patch_layer", False))


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


class AdapterLayer(PatchLayer):
    """A `PatchLayer` over a kernel layer (`Dense` / `EinsumDense`), with a name and a gate.

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

    #: whether the adapter takes an int8-quantized base (`kernel_view(quantized=True)`)
    accepts_quantized = False

    def __init__(self, layer, adapter_name: str = DEFAULT_NAME, active: bool = True, **kwargs):
        adapter_name = check_adapter_name(adapter_name)
        if quantization_mode(layer):  # the adapter itself computes in float (Keras would
            kwargs.setdefault("dtype", ki.float_policy(layer.dtype_policy))  # dispatch it)
        super().__init__(layer, **kwargs)
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

    def build_adapter(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def delta(self, inputs, training=None):  # pragma: no cover - abstract
        raise NotImplementedError

    def delta_matrix(self) -> np.ndarray:  # pragma: no cover - abstract
        """The change of the kernel as an ``(in, out)`` float64 matrix."""
        raise NotImplementedError

    def call(self, inputs, training=None):
        outputs = self.view.linear(inputs)
        outputs = ops.add(outputs, ops.cast(self.gated_delta(inputs, training), outputs.dtype))
        return self.view.activate(outputs)

    def merged_kernel(self) -> np.ndarray:
        """``W + gate * delta`` in the base kernel's shape (float64 NumPy)."""
        matrix = self.view.kernel_matrix() + (self.delta_matrix() if self.active else 0.0)
        return self.view.matrix_to_kernel(matrix)

    def folded(self) -> keras.layers.Layer:
        return self.view.plain_layer(self.merged_kernel())

    def get_config(self):
        return {**super().get_config(), "adapter_name": self.adapter_name, "active": self.active}

    # -- the named-adapter protocol (read by risk_widgets.engine, which imports no adapter)
    def named_adapters(self) -> list[AdapterLayer]:
        """The adapters this patch layer holds, in order: here just itself."""
        return [self]

    def without_adapters(self, names) -> keras.layers.Layer:
        """This layer without the adapters named in ``names`` (the base when none is left)."""
        kept = [a for a in self.named_adapters() if a.adapter_name not in names]
        return _assemble(self.layer, kept)

    def fold_adapters(self, names) -> keras.layers.Layer:
        """The adapters named in ``names`` merged into a new plain base layer; the others
        re-created (same weights, same gate) on that layer. Nothing of ``self`` is written."""
        merged = [a for a in self.named_adapters() if a.adapter_name in names]
        if not merged:
            return self
        view = self.named_adapters()[0].view
        matrix = view.kernel_matrix()
        for a in merged:
            if a.active:
                matrix = matrix + a.delta_matrix()
        base = view.plain_layer(view.matrix_to_kernel(matrix))
        kept = [a.rebased(base) for a in self.named_adapters() if a.adapter_name not in names]
        return _assemble(base, kept)

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


def _assemble(base, adapters: list) -> keras.layers.Layer:
    """``base`` alone, one adapter, or an `AdapterStack` of several (all on ``base``)."""
    if not adapters:
        return base
    if len(adapters) == 1:
        return adapters[0]
    return AdapterStack(base, adapters)


@keras.saving.register_keras_serializable(package="risk_widgets")
class AdapterStack(PatchLayer):
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
        >>> from risk_widgets.adapters.base import AdapterStack
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

    def call(self, inputs, training=None):
        outputs = self.view.linear(inputs)
        for a in self.adapters:
            outputs = ops.add(outputs, ops.cast(a.gated_delta(inputs, training), outputs.dtype))
        return self.view.activate(outputs)

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

    def folded(self) -> keras.layers.Layer:
        return self.fold_adapters({a.adapter_name for a in self.adapters})

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
    ``quantized``: an int8 Dense / EinsumDense counts too (LoRA takes one, SVF does not)."""
    try:
        kernel_view(base_of(layer), "", quantized=quantized)
    except (TypeError, ValueError, AttributeError):
        return False
    return True


def add_adapter(
    model: Any,
    targets: Any,
    make: Callable[[Any, str], AdapterLayer],
    kind: str,
    name: str | None = None,
) -> Any:
    """Patches ``targets`` with ``make(base_layer, path)``; stacks on adapted layers.

    The shared step of every ``add_<kind>`` (LoRA, SVF, …): ``make`` builds one adapter
    on a plain base layer. A target that already holds adapters keeps them and gets the
    new one too (an `AdapterStack`; the updates add up). The new adapters are named
    ``name``, or, when None, the first of ``"default"``, ``"<kind>_1"``, ``"<kind>_2"``, …
    that none of the targeted layers uses yet (so all adapters one call creates share a
    name). A name already used on a targeted layer is a ValueError naming the layer.

    Example:
        >>> import keras
        >>> import risk_widgets as rw
        >>> inputs = keras.Input((4,))
        >>> model = keras.Model(inputs, keras.layers.Dense(2, name="head")(inputs))
        >>> twice = rw.add_lora(rw.add_lora(model, "head", rank=1), "head", rank=2, name="b")
        >>> rw.adapter_names(twice)
        ['default', 'b']
    """
    from risk_widgets.engine.rewiring import rewire
    from risk_widgets.targets import find_layers
    from risk_widgets.walk import get_layer_by_path

    if name is not None:
        name = check_adapter_name(name)
    existing = {}
    if isinstance(model, keras.Model) and model.built:
        try:
            paths = list(find_layers(model, targets))
        except (TypeError, ValueError):
            paths = []  # rewire raises the same error with its full message
        for path in paths:
            layer = get_layer_by_path(model, path)
            if isinstance(layer, (AdapterLayer, AdapterStack)):
                existing[path] = [a.adapter_name for a in layer.named_adapters()]
    if name is None:
        used = {n for names in existing.values() for n in names}
        name = DEFAULT_NAME
        k = 0
        while name in used:
            k += 1
            name = f"{kind}_{k}"

    def replace(layer, path):
        held = layer.named_adapters() if isinstance(layer, (AdapterLayer, AdapterStack)) else []
        if any(a.adapter_name == name for a in held):
            raise ValueError(
                f"Cannot add {kind} adapter {name!r} to {path!r}: that layer already has an "
                f"adapter named {name!r} (its adapters: "
                f"{', '.join(a.adapter_name for a in held)}). Pass another name=..., or remove "
                f"it first with rw.unpatch(model, names=[{name!r}])."
            )
        new = make(base_of(layer), path)
        new.adapter_name = name
        return _assemble(base_of(layer), [*held, new])

    return rewire(model, targets, replace)

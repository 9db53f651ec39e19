"""Kernel views: one layer type's kernel seen as a matrix, and the dispatch list.

Adapters (`LoRAAdapter`, `SVFAdapter`, `DoRAAdapter`) support `Dense`, `EinsumDense`,
`Embedding` and `Conv1D` / `Conv2D` / `Conv3D` through `KernelView`, chosen by
`KERNEL_DISPATCH` (first match wins); the "unsupported layer" message is built from that
list (depthwise, separable and transposed convolutions are refused with the way out).

Example:
    >>> import keras
    >>> from risk_widgets.adapters.kernel_views import kernel_view
    >>> dense = keras.layers.Dense(3)
    >>> dense.build((None, 4))
    >>> view = kernel_view(dense, "head")
    >>> view.equation, view.matrix_shape
    ('...i,io->...o', (4, 3))
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
from keras import ops

from risk_widgets.core import keras_internals as ki


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
        #: fold a quantized base into a float layer (`dequantizing`) instead of refusing
        self.dequantize = False
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

    def float_linear(self, inputs):
        return self.add_bias(self.float_product(inputs))

    def float_product(self, inputs):  # pragma: no cover - abstract
        """``inputs`` contracted with the float kernel: no bias, no activation."""
        raise NotImplementedError

    def add_bias(self, outputs):
        bias = getattr(self.layer, "bias", None)
        return outputs if bias is None else ops.add(outputs, bias)

    def updated(self, inputs, updates):
        """``act(x W + sum(updates) + b)``: the base's output with the adapters' updates.

        Why the bias comes last: TensorFlow's oneDNN graph rewrite fuses ``MatMul + BiasAdd
        (+ Add) + Relu`` and fails on the adapter's extra ``Add`` (it logs "No registered ''
        OpKernel ... Relu" and "empty op name" on every new trace, into the notebook); with
        the bias added after the updates the pattern is not matched. A quantized base runs
        its own forward pass (bias included), then the updates.
        """
        if self.quantized:
            outputs = ki.quantized_linear(self.layer, inputs)
            for update in updates:
                outputs = ops.add(outputs, ops.cast(update, outputs.dtype))
            return self.activate(outputs)
        outputs = self.float_product(inputs)
        for update in updates:
            outputs = ops.add(outputs, ops.cast(update, outputs.dtype))
        return self.activate(self.add_bias(outputs))

    @contextlib.contextmanager
    def dequantizing(self, on: bool = True):
        """While active (``on``), `kernel_matrix` of a quantized base is its dequantized
        kernel and `plain_layer` builds a float layer: fold on request."""
        before, self.dequantize = self.dequantize, bool(on) or self.dequantize
        try:
            yield self
        finally:
            self.dequantize = before

    def check_float(self, what: str) -> None:
        """Raises a TypeError naming the layer and the way out when the base is quantized
        (its int8 kernel cannot hold ``W + delta`` exactly), unless `dequantizing`."""
        if self.quantized and not self.dequantize:
            raise TypeError(
                f"Cannot {what} {self.path!r}: its base {type(self.layer).__name__} is "
                f"quantized ({self.quantized}), and {self.quantized} weights cannot hold the "
                "merged float kernel exactly. Fold into float layers holding the dequantized "
                "kernel plus the update (rw.fold(model, dequantize=True)), drop the adapters "
                "with rw.unpatch(model), or "
                "fold before quantizing: add LoRA to the float model, train, rw.fold(model), "
                f"then quantize the folded model (model.quantize({self.quantized!r}))."
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

    def float_kernel(self):
        """The kernel as a float tensor in its own shape: a quantized base's dequantized
        (as Keras dequantizes it to merge its own LoRA), computed at each call."""
        return ki.dequantized_kernel(self.layer) if self.quantized else self.kernel

    def kernel_matrix_tensor(self):
        """The float kernel as an ``(in, out)`` tensor (differentiable; DoRA's norms)."""
        return ops.reshape(ops.transpose(self.float_kernel(), self._to_matrix_perm),
                           self.matrix_shape)

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
        """The kernel as an ``(in, out)`` float64 NumPy matrix (a quantized base's
        dequantized one while `dequantizing`, else a TypeError)."""
        self.check_float("fold the adapters of")
        kernel = np.asarray(keras.ops.convert_to_numpy(self.float_kernel()), dtype="float64")
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
        if self.quantized:  # dequantizing: a float layer of the policy it was quantized from
            new = type(base).from_config(
                {**base.get_config(), "dtype": ki.float_policy(base.dtype_policy).name})
            new.build_from_config(base.get_build_config())
            ki.kernel_variable(new).assign(kernel.astype(ki.kernel_variable(new).dtype))
            if getattr(base, "bias", None) is not None:
                new.bias.assign(keras.ops.convert_to_numpy(base.bias))
            return new
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

    def float_product(self, inputs):
        return ops.matmul(inputs, self.kernel)


class EinsumDenseView(KernelView):
    def __init__(self, layer, path):
        super().__init__(layer, layer.equation, path)

    def float_product(self, inputs):
        return ops.einsum(self.layer.equation, inputs, self.kernel)


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

    def float_product(self, inputs):
        return ops.cast(
            ops.take(self.layer.embeddings, self._ids(inputs), axis=0), self.layer.compute_dtype
        )

    def add_bias(self, outputs):
        return outputs

    def activate(self, outputs):
        return outputs

    def low_rank(self, inputs, down, up):
        hidden = ops.take(down, self._ids(inputs), axis=0)  # (..., r)
        return ops.matmul(hidden, up)

    def reversed(self, inputs, updates):
        """A `ReversibleEmbedding` called with ``reverse=True`` (logits against the table,
        as its ``call`` computes them) plus the adapters' ``reverse_delta`` updates, added
        before its logit soft cap. An untied layer's output table is its own
        ``reverse_embeddings``, which the adapters do not change: no update is added."""
        layer = self.layer
        tied = getattr(layer, "tie_weights", True)
        kernel = ops.transpose(layer.embeddings) if tied else layer.reverse_embeddings
        reverse_dtype = getattr(layer, "reverse_dtype", None)
        if reverse_dtype is not None:
            inputs, kernel = ops.cast(inputs, reverse_dtype), ops.cast(kernel, reverse_dtype)
        logits = ops.matmul(inputs, kernel)
        for update in updates if tied else ():
            logits = ops.add(logits, ops.cast(update, logits.dtype))
        cap = getattr(layer, "logit_soft_cap", None)
        if cap is not None:
            logits = ops.multiply(ops.tanh(ops.divide(logits, cap)), cap)
        return logits


class ConvView(KernelView):
    """A `Conv1D` / `Conv2D` / `Conv3D` kernel ``(*kernel_size, in, out)`` seen as the matrix
    ``(prod(kernel_size) * in, out)`` (PEFT's and Keras' own conv LoRA use the same).

    The low-rank path is two convolutions, as PEFT's ``Conv2d`` LoRA: ``A`` reshaped to a
    kernel ``(*kernel_size, in, r)`` with the base's strides, padding and dilation, then
    ``B`` as a 1x1 convolution ``(r, out)`` (a matmul over the channel axis). Since a
    convolution is linear in its kernel, that is ``conv(x, A B)``: folding writes
    ``W + s * reshape(A B)``. A grouped convolution (``groups > 1``, ConvNeXt's depthwise
    7x7) has the kernel ``(*k, in / groups, out)``; its update is the convolution with
    ``reshape(A B)`` itself (Keras' ``enable_lora`` does the same)."""

    def __init__(self, layer, path):
        self.groups = int(getattr(layer, "groups", 1) or 1)
        rank = len(layer.kernel_size)
        spatial = "abcdefgh"[:rank]
        super().__init__(layer, f"...{spatial}i,{spatial}io->...o", path)
        self.trailing = False
        if self.quantized:
            raise TypeError(
                f"Cannot adapt {type(layer).__name__} {path!r}: it is quantized "
                f"({self.quantized}). Patch the float model, then quantize the folded one."
            )
        self.channels_last = layer.data_format == "channels_last"

    def _conv(self, inputs, kernel):
        layer = self.layer
        padding = layer.padding
        if padding == "causal":  # Conv1D pads the past itself
            left = layer.dilation_rate[0] * (layer.kernel_size[0] - 1)
            pads = [[0, 0], [left, 0], [0, 0]] if self.channels_last else [[0, 0], [0, 0],
                                                                          [left, 0]]
            inputs, padding = ops.pad(inputs, pads), "valid"
        return ops.conv(
            inputs, ops.cast(kernel, inputs.dtype), strides=list(layer.strides),
            padding=padding, dilation_rate=layer.dilation_rate, data_format=layer.data_format,
        )

    def _channels(self, x, matrix):
        """``x``'s channel axis contracted with ``matrix`` (a 1x1 convolution)."""
        matrix = ops.cast(matrix, x.dtype)
        if self.channels_last:
            return ops.matmul(x, matrix)
        return ops.moveaxis(ops.matmul(ops.moveaxis(x, 1, -1), matrix), -1, 1)

    def float_product(self, inputs):
        return self._conv(inputs, self.kernel)

    def add_bias(self, outputs):
        layer = self.layer
        if not layer.use_bias:
            return outputs
        ones = (1,) * len(layer.kernel_size)
        shape = (1, *ones, layer.filters) if self.channels_last else (1, layer.filters, *ones)
        return ops.add(outputs, ops.reshape(layer.bias, shape))

    def low_rank(self, inputs, down, up):
        if self.groups > 1:  # the grouped kernel's update, applied as one grouped conv
            return self.matrix_apply(inputs, ops.matmul(down, up))
        rank = down.shape[-1]
        hidden = self._conv(inputs, ops.reshape(down, (*self.down_shape, rank)))
        return self._channels(hidden, up)

    def matrix_apply(self, inputs, matrix):
        return self._conv(inputs, ops.reshape(matrix, self.kernel_shape))


_NO_KERNEL_MATRIX = {
    "DepthwiseConv1D": "its kernel holds one filter per input channel, not an (in, out) "
    "matrix",
    "DepthwiseConv2D": "its kernel holds one filter per input channel, not an (in, out) "
    "matrix",
    "SeparableConv1D": "it holds two kernels (depthwise, then pointwise) in one layer",
    "SeparableConv2D": "it holds two kernels (depthwise, then pointwise) in one layer",
    "Conv1DTranspose": "a transposed kernel maps outputs to inputs",
    "Conv2DTranspose": "a transposed kernel maps outputs to inputs",
    "Conv3DTranspose": "a transposed kernel maps outputs to inputs",
}


#: (layer class, view factory): the first class the layer is an instance of wins.
KERNEL_DISPATCH: list[tuple[type, Callable[[Any, str], KernelView]]] = [
    (keras.layers.EinsumDense, EinsumDenseView),
    (keras.layers.Dense, DenseView),
    (keras.layers.Embedding, EmbeddingView),
    (ki.BaseConv, ConvView),  # Conv1D, Conv2D, Conv3D
]


#: the quantization modes `kernel_view(quantized=True)` takes (Dense / EinsumDense):
#: the base runs its own quantized forward pass, the float updates are added
QUANTIZED_MODES = ("int8", "int4")


def quantization_mode(layer) -> str | None:
    """The layer's quantization mode (``"int8"``, …) or None for a float layer."""
    return getattr(layer, "quantization_mode", None) or getattr(
        getattr(layer, "dtype_policy", None), "quantization_mode", None
    )


def supported_types() -> list[str]:
    """Names of the layer classes adapters support, from `KERNEL_DISPATCH`."""
    names = []
    for cls, _ in KERNEL_DISPATCH:
        names += ["Conv1D", "Conv2D", "Conv3D"] if cls is ki.BaseConv else [cls.__name__]
    return names


def kernel_view(layer, path: str, kind: str = "adapter", quantized: bool = False) -> KernelView:
    """Returns the `KernelView` of ``layer`` or raises a TypeError naming what works.

    ``quantized=True`` (LoRA, DoRA) accepts an ``int8`` or ``int4``-quantized `Dense` /
    `EinsumDense` (QLoRA-style): the view's ``linear`` runs the layer's quantized forward
    pass (the float delta is added); `float_kernel` is its dequantized kernel.
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
            if isinstance(layer, keras.layers.Wrapper) and _viewable(inner)
            else ""
        )
        why = _NO_KERNEL_MATRIX.get(type(layer).__name__)
        if why is not None:
            hint = (
                f" ({why}; Keras' own enable_lora does not take it either). Target the "
                "Conv1D / Conv2D / Conv3D and Dense layers around it (e.g. "
                "targets=keras.layers.Conv2D), or give it a sample / vote risk wrapper."
            )
        raise TypeError(
            f"Cannot add {kind} to {path!r}: {type(layer).__name__} is not supported.{hint} "
            f"Supported layer types: {', '.join(supported_types())}. Choose targets of "
            "those types (e.g. targets=keras.layers.Dense), or add a (class, view) entry "
            "to risk_widgets.adapters.kernel_views.KERNEL_DISPATCH."
        )
    if not layer.built:
        raise ValueError(f"Cannot add {kind} to {path!r}: the layer is not built yet.")
    mode = quantization_mode(layer)
    if mode and not (
        quantized and mode in QUANTIZED_MODES
        and isinstance(layer, (keras.layers.Dense, keras.layers.EinsumDense))
    ):
        also = (" LoRA and DoRA take int8 / int4 Dense and EinsumDense layers."
                if kind not in ("LoRA", "DoRA") else "")
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


def _viewable(layer) -> bool:
    try:
        kernel_view(layer, "")
    except (TypeError, ValueError, AttributeError):
        return False
    return True


def is_patch(layer) -> bool:
    return bool(getattr(layer, "is_patch_layer", False))

"""DoRA: weight-decomposed low-rank adaptation (Liu et al., 2024; PEFT ``use_dora=True``).

The kernel is split into a magnitude and a direction, and LoRA adapts the direction:
``W' = m ⊙ (W + s·A B) / ‖W + s·A B‖_c``, with ``‖·‖_c`` the norm of each output column
of the ``(in, out)`` kernel matrix and ``m`` a trainable vector (one entry per output
unit) that starts at ``‖W‖_c``, so a fresh adapter changes nothing. ``s``, ``A``, ``B``
and their ``init`` options are LoRA's (`risk_widgets.adapters.lora`).

As an update of the base's output: ``delta = x·(g ⊙ (W + s·AB) − W)`` with ``g = m / ‖W +
s·AB‖_c`` (with dropout while training: ``(g − 1) ⊙ xW + g ⊙ s·drop(x)AB``, PEFT's form).
The column norm is treated as a constant in the gradient (the paper's §4.3, as PEFT does):
the same forward pass, without back-propagating through a full ``(in, out)`` norm. Fold:
``W' = g ⊙ (W + s·AB)``, exact. Dense and EinsumDense bases, float or int8 / int4
(QDoRA: the base runs its quantized forward pass, ``W`` in the update and the norms is its
dequantized kernel, as PEFT dequantizes; such an adapter cannot be folded); an Embedding
is refused (use LoRA there).

Example:
    >>> import keras, numpy as np
    >>> import risk_widgets as rw
    >>> inputs = keras.Input((4,))
    >>> model = keras.Model(inputs, keras.layers.Dense(3, name="head")(inputs))
    >>> dora = rw.add_dora(model, "head", rank=2)
    >>> x = np.ones((2, 4), "float32")
    >>> bool(np.allclose(dora.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5))
    True
    >>> [v.name for v in dora.get_layer("head").trainable_weights]
    ['lora_a', 'lora_b', 'dora_magnitude']
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from risk_widgets.adapters.base import base_of, can_adapt
from risk_widgets.adapters.lora import LORA_VARIANTS, LoRAAdapter, lora_replace

__all__ = ["DoRAAdapter", "add_dora", "can_dora"]

_EPS = 1e-12  # a zero kernel column: its update is zero whatever g is, so any g is exact


@keras.saving.register_keras_serializable(package="risk_widgets")
class DoRAAdapter(LoRAAdapter):
    """A `LoRAAdapter` whose kernel keeps a trainable magnitude per output unit (DoRA).

    Args:
        layer: a built `Dense` or `EinsumDense` layer, float or int8 / int4-quantized.
        rank, alpha, dropout, use_rslora, init: as for `LoRAAdapter`.
        **kwargs: base Layer arguments.

    Weights: LoRA's ``lora_a`` ``(in, rank)``, ``lora_b`` ``(rank, out)`` and
    ``dora_magnitude`` ``(out,)``, all trainable (``init="pissa"`` adds LoRA's frozen
    copies).
    """

    patch_kind = "dora"
    accepts_quantized = True  # int8 / int4: the dequantized kernel in the update and norms
    accepts_embedding = False

    def build_adapter(self):
        super().build_adapter()
        kernel = np.asarray(ops.convert_to_numpy(self.view.kernel_matrix_tensor()), "float64")
        norms = np.linalg.norm(kernel, axis=0)
        self.dora_magnitude = self.add_weight(
            name="dora_magnitude", shape=(self.view.matrix_shape[1],),
            initializer=keras.initializers.Constant(norms.astype("float32")), dtype="float32",
        )

    def _low_rank_matrix(self):
        """``s·(A B)`` (minus PiSSA's frozen ``A0 B0``) as an ``(in, out)`` tensor."""
        update = ops.matmul(self.lora_a, self.lora_b)
        if self.init == "pissa":
            update = ops.subtract(update, ops.matmul(self.lora_a0, self.lora_b0))
        return ops.multiply(update, self.scale)

    def delta(self, inputs, training=None):
        kernel = ops.cast(self.view.kernel_matrix_tensor(), "float32")
        update = self._low_rank_matrix()
        norm = ops.sqrt(ops.sum(ops.square(ops.add(kernel, update)), axis=0))
        g = ops.divide(self.dora_magnitude, ops.maximum(ops.stop_gradient(norm), _EPS))
        if self.dropout_layer is not None and training:
            dropped = self.dropout_layer(inputs, training=training)
            return ops.add(self.view.matrix_apply(inputs, ops.multiply(kernel, g - 1.0)),
                           self.view.matrix_apply(dropped, ops.multiply(update, g)))
        change = ops.subtract(ops.multiply(ops.add(kernel, update), g), kernel)
        return self.view.matrix_apply(inputs, change)

    def delta_matrix(self) -> np.ndarray:
        kernel = self.view.kernel_matrix()
        combined = kernel + super().delta_matrix()
        m = np.asarray(ops.convert_to_numpy(self.dora_magnitude), dtype="float64")
        g = m / np.maximum(np.linalg.norm(combined, axis=0), _EPS)
        return combined * g - kernel

    def patch_info(self) -> dict:
        return {**super().patch_info(), "kind": "dora"}


LORA_VARIANTS["dora"] = DoRAAdapter  # add_lora(use_dora=True)


def add_dora(
    model: Any,
    targets: Any = None,
    rank: Any = 8,
    alpha: Any = None,
    dropout: float = 0.0,
    name: str | None = None,
    use_rslora: bool = False,
    init: str = "he_uniform",
    train: Any = None,
) -> Any:
    """Returns a `PatchedModel` with a `DoRAAdapter` around each targeted layer.

    The same as ``rw.add_lora(model, targets, ..., use_dora=True)``. ``rank`` and ``alpha``
    take per-path patterns as in `add_lora`.

    Args:
        model: a built Keras model (not changed).
        targets: layer paths, globs, classes or a list of them (`risk_widgets.find_layers`);
            None: the layers `add_lora` adapts without targets (KerasHub's
            ``default_lora_layer_names()``, else every Dense and EinsumDense).
        rank, alpha, dropout, name, use_rslora, init: as for `add_lora`.
        train: layers that train whole beside the adapters, as for `add_lora` (None: a
            KerasHub classifier task's head; ``[]``: none).

    Returns:
        A new `PatchedModel`; raises ValueError/TypeError naming the path (an Embedding,
        a bad value) and changes nothing.

    Example:
        >>> import keras
        >>> import risk_widgets as rw
        >>> inputs = keras.Input((4,))
        >>> h = keras.layers.Dense(8, name="hidden")(inputs)
        >>> model = keras.Model(inputs, keras.layers.Dense(2, name="head")(h))
        >>> rw.patch_layers(rw.add_dora(model, "*", rank=2))["head"].patch_info()["kind"]
        'dora'
    """
    return lora_replace(
        DoRAAdapter, "DoRA", model, targets, rank=rank, alpha=alpha, dropout=dropout,
        name=name, use_rslora=use_rslora, init=init, train=train,
    )


def can_dora(layer) -> bool:
    """True when `add_dora` accepts ``layer`` (the graph's ``patchable``): what LoRA takes
    (int8 / int4 Dense and EinsumDense too), but an Embedding."""
    return (can_adapt(layer, quantized=True)
            and not isinstance(base_of(layer), keras.layers.Embedding))

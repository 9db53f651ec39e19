"""SVF (singular-value fine-tuning, Transformer², arXiv 2501.06252): `SVFAdapter`, `add_svf`.

At patch time ``W = U diag(s) Vᵀ`` (the kernel as an ``(in, out)`` matrix); only a vector
``z`` (init ones) trains and the effective kernel is ``W' = U diag(s * z) Vᵀ``. The layer
computes ``x W + x U diag(s * (z - 1)) Vᵀ``, which is exactly ``x W`` while ``z`` is ones,
so a fresh patch leaves the outputs unchanged. Fold assigns ``W'`` (new weights).

Example:
    >>> import keras
    >>> import risk_widgets as rw
    >>> inputs = keras.Input((4,))
    >>> model = keras.Model(inputs, keras.layers.Dense(3, name="head")(inputs))
    >>> svf = rw.add_svf(model, "head")
    >>> rw.trainable_report(svf)["trainable"]  # one z per singular value: min(4, 3)
    3
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from risk_widgets.adapters.base import AdapterLayer, kernel_view, stack_adapters

__all__ = ["SVFAdapter", "add_svf"]


@keras.saving.register_keras_serializable(package="risk_widgets")
class SVFAdapter(AdapterLayer):
    """Singular-value fine-tuning around a `Dense` or `EinsumDense` layer.

    The base layer is shared with the patched model (not copied) and frozen. ``U``, ``s``
    and ``V`` (float32, non-trainable) come from the SVD of the base kernel, computed when
    the adapter is built on a layer whose kernel is known (`add_svf` does this; a model
    loaded from `.keras` restores them from the file). Only ``z`` trains.

    Args:
        layer: a built `Dense` or `EinsumDense` layer.
        **kwargs: base Layer arguments (``name`` defaults to the base layer's name).

    Input shape:
        That of the base layer.

    Output shape:
        That of the base layer.

    Example:
        >>> import keras, numpy as np
        >>> from risk_widgets.adapters.svf import SVFAdapter
        >>> dense = keras.layers.Dense(3)
        >>> dense.build((None, 4))
        >>> adapter = SVFAdapter(dense)
        >>> adapter.build((None, 4)); adapter.decompose()
        >>> [w.name for w in adapter.trainable_weights]
        ['svf_z']
        >>> bool(np.allclose(adapter(np.ones((1, 4))), dense(np.ones((1, 4))), atol=1e-5))
        True
    """

    patch_kind = "svf"

    def build_adapter(self):
        n_in, n_out = self.view.matrix_shape
        k = min(n_in, n_out)
        self.svf_z = self.add_weight(name="svf_z", shape=(k,), initializer="ones", dtype="float32")
        frozen = dict(initializer="zeros", dtype="float32", trainable=False)
        self.svf_u = self.add_weight(name="svf_u", shape=(n_in, k), **frozen)
        self.svf_s = self.add_weight(name="svf_s", shape=(k,), **frozen)
        self.svf_v = self.add_weight(name="svf_v", shape=(n_out, k), **frozen)

    def decompose(self):
        """Sets ``U``, ``s``, ``V`` from the SVD of the base kernel (``z`` is kept)."""
        u, s, vt = np.linalg.svd(self.view.kernel_matrix(), full_matrices=False)
        self.svf_u.assign(u.astype("float32"))
        self.svf_s.assign(s.astype("float32"))
        self.svf_v.assign(vt.T.astype("float32"))

    @property
    def adapter_weights(self) -> list:
        """Only ``z``: ``U``, ``s``, ``V`` are recomputed from the base by `add_svf`."""
        return [self.svf_z]

    def delta(self, inputs, training=None):
        scale = ops.multiply(self.svf_s, ops.subtract(self.svf_z, 1.0))
        up = ops.multiply(ops.transpose(self.svf_v), ops.expand_dims(scale, -1))
        return self.view.low_rank(inputs, self.svf_u, up)

    def reverse_delta(self, inputs):
        """``x (U diag(s (z - 1)) Vᵀ)ᵀ`` = ``((x V) s (z - 1)) Uᵀ`` (a tied embedding)."""
        scale = ops.cast(ops.multiply(self.svf_s, ops.subtract(self.svf_z, 1.0)), inputs.dtype)
        hidden = ops.multiply(ops.matmul(inputs, ops.cast(self.svf_v, inputs.dtype)), scale)
        return ops.matmul(hidden, ops.transpose(ops.cast(self.svf_u, inputs.dtype)))

    def delta_matrix(self) -> np.ndarray:
        def f64(v):
            return np.asarray(ops.convert_to_numpy(v), dtype="float64")

        u, s, z, v = f64(self.svf_u), f64(self.svf_s), f64(self.svf_z), f64(self.svf_v)
        return (u * (s * (z - 1.0))) @ v.T

    def patch_info(self) -> dict:
        return {"kind": "svf", "params": {}}


def add_svf(model: Any, targets: Any, name: str | None = None, train: Any = None) -> Any:
    """Returns a `PatchedModel` with an `SVFAdapter` around each targeted layer.

    Base weights are **shared** with ``model`` and frozen by the patched model (not
    copied); only each adapter's ``z`` trains. ``model`` is never changed.

    Args:
        model: a built Keras model.
        targets: path, glob, list, layer class or predicate; each a `Dense` or
            `EinsumDense` layer (also inside `MultiHeadAttention`).
        name: the adapters' name, as for `add_lora` (stacked on adapted layers).
        train: layers that train whole beside the adapters, as for `add_lora` (None: a
            KerasHub classifier task's head; ``[]``: none).

    Returns:
        A new `PatchedModel`.

    Example:
        >>> import keras
        >>> import risk_widgets as rw
        >>> inputs = keras.Input((8, 16))
        >>> attn = keras.layers.MultiHeadAttention(2, 8, name="attn")
        >>> model = keras.Model(inputs, attn(inputs, inputs))
        >>> svf = rw.add_svf(model, "attn/query")
        >>> rw.trainable_report(svf)["patched"]["attn/query"]["trainable"]
        16
    """
    def replace(layer, path):
        kernel_view(layer, path, "SVF")
        adapter = SVFAdapter(layer)
        adapter.build(layer.get_build_config()["input_shape"])
        adapter.decompose()
        return adapter

    return stack_adapters(model, targets, replace, "svf", name, train)

"""Keras' own LoRA (``layer.enable_lora(rank)``) seen as a patch: graph, report, fold, unpatch.

`Dense`, `EinsumDense` and `Embedding` have a built-in LoRA in Keras 3: ``enable_lora``
adds ``lora_kernel_a`` / ``lora_kernel_b`` (``lora_embeddings_a`` / ``_b``) to the layer
itself and uses the kernel ``W + (lora_alpha / lora_rank) · A @ B`` (``A @ B`` is a matmul
over the last axes, so an `EinsumDense` kernel ``(..., k, n)`` gets ``A (..., k, r)`` and
``B (r, n)``). A model holding such layers is recognised by the engine:

- the graph marks them ``{"kind": "lora", "params": {"rank", "alpha", "source": "keras"}}``
  (a patch inspector registered with `risk_widgets.engine.registry` on import);
- `rw.trainable_report` lists them under ``patched`` with the count of their LoRA weights;
- `rw.fold` replaces each with a new plain layer of its class whose kernel is the merged one
  Keras computes (bit for bit: the folded model predicts exactly what the LoRA one does);
- `rw.unpatch` replaces each with a new plain layer holding a copy of its base weights.

The user's layers are never changed (both build new layers; every other layer is shared).
A quantized (``int8``) layer with Keras' LoRA cannot be folded exactly into int8 weights:
`fold` refuses it, naming the layer and the ways out.

Example:
    >>> import keras, numpy as np
    >>> from risk_widgets.engine import keras_native
    >>> dense = keras.layers.Dense(3, name="head")
    >>> dense.build((None, 4))
    >>> dense.enable_lora(2)
    >>> keras_native.lora_info(dense)
    {'kind': 'lora', 'params': {'rank': 2, 'alpha': 2, 'source': 'keras'}}
    >>> plain = keras_native.folded(dense, "head")
    >>> plain.lora_enabled, [v.name for v in plain.weights]
    (False, ['kernel', 'bias'])
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from risk_widgets.core.walk import is_patch_layer, iter_layers
from risk_widgets.engine.registry import register_patch_inspector

__all__ = ["folded", "lora_info", "lora_layers", "lora_weights", "unpatched"]

#: Keras layer classes with a built-in ``enable_lora``, and the attribute of the merged kernel
_KERNEL_PROPERTY = (
    (keras.layers.EinsumDense, "kernel"),
    (keras.layers.Dense, "kernel"),
    (keras.layers.Embedding, "embeddings"),
)


def _kernel_property(layer: Any) -> str | None:
    return next((attr for cls, attr in _KERNEL_PROPERTY if isinstance(layer, cls)), None)


def _has_native_lora(layer: Any) -> bool:
    return (
        not is_patch_layer(layer)
        and _kernel_property(layer) is not None
        and bool(getattr(layer, "lora_enabled", False))
    )


def lora_info(layer: Any) -> dict | None:
    """``{"kind": "lora", "params": {"rank", "alpha", "source": "keras"}}`` for a layer with
    Keras' built-in LoRA enabled (the graph node's ``patch``), else None."""
    if not _has_native_lora(layer):
        return None
    return {
        "kind": "lora",
        "params": {"rank": int(layer.lora_rank), "alpha": layer.lora_alpha, "source": "keras"},
    }


def lora_weights(layer: Any) -> list:
    """The weights Keras' ``enable_lora`` added to ``layer`` (A and B), else ``[]``."""
    if not _has_native_lora(layer):
        return []
    return [v for v in layer.weights if v.name.startswith("lora_")]


def lora_layers(model: Any) -> dict[str, Any]:
    """``{path: layer}`` for every layer of ``model`` with Keras' built-in LoRA enabled."""
    found: dict[str, Any] = {}
    seen: set[int] = set()
    for ref in iter_layers(model):
        if id(ref.layer) not in seen and _has_native_lora(ref.layer):
            seen.add(id(ref.layer))
            found[ref.path] = ref.layer
    return found


def _plain_like(layer: Any, kernel: Any, path: str) -> keras.layers.Layer:
    """A new layer of ``layer``'s class and config without LoRA, holding copies of its
    weights (``kernel``: the value of its kernel / embeddings variable)."""
    config = layer.get_config()
    config.pop("lora_rank", None)
    config.pop("lora_alpha", None)
    new = type(layer).from_config(config)
    new.build_from_config(layer.get_build_config())
    attr = _kernel_property(layer)
    source = {v.name: v for v in layer.weights if not v.name.startswith("lora_")}
    for v in new.weights:
        if v.name not in source:
            raise TypeError(  # pragma: no cover - a Keras version with other weight names
                f"Cannot rebuild {type(layer).__name__} {path!r} without Keras' LoRA: its "
                f"weight {v.name!r} has no counterpart in {sorted(source)}."
            )
        value = kernel if v.name == attr else keras.ops.convert_to_numpy(source[v.name])
        v.assign(np.asarray(value).astype(v.dtype))
    return new


def _quantization(layer: Any) -> str | None:
    return getattr(layer, "quantization_mode", None) or getattr(
        layer.dtype_policy, "quantization_mode", None
    )


def folded(layer: Any, path: str) -> keras.layers.Layer:
    """A new plain layer whose kernel is ``W + (lora_alpha / lora_rank) A @ B``, exactly the
    kernel Keras' forward pass uses (read from the layer's merged ``kernel``/``embeddings``).

    Raises:
        TypeError: the layer is quantized (its int8 weights cannot hold the merged float
            kernel exactly).
    """
    mode = _quantization(layer)
    if mode:
        raise TypeError(
            f"Cannot fold Keras' LoRA of {path!r}: the layer is quantized ({mode}), and its "
            f"{mode} weights cannot hold the merged float kernel exactly. Drop the LoRA with "
            "rw.unpatch(model), or fold before quantizing: enable LoRA on the float model, "
            "train, rw.fold(model), then quantize the folded model."
        )
    merged = keras.ops.convert_to_numpy(getattr(layer, _kernel_property(layer)))
    return _plain_like(layer, merged, path)


def unpatched(layer: Any, path: str) -> keras.layers.Layer:
    """A new plain layer with a copy of ``layer``'s base weights (its LoRA dropped)."""
    attr = _kernel_property(layer)
    base = getattr(layer, "_" + attr)  # the variable under the merged property
    return _plain_like(layer, keras.ops.convert_to_numpy(base), path)


register_patch_inspector(lora_info)

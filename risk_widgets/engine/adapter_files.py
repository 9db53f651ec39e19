"""Adapter files: `save_adapters` / `load_adapters` (only the patch weights, keyed by path).

The file format and an example are in `save_adapters`.
"""

from __future__ import annotations

import json
import os

import keras
import numpy as np

from risk_widgets.engine.operations import adapter_weights, check_model, patch_layers

__all__ = ["load_adapters", "save_adapters"]


def _base_kernel_shape(layer) -> tuple | None:
    """The shape of the kernel an adapter patches (None for other patch layers)."""
    kernel = getattr(getattr(layer, "layer", None), "kernel", None)
    return None if kernel is None else tuple(int(d) for d in kernel.shape)


def save_adapters(model, path: str | os.PathLike) -> str:
    """Saves only the adapter weights of ``model`` to an ``.npz`` file keyed by path.

    Keys are ``"<layer path>::<weight name>"``; ``"__patches__"`` holds each patch's
    ``patch_info()`` as JSON. Base weights are not saved.

    Example:
        >>> import keras, tempfile, os
        >>> import risk_widgets as rw
        >>> inputs = keras.Input((4,))
        >>> model = keras.Model(inputs, keras.layers.Dense(2, name="head")(inputs))
        >>> lora = rw.add_lora(model, "head", rank=1)
        >>> file = rw.save_adapters(lora, os.path.join(tempfile.mkdtemp(), "a.npz"))
        >>> rw.load_adapters(rw.add_lora(model, "head", rank=1), file)
        ['head']
    """
    check_model(model, "save_adapters()")
    path = os.fspath(path)
    if not path.endswith(".npz"):
        raise ValueError(f"Adapter files end with '.npz'. Received: {path!r}")
    patches = patch_layers(model)
    if not patches:
        raise ValueError(
            f"Model {model.name!r} has no patch layers: nothing to save. Patch it first "
            "(rw.add_lora / rw.add_svf), or save the whole model with model.save('m.keras')."
        )
    arrays, info = {}, {}
    for where, layer in patches.items():
        info[where] = dict(layer.patch_info()) if hasattr(layer, "patch_info") else {}
        base_shape = _base_kernel_shape(layer)
        if base_shape is not None:  # checked by load_adapters: same-sized z fits any base
            info[where]["base_shape"] = list(base_shape)
        for v in adapter_weights(layer):
            arrays[f"{where}::{v.name}"] = keras.ops.convert_to_numpy(v)
    arrays["__patches__"] = np.array(json.dumps(info))
    np.savez(path, **arrays)
    return path


def load_adapters(model, path: str | os.PathLike) -> list[str]:
    """Loads adapter weights saved by `save_adapters` into ``model`` (patched alike).

    Everything is checked first (same patched paths, kinds, weight names and shapes);
    on a mismatch a ValueError names it and no weight is changed.

    Returns:
        The patched paths that were loaded.
    """
    check_model(model, "load_adapters()")
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"No adapter file at {path!r}. Write one with rw.save_adapters(patched, {path!r}) "
            "or check the path."
        )
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except Exception as err:  # truncated, not a zip, pickled, a bare .npy: not our file
        raise ValueError(
            f"Cannot read adapters from {path!r}: it is not a complete .npz file written by "
            f"rw.save_adapters ({type(err).__name__}: {err}). Save the adapters again with "
            "rw.save_adapters(patched, path)."
        ) from None
    info = json.loads(str(arrays.pop("__patches__", np.array("{}"))))
    patches = patch_layers(model)
    if sorted(info) != sorted(patches):
        raise ValueError(
            f"The adapters in {os.fspath(path)!r} are for paths {sorted(info)}, but model "
            f"{model.name!r} is patched at {sorted(patches)}. Patch the model the same "
            "way (same targets and kinds) before loading."
        )
    plan = []
    for where, layer in patches.items():
        kind = layer.patch_info().get("kind") if hasattr(layer, "patch_info") else None
        if info[where].get("kind") != kind:
            raise ValueError(
                f"{where!r} holds a {info[where].get('kind')!r} patch in the file but a "
                f"{kind!r} patch in the model. Patch the model the same way (same targets and "
                "kinds) before loading."
            )
        saved_shape = info[where].get("base_shape")
        base_shape = _base_kernel_shape(layer)
        if saved_shape is not None and base_shape is not None and (
            tuple(saved_shape) != tuple(base_shape)
        ):
            raise ValueError(
                f"The adapters for {where!r} in {path!r} were saved on a kernel of shape "
                f"{tuple(saved_shape)}, but the layer patched there in model {model.name!r} has "
                f"a kernel of shape {tuple(base_shape)}. Load them into a model of the same "
                "architecture as the one they were saved from."
            )
        for v in adapter_weights(layer):
            key = f"{where}::{v.name}"
            if key not in arrays:
                raise ValueError(f"{os.fspath(path)!r} has no weight {key!r}.")
            if tuple(arrays[key].shape) != tuple(v.shape):
                raise ValueError(
                    f"Weight {key!r} has shape {tuple(arrays[key].shape)} in the file but "
                    f"{tuple(v.shape)} in the model (a different rank?). Patch the model with "
                    "the same kind, rank and targets as the one the adapters were saved from."
                )
            plan.append((v, arrays[key]))
    for v, value in plan:
        v.assign(value)
    return list(patches)

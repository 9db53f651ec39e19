"""Shared by the LoRA / SVF adapter tests (tests/test_adapters_*.py): data, patching by
kind, weight snapshots, a short fit, and moving adapter weights as training would."""

from __future__ import annotations

import keras
import numpy as np

import risk_widgets as rw


def _x(shape, seed=0):
    return np.random.default_rng(seed).random(shape, dtype="float32")


def _patch(kind, model, targets, **params):
    return rw.add_lora(model, targets, **params) if kind == "lora" else rw.add_svf(model, targets)


def _var_values(model):
    return {id(v): np.array(v.numpy()) for v in model.weights}


def _adapter_ids(model):
    ids = set()
    for layer in rw.patch_layers(model).values():
        ids |= {id(v) for v in layer.trainable_weights}
    return ids


def _fit(model, x, y, steps=3, loss="mse", lr=0.05, run_eagerly=False):
    model.compile(optimizer=keras.optimizers.Adam(lr), loss=loss, jit_compile=False,
                  run_eagerly=run_eagerly)
    return model.fit(x, y, epochs=steps, batch_size=len(x), verbose=0)


def _perturb(model, seed=0):
    """Moves every adapter weight as training would (cheaper than fitting)."""
    rng = np.random.default_rng(seed)
    for layer in rw.patch_layers(model).values():
        for v in layer.trainable_weights:
            v.assign(v.numpy() + 0.3 * rng.normal(size=v.shape).astype("float32"))

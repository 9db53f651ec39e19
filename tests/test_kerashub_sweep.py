"""Issue 27 (4): every KerasHub backbone class that builds tiny and random-init here, and
keras.applications CNNs, through the whole patch cycle.

For each backbone (configurations: `tests/kerashub_cases.py`, nothing downloaded):
``rw.add_lora(backbone, rank=2)`` without targets adapts exactly the layers KerasHub's own
``enable_lora(2)`` would (``default_lora_layer_names()``; a backbone whose names match no
layer, where ``enable_lora`` adapts nothing, gets LoRA on every Dense / EinsumDense / Conv
layer instead); the fresh patch predicts what the backbone predicts; one training step
moves only adapter weights and leaves the backbone bit-identical; ``fold`` predicts what
the trained patch predicts; the ``.keras`` round trip is exact; the graph builds. A
``keras_hub.models`` backbone class without a configuration is skipped with the reason
(`NOT_SWEPT`); a new class without either fails, so the sweep stays complete.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

import risk_widgets as rw
from risk_widgets.adapters.base import base_of, can_adapt
from risk_widgets.adapters.defaults import default_lora_names
from risk_widgets.core.walk import get_layer_by_path
from tests import models as M
from tests.kerashub_cases import (
    APPLICATIONS,
    CASES,
    NOT_SWEPT,
    build_application,
    build_case,
)

keras_hub = pytest.importorskip(
    "keras_hub", reason="keras-hub is installed by `make setup` (pip install --no-deps)"
)
BACKBONES = sorted(n for n in dir(keras_hub.models) if n.endswith("Backbone"))
CONV = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)


def _flat(outputs) -> list[np.ndarray]:
    return [keras.ops.convert_to_numpy(t) for t in keras.tree.flatten(outputs)]


def _floats(outputs) -> list:
    return [t for t in keras.tree.flatten(outputs) if "float" in str(t.dtype)]


def enable_lora_layers(model) -> list:
    """The layers KerasHub's ``backbone.enable_lora(rank)`` adapts (its own loop, read)."""
    names = model.default_lora_layer_names()
    return [layer for layer in model._flatten_layers(include_self=False)
            if layer.weights and layer.name in names and hasattr(layer, "enable_lora")]


def _any_kernel(path, layer) -> bool:
    return isinstance(base_of(layer), (keras.layers.Dense, keras.layers.EinsumDense, *CONV)) \
        and can_adapt(layer)


def _train_step(patched, data) -> None:
    """One normalized gradient step on a fixed random projection of every float output
    (eager, TensorFlow). Not a mean square: LayerNorm outputs and a uniform softmax have a
    constant mean square, so its gradient is zero; the step is scaled by the largest
    gradient so that the tiny activations of a random-init deep CNN still move."""
    import tensorflow as tf

    rng = np.random.default_rng(1)
    with tf.GradientTape() as tape:
        outputs = _floats(patched(data, training=True))
        loss = sum(keras.ops.mean(keras.ops.cast(t, "float32")
                                  * rng.normal(size=tuple(t.shape)).astype("float32"))
                   for t in outputs)
    grads = tape.gradient(loss, patched.trainable_weights)
    assert all(g is not None for g in grads), "an adapter weight got no gradient"
    scale = max(float(tf.reduce_max(tf.abs(g))) for g in grads)
    assert scale > 0, "every adapter gradient is zero"
    for v, g in zip(patched.trainable_weights, grads, strict=True):
        v.assign_sub(0.05 * g / scale)


def patch_cycle(model, data, tmp_path, targets=None) -> dict:
    """The checks of the module docstring on one model; returns what was adapted."""
    base = _flat(model(data))
    snap = M.snapshot(model)
    lora = rw.add_lora(model, targets, rank=2)
    paths = sorted(rw.patch_layers(lora))
    assert paths
    for got, want in zip(_flat(lora(data)), base, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    rng = np.random.default_rng(0)  # B != 0, so every adapter weight gets a gradient
    for layer in rw.patch_layers(lora).values():
        for v in layer.trainable_weights:
            v.assign(0.05 * rng.normal(size=v.shape).astype("float32"))
    adapters = {id(v) for v in lora.trainable_weights}
    before = {id(v): keras.ops.convert_to_numpy(v) for v in lora.weights}
    if keras.backend.backend() == "tensorflow":
        _train_step(lora, data)
        moved = {id(v) for v in lora.weights
                 if not np.array_equal(before[id(v)], keras.ops.convert_to_numpy(v))}
        assert moved and moved <= adapters, f"{len(moved - adapters)} base weights moved"
    M.assert_same_snapshot(snap, M.snapshot(model))  # the user's backbone: untouched
    patched = _flat(lora(data))
    for got, want in zip(_flat(rw.fold(lora)(data)), patched, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    lora.save(tmp_path / "lora.keras")
    for got, want in zip(_flat(rw.load_model(tmp_path / "lora.keras")(data)), patched,
                         strict=True):
        np.testing.assert_array_equal(got, want)
    graph = rw.to_graph(lora).to_json()
    patched_nodes = {n["id"] for n in graph["nodes"] if (n["patch"] or {}).get("kind") == "lora"}
    # the graph draws a layer at every place it is used (ViTDet reaches its MLP through the
    # graph and through its block); patch_layers lists each patch once, at its first path
    assert set(paths) <= patched_nodes
    assert {id(get_layer_by_path(lora, node)) for node in patched_nodes} == {
        id(layer) for layer in rw.patch_layers(lora).values()}
    return {"paths": paths, "lora": lora}


@pytest.mark.parametrize("name", BACKBONES)
def test_kerashub_backbone(name, tmp_path):
    if name in NOT_SWEPT:
        pytest.skip(f"{name}: {NOT_SWEPT[name]}")
    assert name in CASES, (
        f"keras_hub.models.{name} is new: add a tiny configuration to tests/kerashub_cases.py "
        "(CASES) or the reason it is not swept (NOT_SWEPT)"
    )
    model, data = build_case(name)
    theirs = enable_lora_layers(model)
    if theirs:  # ours without targets = enable_lora's layers, the same objects
        assert default_lora_names(model) == model.default_lora_layer_names()
        result = patch_cycle(model, data, tmp_path)
        ours = [base_of(layer) for layer in rw.patch_layers(result["lora"]).values()]
        assert {id(x) for x in ours} == {id(x) for x in theirs}
    else:  # enable_lora would adapt nothing here: every kernel layer instead
        patch_cycle(model, data, tmp_path, targets=_any_kernel)


@pytest.mark.parametrize("name", sorted(APPLICATIONS))
def test_keras_applications_cnn_with_lora_on_conv2d(name, tmp_path):
    model, images = build_application(name)
    result = patch_cycle(model, images, tmp_path, targets=keras.layers.Conv2D)
    assert len(result["paths"]) >= 10

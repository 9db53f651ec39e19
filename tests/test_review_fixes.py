"""Fixes from the code review of issue 19 (items 2, 8, 9): each test failed before its fix."""

from __future__ import annotations

import threading
import time

import keras
import numpy as np
import pytest

import risk_widgets as rw
from risk_widgets.core.composite import CompositeLayer
from tests import models as M


def _x(shape, seed=0):
    return np.random.default_rng(seed).random(shape, dtype="float32")


def _fit(model, x, y, epochs=2, run_eagerly=False):
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse", jit_compile=False,
                  run_eagerly=run_eagerly)
    return model.fit(x, y, epochs=epochs, batch_size=len(x) // 2, verbose=0)


# ----------------------------------------------------------------------------- item 2
# A patched model froze the shared BatchNormalization layers by flipping their `_trainable`
# flag during every call: another thread saw the user's `bn.trainable` False meanwhile.


@keras.saving.register_keras_serializable(package="tests_review_fixes")
class Residual(keras.layers.Layer):
    """An opaque layer (not a graph) that holds a BatchNormalization of its own."""

    def __init__(self, units=8, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.dense = keras.layers.Dense(units, name="dense")
        self.bn = keras.layers.BatchNormalization(name="bn")

    def build(self, input_shape):
        self.dense.build(input_shape)
        self.bn.build(self.dense.compute_output_shape(input_shape))

    def get_config(self):
        return {**super().get_config(), "units": self.units}

    def call(self, x, training=None):
        return x + self.bn(self.dense(x), training=training)


def _bn_model():
    """BatchNormalization at the top level, in a shared nested Sequential, in a
    CompositeLayer that gets patched (so it is rebuilt) and inside an opaque layer."""
    keras.utils.set_random_seed(0)
    x = keras.Input((4,), name="x")
    h = keras.layers.BatchNormalization(name="bn")(keras.layers.Dense(8, name="d")(x))
    inner = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(8, name="inner_d"),
         keras.layers.BatchNormalization(name="inner_bn")],
        name="inner",
    )
    block = CompositeLayer(
        [keras.layers.Dense(8, name="c_d"), keras.layers.BatchNormalization(name="c_bn")],
        name="block",
    )
    h = Residual(name="res")(block(inner(h)))
    return keras.Model(x, keras.layers.Dense(1, name="head")(h), name="bn_model")


def _norms(model):
    return [layer for layer in model._flatten_layers()
            if isinstance(layer, keras.layers.BatchNormalization)]


def test_the_users_layer_flags_never_change_while_a_patched_model_runs():
    model = _bn_model()
    norms = _norms(model)
    assert len(norms) == 4
    lora = rw.add_lora(model, ["d", "block/c_d"], rank=2)
    x, y = _x((16, 4)) * 3 + 1, _x((16, 1), 1)
    reads, changed = [0], [0]
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            reads[0] += 1
            time.sleep(0)  # yield the GIL at every read: a busy loop starved the model 10x
            if not all(bn.trainable for bn in norms):
                changed[0] += 1

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for _ in range(10):
            lora(x, training=True)
        _fit(lora, x, y, epochs=2, run_eagerly=True)
    finally:
        stop.set()
        thread.join()
    assert reads[0] > 100  # sampled all along (about 10^4 reads on this machine)
    assert changed[0] == 0, f"{changed[0]} of {reads[0]} reads saw a changed trainable flag"
    assert all(v.trainable for bn in norms for v in bn.trainable_weights)


@pytest.mark.parametrize("run_eagerly", [False, True])
def test_training_a_patched_model_never_moves_the_users_batch_norm_statistics(run_eagerly):
    model = _bn_model()
    x, y = _x((32, 4)) * 5 + 3, _x((32, 1), 1)
    model(x)  # built
    before = M.snapshot(model)
    ref = np.asarray(model(x, training=False))
    lora = rw.add_lora(model, ["d", "block/c_d"], rank=2)
    # every shared BatchNormalization runs on its moving statistics, training or not
    np.testing.assert_allclose(lora(x, training=True), lora(x, training=False), atol=1e-6)
    _fit(lora, x, y, epochs=3, run_eagerly=run_eagerly)
    M.assert_same_snapshot(before, M.snapshot(model))
    np.testing.assert_array_equal(model(x, training=False), ref)
    # the user's model trained directly does move them (the check is real), at any depth
    means = [np.array(bn.moving_mean) for bn in _norms(model)]
    model(x, training=True)
    assert all(not np.array_equal(np.array(bn.moving_mean), m)
               for bn, m in zip(_norms(model), means, strict=True))


def test_a_patched_model_with_batch_norm_still_folds_and_unpatches():
    model = _bn_model()
    x = _x((8, 4))
    lora = rw.add_lora(model, ["d", "block/c_d"], rank=2)
    for layer in rw.patch_layers(lora).values():
        for v in layer.trainable_weights:
            v.assign(v.numpy() + 0.1)
    out = np.asarray(lora(x, training=True))
    np.testing.assert_allclose(rw.fold(lora)(x), out, atol=1e-5)
    np.testing.assert_allclose(rw.unpatch(lora)(x), model(x), atol=1e-6)


# ----------------------------------------------------------------------------- item 8
# `fold` wrote non-finite kernels into the plain model without a check.


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_fold_refuses_a_non_finite_lora_naming_the_path_and_the_way_out(bad):
    model = M.mlp(units=(8,))
    before = M.snapshot(model)
    lora = rw.add_lora(model, ["hidden_1", "head"], rank=2)
    adapter = rw.patch_layers(lora)["head"]
    b = adapter.lora_b.numpy()
    b[0, 1] = bad
    adapter.lora_b.assign(b)
    patched_before = M.snapshot(lora)
    with pytest.raises(ValueError) as info:
        rw.fold(lora)
    message = str(info.value)
    assert message.startswith("Cannot fold the patch at 'head': ")
    assert "NaN/infinite" in message and "lora_b" in message
    assert "rw.unpatch(model)" in message and "lower learning rate" in message
    M.assert_same_snapshot(patched_before, M.snapshot(lora))  # nothing changed
    M.assert_same_snapshot(before, M.snapshot(model))
    # the way out works: unpatching gives the finite base back
    assert np.isfinite(np.asarray(rw.unpatch(lora)(np.ones((2, 4), "float32")))).all()


def test_fold_refuses_a_merged_kernel_that_overflows_float32():
    model = M.mlp(units=(8,))
    lora = rw.add_lora(model, "head", rank=1)
    adapter = rw.patch_layers(lora)["head"]
    adapter.lora_a.assign(np.full(adapter.lora_a.shape, 3e19, "float32"))
    adapter.lora_b.assign(np.full(adapter.lora_b.shape, 3e19, "float32"))  # finite, A·B is not
    with pytest.raises(ValueError, match=r"^Cannot fold the patch at 'head': .*float32"):
        rw.fold(lora)


def test_fold_refuses_a_non_finite_svf():
    lora = rw.add_svf(M.mlp(units=(8,)), "hidden_1")
    adapter = rw.patch_layers(lora)["hidden_1"]
    z = adapter.trainable_weights[0]
    z.assign(np.full(z.shape, np.inf, "float32"))
    with pytest.raises(ValueError, match=r"^Cannot fold the patch at 'hidden_1': .*rw\.unpatch"):
        rw.fold(lora)


# ----------------------------------------------------------------------------- item 9
# VoteLayer / SampleLayer.from_config dropped `custom_objects` (Keras' from_config convention).


class Scale(keras.layers.Layer):
    """A custom layer that is *not* registered with Keras."""

    def __init__(self, units=3, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units), name="w")

    def call(self, x):
        return keras.ops.matmul(x, self.w)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def _scale_model():
    keras.utils.set_random_seed(0)
    x = keras.Input((4,), name="x")
    return keras.Model(x, keras.layers.Dense(1, name="head")(Scale(3, name="scale")(x)))


@pytest.mark.parametrize("kind", ["vote", "sample"])
def test_risk_layers_pass_custom_objects_through_from_config(kind, tmp_path):
    from risk_widgets.risk import sample, vote

    wrapper = vote.Wrapper(n_voters=2) if kind == "vote" else sample.Wrapper(n_samples=2)
    risky = wrapper(_scale_model(), targets="scale")
    layer = risky.body.get_layer("scale")
    config = layer.get_config()
    with pytest.raises((TypeError, ValueError), match="Scale"):
        type(layer).from_config(config)  # unregistered, and no custom objects given
    again = type(layer).from_config(config, custom_objects={"Scale": Scale})
    inner = again.voters if kind == "vote" else [again.layer]
    assert all(type(sub) is Scale for sub in inner)
    # saved and loaded with custom_objects, the whole risk model comes back
    path = str(tmp_path / f"{kind}.keras")
    risky.save(path)
    back = keras.models.load_model(path, custom_objects={"Scale": Scale})
    x = _x((5, 4))
    if kind == "vote":
        np.testing.assert_allclose(back(x), risky(x), atol=1e-6)
    assert type(back.body.get_layer("scale")).__name__ == type(layer).__name__

"""Issue 27 (2): LoRA, DoRA (and SVF) on Conv1D / Conv2D / Conv3D.

The kernel ``(*k, in, out)`` is the matrix ``(prod(k) * in, out)``; the update runs as a
convolution to ``rank`` channels (``A``) and a 1x1 one (``B``), so a LoRA has exactly the
weights of Keras' own ``Conv.enable_lora`` and, given the same ``A``, ``B``, its outputs.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

import risk_widgets as rw
from tests import models as M

CONVS = {
    "conv1d_causal": (lambda: keras.layers.Conv1D(5, 3, padding="causal", dilation_rate=2,
                                                   name="conv"), (9, 4)),
    "conv2d_strided": (lambda: keras.layers.Conv2D(6, 3, strides=2, padding="same",
                                                    activation="relu", name="conv"), (8, 8, 3)),
    "conv3d": (lambda: keras.layers.Conv3D(4, 2, name="conv"), (4, 4, 4, 2)),
    # ConvNeXt's depthwise 7x7 is a grouped Conv2D: kernel (*k, in / groups, out)
    "conv2d_grouped": (lambda: keras.layers.Conv2D(6, 3, groups=3, padding="same",
                                                    name="conv"), (6, 6, 6)),
}
ADDERS = {"lora": rw.add_lora, "dora": rw.add_dora, "svf": rw.add_svf}


def _model(key, seed=0):
    keras.utils.set_random_seed(seed)
    make, shape = CONVS[key]
    x = keras.Input(shape, name="x")
    h = make()(x)
    h = keras.layers.Flatten(name="flat")(h)
    model = keras.Model(x, keras.layers.Dense(2, name="head")(h), name=key)
    data = np.random.default_rng(seed).normal(size=(4, *shape)).astype("float32")
    return model, data


def _out(model, x):
    return keras.ops.convert_to_numpy(model(x))


def _perturb(model, seed=1):
    rng = np.random.default_rng(seed)
    for layer in rw.patch_layers(model).values():
        for v in layer.trainable_weights:
            v.assign(v.numpy() + 0.3 * rng.normal(size=v.shape).astype("float32"))


@pytest.mark.parametrize("kind", sorted(ADDERS))
@pytest.mark.parametrize("key", sorted(CONVS))
def test_patch_fold_files_and_training_on_convolutions(key, kind, tmp_path):
    model, x = _model(key)
    y0, snap = _out(model, x), M.snapshot(model)
    patched = ADDERS[kind](model, "conv", **({} if kind == "svf" else {"rank": 2}))
    np.testing.assert_allclose(_out(patched, x), y0, atol=1e-5)  # fresh: the base
    # one training step moves only the adapter's weights
    patched.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    patched.train_on_batch(x, np.ones((len(x), 2), "float32"))
    assert {id(v) for v in patched.trainable_weights} <= {
        id(v) for v in rw.patch_layers(patched)["conv"].weights}
    M.assert_same_snapshot(snap, M.snapshot(model))
    _perturb(patched)
    y = _out(patched, x)
    assert np.abs(y - y0).max() > 1e-2
    np.testing.assert_allclose(_out(rw.fold(patched), x), y, atol=1e-5)
    patched.save(tmp_path / "p.keras")
    np.testing.assert_array_equal(_out(rw.load_model(tmp_path / "p.keras"), x), y)
    rw.save_adapters(patched, tmp_path / "a.npz")
    fresh = ADDERS[kind](model, "conv", **({} if kind == "svf" else {"rank": 2}))
    rw.load_adapters(fresh, tmp_path / "a.npz")
    np.testing.assert_allclose(_out(fresh, x), y, atol=1e-6)
    np.testing.assert_array_equal(_out(rw.unpatch(patched), x), y0)


@pytest.mark.parametrize("key", sorted(CONVS))
def test_lora_on_a_convolution_is_keras_enable_lora(key):
    """Same weights as Keras' own conv LoRA, and with the same A, B the same outputs."""
    model, x = _model(key)
    ours = rw.add_lora(model, "conv", rank=2, alpha=4)
    adapter = rw.patch_layers(ours)["conv"]
    _perturb(ours)
    theirs, _ = _model(key)
    conv = theirs.get_layer("conv")
    conv.enable_lora(2, lora_alpha=4)
    assert conv.lora_kernel_a.shape[:-1] == conv.kernel.shape[:-1]
    assert int(np.prod(conv.lora_kernel_a.shape)) == int(np.prod(adapter.lora_a.shape))
    assert tuple(conv.lora_kernel_b.shape) == tuple(adapter.lora_b.shape)
    conv.lora_kernel_a.assign(adapter.lora_a.numpy().reshape(conv.lora_kernel_a.shape))
    conv.lora_kernel_b.assign(adapter.lora_b.numpy())
    np.testing.assert_allclose(_out(theirs, x), _out(ours, x), atol=1e-5)


@pytest.mark.parametrize("make, why", [
    (lambda: keras.layers.DepthwiseConv2D(3, name="odd"), "one filter per input channel"),
    (lambda: keras.layers.SeparableConv2D(6, 3, name="odd"), "two kernels"),
    (lambda: keras.layers.Conv2DTranspose(6, 3, name="odd"), "transposed kernel"),
], ids=["depthwise", "separable", "transpose"])
def test_depthwise_separable_and_transposed_are_refused_with_the_way_out(make, why):
    x = keras.Input((8, 8, 6))
    model = keras.Model(x, make()(x))
    for add in (rw.add_lora, rw.add_dora, rw.add_svf):
        with pytest.raises(TypeError, match=why) as err:
            add(model, "odd")
        assert "'odd'" in str(err.value) and "Dense" in str(err.value)

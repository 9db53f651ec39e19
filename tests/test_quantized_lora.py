"""LoRA and DoRA on int8 / int4-quantized Dense and EinsumDense layers (issue #32 part 6).

The base runs its own quantized forward pass and the float update is added (QLoRA-style;
DoRA's norms use the dequantized kernel): a fresh patch changes nothing, training moves only
the adapters, `.keras` and adapter files round-trip exactly (a plain Keras model and a tiny
KerasHub GPT2Backbone), and `rw.fold` refuses naming the mode and the way out.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

import risk_widgets as rw
from risk_widgets.core import keras_internals as ki
from tests.kerashub_cases import build_case

X = np.random.default_rng(0).normal(size=(8, 4, 16)).astype("float32")
Y = np.random.default_rng(1).normal(size=(8, 4, 3)).astype("float32")
ADD = {"lora": rw.add_lora, "dora": rw.add_dora}
# model.quantize() names every layer without weights to quantize (Add, Dropout, ...)
pytestmark = pytest.mark.filterwarnings("ignore:Layer .* does not have a `quantize`")


def _model(mode):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4, 16))
    h = keras.layers.Dense(16, activation="relu", name="dense")(inputs)
    h = keras.layers.EinsumDense("abc,cde->abde", (4, 2, 8), name="einsum")(h)
    h = keras.layers.Reshape((4, 16), name="flat")(h)
    model = keras.Model(inputs, keras.layers.Dense(3, name="out")(h))
    model.quantize(mode)
    return model


@pytest.mark.parametrize("kind", sorted(ADD))
@pytest.mark.parametrize("mode", ["int8", "int4"])
def test_quantized_dense_and_einsum_train_only_their_adapters(mode, kind, tmp_path):
    model = _model(mode)
    assert model.get_layer("einsum").quantization_mode == mode
    before = [w.copy() for w in model.get_weights()]
    patched = ADD[kind](model, ["dense", "einsum"], rank=2)
    np.testing.assert_allclose(patched.predict(X, verbose=0), model.predict(X, verbose=0),
                               atol=1e-6)  # DoRA: g = m / ||W|| = 1 up to rounding
    own = {"lora_a", "lora_b"} | ({"dora_magnitude"} if kind == "dora" else set())
    assert {v.name for v in patched.trainable_weights} == own
    assert len(patched.trainable_weights) == 2 * len(own)
    patched.compile(keras.optimizers.Adam(1e-2), "mse")
    losses = patched.fit(X, Y, batch_size=8, epochs=10, verbose=0).history["loss"]
    assert losses[-1] < losses[0] - 0.1
    for old, new in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)  # the int kernels, scales: untouched
    expected = patched.predict(X, verbose=0)
    patched.save(tmp_path / "q.keras")
    loaded = rw.load_model(tmp_path / "q.keras")
    assert loaded.get_layer("dense").layer.quantization_mode == mode
    np.testing.assert_array_equal(loaded.predict(X, verbose=0), expected)
    rw.save_adapters(patched, tmp_path / "q.npz")
    fresh = ADD[kind](model, ["dense", "einsum"], rank=2)
    rw.load_adapters(fresh, tmp_path / "q.npz")
    np.testing.assert_array_equal(fresh.predict(X, verbose=0), expected)
    with pytest.raises(TypeError, match=rf"'dense'.*quantized \({mode}\).*rw.unpatch.*"
                                        rf"model.quantize\('{mode}'\)"):
        rw.fold(patched)
    np.testing.assert_array_equal(rw.unpatch(patched).predict(X, verbose=0),
                                  model.predict(X, verbose=0))


@pytest.mark.parametrize("mode", ["int8", "int4"])
def test_the_dequantized_kernel_is_the_layers_own_map(mode):
    keras.utils.set_random_seed(0)
    dense = keras.layers.Dense(6)
    dense.build((None, 300))  # int4: two groups of 128 rows and a partial one
    float_kernel = np.array(dense.kernel)
    dense.quantize(mode)
    kernel = np.asarray(ki.dequantized_kernel(dense))
    assert kernel.shape == (300, 6)
    step = {"int8": 1 / 127, "int4": 1 / 7}[mode] * np.abs(float_kernel).max()
    assert np.abs(kernel - float_kernel).max() <= step
    with pytest.raises(TypeError, match="float8.*LoRA and DoRA take int8 / int4"):
        q = keras.layers.Dense(2)
        q.build((None, 4))
        q.quantize("float8")
        rw.adapters.base.kernel_view(q, "q", "SVF", quantized=True)


def _gpt2(mode):
    backbone, data = build_case("GPT2Backbone")
    backbone.quantize(mode)
    return backbone, data


@pytest.mark.parametrize("mode", ["int8", "int4"])
def test_a_quantized_kerashub_backbone_round_trips_exactly(mode, tmp_path):
    backbone, data = _gpt2(mode)
    before = [w.copy() for w in backbone.get_weights()]
    lora = rw.add_lora(backbone, rank=2)  # KerasHub's default names: query and value
    assert sorted(p.rsplit("/", 1)[-1] for p in rw.patch_layers(lora)) == ["query", "value"]
    dora = rw.add_dora(lora, "*feedforward_output_dense", rank=2)
    rng = np.random.default_rng(0)
    for v in dora.trainable_weights:
        v.assign(v.numpy() + 0.3 * rng.normal(size=v.shape).astype(v.dtype))
    expected = np.asarray(dora.predict(data, verbose=0))
    dora.save(tmp_path / "gpt2.keras")
    loaded = rw.load_model(tmp_path / "gpt2.keras")
    modes = {p: layer.layer.quantization_mode for p, layer in rw.patch_layers(loaded).items()}
    assert set(modes.values()) == {mode}
    untargeted = loaded.get_layer("transformer_layer_0")._feedforward_intermediate_dense
    assert untargeted.quantization_mode == mode  # reloaded quantized, not as float
    np.testing.assert_array_equal(np.asarray(loaded.predict(data, verbose=0)), expected)
    rw.save_adapters(dora, tmp_path / "gpt2.npz")
    other, _ = _gpt2(mode)  # a freshly built backbone of the same config and seed
    fresh = rw.add_dora(rw.add_lora(other, rank=2), "*feedforward_output_dense", rank=2)
    rw.load_adapters(fresh, tmp_path / "gpt2.npz")
    np.testing.assert_array_equal(np.asarray(fresh.predict(data, verbose=0)), expected)
    with pytest.raises(TypeError, match=rf"quantized \({mode}\)"):
        rw.fold(dora)
    for old, new in zip(before, backbone.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)


@pytest.mark.parametrize("mode", ["int8", "int4"])
def test_fold_dequantizes_on_request(mode):
    """`rw.fold(model, dequantize=True)`, `folded(dequantize=True)`: a float layer
    holding the dequantized kernel plus the update. int4 is weight-only, so the float layer
    computes the same; int8 also rounds its inputs to int8, which the float layer does not."""
    model = _model(mode)
    patched = rw.add_lora(rw.add_dora(model, ["dense", "einsum"], rank=2), "dense", rank=2,
                          name="b")
    rng = np.random.default_rng(0)
    for v in patched.trainable_weights:
        v.assign(v.numpy() + 0.2 * rng.normal(size=v.shape).astype(v.dtype))
    for name, x in (("dense", X[:2]), ("einsum", np.maximum(X[:2], 0))):
        layer = patched.get_layer(name)
        with pytest.raises(TypeError, match=rf"quantized \({mode}\)"):
            layer.folded()
        folded = layer.folded(dequantize=True)
        assert type(folded) is type(layer.layer) and folded.quantization_mode is None
        assert folded.dtype_policy.name == "float32"
        atol = {"int4": 1e-5, "int8": 0.02 * np.abs(np.asarray(layer(x))).max()}[mode]
        np.testing.assert_allclose(np.asarray(folded(x)), np.asarray(layer(x)), atol=atol)
    with pytest.raises(TypeError, match=r"rw.fold\(model, dequantize=True\)"):
        rw.fold(patched)
    plain = rw.fold(patched, dequantize=True)
    assert {layer.quantization_mode for layer in plain.layers} == {None, mode}  # "out" stays
    assert plain.get_layer("dense").quantization_mode is None
    scale = np.abs(patched.predict(X, verbose=0)).max()
    np.testing.assert_allclose(plain.predict(X, verbose=0), patched.predict(X, verbose=0),
                               atol={"int4": 1e-5, "int8": 0.05}[mode] * scale)

"""Training a PatchedModel moves only the adapters, never the original (flags, batch norm
statistics), fold and unpatch after training, summaries; a transformer and MobileNetV2."""

from __future__ import annotations

import keras
import numpy as np

import risk_widgets as rw
from risk_widgets.adapters import LoRAAdapter, SVFAdapter
from tests import models as M
from tests.adapter_helpers import _adapter_ids, _fit, _patch, _perturb, _var_values, _x

# ----------------------------------------------------------------------------- training


def test_training_moves_only_adapter_weights_and_never_the_original():
    model = M.nested()
    x = [_x((32, 6)), _x((32, 6), 1)]
    y = [_x((32, 1), 2), _x((32, 3), 3)]
    ref = [np.asarray(o) for o in model(x)]
    before = M.snapshot(model)
    lora = rw.add_lora(model, ["shared", "enc/stack/deep", "out_1"], rank=2, dropout=0.1)
    values = _var_values(lora)
    adapter_ids = _adapter_ids(lora)
    assert len(adapter_ids) == 6
    _fit(lora, x, y)
    after = _var_values(lora)
    for v in lora.weights:
        changed = not np.array_equal(values[id(v)], after[id(v)])
        assert changed == (id(v) in adapter_ids), v.path
    # BatchNormalization statistics (shared, non-trainable) were not updated either
    M.assert_same_snapshot(before, M.snapshot(model))
    for a, b in zip(model(x), ref, strict=True):
        np.testing.assert_array_equal(a, b)
    # base flags untouched, only adapters are trainable in the patched model
    assert all(v.trainable for v in model.get_layer("shared").weights)
    assert {id(v) for v in lora.trainable_variables} == adapter_ids
    assert {id(v) for v in lora.optimizer._trainable_variables} == adapter_ids


def test_trainable_flags_of_patched_model_and_adapters_never_reach_the_base():
    model = M.mlp()
    before = M.snapshot(model)
    lora = rw.add_lora(model, "head", rank=2)
    lora.trainable = False
    assert lora.trainable_weights == []
    lora.trainable = True  # like Keras: the model's flag reaches its (patch) layers
    assert len(lora.trainable_weights) == 2
    lora.get_layer("head").trainable = False
    assert lora.trainable_weights == []
    lora.get_layer("head").trainable = True
    assert len(lora.trainable_weights) == 2
    M.assert_same_snapshot(before, M.snapshot(model))


def test_summary_shows_adapters_and_the_trainable_count():
    lora = rw.add_lora(M.mlp(), ["hidden_1", "head"], rank=2)
    lines = []
    lora.summary(print_fn=lambda line, *a, **k: lines.append(line))
    text = "\n".join(lines)
    assert "hidden_1 (LoRAAdapter)" in text and "head (LoRAAdapter)" in text
    assert "Trainable params: 44" in text  # (4x2 + 2x8) + (8x2 + 2x2)


def test_fold_unpatch_after_training():
    model = M.attention()
    x, y = _x((16, 6, 8)), _x((16, 6, 2), 1)
    ref = np.asarray(model(x))
    before = M.snapshot(model)
    for kind in ("lora", "svf"):
        patched = _patch(kind, model, ["attn/query", "attn/value", "head"], rank=2)
        if kind == "lora":
            _fit(patched, x, y)
        else:
            _perturb(patched)
        out = np.asarray(patched(x))
        assert np.abs(out - ref).max() > 1e-4  # training changed the patched model
        plain = rw.fold(patched)
        assert type(plain) is keras.src.models.functional.Functional
        assert not any(isinstance(layer, (LoRAAdapter, SVFAdapter))
                       for layer in plain._flatten_layers())
        np.testing.assert_allclose(plain(x), out, atol=1e-5)
        # fold owns new weights: none is shared with the original or the patched model
        assert not {id(v) for v in plain.weights} & {id(v) for v in patched.weights}
        base = rw.unpatch(patched)
        assert type(base) is keras.src.models.functional.Functional
        assert base.get_layer("attn") is not model.get_layer("attn")
        assert base.get_layer("attn")._query_dense is model.get_layer("attn")._query_dense
        np.testing.assert_array_equal(base(x), ref)
        if kind == "lora":  # training the folded (plain) model leaves the original alone
            _fit(plain, x, y, steps=1, run_eagerly=True)
    M.assert_same_snapshot(before, M.snapshot(model))
    np.testing.assert_array_equal(model(x), ref)


def test_batch_norm_base_runs_in_inference_mode_while_training():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    h = keras.layers.Dense(8, name="d")(inputs)
    h = keras.layers.BatchNormalization(name="bn")(h)
    model = keras.Model(inputs, keras.layers.Dense(1, name="head")(h))
    x, y = _x((64, 4)) * 5 + 3, _x((64, 1), 1)
    lora = rw.add_lora(model, "d", rank=2)
    bn = model.get_layer("bn")
    mean = bn.moving_mean.numpy().copy()
    _fit(lora, x, y)
    np.testing.assert_array_equal(bn.moving_mean.numpy(), mean)
    assert bn.trainable and bn._trainable  # flags restored after every call
    # the same model trained directly does update its statistics (the check is real)
    _fit(model, x, y, steps=1)
    assert not np.array_equal(bn.moving_mean.numpy(), mean)


# ----------------------------------------------------------------------------- real models


def test_transformer_lora_on_query_value_trains_and_folds():
    model = M.transformer()
    tokens, labels = M.sequences(n=256)
    ref = np.asarray(model(tokens))
    before = M.snapshot(model)
    lora = rw.add_lora(model, ["*/attn/query", "*/attn/value"], rank=4, alpha=8)
    assert sorted(rw.trainable_report(lora)["patched"]) == [
        "block_0/attn/query", "block_0/attn/value", "block_1/attn/query", "block_1/attn/value"]
    np.testing.assert_allclose(np.asarray(lora(tokens)), ref, atol=1e-6)
    lora.compile(optimizer=keras.optimizers.Adam(1e-2),
                 loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    first = lora.evaluate(tokens, labels, verbose=0)
    lora.fit(tokens, labels, epochs=6, batch_size=64, verbose=0)
    last = lora.evaluate(tokens, labels, verbose=0)
    assert last < 0.95 * first
    plain = rw.fold(lora)
    np.testing.assert_allclose(np.asarray(plain(tokens)), np.asarray(lora(tokens)),
                               atol=1e-5)
    M.assert_same_snapshot(before, M.snapshot(model))
    np.testing.assert_array_equal(np.asarray(model(tokens)), ref)


def test_mobilenet_v2_head():
    model = keras.applications.MobileNetV2(weights=None, input_shape=(32, 32, 3), alpha=0.35,
                                           classes=10)
    x = _x((8, 32, 32, 3))
    y = np.arange(8) % 10
    ref = np.asarray(model(x))
    before = M.snapshot(model)
    lora = rw.add_lora(model, "predictions", rank=4)
    head = model.get_layer("predictions")
    n_in = head.kernel.shape[0]
    assert rw.trainable_report(lora)["trainable"] == n_in * 4 + 4 * 10
    np.testing.assert_allclose(np.asarray(lora(x)), ref, atol=1e-6)
    _fit(lora, x, y, steps=1, loss="sparse_categorical_crossentropy", run_eagerly=True)
    M.assert_same_snapshot(before, M.snapshot(model))
    np.testing.assert_allclose(np.asarray(rw.fold(lora)(x)), np.asarray(lora(x)),
                               atol=1e-5)

"""Tiny model builders shared by the tests (import read-only from other test files).

Every builder takes a ``seed`` and returns a built model with named layers, so that paths
are stable: see docs/architecture.md "Paths".
"""

from __future__ import annotations

import keras
import numpy as np


def mlp(units=(8,), n_in=4, n_out=2, seed=0, activation="relu", name="mlp"):
    """``x -> hidden_1 .. hidden_k -> head``, all Dense."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((n_in,), name="x")
    h = inputs
    for i, n in enumerate(units, start=1):
        h = keras.layers.Dense(n, activation=activation, name=f"hidden_{i}")(h)
    return keras.Model(inputs, keras.layers.Dense(n_out, name="head")(h), name=name)


def nested(seed=0):
    """Two inputs, two outputs, a nested Functional (``enc``) holding a nested Sequential
    (``enc/stack``), a Dense layer shared by both branches (``shared``), BatchNorm."""
    keras.utils.set_random_seed(seed)
    inner_in = keras.Input((6,), name="enc_in")
    stack = keras.Sequential(
        [keras.Input((6,), name="stack_in"), keras.layers.Dense(6, name="deep"),
         keras.layers.Dense(5, activation="tanh", name="deeper")],
        name="stack",
    )
    enc = keras.Model(inner_in, keras.layers.Dense(5, name="proj")(stack(inner_in)), name="enc")
    a = keras.Input((6,), name="a")
    b = keras.Input((6,), name="b")
    shared = keras.layers.Dense(6, name="shared")
    ha = enc(shared(a))
    hb = keras.layers.BatchNormalization(name="bn")(shared(b))
    merged = keras.layers.Concatenate(name="cat")([ha, hb])
    out_1 = keras.layers.Dense(1, name="out_1")(merged)
    out_2 = keras.layers.Dense(3, name="out_2")(ha + 1.0)
    return keras.Model([a, b], [out_1, out_2], name="nested")


def attention(seq=6, dim=8, heads=2, seed=0):
    """``x -> attn (MultiHeadAttention) -> norm -> head``."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((seq, dim), name="x")
    attended = keras.layers.MultiHeadAttention(heads, dim // heads, name="attn")(inputs, inputs)
    h = keras.layers.LayerNormalization(name="norm")(inputs + attended)
    return keras.Model(inputs, keras.layers.Dense(2, name="head")(h), name="attention")


def block(dim, heads, name):
    """A transformer block as a CompositeLayer: ``attn`` + an ``mlp`` composite."""
    from risk_widgets.core.composite import CompositeLayer

    def fn(x):
        attended = keras.layers.MultiHeadAttention(heads, dim // heads, name="attn")(x, x)
        x = keras.layers.LayerNormalization(name="norm_1")(x + attended)
        mlp_ = CompositeLayer(
            [keras.layers.Dense(2 * dim, activation="gelu", name="up"),
             keras.layers.Dense(dim, name="down")],
            name="mlp",
        )
        return keras.layers.LayerNormalization(name="norm_2")(x + mlp_(x))

    return CompositeLayer(fn, name=name)


def transformer(vocab=12, seq=8, dim=16, heads=2, n_blocks=2, n_classes=2, seed=0):
    """Token + position embedding, CompositeLayer blocks, mean pooling, Dense ``head``."""
    keras.utils.set_random_seed(seed)
    tokens = keras.Input((seq,), dtype="int32", name="tokens")
    x = keras.layers.Embedding(vocab, dim, name="embed")(tokens)
    for i in range(n_blocks):
        x = block(dim, heads, name=f"block_{i}")(x)
    x = keras.layers.GlobalAveragePooling1D(name="pool")(x)
    return keras.Model(tokens, keras.layers.Dense(n_classes, name="head")(x), name="transformer")


def sequences(n=256, seq=8, vocab=12, seed=0):
    """Toy task: does token 1 occur more often than token 2?"""
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, vocab, size=(n, seq))
    boost = rng.random((n, seq)) < 0.4
    tokens = np.where(boost, rng.integers(1, 3, size=(n, seq)), tokens)
    labels = ((tokens == 1).sum(1) > (tokens == 2).sum(1)).astype("int32")
    return tokens.astype("int32"), labels


def optional_input(seed=0):
    """``y = head(x) (+ bias_in if given)``: the second input is optional."""
    keras.utils.set_random_seed(seed)

    class AddIfGiven(keras.layers.Layer):
        def call(self, x, extra=None):
            return x if extra is None else x + extra

    x = keras.Input((4,), name="x")
    extra = keras.Input((2,), name="extra", optional=True)
    y = keras.layers.Dense(2, name="head")(x)
    return keras.Model([x, extra], AddIfGiven(name="add_if")(y, extra), name="optional")


def snapshot(model):
    """Everything that must stay identical: weights (copies) and every trainable flag."""
    return {
        "weights": [np.array(v.numpy()) for v in model.weights],
        "flags": [bool(v.trainable) for v in model.weights],
        "layer_flags": [bool(layer.trainable) for layer in model._flatten_layers()],
        "ids": [id(v) for v in model.weights],
    }


def assert_same_snapshot(before, after):
    assert before["ids"] == after["ids"]
    assert before["flags"] == after["flags"]
    assert before["layer_flags"] == after["layer_flags"]
    for a, b in zip(before["weights"], after["weights"], strict=True):
        np.testing.assert_array_equal(a, b)

"""Built-in demo models, made in code (functional; the subclassed one is in ``subclassed``).

Example:
    >>> from risk_widgets.demo import models
    >>> model = models.regression_mlp()
    >>> [layer.name for layer in model.layers[1:]]
    ['scale', 'hidden_1', 'hidden_2', 'head']
"""

from __future__ import annotations

from typing import Any


def regression_mlp(hidden: tuple[int, ...] = (64, 64), name: str = "cubic_mlp") -> Any:
    """A small MLP for 1-D regression: ``scale``, ``hidden_1``, ``hidden_2``, ``head``."""
    import keras

    inputs = keras.Input((1,), name="x")
    # x spans about [-6, 6]: bring it to unit scale so training is fast and stable
    h = keras.layers.Rescaling(0.25, name="scale")(inputs)
    for i, units in enumerate(hidden, start=1):
        h = keras.layers.Dense(units, activation="relu", name=f"hidden_{i}")(h)
    outputs = keras.layers.Dense(1, name="head")(h)
    return keras.Model(inputs, outputs, name=name)


def transformer_block(dim: int, heads: int, name: str) -> Any:
    """A transformer block as a CompositeLayer: attention + a nested ``mlp`` composite."""
    import keras

    from risk_widgets.core.composite import CompositeLayer

    def block(x):
        attended = keras.layers.MultiHeadAttention(heads, dim // heads, name="attn")(x, x)
        x = keras.layers.LayerNormalization(name="norm_1")(x + attended)
        mlp = CompositeLayer(
            [
                keras.layers.Dense(2 * dim, activation="gelu", name="up"),
                keras.layers.Dense(dim, name="down"),
            ],
            name="mlp",
        )
        return keras.layers.LayerNormalization(name="norm_2")(x + mlp(x))

    return CompositeLayer(block, name=name)


def transformer(
    vocab_size: int = 16,
    seq_len: int = 12,
    dim: int = 32,
    heads: int = 4,
    n_blocks: int = 2,
    n_classes: int = 2,
    name: str = "demo_transformer",
) -> Any:
    """A small functional transformer classifier whose blocks are CompositeLayers.

    Token + position embedding, ``n_blocks`` blocks (``block_0/attn/query``, ...,
    ``block_0/mlp/up``), mean pooling and a Dense ``head``.
    """
    import keras

    tokens = keras.Input((seq_len,), dtype="int32", name="tokens")
    x = keras.layers.Embedding(vocab_size, dim, name="token_embedding")(tokens)
    # positions come from the tokens tensor, so the embedding is part of the graph
    positions = keras.ops.cumsum(keras.ops.ones_like(tokens), axis=1) - 1
    x = x + keras.layers.Embedding(seq_len, dim, name="position_embedding")(positions)
    for i in range(n_blocks):
        x = transformer_block(dim, heads, name=f"block_{i}")(x)
    x = keras.layers.GlobalAveragePooling1D(name="pool")(x)
    outputs = keras.layers.Dense(n_classes, name="head")(x)
    return keras.Model(tokens, outputs, name=name)



def digits_mlp(name: str = "digits_mlp") -> Any:
    """A small MLP classifier for :func:`digits_data` (outputs class probabilities)."""
    import keras

    inputs = keras.Input((64,), name="pixels")
    h = keras.layers.Dense(64, activation="relu", name="hidden_1")(inputs)
    h = keras.layers.Dense(32, activation="relu", name="hidden_2")(h)
    outputs = keras.layers.Dense(10, activation="softmax", name="head")(h)
    return keras.Model(inputs, outputs, name=name)

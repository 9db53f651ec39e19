"""Built-in demo models and synthetic data, all made in code (nothing is downloaded).

Example:
    >>> from risk_widgets import demo
    >>> x, y = demo.cubic_data(n=64)
    >>> x.shape, y.shape
    ((64, 1), (64, 1))
    >>> model = demo.regression_mlp()
    >>> [layer.name for layer in model.layers[1:]]
    ['scale', 'hidden_1', 'hidden_2', 'head']
"""

from __future__ import annotations

from typing import Any

import numpy as np

CUBIC_SCALE = 64.0  # y is divided by this so that it stays within about [-1, 1] in range


def cubic_data(
    n: int = 512,
    low: float = -4.0,
    high: float = 4.0,
    noise: float = 3.0,
    heteroscedastic: bool = False,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """``y = (x³ + ε) / 64`` for x uniform in ``[low, high]``; ε ~ N(0, noise²).

    With ``heteroscedastic=True`` the noise grows with |x| (ε ~ N(0, (noise·|x|/2)²)), so a
    good risk estimate must widen away from 0.

    Returns:
        ``(x, y)``, float32 arrays of shape ``(n, 1)``.
    """
    rng = np.random.default_rng(seed)
    x = rng.uniform(low, high, size=(n, 1))
    scale = noise * (1 + np.abs(x)) / 2 if heteroscedastic else noise
    y = (x**3 + rng.normal(0.0, 1.0, size=(n, 1)) * scale) / CUBIC_SCALE
    return x.astype("float32"), y.astype("float32")


def cubic_ood(n: int = 256, inner: float = 4.0, outer: float = 6.0, seed: int = 1):
    """OOD probes for :func:`cubic_data`: x in ``[-outer, -inner] ∪ [inner, outer]``."""
    rng = np.random.default_rng(seed)
    magnitude = rng.uniform(inner, outer, size=(n, 1))
    x = magnitude * rng.choice([-1.0, 1.0], size=(n, 1))
    return x.astype("float32"), (x**3 / CUBIC_SCALE).astype("float32")


def plot_grid(n: int = 400, low: float = -6.0, high: float = 6.0) -> np.ndarray:
    """Evenly spaced x covering the training range and the OOD gap, for the live plot."""
    return np.linspace(low, high, n, dtype="float32")[:, None]


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

    from risk_widgets.composite import CompositeLayer

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


def toy_sequences(
    n: int = 512, seq_len: int = 12, vocab_size: int = 16, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """A toy sequence task: is token 1 more frequent than token 2 in the sequence?

    Returns ``(tokens, labels)``: int32 ``(n, seq_len)`` and int32 ``(n,)`` (0 or 1), with
    ties broken by the first token so the classes stay balanced.
    """
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, vocab_size, size=(n, seq_len))
    # make tokens 1 and 2 common so the counts carry signal
    boost = rng.random((n, seq_len)) < 0.4
    tokens = np.where(boost, rng.integers(1, 3, size=(n, seq_len)), tokens)
    ones, twos = (tokens == 1).sum(axis=1), (tokens == 2).sum(axis=1)
    labels = np.where(ones == twos, tokens[:, 0] % 2, (ones > twos).astype(int))
    return tokens.astype("int32"), labels.astype("int32")


def digits_data() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled 8x8 digits (shipped with the package, no download).

    Returns ``(x, y)``: float32 ``(1797, 64)`` scaled to [0, 1] and int32 labels 0-9.
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError as err:
        raise ImportError(
            "digits_data() needs scikit-learn: pip install 'risk_widgets[demo]'"
        ) from err
    digits = load_digits()
    return (digits.data / 16.0).astype("float32"), digits.target.astype("int32")


def digits_mlp(name: str = "digits_mlp") -> Any:
    """A small MLP classifier for :func:`digits_data` (outputs class probabilities)."""
    import keras

    inputs = keras.Input((64,), name="pixels")
    h = keras.layers.Dense(64, activation="relu", name="hidden_1")(inputs)
    h = keras.layers.Dense(32, activation="relu", name="hidden_2")(h)
    outputs = keras.layers.Dense(10, activation="softmax", name="head")(h)
    return keras.Model(inputs, outputs, name=name)

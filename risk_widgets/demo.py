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


# ----------------------------------------------------------------------------- subclassed
# A KerasHub-style transformer: a subclassed encoder block whose sub-layers live in
# underscore attributes and are created in `build` (as in `keras_hub.layers
# .TransformerEncoder`), inside a backbone that is a Functional subclass (as KerasHub
# backbones are). Defined lazily so that importing `demo` does not import Keras.

_SUBCLASSED: dict[str, type] = {}


def _subclassed_classes() -> dict[str, type]:
    if _SUBCLASSED:
        return _SUBCLASSED
    import keras

    @keras.saving.register_keras_serializable(package="risk_widgets.demo")
    class TransformerEncoder(keras.layers.Layer):
        """A post-norm transformer encoder block written like KerasHub's.

        Sub-layers (created in `build`): ``_self_attention_layer`` (MultiHeadAttention
        ``self_attention_layer``), ``_self_attention_layer_norm``,
        ``_self_attention_dropout``, ``_feedforward_intermediate_dense``,
        ``_feedforward_output_dense``, ``_feedforward_layer_norm``, ``_feedforward_dropout``.
        Paths: ``"<block>/self_attention_layer/query"``,
        ``"<block>/feedforward_intermediate_dense"``, ...
        """

        def __init__(self, intermediate_dim, num_heads, dropout=0.0, activation="gelu",
                     layer_norm_epsilon=1e-5, **kwargs):
            super().__init__(**kwargs)
            self.intermediate_dim = int(intermediate_dim)
            self.num_heads = int(num_heads)
            self.dropout = float(dropout)
            self.activation = activation
            self.layer_norm_epsilon = float(layer_norm_epsilon)
            self.supports_masking = True

        def build(self, inputs_shape):
            hidden_dim = inputs_shape[-1]
            self._self_attention_layer = keras.layers.MultiHeadAttention(
                self.num_heads, hidden_dim // self.num_heads, dropout=self.dropout,
                name="self_attention_layer",
            )
            self._self_attention_layer.build(inputs_shape, inputs_shape)
            self._self_attention_layer_norm = keras.layers.LayerNormalization(
                epsilon=self.layer_norm_epsilon, name="self_attention_layer_norm"
            )
            self._self_attention_layer_norm.build(inputs_shape)
            self._self_attention_dropout = keras.layers.Dropout(
                self.dropout, name="self_attention_dropout"
            )
            self._feedforward_intermediate_dense = keras.layers.Dense(
                self.intermediate_dim, activation=self.activation,
                name="feedforward_intermediate_dense",
            )
            self._feedforward_intermediate_dense.build(inputs_shape)
            self._feedforward_output_dense = keras.layers.Dense(
                hidden_dim, name="feedforward_output_dense"
            )
            self._feedforward_output_dense.build(
                tuple(inputs_shape[:-1]) + (self.intermediate_dim,)
            )
            self._feedforward_layer_norm = keras.layers.LayerNormalization(
                epsilon=self.layer_norm_epsilon, name="feedforward_layer_norm"
            )
            self._feedforward_layer_norm.build(inputs_shape)
            self._feedforward_dropout = keras.layers.Dropout(
                self.dropout, name="feedforward_dropout"
            )
            self.built = True

        def call(self, inputs, training=None):
            x = inputs
            attended = self._self_attention_layer(x, x, training=training)
            attended = self._self_attention_dropout(attended, training=training)
            x = self._self_attention_layer_norm(x + attended)
            h = self._feedforward_intermediate_dense(x)
            h = self._feedforward_output_dense(h)
            h = self._feedforward_dropout(h, training=training)
            return self._feedforward_layer_norm(x + h)

        def compute_output_shape(self, inputs_shape):
            return inputs_shape

        def get_config(self):
            return {
                **super().get_config(),
                "intermediate_dim": self.intermediate_dim,
                "num_heads": self.num_heads,
                "dropout": self.dropout,
                "activation": self.activation,
                "layer_norm_epsilon": self.layer_norm_epsilon,
            }

    @keras.saving.register_keras_serializable(package="risk_widgets.demo")
    class TransformerBackbone(keras.Model):
        """A KerasHub-style backbone: a Functional subclass built in ``__init__``.

        ``token_ids (B, seq_len) -> token + position embedding -> transformer_layer_0 ..
        transformer_layer_{n-1} (TransformerEncoder) -> (B, seq_len, hidden_dim)``.
        """

        def __init__(self, vocabulary_size=16, num_layers=2, num_heads=2, hidden_dim=16,
                     intermediate_dim=32, max_sequence_length=12, dropout=0.0, **kwargs):
            token_ids = keras.Input((max_sequence_length,), dtype="int32", name="token_ids")
            x = keras.layers.Embedding(
                vocabulary_size, hidden_dim, name="token_embedding"
            )(token_ids)
            positions = keras.ops.cumsum(keras.ops.ones_like(token_ids), axis=1) - 1
            x = x + keras.layers.Embedding(
                max_sequence_length, hidden_dim, name="position_embedding"
            )(positions)
            for i in range(num_layers):
                x = TransformerEncoder(
                    intermediate_dim, num_heads, dropout=dropout, name=f"transformer_layer_{i}"
                )(x)
            kwargs.setdefault("name", "backbone")
            super().__init__(inputs=token_ids, outputs=x, **kwargs)
            self.vocabulary_size = vocabulary_size
            self.num_layers = num_layers
            self.num_heads = num_heads
            self.hidden_dim = hidden_dim
            self.intermediate_dim = intermediate_dim
            self.max_sequence_length = max_sequence_length
            self.dropout = dropout

        def get_config(self):
            return {
                "name": self.name,
                "trainable": self.trainable,
                "vocabulary_size": self.vocabulary_size,
                "num_layers": self.num_layers,
                "num_heads": self.num_heads,
                "hidden_dim": self.hidden_dim,
                "intermediate_dim": self.intermediate_dim,
                "max_sequence_length": self.max_sequence_length,
                "dropout": self.dropout,
            }

        @classmethod
        def from_config(cls, config):
            return cls(**config)

    _SUBCLASSED.update(TransformerEncoder=TransformerEncoder,
                       TransformerBackbone=TransformerBackbone)
    return _SUBCLASSED


def __getattr__(name: str) -> Any:
    """``demo.TransformerEncoder`` / ``demo.TransformerBackbone`` (created on first use)."""
    if name in ("TransformerEncoder", "TransformerBackbone"):
        return _subclassed_classes()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def subclassed_transformer(
    n_blocks: int = 2,
    dim: int = 16,
    heads: int = 2,
    vocab_size: int = 16,
    seq_len: int = 12,
    n_classes: int = 2,
    dropout: float = 0.0,
    name: str = "subclassed_transformer",
) -> Any:
    """A KerasHub-style classifier: a `TransformerBackbone` (``backbone``) + pooling + head.

    Paths: ``backbone/transformer_layer_0/self_attention_layer/query``,
    ``backbone/transformer_layer_0/feedforward_intermediate_dense``, ..., ``head``.
    Works with :func:`toy_sequences` (same defaults for ``vocab_size`` and ``seq_len``).

    Example:
        >>> from risk_widgets import demo
        >>> model = demo.subclassed_transformer(n_blocks=1)
        >>> type(model.get_layer("backbone").get_layer("transformer_layer_0")).__name__
        'TransformerEncoder'
    """
    import keras

    backbone = _subclassed_classes()["TransformerBackbone"](
        vocabulary_size=vocab_size, num_layers=n_blocks, num_heads=heads, hidden_dim=dim,
        intermediate_dim=2 * dim, max_sequence_length=seq_len, dropout=dropout,
    )
    tokens = keras.Input((seq_len,), dtype="int32", name="tokens")
    x = keras.layers.GlobalAveragePooling1D(name="pool")(backbone(tokens))
    outputs = keras.layers.Dense(n_classes, name="head")(x)
    return keras.Model(tokens, outputs, name=name)

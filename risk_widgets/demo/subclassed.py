"""A KerasHub-style transformer, made in code, for the demos and tests.

A subclassed encoder block whose sub-layers live in underscore attributes and are created in
`build` (as in `keras_hub.layers.TransformerEncoder`), inside a backbone that is a Functional
subclass (as KerasHub backbones are). Defined lazily so that importing `demo` does not import
Keras.
"""

from __future__ import annotations

from typing import Any

_SUBCLASSED: dict[str, type] = {}


def subclassed_classes() -> dict[str, type]:
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

    backbone = subclassed_classes()["TransformerBackbone"](
        vocabulary_size=vocab_size, num_layers=n_blocks, num_heads=heads, hidden_dim=dim,
        intermediate_dim=2 * dim, max_sequence_length=seq_len, dropout=dropout,
    )
    tokens = keras.Input((seq_len,), dtype="int32", name="tokens")
    x = keras.layers.GlobalAveragePooling1D(name="pool")(backbone(tokens))
    outputs = keras.layers.Dense(n_classes, name="head")(x)
    return keras.Model(tokens, outputs, name=name)

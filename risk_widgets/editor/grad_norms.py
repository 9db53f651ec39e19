"""Per-layer gradient norms: how hard the loss pulls on each layer's trained weights.

The graph view's "gradient norm" overlay (docs/architecture.md "Overlays"): after
`GraphEditor.fit`, the L2 norm of the gradient of the model's compiled loss (with its added
losses, such as a variance head's) with respect to the weights the model trains, per layer
path, on a batch of the training data. Layers the model does not train (a patched model's
frozen base) have no entry.

Example:
    >>> import keras, numpy as np
    >>> from risk_widgets.editor.grad_norms import gradient_norms
    >>> x_in = keras.Input((3,), name="x")
    >>> h = keras.layers.Dense(4, name="hidden")(x_in)
    >>> model = keras.Model(x_in, keras.layers.Dense(1, name="head")(h))
    >>> model.compile(loss="mse")
    >>> x, y = np.ones((8, 3), "float32"), np.zeros((8, 1), "float32")
    >>> sorted(gradient_norms(model, x, y))
    ['head', 'hidden']
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np

from risk_widgets.core.walk import iter_layers

__all__ = ["GRAD_ROWS", "gradient_norms"]

#: rows of the training data the gradient is measured on
GRAD_ROWS = 256


def gradient_norms(model: Any, x: Any, y: Any, *, rows: int = GRAD_ROWS) -> dict[str, float]:
    """``{path: norm}``: the loss gradient's L2 norm over each layer's trained weights.

    Args:
        model: a compiled Keras model (``editor.fit`` compiles it).
        x, y: training data; the first ``rows`` rows are used.

    Raises:
        NotImplementedError: a backend other than TensorFlow (no gradient tape here yet).
        ValueError: the model is not compiled (no loss to differentiate).
    """
    if keras.backend.backend() != "tensorflow":
        raise NotImplementedError(
            "Gradient norms per layer are measured on the TensorFlow backend only; "
            f"this is {keras.backend.backend()!r}."
        )
    if not getattr(model, "compiled", False):
        raise ValueError("The model is not compiled: compile it (or train it with editor.fit) "
                         "so that there is a loss to take the gradient of.")
    import tensorflow as tf

    xs, ys = np.asarray(x)[:rows], np.asarray(y)[:rows]
    variables = list(model.trainable_variables)
    with tf.GradientTape() as tape:
        y_pred = model(xs, training=True)
        loss = model.compute_loss(x=xs, y=ys, y_pred=y_pred, training=True)
    grads = tape.gradient(loss, variables)
    squares = {
        id(v): float(tf.reduce_sum(tf.square(tf.convert_to_tensor(g))))
        for v, g in zip(variables, grads, strict=True)
        if g is not None
    }
    norms: dict[str, float] = {}
    for ref in iter_layers(model):
        if ref.kind != "layer" or not isinstance(ref.layer, keras.layers.Layer):
            continue
        own = {id(v) for v in ref.layer.weights} & squares.keys()
        if own:
            norms[ref.path] = math.sqrt(sum(squares[k] for k in own))
    return norms

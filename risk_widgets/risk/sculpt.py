"""``sculpt``: a variance head trained with the Gaussian negative log-likelihood.

For each model output, a :class:`SculptHead` reads the features that feed the output's last
weighted layer and predicts a positive variance (a ReLU layer of its own, then softplus) of
the same shape as the output.
Risk = the predicted std (composed with other wrappers by the law of total variance).

The Gaussian NLL is added to the loss automatically: a wrapped model that was compiled
carries its compile settings over and trains on ``compiled loss + NLL``; if it was not
compiled with a loss, sculpt warns (as Capsa does: when wrapping a model compiled without
one, or when ``fit`` starts without one) and ``fit`` trains on the NLL alone. For
more control, assign your own loss: ``risky.compute_loss = fn`` receives
``y_pred = (y_hat, risk)`` and can call :func:`gaussian_nll` (Capsa's
``sculpt.Normal.loss_function``); see :meth:`RiskModel.compute_loss
<risk_widgets.risk.model.RiskModel.compute_loss>`.

**What trains what.** The compiled loss trains the prediction and every layer below it,
exactly as without sculpt; the NLL trains the variance head only: the prediction enters it
as a constant and the head reads the features through ``stop_gradient``. These are the two
changes of "faithful" heteroscedastic regression (Stirn et al., AISTATS 2023); without them
(the NLL's gradient ``(mu - y) / var`` on the mean and on the shared features) rows whose
variance has shrunk pull hardest, the network fits their noise, their variance shrinks
further: trained on ``mse + NLL``, sculpt lost to a plain mean-variance network of the
same shape on held-out NLL (heteroscedastic Friedman #1, 60 epochs, 3 seeds: 0.665 against
0.551; issue 29). bench/RESULTS.md, *Risk against plain baselines*, has this version against
the plain baselines, every seed. With no compiled loss the NLL trains the prediction too
(through the mean, not through the head).

Sculpt is for regression outputs; it refuses outputs that end in a softmax or sigmoid (use
vote or sample for classification risk). The risk model owns a copy of the user's layers
(initialised with their weights) and trains them with the head; the user's model is never
modified. A subclassed model is wrapped as one opaque layer: its inside is no graph, so its
heads read the model's inputs (not the features before its last layer).

Example:
    >>> import keras
    >>> from risk_widgets.risk import sculpt
    >>> inputs = keras.Input((1,))
    >>> model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Dense(8)(inputs)))
    >>> risky = sculpt.Wrapper()(model)
    >>> y, risk = risky(keras.ops.ones((2, 1)), return_risk=True)
    >>> bool(keras.ops.all(risk > 0))
    True
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import keras
from keras import ops

from risk_widgets.risk.compose import gaussian_nll_terms, report_output
from risk_widgets.risk.model import RiskModel
from risk_widgets.risk.wrap import has_compiled_loss, wrap_model

__all__ = ["HIDDEN", "MIN_VARIANCE", "NO_LOSS_WARNING", "SculptHead", "Wrapper", "gaussian_nll"]

#: what sculpt says when the wrapped model has no compiled loss (Capsa's warning, our names)
NO_LOSS_WARNING = (
    "sculpt: model {name!r} was not compiled with a loss, so the risk model trains its "
    "prediction and its variance on the Gaussian NLL alone. Either a) compile the model "
    "before wrapping: model.compile(optimizer=..., loss=your_loss); or b) combine your loss "
    "with sculpt.gaussian_nll yourself and assign it: risky.compute_loss = fn(x, y, y_pred, "
    "sample_weight, training), where y_hat, risk = y_pred and the loss adds "
    "sculpt.gaussian_nll(y, y_hat, risk)."
)


def gaussian_nll(y: Any, y_hat: Any, std: Any, sample_weight: Any = None) -> Any:
    """Sculpt's loss: the mean Gaussian negative log-likelihood of ``y`` under
    ``N(y_hat, std^2)`` (Capsa's ``sculpt.Normal.loss_function(y, y_hat, risk)``).

    For a custom ``compute_loss`` (see :meth:`RiskModel.compute_loss
    <risk_widgets.risk.model.RiskModel.compute_loss>`), which receives ``(y_hat, risk)``.
    The gradient reaches ``y_hat`` and ``std``; pass ``keras.ops.stop_gradient(y_hat)`` to
    let only your own loss train the prediction, as sculpt's built-in loss does when the
    model is compiled with one.

    Args:
        y: the targets, any shape that reshapes to ``y_hat``'s.
        y_hat: the prediction.
        std: its predicted std (``risk``), same shape, > 0; floored at
            ``sqrt(MIN_VARIANCE)``.
        sample_weight: optional weight per row, shape ``(batch,)``.

    Returns:
        A scalar: the NLL per element, averaged over each row, then over the rows (weighted).

    Example:
        >>> import numpy as np
        >>> from risk_widgets.risk import sculpt
        >>> y, y_hat, std = np.zeros((2, 1)), np.zeros((2, 1)), np.ones((2, 1))
        >>> round(float(sculpt.gaussian_nll(y, y_hat, std)), 4)  # 0.5 * log(2 pi)
        0.9189
    """
    y_hat = ops.convert_to_tensor(y_hat)
    dtype = y_hat.dtype if "float" in str(y_hat.dtype) else "float32"
    y_hat = ops.cast(y_hat, dtype)
    y = ops.reshape(ops.cast(y, dtype), ops.shape(y_hat))
    var = ops.maximum(ops.square(ops.cast(std, dtype)), MIN_VARIANCE)
    per = gaussian_nll_terms(y, y_hat, var)
    per_row = ops.mean(ops.reshape(per, (ops.shape(per)[0], -1)), axis=1)
    if sample_weight is None:
        return ops.mean(per_row)
    w = ops.reshape(ops.cast(sample_weight, dtype), (-1,))
    return ops.sum(per_row * w) / ops.maximum(ops.sum(w), 1e-12)

MIN_VARIANCE = 1e-6
#: units of a new head's own ReLU layer (``SculptHead(hidden=...)``)
HIDDEN = 32
_SOFTPLUS_INV_ONE = math.log(math.e - 1.0)  # softplus(b) = 1: initial variance 1 (scaled data)


@keras.saving.register_keras_serializable(package="risk_widgets")
class SculptHead(keras.layers.Layer):
    """Predicts a positive variance of shape ``target_shape`` from features.

    The features enter through ``stop_gradient``: the head learns from them, it does not
    change them (see the module docstring, "What trains what").

    Args:
        target_shape: the output's shape without the batch axis.
        positionwise: apply the head on the last axis only (features ``(B, ..., F)`` with
            the same leading axes as the output); otherwise flatten the features first.
        hidden: units of the head's own ReLU layer before the variance (0: none, a linear
            head on the features, as heads saved before release 0.2 are). The features are
            the prediction's, trained for the mean: noise that the mean does not need to see
            (noise growing with |x| where the mean is flat) takes a nonlinearity of its own.

    Input shape: ``(B, ...)`` features. Output shape: ``(B, *target_shape)``, values > 0.
    """

    is_patch_layer = True
    risk_kind = "sculpt"

    def __init__(self, target_shape, positionwise=False, hidden=0, **kwargs):
        super().__init__(**kwargs)
        self.target_shape = tuple(int(d) for d in target_shape)
        self.positionwise = bool(positionwise)
        self.hidden = int(hidden)
        units = self.target_shape[-1] if positionwise else math.prod(self.target_shape)
        self.hidden_dense = None
        if self.hidden:
            self.hidden_dense = keras.layers.Dense(
                self.hidden, activation="relu", name="variance_hidden"
            )
        self.dense = keras.layers.Dense(
            units,
            # with a hidden layer: zeros, so a new head starts homoscedastic (variance 1
            # everywhere) and grows heteroscedastic only as the residuals ask
            kernel_initializer="zeros" if self.hidden else "glorot_uniform",
            bias_initializer=keras.initializers.Constant(_SOFTPLUS_INV_ONE),
            name="variance",
        )

    def patch_info(self) -> dict:
        return {"kind": "sculpt", "params": {}}

    def build(self, input_shape):
        shape = tuple(input_shape) if self.positionwise else (
            input_shape[0], math.prod(input_shape[1:]))
        if self.hidden_dense is not None:
            self.hidden_dense.build(shape)
            shape = (*shape[:-1], self.hidden)
        self.dense.build(shape)
        self.built = True

    def call(self, features):
        features = ops.stop_gradient(features)  # the prediction's features: read, not shaped
        if not self.positionwise:
            features = ops.reshape(features, (ops.shape(features)[0], -1))
        if self.hidden_dense is not None:
            features = self.hidden_dense(features)
        z = self.dense(features)
        if not self.positionwise:
            z = ops.reshape(z, (-1, *self.target_shape))
        return report_output(self, ops.softplus(z) + MIN_VARIANCE)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self.target_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"target_shape": list(self.target_shape), "positionwise": self.positionwise,
                       "hidden": self.hidden})
        return config


def _producer(tensor: Any) -> tuple[Any, list[Any]]:
    """(operation, its input tensors) that produced ``tensor`` in a functional graph."""
    from risk_widgets.core.keras_internals import producer_node

    node = producer_node(tensor)
    return node.operation, list(node.input_tensors)


def _squashing(op: Any) -> str | None:
    activation = getattr(op, "activation", None)
    name = getattr(activation, "__name__", str(activation or ""))
    if isinstance(op, keras.layers.Softmax) or name in ("softmax", "log_softmax", "sigmoid"):
        return name or "softmax"
    return None


def _features_for(output: Any, name: str) -> Any:
    """The features feeding the last weighted layer on the way to ``output``."""
    tensor = output
    while True:
        op, inputs = _producer(tensor)
        squash = _squashing(op)
        if squash:
            raise ValueError(
                f"sculpt: output {name!r} ends in a {squash} (layer {op.name!r}): sculpt models "
                "Gaussian noise on regression outputs. For class probabilities use vote or "
                "sample, whose risk is the std of each class probability."
            )
        if isinstance(op, keras.layers.InputLayer) or not inputs:
            return tensor
        if getattr(op, "weights", None) or len(inputs) != 1:  # an op (x + 1) has none
            return inputs[0]
        tensor = inputs[0]


class Wrapper:
    """Sculpt wrapper: ``Wrapper()(model, targets=None) -> RiskModel``.

    ``targets`` must be None: the heads always sit on the model's outputs.

    Example:
        >>> import keras
        >>> from risk_widgets.risk import sculpt
        >>> inputs = keras.Input((3,))
        >>> model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
        >>> [l.__class__.__name__ for l in sculpt.Wrapper()(model).risk_layers()]
        ['SculptHead']
    """

    kind = "sculpt"

    @property
    def params(self) -> dict:
        return {}

    def __call__(self, model: Any, targets: Any = None) -> RiskModel:
        if targets is not None:
            raise ValueError(
                "sculpt: `targets` must be None: the variance heads sit on the model outputs. "
                f"Received: targets={targets!r}"
            )
        if isinstance(model, RiskModel) and model.has_variance:
            raise ValueError(
                f"sculpt: model {model.name!r} already has a variance head. Apply sculpt once, "
                "first: vote.Wrapper()(sculpt.Wrapper()(model))."
            )

        def extend(means: list[Any], names: list[str]) -> list[Any]:
            variances = []
            for i, (mean, name) in enumerate(zip(means, names, strict=True)):
                features = _features_for(mean, name)
                target_shape = tuple(mean.shape[1:])
                if any(d is None for d in target_shape):
                    raise ValueError(
                        f"sculpt: output {name!r} has an unknown dimension {mean.shape}; the "
                        "variance head needs a fixed output shape."
                    )
                positionwise = (
                    len(features.shape) == len(mean.shape)
                    and tuple(features.shape[1:-1]) == target_shape[:-1]
                    and len(target_shape) > 1
                )
                suffix = "" if len(means) == 1 else f"_{i}"
                head = SculptHead(
                    target_shape, positionwise, hidden=HIDDEN, name=f"sculpt_variance{suffix}"
                )
                variances.append(head(features))
            return variances

        risky = wrap_model(
            model, kind="sculpt", params={}, n_members=1, select=None, replace=None, extend=extend
        )
        if getattr(model, "compiled", False) and not has_compiled_loss(model):
            warnings.warn(NO_LOSS_WARNING.format(name=model.name), UserWarning, stacklevel=2)
        return risky

"""``temperature``: temperature scaling of a classifier, fitted on held-out data.

The final Dense's logits ``z`` are divided by one scalar ``T > 0`` chosen to minimise the
negative log-likelihood of the held-out labels (a deterministic golden-section search on
``log T`` in ``[log 0.05, log 20]``; the NLL of ``softmax(z/T)`` is unimodal in ``log T``).
The predicted class never changes; only the confidence does (``T > 1`` softens an
overconfident model).

The patch acts on the pre-softmax logits: a model ending in ``Dense(K, activation="softmax")``
or ``Dense(K)`` + ``Softmax`` is evaluated as ``features(x) @ W + b`` (the final Dense's own,
shared weights), divided by ``T``, and the softmax re-applied; a model ending in logits
(``Dense(K)``) returns ``z / T``. So ``model(x)`` means what it meant before, calibrated.
``risk`` = ``1 - max_k p_k`` of the calibrated probabilities, ``(batch, 1)``.

Example:
    >>> import keras, numpy as np
    >>> from risk_widgets.risk import temperature
    >>> inputs = keras.Input((4,))
    >>> model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(inputs))
    >>> rng = np.random.default_rng(0)
    >>> ts = temperature.Wrapper()(model, rng.normal(size=(64, 4)), rng.integers(0, 3, 64))
    >>> bool(ts.temperature > 0), ts(np.ones((2, 4), "float32"), return_risk=True)[1].shape
    (True, TensorShape([2, 1]))
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import keras
import numpy as np
from keras import ops

from risk_widgets.risk.posthoc import (
    PosthocModel,
    batched,
    check_calibration_data,
    class_labels,
    final_dense,
    task_of,
)

__all__ = ["TemperatureModel", "Wrapper", "fit_temperature"]

_LOW, _HIGH = math.log(0.05), math.log(20.0)


def _nll(z: np.ndarray, labels: np.ndarray, t: float) -> float:
    s = z / t
    s = s - s.max(axis=1, keepdims=True)
    log_p = s - np.log(np.exp(s).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(labels)), labels].mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray, iterations: int = 80) -> float:
    """The ``T`` minimising the NLL of ``softmax(logits / T)`` (golden section on ``log T``).

    Example:
        >>> import numpy as np
        >>> from risk_widgets.risk.temperature import fit_temperature
        >>> rng = np.random.default_rng(0)
        >>> labels = rng.integers(0, 3, 500)
        >>> logits = 3.0 * np.eye(3)[labels] + rng.normal(size=(500, 3))
        >>> round(fit_temperature(10 * logits, labels) / fit_temperature(logits, labels), 1)
        10.0
    """
    z = np.asarray(logits, dtype="float64")
    labels = np.asarray(labels, dtype="int64")
    ratio = (math.sqrt(5) - 1) / 2
    a, b = _LOW, _HIGH
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = _nll(z, labels, math.exp(c)), _nll(z, labels, math.exp(d))
    for _ in range(iterations):
        if fc <= fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = _nll(z, labels, math.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = _nll(z, labels, math.exp(d))
    return math.exp((a + b) / 2)


@keras.saving.register_keras_serializable(package="risk_widgets")
class TemperatureModel(PosthocModel):
    """A classifier whose final logits are divided by ``temperature`` (module docstring).

    Args:
        base: the wrapped classifier (shared, not copied).
        temperature: ``T > 0``.
    """

    kind = "temperature"

    def __init__(self, base, temperature, **kwargs):
        super().__init__(base, **kwargs)
        self.temperature = float(temperature)
        head = final_dense(base, "temperature")
        object.__setattr__(self, "_head", head)  # untracked: its layers are the base's

    @property
    def params(self) -> dict:
        return {"temperature": round(self.temperature, 4)}

    def call_with_risk(self, x):
        z = self._head.logits(x) / self.temperature
        probs = ops.softmax(z, axis=-1)
        risk = 1.0 - ops.max(probs, axis=-1, keepdims=True)
        return (probs if self._head.softmax else z), risk

    def get_config(self):
        return {**super().get_config(), "temperature": self.temperature}


class Wrapper:
    """Temperature scaling: ``Wrapper()(model, x_cal, y_cal) -> TemperatureModel``.

    Calling it:
        model: a trained classifier ending in a Dense (softmax in it, after it, or logits).
        x_cal, y_cal: held-out rows and their integer class labels.

    Example:
        >>> import keras, numpy as np
        >>> from risk_widgets.risk import temperature
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
        >>> x = np.array([[1.0, 0.0], [0.0, 1.0]] * 10)
        >>> ts = temperature.Wrapper()(model, x, np.array([0, 1] * 10))
        >>> ts.kind, ts.predict_risk(x)[0].shape
        ('temperature', (20, 2))
    """

    kind = "temperature"

    @property
    def params(self) -> dict:
        return {}

    def __call__(self, model: Any, x_cal: Any = None, y_cal: Any = None) -> TemperatureModel:
        head = final_dense(model, "temperature")  # refuses a model without a final Dense
        x, y = check_calibration_data("temperature", x_cal, y_cal)
        k = int(head.dense.units)
        if task_of("temperature", "auto", y, k) != "classification":
            raise ValueError(
                f"temperature: scales the logits of a classifier, so it needs y_cal as integer "
                f"class labels and a head with several classes; received y_cal of shape "
                f"{y.shape} for a head of {k} unit(s). For regression use conformal or laplace."
            )
        labels = class_labels("temperature", y, k)
        logits = batched(lambda b: ops.convert_to_numpy(head.logits(b)), x)
        t = fit_temperature(logits, labels)
        if min(abs(math.log(t) - _LOW), abs(math.log(t) - _HIGH)) < 1e-3:
            errors = int(np.sum(logits.argmax(-1) != labels))
            warnings.warn(
                f"temperature: the fitted T = {t:.3g} sits at the edge of the search range "
                f"[{math.exp(_LOW):g}, {math.exp(_HIGH):g}] ({errors} of {len(labels)} "
                "calibration rows misclassified): the NLL has no minimum inside it, so T "
                "is not a calibrated value ("
                + ("with no errors it only sharpens, and test NLL can rise" if t < 1 else
                   "the logits carry about no information on these rows")
                + "). Calibrate on more held-out rows, or ones the model finds hard.",
                stacklevel=2,
            )
        return TemperatureModel(model, t)

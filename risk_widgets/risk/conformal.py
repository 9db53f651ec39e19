"""``conformal``: split conformal prediction intervals (regression) and sets (classification).

Calibrated on held-out rows ``(x_cal, y_cal)`` the model was not trained on: each row gets a
nonconformity score ``s_i`` and the threshold ``q`` is the ``k``-th smallest of the ``n``
scores, ``k = ⌈(n+1)·coverage⌉`` (the finite-sample quantile). For a fresh row exchangeable
with the calibration rows, ``P(y ∈ C(x)) ≥ coverage`` — whatever the model.

- **Regression**: ``s = |y - ŷ| / σ(x)``, with ``σ`` the wrapped model's own risk std when it
  has one (a `RiskModel` from vote/sample/sculpt, or another post-hoc model: *normalised*
  scores give intervals that widen where the model is unsure) and ``σ = 1`` otherwise
  (*absolute* residuals). Each output column gets its own ``q``. ``risk`` = the interval
  **half-width** ``q·σ(x)`` (the shape of ``y``); the interval is ``ŷ ± risk``
  (:meth:`ConformalModel.interval`).
- **Classification** (``y_cal`` integer labels, a model with one output unit per class):
  ``score="lac"``: ``s = 1 - p_y``; ``score="aps"``: ``s`` = the probability mass of the
  classes ranked at or above ``y``. The set holds every class whose score is ``<= q`` (and
  always the top class, which only adds coverage). ``risk`` = the **set size**, ``(batch, 1)``;
  the set itself: :meth:`ConformalModel.prediction_set`. Probabilities are the model's outputs
  when they sum to 1, else their softmax (a model ending in logits).

``model(x)`` predicts what the wrapped model predicts (nothing is retrained).

Example:
    >>> import keras, numpy as np
    >>> from risk_widgets.risk import conformal
    >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(200, 1)).astype("float32")
    >>> y = x + rng.normal(size=(200, 1)).astype("float32")
    >>> cp = conformal.Wrapper(coverage=0.9)(model, x, y)
    >>> lo, hi = cp.interval(x)
    >>> bool(np.mean((lo <= y) & (y <= hi)) >= 0.9)
    True
"""

from __future__ import annotations

import math
import statistics
from typing import Any

import keras
import numpy as np
from keras import ops

from risk_widgets.risk.model import RiskModel
from risk_widgets.risk.posthoc import (
    PosthocModel,
    batched,
    check_calibration_data,
    class_labels,
    softmax_np,
    task_of,
)

__all__ = ["ConformalModel", "Wrapper", "conformal_quantile"]

SCORES = ("aps", "lac")


def conformal_quantile(scores: np.ndarray, coverage: float) -> np.ndarray:
    """The ``⌈(n+1)·coverage⌉``-th smallest of ``n`` scores (per column of a 2-D array).

    Raises a ValueError when ``n`` is too small for the coverage (the quantile would be
    infinite), naming how many rows are needed.

    Example:
        >>> import numpy as np
        >>> from risk_widgets.risk.conformal import conformal_quantile
        >>> float(conformal_quantile(np.arange(1, 20, dtype=float), 0.9)[()])  # k = 18
        18.0
    """
    scores = np.asarray(scores, dtype="float64")
    n = scores.shape[0]
    k = math.ceil((n + 1) * coverage)
    if k > n:
        need = math.ceil(coverage / (1 - coverage))
        raise ValueError(
            f"conformal: {n} calibration rows are too few for coverage={coverage}: the "
            f"finite-sample quantile ⌈(n+1)·coverage⌉ = {k} exceeds n. Pass at least {need} "
            "rows, or lower the coverage."
        )
    return np.sort(scores, axis=0)[k - 1]


def _probabilities(out: np.ndarray) -> np.ndarray:
    out = np.asarray(out, dtype="float64")
    if out.min() >= 0 and np.allclose(out.sum(axis=-1), 1.0, atol=1e-3):
        return out
    return softmax_np(out)


def _class_scores(probs: np.ndarray, score: str) -> np.ndarray:
    """The score of every class for every row, ``(n, K)``."""
    if score == "lac":
        return 1.0 - probs
    order = np.argsort(-probs, axis=-1, kind="stable")
    sorted_p = np.take_along_axis(probs, order, axis=-1)
    cum = np.cumsum(sorted_p, axis=-1)
    scores = np.empty_like(probs)
    np.put_along_axis(scores, order, cum, axis=-1)
    return scores


def _risk_std(model: Any, x: Any):
    """``(y, std)`` of a model that reports risk, else ``(y, None)``."""
    if isinstance(model, (RiskModel, PosthocModel)):
        y, std = model(x, return_risk=True)
        return y, std
    return model(x, training=False), None


@keras.saving.register_keras_serializable(package="risk_widgets")
class ConformalModel(PosthocModel):
    """A model with split-conformal risk: see the module docstring.

    Args:
        base: the wrapped model (shared, not copied).
        task: ``"regression"`` or ``"classification"``.
        coverage: the target coverage ``1 - α``.
        quantile: the calibrated threshold ``q`` (a list: one per output column in
            regression, one number in classification).
        score: ``"aps"`` or ``"lac"`` (classification).
        normalized: regression scores were divided by the wrapped model's std.
        n_cal: the number of calibration rows.
    """

    kind = "conformal"

    def __init__(self, base, task, coverage, quantile, score="aps", normalized=False,
                 n_cal=0, **kwargs):
        super().__init__(base, **kwargs)
        self.task = task
        self.coverage = float(coverage)
        self.quantile = [float(q) for q in np.ravel(quantile)]
        self.score = score
        self.normalized = bool(normalized)
        self.n_cal = int(n_cal)

    @property
    def params(self) -> dict:
        return {"coverage": self.coverage, "score": self.score if self.task != "regression"
                else ("normalized" if self.normalized else "absolute")}

    def call_with_risk(self, x):
        if self.task == "regression":
            y, std = _risk_std(self.base, x)
            q = ops.convert_to_tensor(np.asarray(self.quantile, "float32"))
            width = q * (std if self.normalized else ops.ones_like(y))
            return y, ops.cast(width, y.dtype)
        out = self.base(x, training=False)
        members = ops.cast(self._set(out), "float32")
        return out, ops.sum(members, axis=-1, keepdims=True)

    def _set(self, out):
        total = ops.sum(out, axis=-1, keepdims=True)
        is_prob = ops.logical_and(ops.all(out >= 0), ops.all(ops.abs(total - 1.0) < 1e-3))
        probs = ops.where(is_prob, out, ops.softmax(out, axis=-1))
        q = float(self.quantile[0])
        if self.score == "lac":
            scores = 1.0 - probs
        else:
            # mass of the classes ranked at or above each class (ties: at or above)
            greater = ops.cast(probs[:, None, :] >= probs[:, :, None], probs.dtype)
            scores = ops.sum(greater * probs[:, None, :], axis=-1)
        top = ops.one_hot(ops.argmax(probs, axis=-1), ops.shape(probs)[-1])
        return ops.logical_or(scores <= q, top > 0)

    def risk_to_std(self, risk: np.ndarray) -> np.ndarray:
        """Regression: the std of the Gaussian whose central ``coverage`` interval is the
        conformal one (``half-width / z``), so the live views' ``y ± z·std`` at the target
        level is exactly ``interval(x)``. Classification set sizes pass through.

        Example:
            >>> import keras, numpy as np
            >>> from risk_widgets.risk import conformal
            >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
            >>> x = np.linspace(-1, 1, 50)[:, None].astype("float32")
            >>> cp = conformal.Wrapper(coverage=0.9)(model, x, 2 * x)
            >>> round(float(cp.risk_to_std(np.array([1.6448536]))[0]), 4)
            1.0
        """
        if self.task != "regression":
            return risk
        z = statistics.NormalDist().inv_cdf(0.5 + self.coverage / 2)
        return np.asarray(ops.convert_to_numpy(risk)) / z

    def interval(self, x) -> tuple[np.ndarray, np.ndarray]:
        """``(lower, upper)`` of the conformal interval, NumPy (regression)."""
        if self.task != "regression":
            raise ValueError(
                "interval() is for regression; this conformal model classifies: use "
                "prediction_set(x)."
            )
        y, half = self.predict_risk(x)
        return y - half, y + half

    def prediction_set(self, x) -> np.ndarray:
        """A boolean ``(n, K)`` mask: class ``k`` is in the set of row ``i`` (classification)."""
        if self.task != "classification":
            raise ValueError(
                "prediction_set() is for classification; this conformal model regresses: use "
                "interval(x)."
            )
        x = np.asarray(x, dtype="float32")
        return batched(
            lambda b: ops.convert_to_numpy(self._set(self.base(b, training=False))), x
        ).astype(bool)

    def get_config(self):
        return {
            **super().get_config(),
            "task": self.task,
            "coverage": self.coverage,
            "quantile": self.quantile,
            "score": self.score,
            "normalized": self.normalized,
            "n_cal": self.n_cal,
        }


class Wrapper:
    """Conformal wrapper: ``Wrapper(coverage=0.9)(model, x_cal, y_cal) -> ConformalModel``.

    Args:
        coverage: the target coverage ``1 - α``, in [0.5, 0.999].
        score: classification score, ``"aps"`` (adaptive sets) or ``"lac"`` (smallest sets).
        normalize: regression: ``"auto"`` (divide residuals by the model's risk std when it
            has one), True (require one) or False (absolute residuals).
        task: ``"auto"``, ``"regression"`` or ``"classification"`` (auto: classification when
            ``y_cal`` holds integer labels and the model has several output units).

    Calling it:
        model: the trained model (any Keras model; a `RiskModel` for normalised scores).
        x_cal, y_cal: held-out calibration rows (not used for training).

    Example:
        >>> import keras, numpy as np
        >>> from risk_widgets.risk import conformal
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
        >>> rng = np.random.default_rng(0)
        >>> x, labels = rng.normal(size=(100, 4)), rng.integers(0, 3, 100)
        >>> cp = conformal.Wrapper(coverage=0.8, score="lac")(model, x, labels)
        >>> cp.task, cp.prediction_set(x[:2]).shape
        ('classification', (2, 3))
    """

    kind = "conformal"

    def __init__(self, coverage: float = 0.9, score: str = "aps", normalize: Any = "auto",
                 task: str = "auto"):
        if isinstance(coverage, bool) or not isinstance(coverage, (int, float)) or not (
            0.5 <= coverage <= 0.999
        ):
            raise ValueError(
                "Received an invalid value for `coverage`, expected a number in [0.5, 0.999]. "
                f"Received: coverage={coverage!r}"
            )
        self.coverage = float(coverage)
        if score not in SCORES:
            raise ValueError(
                f"Received an invalid value for `score`, expected one of {list(SCORES)}. "
                f"Received: score={score!r}"
            )
        if normalize not in ("auto", True, False):
            raise ValueError(
                "Received an invalid value for `normalize`, expected 'auto', True or False. "
                f"Received: normalize={normalize!r}"
            )
        self.score, self.normalize, self.task = score, normalize, task

    @property
    def params(self) -> dict:
        return {"coverage": self.coverage, "score": self.score}

    def __call__(self, model: Any, x_cal: Any = None, y_cal: Any = None) -> ConformalModel:
        if not isinstance(model, keras.Model):
            raise TypeError(f"conformal: expected a keras.Model. Received: {type(model).__name__}")
        x, y = check_calibration_data("conformal", x_cal, y_cal)
        out, std = batched(lambda b: _as_numpy_pair(_risk_std(model, b)), x)
        n_outputs = out.reshape(len(out), -1).shape[1]
        task = task_of("conformal", self.task, y, n_outputs)
        if task == "classification":
            probs = _probabilities(out.reshape(len(out), -1))
            labels = class_labels("conformal", y, probs.shape[1])
            scores = _class_scores(probs, self.score)[np.arange(len(labels)), labels]
            q = conformal_quantile(scores, self.coverage)
            return ConformalModel(model, "classification", self.coverage, [float(q)],
                                  score=self.score, n_cal=len(x))
        has_std = std is not None and not np.all(std == 0)
        if self.normalize is True and not has_std:
            raise ValueError(
                f"conformal: normalize=True needs a model that reports a risk std; "
                f"{model.name!r} does not. Wrap it first (vote/sample/sculpt/laplace) or "
                "pass normalize='auto'."
            )
        normalized = has_std and self.normalize != False  # noqa: E712 ('auto' or True)
        try:
            y = y.reshape(out.shape)
        except ValueError:
            raise ValueError(
                f"conformal: y_cal has shape {y.shape}, the model predicts {out.shape}: pass "
                "one target per output value."
            ) from None
        residual = np.abs(y - out).reshape(len(y), -1)
        if normalized:
            residual = residual / np.maximum(std.reshape(len(y), -1), 1e-12)
        q = conformal_quantile(residual, self.coverage)
        q = np.asarray(q).reshape(out.shape[1:]) if out.ndim > 1 else np.asarray(q)
        return ConformalModel(model, "regression", self.coverage, q.ravel().tolist(),
                              normalized=normalized, n_cal=len(x))


def _as_numpy_pair(pair):
    y, std = pair
    y = ops.convert_to_numpy(y)
    return y, (np.zeros_like(y) if std is None else ops.convert_to_numpy(std))

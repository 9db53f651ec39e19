"""``recalibrate``: one call that widens (or narrows) a risk model's std on held-out rows.

Every trained risk model drifts overconfident on rows it was not trained on: its std is
fitted to training residuals, which shrink as the mean fits them (bench/RESULTS.md, *Risk
against plain baselines*: 90% intervals covering 0.6-0.8 of held-out rows after long
training). :func:`recalibrate` fixes the scale, not the shape: ``std' = s·std`` with one
scalar ``s`` per output column, chosen on held-out rows ``(x_val, y_val)`` so that the
central ``coverage`` interval ``ŷ ± z·std'`` (``z = Φ⁻¹(½ + coverage/2)``) holds the
``⌈(n+1)·coverage⌉``-th smallest normalised residual ``|y - ŷ| / std``: the split-conformal
quantile (:func:`risk_widgets.risk.conformal.conformal_quantile`), so for a fresh row
exchangeable with the held-out ones the interval covers at least ``coverage``. Where the
model was unsure it stays unsure: the band keeps its shape.

Unlike :mod:`~risk_widgets.risk.conformal` (whose risk is the interval's half-width), the
result's risk is still a std: NLL, bands and further wrappers read it as before.

Example:
    >>> import keras, numpy as np
    >>> from risk_widgets.risk import sculpt
    >>> from risk_widgets.risk.recalibration import recalibrate
    >>> inputs = keras.Input((1,))
    >>> risky = sculpt.Wrapper()(keras.Model(inputs, keras.layers.Dense(1)(inputs)))
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(400, 1)).astype("float32")
    >>> y = (x + 3 * rng.normal(size=(400, 1))).astype("float32")  # far noisier than std 1
    >>> fixed = recalibrate(risky, x, y, coverage=0.9)
    >>> fixed.scale[0] > 2.0, round(fixed.coverage_after, 2) >= 0.9
    (True, True)
"""

from __future__ import annotations

import statistics
from typing import Any

import keras
import numpy as np
from keras import ops

from risk_widgets.risk.conformal import conformal_quantile
from risk_widgets.risk.model import RiskModel
from risk_widgets.risk.posthoc import PosthocModel, batched, check_calibration_data

__all__ = ["RecalibratedModel", "coverage", "recalibrate"]


def _z(level: float) -> float:
    return statistics.NormalDist().inv_cdf(0.5 + level / 2)


def coverage(y_true: Any, y_pred: Any, std: Any, level: float = 0.9) -> float:
    """The share of ``y_true`` inside the central ``level`` interval ``y_pred ± z·std``.

    Example:
        >>> from risk_widgets.risk.recalibration import coverage
        >>> coverage([0.0, 1.0, 3.0], [0.0, 0.0, 0.0], [1.0, 1.0, 1.0], level=0.9)
        0.6666666666666666
    """
    from risk_widgets.risk.metrics import gaussian_inputs

    y_true, y_pred, std = gaussian_inputs(y_true, y_pred, std)
    return float(np.mean(np.abs(y_true - y_pred) <= _z(level) * std))


@keras.saving.register_keras_serializable(package="risk_widgets")
class RecalibratedModel(PosthocModel):
    """A risk model whose std is scaled by ``scale`` (one factor per output column).

    Args:
        base: the wrapped risk model (shared, not copied; it reports ``(y, std)``).
        scale: the factors, one per output column.
        coverage: the level the scale was chosen for.
        coverage_before: held-out coverage at that level before scaling.
        coverage_after: the same after scaling.
        n_cal: the number of held-out rows.
    """

    kind = "recalibrated"

    def __init__(self, base, scale, coverage=0.9, coverage_before=None, coverage_after=None,
                 n_cal=0, **kwargs):
        super().__init__(base, **kwargs)
        self.scale = [float(s) for s in np.ravel(scale)]
        self.coverage = float(coverage)
        self.coverage_before = None if coverage_before is None else float(coverage_before)
        self.coverage_after = None if coverage_after is None else float(coverage_after)
        self.n_cal = int(n_cal)

    @property
    def params(self) -> dict:
        return {"coverage": self.coverage, "scale": [round(s, 4) for s in self.scale]}

    def call_with_risk(self, x):
        y, std = self.base(x, return_risk=True)
        scale = ops.convert_to_tensor(np.asarray(self.scale, "float32"))
        if len(std.shape) > 1:
            scale = ops.reshape(scale, tuple(std.shape[1:]))
        return y, std * ops.cast(scale, std.dtype)

    def get_config(self):
        return {
            **super().get_config(),
            "scale": self.scale,
            "coverage": self.coverage,
            "coverage_before": self.coverage_before,
            "coverage_after": self.coverage_after,
            "n_cal": self.n_cal,
        }


def recalibrate(model: Any, x_val: Any, y_val: Any, coverage: float = 0.9) -> RecalibratedModel:
    """``model`` with its std rescaled on held-out rows so its ``coverage`` intervals hold.

    Args:
        model: a trained risk model (vote, sample, sculpt, their compositions, or a post-hoc
            model whose risk is a std). It is shared, never changed.
        x_val, y_val: held-out rows the model was not trained on (e.g. the rows of
            ``fit(validation_split=...)``: the last ones). At least
            ``⌈coverage / (1 - coverage)⌉`` of them (9 for 0.9).
        coverage: the nominal level, in [0.5, 0.999].

    Returns:
        a :class:`RecalibratedModel`: ``model(x, return_risk=True)`` -> ``(y, s·std)``;
        ``.scale``, ``.coverage_before`` and ``.coverage_after`` (on ``x_val``) say what
        changed.

    Example:
        >>> import keras, numpy as np
        >>> from risk_widgets.risk import vote
        >>> from risk_widgets.risk.recalibration import recalibrate
        >>> inputs = keras.Input((1,))
        >>> risky = vote.Wrapper(2)(keras.Model(inputs, keras.layers.Dense(1)(inputs)))
        >>> x = np.linspace(-1, 1, 50)[:, None].astype("float32")
        >>> fixed = recalibrate(risky, x, x)
        >>> fixed.coverage_after >= 0.9
        True
    """
    if isinstance(coverage, bool) or not isinstance(coverage, (int, float)) or not (
        0.5 <= coverage <= 0.999
    ):
        raise ValueError(
            "Received an invalid value for `coverage`, expected a number in [0.5, 0.999]. "
            f"Received: coverage={coverage!r}"
        )
    if not isinstance(model, (RiskModel, PosthocModel)):
        raise TypeError(
            f"recalibrate: expected a risk model (from vote, sample or sculpt). Received: "
            f"{type(model).__name__}. Wrap and train it first, e.g. "
            "risky = rw.risk.sculpt.Wrapper()(model); risky.fit(...)."
        )
    if x_val is None or y_val is None:
        raise ValueError(
            "recalibrate needs held-out rows the model was not trained on: pass x_val and "
            "y_val, e.g. the rows fit(validation_split=0.2) held out (the last 20%): "
            "rw.risk.recalibrate(risky, x[-n:], y[-n:]). Received: "
            f"x_val={'None' if x_val is None else 'an array'}, "
            f"y_val={'None' if y_val is None else 'an array'}"
        )
    if isinstance(model, PosthocModel) and getattr(model, "kind", "") == "conformal":
        raise TypeError(
            "recalibrate: a conformal model's risk is an interval half-width, not a std; "
            "recalibrate the model it wraps (`.base`) instead."
        )
    x, y = check_calibration_data("recalibrate", x_val, y_val)
    pred, std = batched(
        lambda b: tuple(ops.convert_to_numpy(t) for t in model(b, return_risk=True)), x
    )
    try:
        y = y.reshape(pred.shape)
    except ValueError:
        raise ValueError(
            f"recalibrate: y_val has shape {y.shape}, the model predicts {pred.shape}: pass one "
            "target per output value."
        ) from None
    flat_std = std.reshape(len(y), -1)
    if np.any(flat_std <= 0):
        raise ValueError(
            f"recalibrate: {model.name!r} reports a std of 0 on some held-out rows, which no "
            "scale can widen. Use a model whose risk is positive (e.g. add sculpt)."
        )
    z = np.abs(y - pred).reshape(len(y), -1) / flat_std
    scale = conformal_quantile(z, coverage) / _z(coverage)
    scale = np.maximum(np.atleast_1d(scale), 1e-6)
    return RecalibratedModel(
        model,
        scale.tolist(),
        coverage=coverage,
        coverage_before=float(np.mean(z <= _z(coverage))),
        coverage_after=float(np.mean(z <= _z(coverage) * scale)),
        n_cal=len(x),
    )

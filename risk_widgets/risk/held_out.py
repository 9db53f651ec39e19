"""Held-out risk scores every epoch: the callback ``RiskModel.fit`` adds when it validates.

A risk model's std is fitted to training residuals, which shrink as the model fits them, so
its intervals cover less of new rows than of the rows it trained on. When ``fit`` gets
``validation_data`` or ``validation_split``, :class:`HeldOutRisk` measures both after every
epoch and writes them into the epoch's logs (so into ``history.history``):

- ``val_nll``: Gaussian NLL of the held-out rows (nats, mean over values);
- ``val_coverage``: share of held-out targets inside the central 90% interval ``ŷ ± 1.645·std``;
- ``coverage``: the same share on (up to :data:`TRAIN_ROWS` evenly spaced) training rows.

Regression outputs only (the first output of several); a classifier's logs are left alone.

When ``coverage`` and ``val_coverage`` part, the intervals are overconfident on new data:
:func:`risk_widgets.risk.recalibration.recalibrate` rescales them on held-out rows.

Example:
    >>> import keras, numpy as np
    >>> from risk_widgets.risk import sculpt
    >>> inputs = keras.Input((1,))
    >>> risky = sculpt.Wrapper()(keras.Model(inputs, keras.layers.Dense(1)(inputs)))
    >>> risky.compile(optimizer="adam", loss="mse")
    >>> x = np.linspace(-1, 1, 40)[:, None].astype("float32")
    >>> history = risky.fit(x, 2 * x, epochs=2, validation_split=0.25, verbose=0)
    >>> sorted(k for k in history.history if "coverage" in k or "nll" in k)
    ['coverage', 'val_coverage', 'val_nll']
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np

__all__ = ["NOMINAL", "TRAIN_ROWS", "HeldOutRisk", "held_out_rows", "risk_scores"]

#: the nominal coverage of the interval whose observed coverage is reported
NOMINAL = 0.9
_Z = 1.6448536269514722  # Φ⁻¹(0.95): the central 90% interval is ŷ ± 1.645·std
#: training rows scored per epoch at most (evenly spaced), so big data costs no more
TRAIN_ROWS = 2048


def risk_scores(y: np.ndarray, pred: np.ndarray, std: np.ndarray) -> dict[str, float]:
    """``{"nll", "coverage"}`` of Gaussian predictions (std floored at 1e-12).

    Example:
        >>> import numpy as np
        >>> from risk_widgets.risk.held_out import risk_scores
        >>> s = risk_scores(np.array([0.0, 3.0]), np.zeros(2), np.ones(2))
        >>> round(s["nll"], 3), s["coverage"]
        (3.169, 0.5)
    """
    y = np.asarray(y, "float64").reshape(np.shape(pred))
    pred = np.asarray(pred, "float64")
    var = np.maximum(np.asarray(std, "float64"), 1e-12) ** 2
    nll = 0.5 * (np.log(2 * math.pi * var) + (y - pred) ** 2 / var)
    return {
        "nll": float(np.mean(nll)),
        "coverage": float(np.mean(np.abs(y - pred) <= _Z * np.sqrt(var))),
    }


def _arrays(value: Any) -> bool:
    return isinstance(value, np.ndarray) or (
        hasattr(value, "shape") and hasattr(value, "dtype") and not isinstance(value, dict)
    )


def held_out_rows(x: Any, y: Any, kwargs: dict) -> tuple[Any, Any] | None:
    """The held-out ``(x, y)`` of a ``fit`` call: ``validation_data``'s first two entries, or
    the last ``validation_split`` of ``x`` and ``y`` (the rows Keras holds out); None when
    there are none or they are not arrays (a dataset: no per-epoch risk scores then).

    Example:
        >>> import numpy as np
        >>> from risk_widgets.risk.held_out import held_out_rows
        >>> x = np.arange(10.0)[:, None]
        >>> xv, yv = held_out_rows(x, x, {"validation_split": 0.2})
        >>> xv.ravel().tolist()
        [8.0, 9.0]
    """
    data = kwargs.get("validation_data")
    if isinstance(data, (tuple, list)) and len(data) >= 2:
        xv, yv = data[0], data[1]
        return (xv, yv) if _arrays(xv) and _arrays(yv) else None
    split = kwargs.get("validation_split") or 0.0
    if data is None and split > 0 and _arrays(x) and _arrays(y):
        split_at = int(math.floor(len(x) * (1.0 - split)))  # as Keras splits
        return x[split_at:], y[split_at:]
    return None


def _first(value: Any) -> Any:
    if isinstance(value, dict):
        return next(iter(value.values()))
    return value[0] if isinstance(value, (list, tuple)) else value


def _one_hot(y: np.ndarray, pred: np.ndarray) -> bool:
    """One-hot class targets against probabilities (a classifier fitted on one-hot y)."""
    if pred.ndim < 2 or pred.shape[-1] < 2:
        return False
    return bool(np.all((y == 0) | (y == 1)) and np.allclose(y.sum(axis=-1), 1.0))


class HeldOutRisk(keras.callbacks.Callback):
    """Writes ``val_nll``, ``val_coverage`` and ``coverage`` into every epoch's logs.

    Args:
        train: ``(x, y)`` training rows (subsampled to at most :data:`TRAIN_ROWS`).
        held_out: ``(x, y)`` held-out rows.
    """

    def __init__(self, train: tuple[Any, Any], held_out: tuple[Any, Any]) -> None:
        super().__init__()
        x, y = train
        if len(x) > TRAIN_ROWS:
            keep = np.linspace(0, len(x) - 1, TRAIN_ROWS).astype(int)
            x, y = x[keep], y[keep]
        self.train = (x, y)
        self.held_out = held_out

    def _scores(self, x: Any, y: Any) -> dict[str, float] | None:
        from keras import ops

        x = np.asarray(x, "float32") if isinstance(x, np.ndarray) else x
        preds, stds = [], []
        for start in range(0, len(x), 1024):  # eager calls: no predict function to retrace
            pred, std = self.model(x[start : start + 1024], return_risk=True)
            preds.append(ops.convert_to_numpy(_first(pred)))
            stds.append(ops.convert_to_numpy(_first(std)))
        pred, std = np.concatenate(preds), np.concatenate(stds)
        y = np.asarray(ops.convert_to_numpy(_first(y)))
        if y.size != pred.size or _one_hot(y, pred):  # class labels: not a Gaussian target
            return None
        return risk_scores(y, pred, std)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is None:
            return
        held = self._scores(*self.held_out)
        if held is None:
            return
        logs["val_nll"] = held["nll"]
        logs["val_coverage"] = held["coverage"]
        train = self._scores(*self.train)
        if train is not None:
            logs["coverage"] = train["coverage"]

"""Risk metrics on NumPy arrays: each takes arrays and returns one float.

All functions check their inputs first (same shapes, finite values, positive std) and raise a
``ValueError`` that names the argument, what was expected and what was received.

Example:
    >>> import numpy as np
    >>> from risk_widgets.risk import metrics
    >>> y = np.array([0.0, 1.0]); mu = np.array([0.0, 0.0]); std = np.array([1.0, 1.0])
    >>> round(metrics.gaussian_nll(y, mu, std), 4)
    1.1689
    >>> metrics.sharpness(std)
    1.0
    >>> metrics.ood_auroc([0.1, 0.2], [0.3, 0.2])
    0.875
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

__all__ = ["calibration_error", "gaussian_nll", "ood_auroc", "sharpness"]

_DEFAULT_LEVELS = np.linspace(0.05, 0.95, 19)


def check_array(
    value: object, name: str, *, positive: bool = False, nonnegative: bool = False
) -> np.ndarray:
    """``value`` as a float64 array, or a ValueError/TypeError naming ``name`` and the fix."""
    if not isinstance(value, (np.ndarray, np.generic, list, tuple, int, float)):
        import keras  # a backend tensor: torch's cannot go through np.asarray with a gradient

        value = keras.ops.convert_to_numpy(value)
    try:
        array = np.asarray(value, dtype="float64")
    except (TypeError, ValueError):
        raise TypeError(
            f"`{name}` must be an array of numbers. Received: {type(value).__name__}"
        ) from None
    if array.size == 0:
        raise ValueError(f"`{name}` is empty; pass at least one value.")
    bad = ~np.isfinite(array)
    if bad.any():
        kind = "NaN" if np.isnan(array).any() else "infinite"
        raise ValueError(
            f"`{name}` contains {int(bad.sum())} {kind} value(s) (first at flat index "
            f"{int(np.flatnonzero(bad)[0])}); drop or impute them before computing metrics."
        )
    if positive and (array <= 0).any():
        raise ValueError(
            f"`{name}` must be > 0 everywhere (a Gaussian needs a positive std). Received a "
            f"minimum of {array.min()!r}; clip it, e.g. np.maximum({name}, 1e-6)."
        )
    if nonnegative and (array < 0).any():
        raise ValueError(
            f"`{name}` must be >= 0 everywhere. Received a minimum of {array.min()!r}."
        )
    return array


def _same_shape(**arrays: np.ndarray) -> None:
    shapes = {name: a.shape for name, a in arrays.items()}
    if len(set(shapes.values())) > 1:
        listed = ", ".join(f"{name}{shape}" for name, shape in shapes.items())
        raise ValueError(f"Expected arrays of the same shape. Received: {listed}.")


def gaussian_inputs(y_true, y_pred, std) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The three arrays of a Gaussian prediction, checked (same shapes, std > 0)."""
    y_true = check_array(y_true, "y_true")
    y_pred = check_array(y_pred, "y_pred")
    std = check_array(std, "std", positive=True)
    _same_shape(y_true=y_true, y_pred=y_pred, std=std)
    return y_true, y_pred, std


def gaussian_nll(y_true, y_pred, std) -> float:
    """Mean Gaussian negative log-likelihood of ``y_true`` under ``N(y_pred, std²)``.

    ``mean(0.5·log(2π·std²) + (y_true - y_pred)² / (2·std²))`` over all elements, in nats.

    Example:
        >>> gaussian_nll([0.0], [0.0], [1.0]) == 0.5 * math.log(2 * math.pi)
        True
    """
    y_true, y_pred, std = gaussian_inputs(y_true, y_pred, std)
    var = std**2
    return float(np.mean(0.5 * np.log(2 * math.pi * var) + (y_true - y_pred) ** 2 / (2 * var)))


def calibration_error(y_true, y_pred, std, levels=None) -> float:
    """Quantile calibration error of Gaussian predictions.

    For each level ``q`` (default 0.05, 0.10, ..., 0.95) the predicted q-quantile is
    ``y_pred + std·Φ⁻¹(q)``; the error is the mean over levels of
    ``|q - share of y_true below that quantile|``. 0 is perfect, 0.5 the worst.

    Example:
        >>> calibration_error([0.0, 0.0], [1.0, 1.0], [1e-3, 1e-3], levels=[0.5])
        0.5
    """
    y_true, y_pred, std = gaussian_inputs(y_true, y_pred, std)
    if levels is None:
        levels = _DEFAULT_LEVELS
    levels = check_array(levels, "levels").ravel()
    if ((levels <= 0) | (levels >= 1)).any():
        raise ValueError(f"`levels` must lie strictly between 0 and 1. Received: {levels.tolist()}")
    normal = NormalDist()
    gaps = [
        abs(q - float(np.mean(y_true < y_pred + std * normal.inv_cdf(float(q))))) for q in levels
    ]
    return float(np.mean(gaps))


def sharpness(std) -> float:
    """Root-mean-square predicted std, ``sqrt(mean(std²))``, in the units of y (lower is sharper).

    Example:
        >>> sharpness([3.0, 4.0]) == math.sqrt(12.5)
        True
    """
    std = check_array(std, "std", nonnegative=True)
    return float(np.sqrt(np.mean(std**2)))


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks; tied values share the mean of their ranks."""
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    ranks = np.empty(len(values), dtype="float64")
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = np.r_[starts[1:], len(values)]
    for start, end in zip(starts, ends, strict=True):
        ranks[order[start:end]] = (start + end + 1) / 2.0  # mean of ranks start+1 .. end
    return ranks


def ood_auroc(risk_in, risk_out) -> float:
    """AUROC of ``risk`` separating out-of-distribution (positive) from in-distribution inputs.

    The probability that a random OOD input gets a higher risk than a random in-distribution
    one, ties counting one half (the Mann-Whitney U statistic). 1.0 separates perfectly, 0.5 is
    chance. Arrays of any shape are flattened: pass one risk value per input.

    Example:
        >>> ood_auroc([1, 1], [1, 1])
        0.5
    """
    risk_in = check_array(risk_in, "risk_in").ravel()
    risk_out = check_array(risk_out, "risk_out").ravel()
    n_in, n_out = len(risk_in), len(risk_out)
    ranks = _average_ranks(np.concatenate([risk_in, risk_out]))
    u = ranks[n_in:].sum() - n_out * (n_out + 1) / 2.0
    return float(u / (n_in * n_out))

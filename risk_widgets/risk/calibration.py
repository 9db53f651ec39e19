"""Calibration on NumPy arrays: reliability curves and scores for regression and classifiers.

Regression: :func:`interval_coverage` gives the observed coverage of central Gaussian
intervals ``mean ± z·std`` at nominal levels (a reliability diagram for intervals).
Classification: :func:`reliability_bins` groups predictions by confidence (the max
probability) and gives each bin's accuracy; :func:`ece` is the count-weighted gap between the
two, :func:`brier` and :func:`classification_nll` score the whole probability vector.
Inputs are checked like :mod:`risk_widgets.risk.metrics` (which holds the Gaussian NLL, the
quantile calibration error and the OOD AUROC): a ValueError names the argument and the fix.

Example:
    >>> import numpy as np
    >>> from risk_widgets.risk import calibration
    >>> probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    >>> labels = np.array([0, 1, 1])
    >>> round(calibration.brier(probs, labels), 4)
    0.2733
    >>> round(calibration.ece(probs, labels, n_bins=5), 4)
    0.3
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np

from risk_widgets.risk.metrics import check_array, gaussian_inputs

__all__ = [
    "NOMINAL_LEVELS",
    "brier",
    "classification_nll",
    "ece",
    "interval_coverage",
    "reliability_bins",
]

#: the nominal coverages of the regression reliability diagram (10 levels)
NOMINAL_LEVELS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


def interval_coverage(y_true, y_pred, std, levels=NOMINAL_LEVELS) -> tuple[list, list]:
    """``(nominal, observed)``: the share of ``y_true`` inside ``y_pred ± z(level)·std``.

    For a calibrated Gaussian prediction ``observed ≈ nominal`` at every level; below the
    diagonal the intervals are too narrow (overconfident), above it too wide.

    Example:
        >>> nominal, observed = interval_coverage([0.0, 3.0], [0.0, 0.0], [1.0, 1.0], [0.5])
        >>> nominal, observed
        ([0.5], [0.5])
    """
    y_true, y_pred, std = gaussian_inputs(y_true, y_pred, std)
    levels = check_array(levels, "levels").ravel()
    if ((levels <= 0) | (levels >= 1)).any():
        raise ValueError(f"`levels` must lie strictly between 0 and 1. Received: {levels.tolist()}")
    normal = NormalDist()
    z = np.abs(y_true - y_pred) / std
    observed = [float(np.mean(z <= normal.inv_cdf(0.5 + float(q) / 2))) for q in levels]
    return [float(q) for q in levels], observed


def _classifier_inputs(probs, labels) -> tuple[np.ndarray, np.ndarray]:
    probs = check_array(probs, "probs", nonnegative=True)
    if probs.ndim != 2 or probs.shape[1] < 2:
        raise ValueError(
            "`probs` must be a (samples, classes) array with at least 2 classes. Received "
            f"shape {probs.shape}; for a binary classifier with one sigmoid output pass "
            "np.stack([1 - p, p], axis=1)."
        )
    sums = probs.sum(axis=1)
    if not np.allclose(sums, 1.0, atol=1e-3):
        worst = int(np.argmax(np.abs(sums - 1)))
        raise ValueError(
            f"Each row of `probs` must sum to 1 (row {worst} sums to {sums[worst]:.4f}). "
            "Pass probabilities, e.g. keras.ops.softmax(logits), not logits."
        )
    labels_f = check_array(labels, "labels").ravel()
    if labels_f.shape[0] != probs.shape[0]:
        raise ValueError(
            f"`probs` and `labels` differ in length: {probs.shape[0]} vs {labels_f.shape[0]} "
            "rows. Pass one integer label per sample."
        )
    labels_i = labels_f.astype(int)
    if (labels_i != labels_f).any() or (labels_i < 0).any() or (labels_i >= probs.shape[1]).any():
        raise ValueError(
            f"`labels` must be integer class ids in [0, {probs.shape[1] - 1}]. Received values "
            f"from {labels_f.min():g} to {labels_f.max():g}; one-hot labels: pass "
            "labels.argmax(axis=1)."
        )
    return probs, labels_i


def reliability_bins(probs, labels, n_bins: int = 10) -> dict:
    """Confidence bins of a classifier: ``{"edges", "count", "confidence", "accuracy"}``.

    The confidence of a sample is its largest probability; bins split ``[0, 1]`` evenly.
    An empty bin has count 0 and ``None`` for its confidence and accuracy.

    Example:
        >>> bins = reliability_bins([[0.9, 0.1], [0.3, 0.7]], [0, 0], n_bins=2)
        >>> bins["count"], bins["accuracy"]
        ([0, 2], [None, 0.5])
    """
    probs, labels = _classifier_inputs(probs, labels)
    if isinstance(n_bins, bool) or not isinstance(n_bins, int) or n_bins < 1:
        raise ValueError(f"`n_bins` must be a positive integer. Received: {n_bins!r}")
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # the right edge of the last bin is closed so a confidence of 1 is counted
    index = np.clip(np.searchsorted(edges, confidence, side="right") - 1, 0, n_bins - 1)
    count, mean_conf, accuracy = [], [], []
    for b in range(n_bins):
        inside = index == b
        n = int(inside.sum())
        count.append(n)
        mean_conf.append(float(confidence[inside].mean()) if n else None)
        accuracy.append(float(correct[inside].mean()) if n else None)
    return {"edges": edges.tolist(), "count": count, "confidence": mean_conf,
            "accuracy": accuracy}


def ece(probs, labels, n_bins: int = 15) -> float:
    """Expected calibration error: ``Σ_b (n_b / n) · |accuracy_b − confidence_b|``.

    Example:
        >>> ece([[1.0, 0.0], [0.0, 1.0]], [0, 1])
        0.0
    """
    bins = reliability_bins(probs, labels, n_bins)
    total = sum(bins["count"])
    return float(sum(
        n / total * abs(acc - conf)
        for n, acc, conf in zip(bins["count"], bins["accuracy"], bins["confidence"], strict=True)
        if n
    ))


def brier(probs, labels) -> float:
    """Mean over samples of ``Σ_k (p_k − onehot_k)²`` (0 is perfect, 2 the worst).

    Example:
        >>> brier([[0.5, 0.5]], [0])
        0.5
    """
    probs, labels = _classifier_inputs(probs, labels)
    onehot = np.eye(probs.shape[1])[labels]
    return float(np.mean(np.sum((probs - onehot) ** 2, axis=1)))


def classification_nll(probs, labels, eps: float = 1e-12) -> float:
    """Mean negative log-likelihood ``−log p[label]`` in nats (clipped at ``eps``).

    Example:
        >>> round(classification_nll([[0.5, 0.5]], [1]), 4)
        0.6931
    """
    probs, labels = _classifier_inputs(probs, labels)
    return float(-np.mean(np.log(np.maximum(probs[np.arange(len(labels)), labels], eps))))

"""Synthetic and package-shipped data for the demos (nothing is downloaded).

Example:
    >>> from risk_widgets.demo import data
    >>> x, y = data.cubic_data(n=64)
    >>> x.shape, y.shape
    ((64, 1), (64, 1))
"""

from __future__ import annotations

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


def sine_noise_std(x: np.ndarray, half: float = 3.0) -> np.ndarray:
    """The noise std of :func:`sine_data` at ``x``: 0.02 up to x = 0, then growing to 0.52
    at ``x = half`` (``0.02 + 0.5·(x/half)²`` for x > 0)."""
    return 0.02 + 0.5 * np.clip(np.asarray(x) / half, 0.0, None) ** 2


def sine_data(
    n: int = 256, half: float = 3.0, spread: float = 1.5, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """``y = sin(x) + ε``: data dense in the middle and thinning out to both edges, noisy on
    the right only.

    x ~ N(0, spread²) kept within ``[-half, half]``; ε ~ N(0, σ(x)²) with σ(x) =
    :func:`sine_noise_std` (0.02 for x ≤ 0, growing to 0.52 at ``half``). Made for the
    quickstart's risk plot on :func:`plot_grid` (x in [-6, 6]): a variance head (sculpt)
    widens where the noise grows (on the right, not on the left, where the data is as
    sparse), an ensemble (vote) where the data thins out on both sides and, most, beyond it.

    Returns:
        ``(x, y)``, float32 arrays of shape ``(n, 1)``.

    Example:
        >>> from risk_widgets.demo import data
        >>> x, y = data.sine_data(n=100)
        >>> x.shape, bool(abs(x).max() <= 3.0)
        ((100, 1), True)
    """
    rng = np.random.default_rng(seed)
    x = np.empty((0, 1))
    while len(x) < n:
        draw = rng.normal(0.0, spread, size=(2 * n, 1))
        x = np.concatenate([x, draw[np.abs(draw[:, 0]) <= half]])
    x = x[:n]
    y = np.sin(x) + rng.normal(size=(n, 1)) * sine_noise_std(x, half)
    return x.astype("float32"), y.astype("float32")


def plot_grid(n: int = 400, low: float = -6.0, high: float = 6.0) -> np.ndarray:
    """Evenly spaced x covering the training range and the OOD gap, for the live plot."""
    return np.linspace(low, high, n, dtype="float32")[:, None]


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



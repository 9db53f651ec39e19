"""``laplace``: a last-layer Laplace approximation on the final Dense, fitted post hoc.

The final Dense's weights ``θ = [W; b]`` (``(D+1) × K``) get a Gaussian posterior around
their trained values: precision ``H + λI``, with ``H`` the generalised Gauss-Newton matrix
(= the Fisher for these likelihoods) of the calibration rows ``(x_cal, y_cal)`` and ``λ`` the
prior precision. With features ``φ = [features(x), 1]``:

- classification (softmax): ``H = Σ_i (diag p_i - p_i p_iᵀ) ⊗ φ_i φ_iᵀ``; the predictive uses
  the probit approximation ``p = softmax(z_k / sqrt(1 + π/8 · v_k))`` with ``v_k`` the
  variance of logit ``k``; ``risk`` = ``1 - max_k p_k``, ``(batch, 1)``.
- regression (linear head, Gaussian noise ``σ²`` = the mean squared calibration residual):
  ``H = ΦᵀΦ / σ²`` per output; ``risk`` = the predictive std ``sqrt(v + σ²)``, the shape
  of ``y`` (the prediction is the trained model's).

``hessian="full"`` keeps the whole ``H`` (``P = K(D+1)`` parameters, at most 6000);
``hessian="diag"`` its diagonal. ``prior_precision=None`` chooses ``λ`` on a grid of 25
values (``10⁻⁴ … 10⁴``) by the NLL of the predictive on the calibration rows.

Example:
    >>> import keras, numpy as np
    >>> from risk_widgets.risk import laplace
    >>> inputs = keras.Input((1,))
    >>> h = keras.layers.Dense(8, activation="tanh")(inputs)
    >>> model = keras.Model(inputs, keras.layers.Dense(1)(h))
    >>> x = np.linspace(-1, 1, 64)[:, None].astype("float32")
    >>> la = laplace.Wrapper(hessian="diag")(model, x, np.sin(3 * x))
    >>> y, std = la.predict_risk(np.array([[0.0], [8.0]], "float32"))
    >>> bool(std[1, 0] > std[0, 0])  # far from the data: wider
    True
"""

from __future__ import annotations

import math
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
    softmax_np,
    task_of,
)

__all__ = ["LaplaceModel", "Wrapper"]

HESSIANS = ("diag", "full")
MAX_FULL = 6000
GRID = np.logspace(-4, 4, 25)


def _augment(phi: np.ndarray, use_bias: bool) -> np.ndarray:
    phi = np.asarray(phi, dtype="float64")
    return np.concatenate([phi, np.ones((len(phi), 1))], axis=1) if use_bias else phi


class _Posterior:
    """The Hessian and how to get logit variances for a prior precision ``λ`` (NumPy)."""

    def __init__(self, phi: np.ndarray, weights: np.ndarray, hessian: str, task: str,
                 probs: np.ndarray | None, noise: np.ndarray | None):
        self.hessian, self.task = hessian, task
        n, d1 = phi.shape
        k = weights.shape[1]
        self.k, self.d1 = k, d1
        if task == "classification":
            lam = -probs[:, :, None] * probs[:, None, :]
            lam[:, np.arange(k), np.arange(k)] += probs
            if hessian == "diag":
                self.h = np.einsum("ik,id->kd", probs * (1 - probs), phi**2)
            else:
                h = np.einsum("ikl,id,ie->kdle", lam, phi, phi, optimize=True)
                self.h = h.reshape(k * d1, k * d1)
        else:  # one (D+1)x(D+1) block per output, scaled by its noise
            gram = phi.T @ phi if hessian == "full" else (phi**2).sum(axis=0)
            self.h = gram[None] / noise.reshape(-1, *([1] * gram.ndim))
        if hessian == "full":
            if task == "classification":
                self.e, self.q = np.linalg.eigh(self.h)
            else:
                self.e, self.q = np.linalg.eigh(self.h)  # (K, D1), (K, D1, D1)
            self.e = np.maximum(self.e, 0.0)

    def covariance(self, lam: float) -> np.ndarray:
        """The stored form: per output, ``(K, D1, D1)`` blocks (full) or ``(K, D1)`` (diag)."""
        if self.hessian == "diag":
            return 1.0 / (self.h + lam)
        if self.task == "classification":
            cov = (self.q / (self.e + lam)) @ self.q.T
            blocks = cov.reshape(self.k, self.d1, self.k, self.d1)
            return np.stack([blocks[i, :, i, :] for i in range(self.k)])
        return np.einsum("kde,ke,kfe->kdf", self.q, 1.0 / (self.e + lam), self.q)

    def variances(self, phi: np.ndarray, lam: float) -> np.ndarray:
        """``(n, K)`` variance of each output/logit."""
        cov = self.covariance(lam)
        return _variances(phi, cov)


def _variances(phi: np.ndarray, cov: np.ndarray) -> np.ndarray:
    if cov.ndim == 2:
        return (phi**2) @ cov.T
    return np.einsum("nd,kde,ne->nk", phi, cov, phi)


def _probit(z: np.ndarray, v: np.ndarray) -> np.ndarray:
    return softmax_np(z / np.sqrt(1.0 + math.pi / 8.0 * v))


@keras.saving.register_keras_serializable(package="risk_widgets")
class LaplaceModel(PosthocModel):
    """Last-layer Laplace (module docstring).

    Args:
        base: the wrapped model (shared, not copied).
        task: ``"classification"`` or ``"regression"``.
        hessian: ``"diag"`` or ``"full"``.
        prior_precision: ``λ``.
        covariance: per output ``(K, D1, D1)`` (full) or ``(K, D1)`` (diag) (float32).
        noise: regression: the noise variance per output, ``(K,)``.
    """

    kind = "laplace"

    def __init__(self, base, task, hessian, prior_precision, covariance, noise=None, **kwargs):
        super().__init__(base, **kwargs)
        self.task, self.hessian = task, hessian
        self.prior_precision = float(prior_precision)
        head = final_dense(base, "laplace")
        object.__setattr__(self, "_head", head)
        cov = np.asarray(covariance, dtype="float32")
        self.cov_shape = list(cov.shape)
        self.covariance = self.add_weight(
            name="covariance", shape=cov.shape, trainable=False, initializer="zeros"
        )
        self.covariance.assign(cov)
        k = cov.shape[0]
        self.noise = self.add_weight(name="noise", shape=(k,), trainable=False,
                                     initializer="zeros")
        self.noise.assign(np.zeros(k, "float32") if noise is None else np.asarray(noise, "float32"))

    @property
    def params(self) -> dict:
        return {"hessian": self.hessian, "prior_precision": self.prior_precision}

    def call_with_risk(self, x):
        phi = self._head.features(x, training=False)
        z = self._head.logits_of(phi)
        if self._head.dense.use_bias:
            phi = ops.concatenate([phi, ops.ones_like(phi[:, :1])], axis=1)
        cov = ops.cast(self.covariance, phi.dtype)
        if self.hessian == "diag":
            v = ops.matmul(ops.square(phi), ops.transpose(cov))
        else:
            v = ops.einsum("nd,kde,ne->nk", phi, cov, phi)
        v = ops.maximum(v, 0.0)
        if self.task == "regression":
            return z, ops.sqrt(v + ops.cast(self.noise, v.dtype))
        scaled = z / ops.sqrt(1.0 + (math.pi / 8.0) * v)
        probs = ops.softmax(scaled, axis=-1)
        risk = 1.0 - ops.max(probs, axis=-1, keepdims=True)
        return (probs if self._head.softmax else scaled), risk

    def get_config(self):
        return {
            **super().get_config(),
            "task": self.task,
            "hessian": self.hessian,
            "prior_precision": self.prior_precision,
            "covariance": np.zeros(self.cov_shape, "float32").tolist(),  # weights restore it
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config["covariance"] = np.asarray(config["covariance"], "float32")
        return super().from_config(config, custom_objects)


class Wrapper:
    """Last-layer Laplace: ``Wrapper(hessian="full")(model, x_cal, y_cal) -> LaplaceModel``.

    Args:
        hessian: ``"full"`` or ``"diag"``.
        prior_precision: ``λ >= 0``; None (default) picks it on a grid by held-out NLL.
        task: ``"auto"``, ``"classification"`` (integer labels) or ``"regression"``.

    Calling it:
        model: a trained model ending in a Dense (linear or softmax, or followed by a softmax).
        x_cal, y_cal: held-out rows (labels for classification).

    Example:
        >>> import keras, numpy as np
        >>> from risk_widgets.risk import laplace
        >>> model = keras.Sequential(
        ...     [keras.Input((2,)), keras.layers.Dense(3, activation="softmax")])
        >>> rng = np.random.default_rng(0)
        >>> la = laplace.Wrapper(hessian="full", prior_precision=1.0)(
        ...     model, rng.normal(size=(50, 2)), rng.integers(0, 3, 50))
        >>> la.task, tuple(la.covariance.shape)
        ('classification', (3, 3, 3))
    """

    kind = "laplace"

    def __init__(self, hessian: str = "full", prior_precision: float | None = None,
                 task: str = "auto"):
        if hessian not in HESSIANS:
            raise ValueError(
                f"Received an invalid value for `hessian`, expected one of {list(HESSIANS)}. "
                f"Received: hessian={hessian!r}"
            )
        self.hessian = hessian
        if prior_precision is not None and (
            isinstance(prior_precision, bool)
            or not isinstance(prior_precision, (int, float))
            or not math.isfinite(prior_precision)
            or prior_precision < 0
        ):
            raise ValueError(
                "Received an invalid value for `prior_precision`, expected a non-negative "
                f"number or None. Received: prior_precision={prior_precision!r}"
            )
        self.prior_precision = None if prior_precision is None else float(prior_precision)
        self.task = task

    @property
    def params(self) -> dict:
        return {"hessian": self.hessian, "prior_precision": self.prior_precision}

    def __call__(self, model: Any, x_cal: Any = None, y_cal: Any = None) -> LaplaceModel:
        head = final_dense(model, "laplace")  # refuses a model without a final Dense
        x, y = check_calibration_data("laplace", x_cal, y_cal)
        k = int(head.dense.units)
        task = task_of("laplace", self.task, y, k)
        if task == "classification" and (k < 2 or not head.softmax and k < 2):
            raise ValueError("laplace: classification needs a head with at least 2 classes.")
        phi = _augment(batched(lambda b: ops.convert_to_numpy(head.features(b)), x),
                       head.dense.use_bias)
        kernel = np.asarray(ops.convert_to_numpy(head.dense.kernel), "float64")
        weights = kernel
        if head.dense.use_bias:
            bias = np.asarray(ops.convert_to_numpy(head.dense.bias), "float64")
            weights = np.vstack([kernel, bias[None]])
        if self.hessian == "full" and weights.size > MAX_FULL:
            raise ValueError(
                f"laplace: hessian='full' on {head.dense.name!r} has {weights.size} parameters "
                f"(a {weights.size}² matrix); the limit is {MAX_FULL}. Use hessian='diag'."
            )
        z = phi @ weights
        if task == "classification":
            labels = class_labels("laplace", y, k)
            probs, noise = softmax_np(z), None
        else:
            try:
                target = y.reshape(len(y), k).astype("float64")
            except ValueError:
                raise ValueError(
                    f"laplace: y_cal has shape {y.shape}, the head has {k} output(s): pass one "
                    "target per output."
                ) from None
            noise = np.maximum(((target - z) ** 2).mean(axis=0), 1e-12)
            probs = None
        post = _Posterior(phi, weights, self.hessian, task, probs, noise)

        def nll(lam: float) -> float:
            v = post.variances(phi, lam)
            if task == "classification":
                p = _probit(z, v)
                return float(-np.log(np.maximum(p[np.arange(len(labels)), labels], 1e-300)).mean())
            var = v + noise
            return float(np.mean(0.5 * (np.log(2 * math.pi * var) + (target - z) ** 2 / var)))

        if self.prior_precision is not None:
            lam = self.prior_precision
        else:
            lam = float(min(GRID, key=nll))  # first (smallest) on ties
        if lam == 0 and (self.hessian == "diag" and np.any(post.h == 0)
                         or self.hessian == "full" and post.e.min() <= 0):
            raise ValueError(
                "laplace: prior_precision=0 leaves a singular posterior precision on these "
                "rows; pass prior_precision > 0 (or None to fit it)."
            )
        return LaplaceModel(model, task, self.hessian, lam, post.covariance(lam), noise=noise)

"""Our risk wrappers against the plain Keras baselines a user would write (issue 29).

Regression: a plain mean-variance network (MVE: one Dense(2) head, mean and softplus
variance, trained on the Gaussian NLL) and a deep ensemble of five of them (Lakshminarayanan
et al. 2017: the mixture's mean and variance), against ``sculpt`` and ``vote(5)∘sculpt``
trained the user's way, ``compile(optimizer, "mse")``. Every model has the same hidden
layers and the same optimizer and schedule (:func:`optimizer`); each method starts from
``keras.utils.set_random_seed(seed)``.

Classification: a deep ensemble of five softmax MLPs against ``vote(5)`` and ``sample``
(MC dropout) of the same MLP, on scikit-learn's digits with some classes held out as
out-of-distribution; one risk statistic for all (:func:`class_risk`).

Data: scikit-learn's bundled diabetes set and Friedman #1 (``make_friedman1``) with noise
whose std grows with the first feature (nothing is downloaded). x and y are standardised on
the training rows; NLL is in the units of the standardised y.

Used by ``bench_risk_quality.py`` (the tables in RESULTS.md) and by
``tests/test_risk_baselines.py`` (the same code on the small ``ci`` recipe).
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

BATCH = 32
LEARNING_RATE = 1e-3
Z90 = 1.6448536269514722  # the central 90% interval is mean ± 1.645·std
OOD_DIGITS = (8, 9)  # digits held out of training: the out-of-distribution inputs


# --- data -----------------------------------------------------------------------------


def _split_standardise(x: np.ndarray, y: np.ndarray, seed: int, test: float = 0.2) -> dict:
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    n_test = int(round(len(x) * test))
    te, tr = order[:n_test], order[n_test:]
    mx, sx = x[tr].mean(0), x[tr].std(0) + 1e-8
    my, sy = y[tr].mean(), y[tr].std()

    def f(a, m, s):
        return ((a - m) / s).astype("float32")

    return {
        "x": f(x[tr], mx, sx), "y": f(y[tr], my, sy)[:, None],
        "x_test": f(x[te], mx, sx), "y_test": f(y[te], my, sy)[:, None],
    }


def diabetes(seed: int) -> dict:
    """scikit-learn's diabetes (442 rows, 10 features), a random 80/20 split per seed."""
    from sklearn.datasets import load_diabetes

    data = load_diabetes()
    return _split_standardise(data.data, data.target.astype("float64"), seed)


def friedman(seed: int, n: int = 1000) -> dict:
    """Friedman #1 (10 features, 5 used) with noise std ``0.2 + 2·x₀`` (x₀ in [0, 1]):
    from a tenth of the signal's std to nearly half of it across the input space."""
    from sklearn.datasets import make_friedman1

    x, f = make_friedman1(n_samples=n, n_features=10, noise=0.0, random_state=seed)
    rng = np.random.default_rng(seed + 1000)
    y = f + rng.normal(size=n) * (0.2 + 2.0 * x[:, 0])
    return _split_standardise(x, y, seed)


#: the small comparison tests/test_risk_baselines.py runs (a few seconds a model on 2 cores)
CI_EPOCHS = 60


def friedman_ci(seed: int) -> dict:
    """:func:`friedman` with 500 rows: the ``ci`` setup of the tests."""
    return friedman(seed, n=500)


def digits(seed: int) -> dict:
    """scikit-learn's digits in [0, 1]; digits 8 and 9 are out-of-distribution: training
    and in-distribution test rows are 0-7 (a random 75/25 split per seed)."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x, y = (data.data / 16.0).astype("float32"), data.target.astype("int32")
    ood = np.isin(y, OOD_DIGITS)
    xi, yi = x[~ood], y[~ood]
    order = np.random.default_rng(seed).permutation(len(xi))
    n_test = len(xi) // 4
    te, tr = order[:n_test], order[n_test:]
    return {"x": xi[tr], "y": yi[tr], "x_test": xi[te], "y_test": yi[te], "x_ood": x[ood]}


# --- models and training ------------------------------------------------------------------


def _hidden(inputs, width: int):
    h = keras.layers.Dense(width, activation="relu", name="hidden_1")(inputs)
    return keras.layers.Dense(width, activation="relu", name="hidden_2")(h)


def regressor(d: int, width: int = 32) -> keras.Model:
    """The user's model: two ReLU layers and a Dense(1) head."""
    inputs = keras.Input((d,))
    return keras.Model(inputs, keras.layers.Dense(1, name="head")(_hidden(inputs, width)))


def mve(d: int, width: int = 32) -> keras.Model:
    """The plain MVE baseline: the same hidden layers, a Dense(2) head (mean, variance)."""
    inputs = keras.Input((d,))
    return keras.Model(inputs, keras.layers.Dense(2, name="head")(_hidden(inputs, width)))


def mve_nll(y, out):
    """Gaussian NLL of an MVE output ``(mean, softplus⁻¹ variance)``."""
    mu, var = out[:, :1], ops.softplus(out[:, 1:]) + 1e-6
    return ops.mean(0.5 * (ops.log(2 * math.pi * var) + ops.square(y - mu) / var))


def classifier(d: int, k: int, width: int = 64) -> keras.Model:
    inputs = keras.Input((d,))
    return keras.Model(
        inputs, keras.layers.Dense(k, activation="softmax", name="head")(_hidden(inputs, width))
    )


def optimizer(epochs: int, rows: int) -> keras.optimizers.Optimizer:
    """The one optimizer every method gets: Adam, cosine decay from 1e-3 to 1e-5."""
    from risk_widgets.editor.training import decaying_adam

    return decaying_adam(LEARNING_RATE, epochs * math.ceil(rows / BATCH))


def fit(model: keras.Model, data: dict, epochs: int, loss) -> keras.Model:
    model.compile(optimizer=optimizer(epochs, len(data["x"])), loss=loss)
    model.fit(data["x"], data["y"], epochs=epochs, batch_size=BATCH, verbose=0)
    return model


def mixture(models: list[keras.Model], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of the equal mixture of MVE Gaussians (one model: its own)."""
    outs = [np.asarray(m(x)) for m in models]
    mus = np.stack([o[:, :1] for o in outs])
    variances = np.stack([np.logaddexp(0.0, o[:, 1:]) + 1e-6 for o in outs])
    mean = mus.mean(0)
    var = (variances + mus**2).mean(0) - mean**2
    return mean, np.sqrt(np.maximum(var, 1e-12))


# --- scores -------------------------------------------------------------------------------


def regression_scores(y: np.ndarray, mu: np.ndarray, std: np.ndarray) -> dict:
    var = std.astype("float64") ** 2
    r = (y - mu).astype("float64")
    return {
        "NLL": float(np.mean(0.5 * np.log(2 * math.pi * var) + r**2 / (2 * var))),
        "coverage": float(np.mean(np.abs(r) <= Z90 * std)),
        "RMSE": float(np.sqrt(np.mean(r**2))),
    }


def class_risk(probs: np.ndarray) -> np.ndarray:
    """The risk statistic of every classifier row, for ours and the baseline alike: the
    mean over classes of the std of the members' probabilities ``(M, B, K) -> (B,)``
    (what a vote / sample model reports as its risk, averaged over classes)."""
    return probs.std(axis=0).mean(axis=-1)


def classification_scores(p_test, labels, risk_test, risk_ood) -> dict:
    from risk_widgets.risk import calibration, metrics

    return {
        "OOD AUROC": metrics.ood_auroc(risk_test, risk_ood),
        "NLL": calibration.classification_nll(p_test, labels),
        "ECE": calibration.ece(p_test, labels),
        "accuracy": float(np.mean(p_test.argmax(-1) == labels)),
    }


# --- one seed of each comparison ----------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Regression:
    """One regression comparison: data, epochs, hidden width."""

    name: str
    data: Callable[[int], dict]
    epochs: int
    width: int = 32


def _risk(model, x) -> tuple[np.ndarray, np.ndarray]:
    y, std = model(x, return_risk=True)
    return np.asarray(y), np.asarray(std)


REGRESSION_METHODS = ("plain MVE", "sculpt", "ensemble of 5 MVE", "vote(5)∘sculpt")


def regression_seed(setup: Regression, seed: int, methods=REGRESSION_METHODS) -> dict:
    """``{method: {"NLL", "coverage", "RMSE"}}`` on the held-out rows of one seed."""
    from risk_widgets.risk import sculpt, vote

    data = setup.data(seed)
    d, w, e = data["x"].shape[1], setup.width, setup.epochs
    rows: dict[str, dict] = {}
    for method in methods:
        keras.utils.set_random_seed(seed)
        if method == "plain MVE":
            mu, std = mixture([fit(mve(d, w), data, e, mve_nll)], data["x_test"])
        elif method == "ensemble of 5 MVE":
            members = [fit(mve(d, w), data, e, mve_nll) for _ in range(5)]
            mu, std = mixture(members, data["x_test"])
        elif method == "sculpt":
            mu, std = _risk(fit(sculpt.Wrapper()(regressor(d, w)), data, e, "mse"),
                            data["x_test"])
        elif method == "vote(5)∘sculpt":
            risky = vote.Wrapper(5)(sculpt.Wrapper()(regressor(d, w)))
            mu, std = _risk(fit(risky, data, e, "mse"), data["x_test"])
        else:
            raise ValueError(f"unknown method {method!r}")
        rows[method] = regression_scores(data["y_test"], mu, std)
    return rows


CLASSIFICATION_METHODS = ("ensemble of 5", "vote(5)", "sample(16)")
#: the small classifier comparison tests/test_risk_classifiers.py runs
CLASS_CI_EPOCHS = 10
#: how much worse than the deep ensemble tests/test_risk_classifiers.py lets ours be, from
#: ``bench_risk_quality.py --baselines none --classify-epochs 10 --seeds 3`` (RESULTS.md):
#: vote's worst gaps over the 3 seeds are AUROC -0.005, NLL +0.006, ECE +0.002 (it wins
#: about half the time); sample (MC dropout, one network) trails the ensemble on every seed
#: (AUROC -0.027 to -0.032, NLL +0.049 to +0.080): its margins bound that gap
CLASS_CI_MARGINS = {"vote AUROC": 0.02, "vote NLL": 0.02, "vote ECE": 0.01,
                    "sample AUROC": 0.05, "sample NLL": 0.12}


def classification_seed(epochs: int, seed: int, methods=CLASSIFICATION_METHODS) -> dict:
    """``{method: {"OOD AUROC", "NLL", "ECE", "accuracy"}}`` on digits, one seed."""
    from risk_widgets.risk import sample, vote

    data = digits(seed)
    d, k = data["x"].shape[1], int(data["y"].max()) + 1
    loss = "sparse_categorical_crossentropy"
    rows: dict[str, dict] = {}
    for method in methods:
        keras.utils.set_random_seed(seed)
        if method == "ensemble of 5":
            members = [fit(classifier(d, k), data, epochs, loss) for _ in range(5)]

            def predict(x, members=members):
                probs = np.stack([np.asarray(m(x)) for m in members])
                return probs.mean(0), class_risk(probs)
        else:
            if method == "vote(5)":
                risky = vote.Wrapper(5)(classifier(d, k))
            elif method == "sample(16)":
                risky = sample.Wrapper(n_samples=16, rate=0.2)(classifier(d, k))
            else:
                raise ValueError(f"unknown method {method!r}")
            fit(risky, data, epochs, loss)

            def predict(x, risky=risky):
                probs, std = _risk(risky, x)  # std: of each class probability over members
                return probs, std.mean(axis=-1)

        (p_test, risk_test), (_, risk_ood) = predict(data["x_test"]), predict(data["x_ood"])
        rows[method] = classification_scores(p_test, data["y_test"], risk_test, risk_ood)
    return rows

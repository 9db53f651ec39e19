"""Shared by the risk wrapper tests (tests/test_risk_*.py, and bench/bench_risk_quality.py's
``suite`` recipe): the data, the MLP, fitting and reading risk, snapshots of a model.

Data: ``y = x³ + noise`` with noise growing with |x|, x in [-4, 4] (in distribution) and
[-6, -4] ∪ [4, 6] (OOD); x is divided by 4 and y by 64 so both stay within about [-1, 1].
The module-scoped ``data`` fixture (tests/conftest.py) draws it.
"""

import math

import keras
import numpy as np

from risk_widgets.editor.training import decaying_adam

EPOCHS = 25


def _noise_std(xn):
    return 0.03 + 0.12 * np.abs(xn)


def _cubic(n, seed, low=-4.0, high=4.0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(low, high, (n, 1)) / 4.0
    y = x**3 + rng.normal(size=(n, 1)) * _noise_std(x)
    return x.astype("float32"), y.astype("float32")


def _ood(n, seed):
    rng = np.random.default_rng(seed)
    x = rng.uniform(4.0, 6.0, (n, 1)) * rng.choice([-1.0, 1.0], (n, 1)) / 4.0
    return x.astype("float32")


def mlp(name="mlp"):
    inputs = keras.Input((1,), name="x")
    h = keras.layers.Dense(32, activation="relu", name="h1")(inputs)
    h = keras.layers.Dense(32, activation="relu", name="h2")(h)
    return keras.Model(inputs, keras.layers.Dense(1, name="head")(h), name=name)


def _fit(model, epochs=EPOCHS, lr=1e-2, loss="mse", data=None):
    x, y = data
    # a decaying rate: with a constant one the last iterate's noise reads as risk
    steps = epochs * math.ceil(len(x) / 64)
    model.compile(optimizer=decaying_adam(lr, steps), loss=loss)
    model.fit(x, y, epochs=epochs, batch_size=64, verbose=0)
    return model


def _risk(model, x):
    y, std = model(x, return_risk=True)
    return np.asarray(y), np.asarray(std)


def _snapshot(model):
    return (
        [w.copy() for w in model.get_weights()],
        [(layer.name, layer.trainable) for layer in model.layers],
        [(v.path, v.trainable) for v in model.weights],
    )


def _same(a, b):
    return (
        all(np.array_equal(u, v) for u, v in zip(a[0], b[0], strict=True))
        and a[1] == b[1]
        and a[2] == b[2]
    )

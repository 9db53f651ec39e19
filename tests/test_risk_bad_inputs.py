"""Risk wrappers refuse bad input with the way out: wrapper arguments, models and targets,
NaN/inf in the data.

The ``data`` fixture (module scope) is in tests/conftest.py, what it draws in
tests/risk_helpers.py.
"""

import keras
import numpy as np
import pytest

from risk_widgets.risk import sample, sculpt, vote
from tests.risk_helpers import mlp

# --- bad input -------------------------------------------------------------------------------


class ToInt(keras.layers.Layer):
    def call(self, x):
        return keras.ops.cast(x, "int32")

    def compute_output_spec(self, x):
        return keras.KerasTensor(x.shape, dtype="int32")


def _int_model():
    inputs = keras.Input((2,))
    h = keras.layers.Dense(4, name="dense")(inputs)
    h = ToInt(name="to_int")(h)
    h = keras.layers.Activation("relu", name="act")(keras.ops.cast(h, "float32"))
    return keras.Model(inputs, keras.layers.Dense(1, name="out")(h))


class Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(1)

    def call(self, x):
        return self.dense(x)


@pytest.mark.parametrize(
    "make, error, message",
    [
        (lambda: vote.Wrapper(n_voters=1), ValueError, r"expected an integer >= 2.*n_voters=1"),
        (lambda: vote.Wrapper(n_voters=2.5), ValueError, r"n_voters=2.5"),
        (lambda: vote.Wrapper(n_voters=True), ValueError, r"n_voters=True"),
        (lambda: sample.Wrapper(n_samples=1), ValueError, r"integer >= 2.*n_samples=1"),
        (lambda: sample.Wrapper(rate=0), ValueError, r"strictly between 0 and 1.*rate=0"),
        (lambda: sample.Wrapper(rate=1.0), ValueError, r"rate=1.0"),
        (lambda: sample.Wrapper(rate=-0.1), ValueError, r"rate=-0.1"),
    ],
)
def test_bad_wrapper_arguments(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_bad_models_and_targets():
    model = mlp()
    with pytest.raises(ValueError, match=r"target 'hed' matches no layer\. Did you mean 'head'"):
        vote.Wrapper()(model, targets="hed")
    with pytest.raises(ValueError, match=r"no layer of class Conv2D"):
        sample.Wrapper()(model, targets=keras.layers.Conv2D)
    with pytest.raises(ValueError, match=r"predicate matched no layer"):
        vote.Wrapper()(model, targets=lambda path, layer: False)
    with pytest.raises(TypeError, match=r"`targets` must be None, a path"):
        vote.Wrapper()(model, targets=3)
    with pytest.raises(
        ValueError,
        match=r"sample: target 'to_int' has no dropout site: its output "
        r"is int32",
    ):
        sample.Wrapper()(_int_model(), targets="to_int")
    single = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match=r"no dropout site.*Pass targets="):
        sample.Wrapper()(single)
    with pytest.raises(ValueError, match=r"target 'act' \(Activation\) has no weights.*copies"):
        vote.Wrapper()(_int_model(), targets="act")
    with pytest.raises(TypeError, match=r"expected a keras.Model.*Received: Dense"):
        vote.Wrapper()(keras.layers.Dense(1))
    with pytest.raises(ValueError, match=r"is not built.*keras.Input\(shape\)"):
        vote.Wrapper()(keras.Sequential([keras.layers.Dense(1)]))
    with pytest.raises(
        ValueError, match=r"subclassed model .* is not built.*Call it once on data"
    ):
        vote.Wrapper()(Subclassed())  # a built one is wrapped: tests/test_capsa_flows.py
    with pytest.raises(ValueError, match=r"`targets` must be None"):
        sculpt.Wrapper()(model, targets="head")
    with pytest.raises(
        ValueError, match=r"already has a variance head.*sculpt.Wrapper\(\)\(model\)"
    ):
        sculpt.Wrapper()(vote.Wrapper(n_voters=2)(sculpt.Wrapper()(model)))
    classifier = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    with pytest.raises(ValueError, match=r"ends in a softmax.*use vote or sample"):
        sculpt.Wrapper()(classifier)


def test_nan_in_data_is_refused_with_the_way_out(data):
    risky = sample.Wrapper(n_samples=2)(mlp())
    risky.compile(optimizer="adam", loss="mse")
    x, y = data["x"][:8].copy(), data["y"][:8].copy()
    x[3, 0] = np.nan
    for call in (
        lambda: risky.fit(x, data["y"][:8], verbose=0),
        lambda: risky.predict(x, verbose=0),
        lambda: risky.evaluate(x, data["y"][:8], verbose=0),
        lambda: risky(x),
        lambda: risky.predict_risk(x),
        lambda: risky.layer_risk(x),
    ):
        with pytest.raises(
            ValueError, match=r"`x` contains 1 NaN/infinite value\(s\) \(rows \[3\]\)"
        ):
            call()
    y[0, 0] = np.inf
    with pytest.raises(ValueError, match=r"fit\(\): `y` contains 1 NaN/infinite.*np.isfinite"):
        risky.fit(data["x"][:8], y, verbose=0)

"""Capsa's documented Keras 3 flows, with our names (issue 33 part 4).

`../shared/reference/capsa-limitations.txt` (capsa_tf's *Limitations* page) documents, for
Sequential, Functional and subclassed models: wrapping a compiled model
(``vote.Wrapper()(model)``), ``model(x, return_risk=True)``, ``trainable_variables`` holding
the model's and the wrapper's variables, ``fit`` / ``evaluate`` / ``predict``, saving and
loading the weights into a model wrapped again, sculpt's compiled loss combined with its NLL,
sculpt's warning without a compiled loss and the custom ``compute_loss`` that receives
``(y_hat, risk)``, sculpt's ``train_step`` ... ``predict`` family, calling the original
model (and its sub-modules) after wrapping, and wrapping only the forward pass in a custom
training loop. Each has a test here. Beyond Capsa: compile settings carried over as the very
objects, composed wrappers, and sample's default sites inside subclassed models.

Tiny models and one or two epochs: the file runs in well under a minute on two cores.
"""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import risk_widgets as rw
from risk_widgets.risk import sample, sculpt, vote
from risk_widgets.risk.model import RiskModel

WRAPPERS = {
    "vote": lambda: vote.Wrapper(3),
    "sample": lambda: sample.Wrapper(4, rate=0.2),
    "sculpt": sculpt.Wrapper,
}
X = np.random.default_rng(0).normal(size=(32, 3)).astype("float32")
Y = (X[:, :1] * 0.5 + X[:, 1:2] ** 2 * 0.2).astype("float32")


@keras.saving.register_keras_serializable(package="test_capsa_flows")
class SubclassedNet(keras.Model):
    """Capsa's "subclassed model": layers in attributes, a Python ``call``."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hidden_1 = keras.layers.Dense(8, activation="relu", name="hidden_1")
        self.hidden_2 = keras.layers.Dense(8, activation="relu", name="hidden_2")
        self.head = keras.layers.Dense(1, name="head")

    def call(self, x):
        return self.head(self.hidden_2(self.hidden_1(x)))


class Block(keras.layers.Layer):
    """A subclassed block with its own prediction layer (KerasHub style: built in build)."""

    def build(self, input_shape):
        self.inner = keras.layers.Dense(8, activation="relu", name="inner")
        self.inner.build(input_shape)
        self.predict_dense = keras.layers.Dense(1, name="predict_dense")
        self.predict_dense.build((*input_shape[:-1], 8))

    def call(self, x):
        return self.predict_dense(self.inner(x))


class TwoHeads(keras.Model):
    """A subclassed model with two outputs, each from its own Dense."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.trunk = keras.layers.Dense(8, activation="relu", name="trunk")
        self.head_a = keras.layers.Dense(1, name="head_a")
        self.head_b = keras.layers.Dense(2, name="head_b")

    def call(self, x):
        h = self.trunk(x)
        return self.head_a(h), self.head_b(h)


class TwoInputs(keras.Model):
    """A subclassed model called on a dict of named inputs."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.features = keras.layers.Dense(4, name="features")
        self.head = keras.layers.Dense(1, name="head")

    def call(self, inputs):
        return self.head(self.features(inputs["x"]) * inputs["scale"])


def sequential():
    return keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(1),
        ],
        name="seq",
    )


def functional():
    inputs = keras.Input((3,))
    h = keras.layers.Dense(8, activation="relu")(inputs)
    h = keras.layers.Dense(8, activation="relu")(h)
    return keras.Model(inputs, keras.layers.Dense(1)(h), name="func")


def subclassed():
    model = SubclassedNet(name="sub")
    model(X[:1])  # a subclassed model knows its input shape once called (or built)
    return model


MODELS = {"sequential": sequential, "functional": functional, "subclassed": subclassed}


def _snapshot(model):
    return [w.copy() for w in model.get_weights()], model(X).numpy()


def _unchanged(model, snapshot):
    weights, out = snapshot
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), weights, strict=True))
    np.testing.assert_array_equal(model(X).numpy(), out)


# --- the Keras 3 flow: wrap, return_risk, trainable_variables, fit / evaluate / predict,
# --- save_weights and load_weights into a model wrapped again


@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")
@pytest.mark.parametrize("kind", WRAPPERS)
@pytest.mark.parametrize("make", MODELS.values(), ids=MODELS.keys())
def test_the_keras3_flow_on_every_model_kind(make, kind, tmp_path):
    model = make()
    # eager: two steps of a tiny model run faster than tracing them (graph mode: below)
    model.compile(optimizer="adam", loss="mse", run_eagerly=True)
    before = _snapshot(model)
    risky = WRAPPERS[kind]()(model)
    assert isinstance(risky, RiskModel) and risky.compiled and risky.run_eagerly

    out, risk = risky(X[:5], return_risk=True)
    assert tuple(out.shape) == tuple(risk.shape) == (5, 1)
    assert np.all(np.isfinite(risk.numpy())) and np.all(risk.numpy() >= 0)
    if kind != "sculpt":  # sculpt: one member, its std is the head's
        assert float(np.mean(risk.numpy())) > 0

    # the wrapped model's variables: copies of the model's (never the same objects) plus
    # the wrapper's own (the voters' and the heads'; dropout adds none)
    ids = {id(v) for v in model.variables}
    assert not ids & {id(v) for v in risky.variables}
    n_model, n_risky = len(model.trainable_variables), len(risky.trainable_variables)
    assert n_risky == {"vote": 3 * n_model, "sample": n_model, "sculpt": n_model + 4}[kind]

    history = risky.fit(X, Y, epochs=1, batch_size=16, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    loss = risky.evaluate(X, Y, verbose=0)
    assert np.isfinite(loss)
    assert risky.predict(X, verbose=0).shape == (32, 1)
    _unchanged(model, before)  # wrapping and fitting never touch the user's model

    path = str(tmp_path / "model.weights.h5")
    risky.save_weights(path)
    restored_model = make()
    restored_model.compile(optimizer="adam", loss="mse", run_eagerly=True)
    restored = WRAPPERS[kind]()(restored_model)
    restored(X[:2])  # Capsa: call it once before loading
    restored.load_weights(path)
    for a, b in zip(restored.get_weights(), risky.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    if kind != "sample":  # sample draws new masks on every call
        np.testing.assert_allclose(restored.evaluate(X, Y, verbose=0), loss, rtol=1e-5)


def test_a_subclassed_model_is_one_opaque_layer_and_never_gets_a_node():
    model = subclassed()
    risky = vote.Wrapper(2)(model)
    assert [p for p, _ in risky.risk_paths()] == ["sub/hidden_1", "sub/hidden_2", "sub/head"]
    assert model._inbound_nodes == []  # noqa: SLF001  (wrapped through a structural copy)
    assert [type(layer).__name__ for layer in risky.body.layers] == ["InputLayer", "SubclassedNet"]


def test_a_subclassed_model_on_a_dict_of_inputs():
    model = TwoInputs(name="two_inputs")
    data = {"x": X[:4], "scale": np.ones((4, 4), "float32")}
    model(data)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the inputs are named after the keys
        risky = vote.Wrapper(2)(sample.Wrapper(2)(model))
        y, risk = risky(data, return_risk=True)
    assert tuple(risk.shape) == (4, 1)
    assert [p for p, _ in risky.risk_paths()] == ["two_inputs/features", "two_inputs/head"]


@pytest.mark.parametrize("kind", WRAPPERS)
def test_a_wrapped_subclassed_model_saves_whole_when_its_class_is_registered(kind, tmp_path):
    risky = WRAPPERS[kind]()(subclassed())
    risky.save(tmp_path / "risky.keras")
    loaded = rw.load_model(tmp_path / "risky.keras")
    # Keras' Model.get_config drops a subclassed model's name; the body keeps it
    assert [p for p, _ in loaded.risk_paths()] == [p for p, _ in risky.risk_paths()]
    for a, b in zip(loaded.get_weights(), risky.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.filterwarnings("ignore:`build\\(\\)` was called on layer")
def test_a_subclassed_model_that_was_never_called_is_refused_with_the_way_out():
    with pytest.raises(ValueError, match=r"'sub' is not built.*Call it once on data"):
        sample.Wrapper()(SubclassedNet(name="sub"))
    model = SubclassedNet(name="sub")
    model.build((None, 3))  # building it is enough
    assert sample.Wrapper(2)(model).predict(X, verbose=0).shape == (32, 1)


def test_a_subclassed_model_with_two_outputs_and_composed_wrappers():
    model = TwoHeads(name="two")
    model(X[:1])
    dropped = sample.Wrapper(2)(sculpt.Wrapper()(model))
    risky = vote.Wrapper(2)(dropped)
    assert risky.members == 4
    (a, b), (risk_a, risk_b) = risky(X[:4], return_risk=True)
    assert tuple(risk_a.shape) == (4, 1) and tuple(risk_b.shape) == (4, 2)
    # neither head gets dropout: both make a prediction
    dropped = {p for p, layer in dropped.risk_paths() if layer.risk_kind == "sample"}
    assert dropped == {"two/trunk"}


# --- compile settings carry over exactly


def _plain_loss(y_true, y_pred):
    return keras.ops.mean(keras.ops.abs(y_true - y_pred), axis=-1)


def _plain_metric(y_true, y_pred):
    return keras.ops.mean(keras.ops.square(y_true - y_pred), axis=-1)


def _member_loss(risky, loss_fn, members=2):
    """The loss a vote model trains on: ``loss_fn`` of each member's prediction, averaged."""
    outs = risky.body(np.repeat(X, members, axis=0)).numpy().reshape(32, members, 1)
    return np.mean([np.mean(loss_fn(Y, outs[:, k])) for k in range(members)])


@pytest.mark.parametrize("make", [functional, subclassed], ids=["functional", "subclassed"])
def test_compile_settings_are_the_users_own_objects(make):
    model = make()
    huber = keras.losses.Huber(delta=0.5)
    mae = keras.metrics.MeanAbsoluteError(name="my_mae")
    optimizer = keras.optimizers.Adam(learning_rate=3e-3, clipnorm=1.0)
    model.compile(optimizer=optimizer, loss=huber, metrics=[mae, _plain_metric])
    risky = vote.Wrapper(2)(model)
    assert risky.loss is huber
    # Keras 3.15's Huber.get_config drops delta: re-created from config it would be 1.0
    expected = _member_loss(risky, lambda y, p: keras.losses.huber(y, p, delta=0.5))
    assert not np.isclose(expected, _member_loss(risky, keras.losses.huber))
    np.testing.assert_allclose(risky.evaluate(X, Y, verbose=0, batch_size=32)[0], expected,
                               rtol=1e-5)
    # a fresh optimizer of the same class and config: the user's holds their variables' slots
    assert risky.optimizer is not optimizer and type(risky.optimizer) is keras.optimizers.Adam
    assert risky.optimizer.get_config() == optimizer.get_config()
    history = risky.fit(X, Y, epochs=1, batch_size=16, verbose=0).history
    assert {"loss", "my_mae", "_plain_metric"} <= set(history)
    assert int(optimizer.iterations.numpy()) == 0  # the user's optimizer never stepped


def test_a_plain_python_loss_function_carries_over_silently():
    model = functional()
    model.compile(optimizer="adam", loss=_plain_loss)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        risky = vote.Wrapper(2)(model)
    assert risky.loss is _plain_loss
    # the loss the risk model trains on is this function (each member's: the mean over them)
    np.testing.assert_allclose(risky.evaluate(X, Y, verbose=0, batch_size=32),
                               _member_loss(risky, _plain_loss), rtol=1e-5)


# --- sculpt: the compiled loss combined with the NLL, the warning, a custom compute_loss


def test_sculpt_combines_the_compiled_loss_with_its_nll():
    model = functional()
    model.compile(optimizer="adam", loss="mse")
    risky = sculpt.Wrapper()(model)
    y_hat, std = risky(X, return_risk=True)
    mse = float(np.mean((Y - y_hat.numpy()) ** 2))
    nll = float(sculpt.gaussian_nll(Y, y_hat, std))
    np.testing.assert_allclose(risky.evaluate(X, Y, verbose=0, batch_size=32), mse + nll,
                               rtol=1e-4)


def test_sculpt_warns_without_a_compiled_loss_and_takes_a_custom_compute_loss():
    model = sequential()
    model.compile(optimizer="adam")  # Capsa's flow: no loss
    with pytest.warns(UserWarning, match=r"not compiled with a loss.*sculpt\.gaussian_nll"):
        risky = sculpt.Wrapper()(model)
    seen = {}

    def compute_loss(x=None, y=None, y_pred=None, sample_weight=None, training=None):
        y_hat, risk = y_pred  # as Capsa: unpack the prediction and its risk
        seen["shapes"] = (tuple(y_hat.shape), tuple(risk.shape))
        capsa_loss = sculpt.gaussian_nll(y, y_hat, risk)
        usr_loss = _plain_loss(y, y_hat)
        return keras.ops.mean(keras.ops.stack([capsa_loss, keras.ops.mean(usr_loss)]))

    risky.compute_loss = compute_loss
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a custom loss: no "NLL alone" warning at fit
        history = risky.fit(X, Y, epochs=2, batch_size=16, verbose=0).history
    assert seen["shapes"] == ((16, 1), (16, 1)) or seen["shapes"][1] == seen["shapes"][0]
    assert history["loss"][1] < history["loss"][0]
    y_hat, std = risky(X, return_risk=True)
    expected = 0.5 * (float(sculpt.gaussian_nll(Y, y_hat, std))
                      + float(np.mean(np.abs(Y - y_hat.numpy()))))
    np.testing.assert_allclose(risky.evaluate(X, Y, verbose=0, batch_size=32), expected,
                               rtol=1e-4)
    assert vote.Wrapper(2)(risky).user_compute_loss is compute_loss  # composing keeps it
    risky.compute_loss = None  # back to sculpt's own (NLL alone here: it says so)
    with pytest.warns(UserWarning, match=r"no compiled loss.*Gaussian NLL alone"):
        risky.fit(X, Y, epochs=1, verbose=0)


def test_without_a_variance_head_a_custom_compute_loss_receives_the_prediction():
    risky = vote.Wrapper(2)(subclassed())
    risky.compile(optimizer="adam", run_eagerly=True)
    seen = []

    def compute_loss(x, y, y_pred, sample_weight):  # no `training`: Keras' older signature
        seen.append(tuple(y_pred.shape))
        return keras.ops.mean(keras.ops.square(y - y_pred))

    risky.compute_loss = compute_loss
    risky.fit(X, Y, epochs=1, batch_size=32, verbose=0)
    assert seen == [(32, 1)]
    with pytest.raises(TypeError, match=r"`compute_loss` must be a function"):
        risky.compute_loss = "mse"


def test_an_uncompiled_model_is_not_warned_about_until_fit_without_a_loss():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        risky = sculpt.Wrapper()(functional())  # compiled after wrapping, the usual way
        risky.compile(optimizer="adam", loss="mse")
        risky.fit(X, Y, epochs=1, verbose=0)


def test_sculpt_runs_every_keras_training_and_prediction_method():
    risky = sculpt.Wrapper()(subclassed())
    risky.compile(optimizer="adam", loss="mse")
    assert np.isfinite(risky.train_on_batch(X, Y))
    assert np.isfinite(risky.test_on_batch(X, Y))
    assert risky.predict_on_batch(X).shape == (32, 1)
    assert np.isfinite(float(risky.train_step((X, Y))["loss"]))
    assert np.isfinite(float(risky.test_step((X, Y))["loss"]))
    assert tuple(risky.predict_step(X).shape) == (32, 1)
    y, std = risky.predict_risk(X)  # what Capsa's predict returns for sculpt
    assert y.shape == std.shape == (32, 1) and (std > 0).all()


def test_gaussian_nll_is_the_normal_density():
    y, y_hat, std = np.array([[1.0]]), np.array([[0.0]]), np.array([[2.0]])
    expected = -np.log(np.exp(-0.5 * (1.0 / 2.0) ** 2) / (2.0 * np.sqrt(2 * np.pi)))
    np.testing.assert_allclose(float(sculpt.gaussian_nll(y, y_hat, std)), expected, rtol=1e-6)
    weights = np.array([1.0, 0.0])
    two = sculpt.gaussian_nll(np.array([[1.0], [9.0]]), np.zeros((2, 1)), np.full((2, 1), 2.0),
                              sample_weight=weights)
    np.testing.assert_allclose(float(two), expected, rtol=1e-6)


# --- the original model and its sub-modules, a custom training loop


def test_the_original_model_and_its_submodules_still_run_unwrapped():
    model = subclassed()
    before = model.hidden_1(X).numpy(), model(X).numpy()
    risky = sample.Wrapper(4, rate=0.5)(model)
    risky.compile(optimizer="adam", loss="mse")
    risky.fit(X, Y, epochs=1, verbose=0)
    np.testing.assert_array_equal(model.hidden_1(X).numpy(), before[0])
    np.testing.assert_array_equal(model(X).numpy(), before[1])  # no dropout, same weights


@pytest.mark.parametrize("kind", WRAPPERS)
def test_a_forward_function_with_more_computation_around_the_model(kind):
    # Capsa (Keras 2): decorate a function that calls the model and computes more; ours:
    # the function as a Functional model around the user's, wrapped like any model
    model = sequential()
    inputs = keras.Input((3,))
    outputs = keras.ops.tanh(model(inputs)) * 5.0 + 1.0
    forward = keras.Model(inputs, outputs, name="forward")
    before = model(X).numpy()
    risky = WRAPPERS[kind]()(forward)
    y, risk = risky(X[:4], return_risk=True)
    assert tuple(risk.shape) == (4, 1) and np.all(np.abs(y.numpy() - 1.0) <= 5.0)
    np.testing.assert_array_equal(model(X).numpy(), before)  # calling the model: the original


@pytest.mark.parametrize("kind", WRAPPERS)
def test_a_custom_training_loop_wraps_only_the_forward_pass(kind):
    risky = WRAPPERS[kind]()(subclassed())
    optimizer = keras.optimizers.Adam(1e-2)
    losses = []
    for _ in range(3):
        with tf.GradientTape() as tape:
            y_hat, risk = risky(X, training=True, return_risk=True)
            loss = keras.ops.mean((Y - y_hat) ** 2)
            if kind == "sculpt":
                loss = loss + sculpt.gaussian_nll(Y, keras.ops.stop_gradient(y_hat), risk)
        grads = tape.gradient(loss, risky.trainable_variables)
        assert all(g is not None for g in grads)
        optimizer.apply(grads, risky.trainable_variables)
        losses.append(float(loss))
    assert losses[-1] < losses[0]


# --- sample's default sites never hold the prediction layer


def test_sample_default_sites_skip_the_prediction_layer_of_a_subclassed_model():
    risky = sample.Wrapper(2)(subclassed())
    assert sorted(p for p, _ in risky.risk_paths()) == ["sub/hidden_1", "sub/hidden_2"]


def test_sample_default_sites_skip_the_prediction_layer_inside_a_subclassed_block():
    inputs = keras.Input((3,))
    h = keras.layers.Dense(8, activation="relu", name="stem")(inputs)
    model = keras.Model(inputs, Block(name="block")(h), name="with_block")
    risky = sample.Wrapper(2)(model)
    assert [p for p, _ in risky.risk_paths()] == ["stem", "block/inner"]
    # a head after the block is the prediction layer: the block's own Dense layers take dropout
    inputs = keras.Input((3,))
    out = keras.layers.Dense(1, name="head")(Block(name="block")(inputs))
    risky = sample.Wrapper(2)(keras.Model(inputs, out))
    assert [p for p, _ in risky.risk_paths()] == ["block/inner", "block/predict_dense"]

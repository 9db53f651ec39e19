"""Risk wrappers: OOD separation, calibration, composition, one batched call, save/load,
the user's model left untouched, and every bad-input error.

Data: ``y = x³ + noise`` with noise growing with |x|, x in [-4, 4] (in distribution) and
[-6, -4] ∪ [4, 6] (OOD); x is divided by 4 and y by 64 so both stay within about [-1, 1].
Each wrapped model is trained once per module.
"""

import io
import math
from contextlib import redirect_stdout

import keras
import numpy as np
import pytest

from risk_widgets.editor.training import decaying_adam
from risk_widgets.risk import RiskModel, metrics, sample, sculpt, vote
from risk_widgets.risk.compose import total_variance_np

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


@pytest.fixture(scope="module")
def data():
    x, y = _cubic(512, 0)
    x_test, y_test = _cubic(512, 1)
    return {"x": x, "y": y, "x_test": x_test, "y_test": y_test, "x_ood": _ood(256, 2)}


@pytest.fixture(scope="module")
def base(data):
    """A plain MLP, trained; its state is recorded to prove nothing else changes it."""
    keras.utils.set_random_seed(0)
    model = _fit(mlp("base"), data=(data["x"], data["y"]))
    return model, _snapshot(model), np.asarray(model(data["x_test"]))


@pytest.fixture(scope="module")
def voted(data):
    keras.utils.set_random_seed(1)
    user = mlp()
    before = _snapshot(user)
    risky = _fit(vote.Wrapper(n_voters=5)(user), data=(data["x"], data["y"]))
    return risky, user, before


@pytest.fixture(scope="module")
def sampled(data, base):
    """MC dropout on the trained base model, fine-tuned with dropout on."""
    keras.utils.set_random_seed(2)
    risky = sample.Wrapper(n_samples=16, rate=0.1)(base[0])
    copied = [w.copy() for w in risky.body.get_layer("h1").layer.get_weights()]
    _fit(risky, epochs=10, lr=3e-3, data=(data["x"], data["y"]))
    return risky, copied


@pytest.fixture(scope="module")
def sculpted(data):
    keras.utils.set_random_seed(3)
    return _fit(sculpt.Wrapper()(mlp()), epochs=40, data=(data["x"], data["y"]))


@pytest.fixture(scope="module")
def vote_sculpted(data):
    keras.utils.set_random_seed(4)
    # as long as `sculpted`, so that their NLLs compare
    voted_heads = vote.Wrapper(n_voters=5)(sculpt.Wrapper()(mlp()))
    return _fit(voted_heads, epochs=40, data=(data["x"], data["y"]))


# --- the numbers -----------------------------------------------------------------------------


def test_vote_risk_is_higher_out_of_distribution(voted, data):
    risky = voted[0]
    _, std_in = _risk(risky, data["x_test"])
    _, std_out = _risk(risky, data["x_ood"])
    auroc = metrics.ood_auroc(std_in, std_out)
    print(f"vote OOD AUROC {auroc:.3f}")
    assert auroc >= 0.95  # 10 seeds (bench/bench_risk_quality.py, suite recipe): min 0.988


def test_sample_risk_is_higher_out_of_distribution(sampled, data):
    risky = sampled[0]
    _, std_in = _risk(risky, data["x_test"])
    _, std_out = _risk(risky, data["x_ood"])
    auroc = metrics.ood_auroc(std_in, std_out)
    print(f"sample OOD AUROC {auroc:.3f}")
    assert auroc >= 0.95  # 10 seeds: min 0.985


def test_sculpt_tracks_heteroscedastic_noise(sculpted, data):
    y_hat, std = _risk(sculpted, data["x_test"])
    error = metrics.calibration_error(data["y_test"], y_hat, std)
    print(f"sculpt calibration error {error:.3f}")
    assert error <= 0.06  # 10 seeds (bench/bench_risk_quality.py, suite recipe): max 0.029
    true_std = _noise_std(data["x_test"])
    assert np.corrcoef(std.ravel(), true_std.ravel())[0, 1] > 0.7  # min 0.868
    edge, centre = np.abs(data["x_test"]) > 0.75, np.abs(data["x_test"]) < 0.25
    assert std[edge].mean() > 1.3 * std[centre].mean()  # min 1.66 (the noise itself: ~3)


def test_vote_of_sculpt_nll_no_worse_than_either(voted, sculpted, vote_sculpted, data):
    x, y = data["x_test"], data["y_test"]
    nll = {
        name: metrics.gaussian_nll(y, *_risk(model, x))
        for name, model in [
            ("vote", voted[0]),
            ("sculpt", sculpted),
            ("vote∘sculpt", vote_sculpted),
        ]
    }
    print("held-out NLL", {k: round(v, 3) for k, v in nll.items()})
    # over 10 seeds vote∘sculpt wins 9 times, and loses by at most +0.016 (bench/RESULTS.md)
    assert nll["vote∘sculpt"] <= min(nll["vote"], nll["sculpt"]) + 0.08
    assert metrics.calibration_error(y, *_risk(vote_sculpted, x)) <= 0.06  # max 0.025


# --- the user's model ------------------------------------------------------------------------


def test_wrapping_and_fitting_leave_the_users_model_untouched(voted, sampled, base, data):
    risky, user, before = voted
    assert _same(before, _snapshot(user))
    model, base_before, base_out = base
    assert _same(base_before, _snapshot(model))
    np.testing.assert_array_equal(np.asarray(model(data["x_test"])), base_out)
    # sample copied the trained weights at wrap time, then trained its own copy
    h1 = model.get_layer("h1").get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(sampled[1], h1, strict=True))
    trained = sampled[0].body.get_layer("h1").layer.get_weights()
    assert not np.array_equal(trained[0], h1[0])
    # voters are fresh copies, independent of each other
    voters = risky.body.get_layer("h1").voters
    assert len({float(v.get_weights()[0].sum()) for v in voters}) == 5
    assert not any(w is v for w in user.weights for v in risky.weights)


def test_frozen_user_layers_stay_frozen_in_the_copy_and_in_the_original():
    model = mlp()
    model.get_layer("h1").trainable = False
    risky = sample.Wrapper(n_samples=2)(model)
    assert model.get_layer("h1").trainable is False
    assert risky.body.get_layer("h1").layer.trainable is False
    voters = vote.Wrapper(n_voters=2)(model).body.get_layer("h1").voters
    assert all(v.trainable for v in voters) and model.get_layer("h1").trainable is False


# --- batched members, composition ------------------------------------------------------------


class Probe(keras.layers.Layer):
    """Records the batch size of every eager call."""

    sizes: list = []

    def call(self, x):
        if x.shape[0] is not None:  # eager calls only (not the symbolic build)
            Probe.sizes.append(int(x.shape[0]))
        return x


class CountingDense(keras.layers.Dense):
    sizes: list = []

    def call(self, x):
        if x.shape[0] is not None:
            CountingDense.sizes.append(int(x.shape[0]))
        return super().call(x)


def test_all_members_run_in_one_batched_call():
    inputs = keras.Input((1,))
    h = Probe(name="probe")(keras.layers.Dense(8, activation="relu", name="h1")(inputs))
    h = keras.layers.Dense(8, activation="relu", name="h2")(h)
    model = keras.Model(inputs, CountingDense(1, name="head")(h))
    risky = sample.Wrapper(n_samples=4)(vote.Wrapper(n_voters=3)(model))
    assert risky.members == 12
    Probe.sizes.clear()
    CountingDense.sizes.clear()
    y, std = risky(np.zeros((5, 1), "float32"), return_risk=True)
    assert Probe.sizes == [60]  # 5 examples x 12 members, one call
    assert CountingDense.sizes == [20, 20, 20]  # each of the 3 voters once, on its 20 rows
    assert y.shape == std.shape == (5, 1)


def test_law_of_total_variance_matches_member_outputs(vote_sculpted, data):
    x = data["x_test"][:7]
    m = vote_sculpted.members
    means, variances = (np.asarray(t) for t in vote_sculpted.body(np.repeat(x, m, axis=0)))
    means, variances = means.reshape(7, m, 1), variances.reshape(7, m, 1)
    mean, var = total_variance_np(means, variances, axis=1)
    y, std = _risk(vote_sculpted, x)
    np.testing.assert_allclose(y, mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(std, np.sqrt(var), rtol=1e-5, atol=1e-6)
    # the composed std exceeds the mean aleatoric std by the voters' disagreement
    assert np.all(std**2 >= variances.mean(1) - 1e-7)


def test_nested_votes_cover_every_combination_of_members():
    model = mlp()
    risky = vote.Wrapper(n_voters=3)(vote.Wrapper(n_voters=2)(model))
    assert risky.members == 6
    outputs = np.asarray(risky.body(np.ones((6, 1), "float32")))
    assert len(np.unique(outputs.round(6))) == 6


def test_each_voter_trains_on_its_own_loss(data):
    risky = vote.Wrapper(n_voters=3)(mlp())
    risky.compile(optimizer="adam", loss="mse")
    x, y = data["x"][:64], data["y"][:64]
    members = np.asarray(risky.body(np.repeat(x, 3, axis=0))).reshape(64, 3)
    per_member = np.mean((members - y) ** 2)
    of_mean = np.mean((members.mean(1, keepdims=True) - y) ** 2)
    loss = risky.evaluate(x, y, batch_size=64, verbose=0)
    assert loss == pytest.approx(per_member, rel=1e-4)
    assert abs(per_member - of_mean) > 1e-4  # the two really differ


def test_sculpt_adds_the_nll_to_the_compiled_loss(data):
    x, y = data["x"][:64], data["y"][:64]
    compiled = mlp()
    compiled.compile(optimizer="adam", loss="mse")
    risky = sculpt.Wrapper()(compiled)
    assert risky.compiled and risky.loss == "mse"  # carried over from the user's compile
    mu, var = (np.asarray(t) for t in risky.body(x))
    mse = np.mean((mu - y) ** 2)
    nll = np.mean(0.5 * (np.log(2 * math.pi * var) + (y - mu) ** 2 / var))
    assert risky.evaluate(x, y, batch_size=64, verbose=0) == pytest.approx(mse + nll, rel=1e-4)
    # not compiled: compile without a loss, and the NLL alone is the loss
    alone = sculpt.Wrapper()(mlp())
    assert not alone.compiled
    alone.compile(optimizer=keras.optimizers.Adam(1e-2))
    mu, var = (np.asarray(t) for t in alone.body(x))
    nll = np.mean(0.5 * (np.log(2 * math.pi * var) + (y - mu) ** 2 / var))
    assert alone.evaluate(x, y, batch_size=64, verbose=0) == pytest.approx(nll, rel=1e-4)
    first = alone.fit(x, y, epochs=3, batch_size=16, verbose=0).history["loss"]
    assert first[-1] < first[0]


def test_vote_or_sample_without_a_loss_says_how_to_compile(data):
    risky = vote.Wrapper(n_voters=2)(mlp())
    risky.compile(optimizer="adam")
    with pytest.raises(ValueError, match=r"needs the loss .*compile\(optimizer='adam', loss="):
        risky.fit(data["x"][:8], data["y"][:8], verbose=0)


# --- Keras API: predict, save/load, summary, introspection -----------------------------------


def test_predict_returns_y_and_predict_risk_returns_both(vote_sculpted, data):
    x = data["x_test"][:50]
    y = vote_sculpted.predict(x, batch_size=16, verbose=0)
    y_call, std_call = _risk(vote_sculpted, x)
    np.testing.assert_allclose(y, y_call, rtol=1e-5, atol=1e-6)
    y2, std = vote_sculpted.predict_risk(x, batch_size=16)
    np.testing.assert_allclose(std, std_call, rtol=1e-5, atol=1e-6)
    assert y2.shape == std.shape == (50, 1)
    assert vote_sculpted.predict(x, verbose=0).shape == (50, 1)  # back to y only


def test_save_and_load_give_identical_outputs(vote_sculpted, sampled, data, tmp_path):
    x = data["x_test"][:32]
    path = tmp_path / "risky.keras"
    vote_sculpted.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, RiskModel) and loaded.members == 5
    for a, b in zip(_risk(vote_sculpted, x), _risk(loaded, x), strict=True):
        np.testing.assert_array_equal(a, b)
    assert loaded.compiled  # compile settings travel too
    # weights load into a freshly wrapped model with no prior call
    weights = tmp_path / "risky.weights.h5"
    vote_sculpted.save_weights(weights)
    fresh = vote.Wrapper(n_voters=5)(sculpt.Wrapper()(mlp()))
    fresh.load_weights(weights)
    np.testing.assert_array_equal(_risk(fresh, x)[1], _risk(vote_sculpted, x)[1])
    # MC dropout is random, but its weights round-trip exactly
    sampled[0].save(tmp_path / "sampled.keras")
    reloaded = keras.saving.load_model(tmp_path / "sampled.keras")
    for a, b in zip(sampled[0].get_weights(), reloaded.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_summary_lists_the_risk_layers(vote_sculpted, sampled):
    lines = []
    sample.Wrapper(n_samples=2)(vote_sculpted).summary(print_fn=lambda s, **_: lines.append(s))
    text = "\n".join(lines)
    for name in ("VoteLayer", "SampleLayer", "sample(n_samples=2, rate=0.1)", "10 members"):
        assert name in text
    out = io.StringIO()
    with redirect_stdout(out):
        sculpt.Wrapper()(mlp()).summary()
    assert "SculptHead" in out.getvalue()


def test_patch_info_and_layer_risk(vote_sculpted, sampled, data):
    info = vote_sculpted.patch_info()
    assert info == {
        "h1": {"kind": "vote", "params": {"n_voters": 5}},
        "h2": {"kind": "vote", "params": {"n_voters": 5}},
        "head": {"kind": "vote", "params": {"n_voters": 5}},
        "sculpt_variance": {"kind": "vote", "params": {"n_voters": 5}},
    }
    assert sampled[0].patch_info() == {
        "h1": {"kind": "sample", "params": {"n_samples": 16, "rate": 0.1}},
        "h2": {"kind": "sample", "params": {"n_samples": 16, "rate": 0.1}},
    }
    sculpt_head = sculpt.Wrapper()(mlp()).risk_layers()[0]
    assert sculpt_head.patch_info() == {"kind": "sculpt", "params": {}}
    risk_in = sampled[0].layer_risk(data["x_test"][:64])
    risk_out = sampled[0].layer_risk(data["x_ood"][:64])
    assert set(risk_in) == {"h1", "h2"} and all(v >= 0 for v in risk_in.values())
    assert risk_out["h2"] > risk_in["h2"]
    assert set(vote_sculpted.layer_risk(data["x_test"][:8])) == set(info)
    assert all(getattr(layer, "is_patch_layer", False) for layer in vote_sculpted.risk_layers())


def test_targets_choose_the_layers(data):
    model = mlp()
    head_only = vote.Wrapper(n_voters=3)(model, targets="head")
    kinds = {layer.name: type(layer).__name__ for layer in head_only.body.layers}
    assert kinds == {"x": "InputLayer", "h1": "Dense", "h2": "Dense", "head": "VoteLayer"}
    assert head_only.wrappers[-1]["targets"] == ["head"]
    assert sample.Wrapper()(model, targets="h?").patch_info().keys() == {"h1", "h2"}
    by_class = sample.Wrapper()(model, targets=keras.layers.Dense).patch_info()
    assert by_class.keys() == {"h1", "h2", "head"}
    by_predicate = vote.Wrapper(n_voters=2)(model, targets=lambda path, layer: path == "h2")
    assert by_predicate.patch_info().keys() == {"h2"}
    _, std = _risk(head_only, data["x_test"][:4])
    assert std.shape == (4, 1)


def test_sequential_multi_output_and_classification(data):
    seq = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(3)]
    )
    y, std = _risk(vote.Wrapper(n_voters=2)(seq), np.ones((2, 4), "float32"))
    assert y.shape == std.shape == (2, 3)

    inputs = keras.Input((4,), name="features")
    h = keras.layers.Dense(16, activation="relu", name="trunk")(inputs)
    value = keras.layers.Dense(2, name="value")(h)
    probs = keras.layers.Dense(3, activation="softmax", name="probs")(h)
    model = keras.Model(inputs, [value, probs])
    x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    targets = [np.zeros((32, 2), "float32"), np.arange(32) % 3]
    for risky in (vote.Wrapper(n_voters=3)(model), sample.Wrapper(n_samples=8, rate=0.3)(model)):
        (v, p), (v_std, p_std) = risky(x, return_risk=True)
        assert v.shape == v_std.shape == (32, 2) and p.shape == p_std.shape == (32, 3)
        np.testing.assert_allclose(np.asarray(p).sum(1), 1.0, rtol=1e-5)  # mean of probabilities
        assert 0 < float(np.max(p_std)) <= 0.5  # std of a probability, per class
        risky.compile(optimizer="adam", loss=["mse", "sparse_categorical_crossentropy"])
        history = risky.fit(x, targets, epochs=1, batch_size=32, verbose=0)
        assert np.isfinite(history.history["loss"]).all()
        assert [a.shape for a in risky.predict(x, verbose=0)] == [(32, 2), (32, 3)]

    outs = {"a": keras.layers.Dense(1, name="a")(h), "b": keras.layers.Dense(2, name="b")(h)}
    dict_model = keras.Model(inputs, outs)
    y, std = vote.Wrapper(n_voters=2)(sculpt.Wrapper()(dict_model))(x, return_risk=True)
    assert set(y) == set(std) == {"a", "b"} and std["b"].shape == (32, 2)


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
        TypeError, match=r"subclassed model.*keras.Model\(inputs, model\(inputs\)\)"
    ):
        vote.Wrapper()(Subclassed())
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


def test_targets_inside_composite_layers_and_attention():
    from risk_widgets import demo

    model = demo.transformer()
    before = _snapshot(model)
    x = np.random.default_rng(0).integers(0, 10, (4, *model.inputs[0].shape[1:]))
    risky = sample.Wrapper(n_samples=3)(vote.Wrapper(n_voters=2)(model, targets="*/attn/query"))
    assert risky.members == 6
    info = risky.patch_info()
    assert [w["kind"] for w in risky.wrappers] == ["vote", "sample"]
    assert risky.wrappers[0]["targets"] == ["block_0/attn/query", "block_1/attn/query"]
    assert info["block_0/attn/query"]["kind"] == "sample"  # dropout after the voted query
    assert info["block_1/mlp/up"] == {"kind": "sample", "params": {"n_samples": 3, "rate": 0.1}}
    y, std = _risk(risky, x.astype(model.inputs[0].dtype))
    assert y.shape == std.shape == (4, 2) and np.all(std > 0)
    assert _same(before, _snapshot(model))


def test_sample_composes_over_sculpt_and_vote_with_default_sites():
    """DESIGN's `sample.Wrapper()(vote.Wrapper()(model))` works with default targets; over
    sculpt, the variance head does not hide the hidden layer's dropout site."""
    inputs = keras.Input((1,))
    h = keras.layers.Dense(8, activation="relu", name="h1")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1, name="head")(h))
    over_sculpt = sample.Wrapper(n_samples=4)(sculpt.Wrapper()(model))
    assert over_sculpt.members == 4
    assert over_sculpt.wrappers[-1]["targets"] == ["h1"]
    over_vote = sample.Wrapper(n_samples=4)(vote.Wrapper(n_voters=2)(model))
    assert over_vote.members == 8
    assert over_vote.wrappers[-1]["targets"] == ["h1"]
    y, std = over_vote(np.zeros((3, 1), dtype="float32"), return_risk=True)
    assert np.asarray(y).shape == np.asarray(std).shape == (3, 1)


def test_risk_layers_inside_attention_round_trip_keras_files(tmp_path):
    """MultiHeadAttention's config omits its sub-layers; the body records the swapped ones."""
    from risk_widgets import demo

    model = demo.transformer(n_blocks=1, dim=16)
    tokens, _ = demo.toy_sequences(n=8)
    voted = vote.Wrapper(n_voters=2)(model)  # whole model: voters inside attn too
    voted.save(tmp_path / "vote.keras")
    loaded = keras.models.load_model(tmp_path / "vote.keras")
    np.testing.assert_array_equal(np.asarray(loaded(tokens)), np.asarray(voted(tokens)))

    sampled = sample.Wrapper(n_samples=2)(model, targets="block_0/attn/query")
    sampled.save(tmp_path / "sample.keras")
    reloaded = keras.models.load_model(tmp_path / "sample.keras")
    assert reloaded.wrappers[-1]["targets"] == ["block_0/attn/query"]
    assert reloaded.patch_info() == sampled.patch_info()
    for a, b in zip(reloaded.get_weights(), sampled.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    # dropout's seed state is not saved by Keras: start both from the same one
    [(_, site)], [(_, site_back)] = sampled.risk_paths(), reloaded.risk_paths()
    site_back.dropout.seed_generator.state.assign(site.dropout.seed_generator.state)
    np.testing.assert_array_equal(np.asarray(reloaded(tokens)), np.asarray(sampled(tokens)))


def test_layer_risk_reports_risk_layers_at_any_depth_by_path():
    """Voters inside CompositeLayers and attention are keyed by their graph paths."""
    from risk_widgets import demo
    from risk_widgets.core.walk import iter_layers

    model = demo.transformer(n_blocks=1, dim=16)
    tokens, _ = demo.toy_sequences(n=4)
    voted = vote.Wrapper(n_voters=2)(model)
    risk = voted.layer_risk(tokens)
    assert set(risk) == set(voted.patch_info())  # every risk layer, none left out
    assert {"block_0/attn/query", "block_0/attn/attention_output", "block_0/mlp/up"} <= set(risk)
    assert set(risk) <= {ref.path for ref in iter_layers(voted.body)}
    assert all(v > 0 for v in risk.values())  # fresh voters disagree everywhere

    sampled = sample.Wrapper(n_samples=4)(model, targets="block_0/attn/query")
    assert list(sampled.layer_risk(tokens)) == ["block_0/attn/query"]

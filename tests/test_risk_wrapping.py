"""How the risk wrappers wrap: copies of the user's layers (frozen ones stay frozen), all
members in one batched call, nested votes, each member's own loss and sculpt's NLL, targets
(paths, classes, predicates; inside composites and attention), multi-output and
classification models, .keras round trips and layer_risk at any depth.

The ``data`` fixture (module scope) is in tests/conftest.py, what it draws in
tests/risk_helpers.py.
"""

import math

import keras
import numpy as np
import pytest

from risk_widgets.risk import sample, sculpt, vote
from tests.risk_helpers import _risk, _same, _snapshot, mlp


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
    with pytest.warns(UserWarning, match=r"no compiled loss.*Gaussian NLL alone"):
        first = alone.fit(x, y, epochs=3, batch_size=16, verbose=0).history["loss"]
    assert first[-1] < first[0]


def test_vote_or_sample_without_a_loss_says_how_to_compile(data):
    risky = vote.Wrapper(n_voters=2)(mlp())
    risky.compile(optimizer="adam")
    with pytest.raises(ValueError, match=r"needs the loss .*compile\(optimizer='adam', loss="):
        risky.fit(data["x"][:8], data["y"][:8], verbose=0)


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

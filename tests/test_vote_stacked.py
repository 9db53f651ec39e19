"""Vote over plain Dense voters runs as one einsum over the stacked kernels.

The reference is the general path (each voter called on its own rows), taken by turning the
stacked path off for the same model: outputs, risks and gradients agree to float precision,
for 2-D and sequence inputs, under composition (the member stride > 1), and after a
``.keras`` round trip; voters the einsum cannot stand for take the general path.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from risk_widgets.risk import sample, sculpt, vote
from risk_widgets.risk.vote import VoteLayer


def _vote_layers(model) -> list[VoteLayer]:
    return [layer for layer in model.body._flatten_layers() if isinstance(layer, VoteLayer)]


def _general(monkeypatch):
    monkeypatch.setattr(VoteLayer, "_stackable", lambda self, inputs: False)


def _mlp(seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((3,))
    h = keras.layers.Dense(16, activation="relu")(inputs)
    h = keras.layers.Dense(16, activation="tanh", use_bias=False)(h)
    return keras.Model(inputs, keras.layers.Dense(2)(h))


def _sequence_model(seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((5, 4))
    h = keras.layers.Dense(8, activation="gelu")(inputs)
    return keras.Model(inputs, keras.layers.Dense(1)(h))


@pytest.mark.parametrize(
    "build, wrap, shape",
    [
        (_mlp, lambda m: vote.Wrapper(n_voters=4)(m), (7, 3)),
        (_sequence_model, lambda m: vote.Wrapper(n_voters=3)(m), (6, 5, 4)),
        # vote applied after sample: its member stride is 8, rows interleave with the samples
        (_mlp, lambda m: vote.Wrapper(n_voters=3)(sample.Wrapper(n_samples=8)(m)), (5, 3)),
        (_mlp, lambda m: sample.Wrapper(n_samples=4)(vote.Wrapper(n_voters=2)(sculpt.Wrapper()(m))),
         (5, 3)),
    ],
    ids=["mlp", "sequence", "vote-after-sample", "sample-vote-sculpt"],
)
def test_stacked_voters_equal_the_voters_called_one_by_one(build, wrap, shape, monkeypatch):
    risky = wrap(build())
    votes = _vote_layers(risky)
    plain = [v for v in votes if type(v.voters[0]) is keras.layers.Dense]
    assert plain  # (voters that wrap a sample layer, say, take the general path)
    x = np.random.default_rng(0).normal(size=shape).astype("float32")
    rows = np.repeat(x, risky.members, axis=0)
    # the sampled models draw their masks from seed-generator state: replay the same draws
    state = [np.asarray(v) for v in risky.non_trainable_variables]
    taken = []
    stacked = VoteLayer._stacked_dense

    def counted(self, t):
        taken.append(self)
        return stacked(self, t)

    with monkeypatch.context() as m:
        m.setattr(VoteLayer, "_stacked_dense", counted)
        fast = [np.asarray(t) for t in keras.tree.flatten(risky.body(rows))]
    assert sorted(id(v) for v in taken) == sorted(id(v) for v in plain)
    for var, value in zip(risky.non_trainable_variables, state, strict=True):
        var.assign(value)
    with monkeypatch.context() as m:
        _general(m)
        slow = [np.asarray(t) for t in keras.tree.flatten(risky.body(rows))]
    for a, b in zip(fast, slow, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_gradients_and_training_match_the_general_path(monkeypatch):
    x = np.random.default_rng(1).normal(size=(32, 3)).astype("float32")
    y = np.random.default_rng(2).normal(size=(32, 2)).astype("float32")
    weights = []
    for general in (False, True):
        risky = vote.Wrapper(n_voters=3)(_mlp(seed=3))
        with monkeypatch.context() as m:
            if general:
                _general(m)
            risky.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
            risky.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0)
        weights.append([np.asarray(w) for w in risky.trainable_weights])
    for a, b in zip(*weights, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    # each voter moved on its own: the copies of a layer end up different
    vote_kernels = [w for w in weights[0] if w.shape == (3, 16)]
    assert len(vote_kernels) == 3 and not np.allclose(vote_kernels[0], vote_kernels[1])


def test_stacked_path_survives_a_keras_round_trip(tmp_path):
    risky = vote.Wrapper(n_voters=3)(_mlp())
    x = np.random.default_rng(4).normal(size=(9, 3)).astype("float32")
    before = [np.asarray(t) for t in risky(x, return_risk=True)]
    path = tmp_path / "voted.keras"
    risky.save(path)
    loaded = keras.saving.load_model(path)
    after = [np.asarray(t) for t in loaded(x, return_risk=True)]
    for a, b in zip(before, after, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


class _SubDense(keras.layers.Dense):
    """A Dense subclass may change ``call``: the stacked path must not stand for it."""

    def call(self, inputs, training=None):
        return super().call(inputs) * 2.0


def test_voters_the_einsum_cannot_stand_for_take_the_general_path():
    keras.utils.set_random_seed(5)
    inputs = keras.Input((3,))
    h = _SubDense(4, name="sub")(inputs)
    lora_dense = keras.layers.Dense(2, name="lora_head")
    model = keras.Model(inputs, lora_dense(h))
    risky = vote.Wrapper(n_voters=2)(model)
    sub, head = _vote_layers(risky)
    head.voters[0].enable_lora(2)
    head.voters[1].enable_lora(2)
    probe = keras.ops.ones((4, 3))
    assert not sub._stackable(probe)
    assert not head._stackable(keras.ops.ones((4, 4)))
    x = np.ones((1, 3), "float32")
    members = np.asarray(risky.body(np.repeat(x, 2, axis=0)))
    by_hand = [np.asarray(head.voters[k](sub.voters[k](x))) for k in range(2)]
    np.testing.assert_allclose(members, np.concatenate(by_hand), rtol=1e-6)

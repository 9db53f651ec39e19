"""Inputs at the edge that must work: adapters on a frozen model, a LoRA rank above what
the layer allows (a warning), vote inside TimeDistributed, RNN cells inside Bidirectional,
a folded export without patches."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest

import risk_widgets as rw
from risk_widgets.editor.state import EditorState
from risk_widgets.risk import sample, vote
from tests import models as M
from tests.bad_inputs_helpers import (
    X4,
    _x,
    assert_same,
    mlp,
    recurrent,
    snapshot,
)


def test_adapters_on_a_frozen_model_train_and_leave_it_frozen():
    model = M.mlp(seed=1)
    model.trainable = False
    before = snapshot(model)
    patched = rw.add_lora(model, "head", rank=2)
    assert patched.trainable, "a frozen model's patches must train (the base is frozen anyway)"
    assert [v.name for v in patched.trainable_weights] == ["lora_a", "lora_b"]
    assert rw.trainable_report(patched)["trainable"] == 8 * 2 + 2 * 2
    patched.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    patched.fit(X4, np.ones((5, 2), "float32"), epochs=3, verbose=0)
    assert np.abs(patched.get_layer("head").lora_b.numpy()).max() > 0  # it trained
    assert model.trainable is False
    assert_same(before, model)


def test_a_lora_rank_larger_than_the_layer_allows_warns_with_the_limit():
    model = mlp()
    with pytest.warns(UserWarning, match=r"rank=5 is larger than 'head' allows: its kernel is "
                      r"8x2, so an update of it has rank at most 2.*Use rank<=2"):
        patched = rw.add_lora(model, "head", rank=5)
    np.testing.assert_allclose(patched(X4), model(X4), atol=1e-6)  # still a valid patch
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rw.add_lora(model, "head", rank=2)  # within the limit: no warning


def test_vote_inside_time_distributed_gives_each_member_its_own_voter_at_every_step():
    model = recurrent()
    before = snapshot(model)
    x = _x((3, 5, 4), seed=2)
    risky = vote.Wrapper(n_voters=2)(model, targets="td/tdd")
    [(path, layer)] = risky.risk_paths()
    assert path == "td/tdd"
    y, std = (np.asarray(t) for t in risky(x, return_risk=True))
    members = []
    for voter in layer.voters:  # the same network with voter k inside the TimeDistributed
        member = keras.models.clone_model(model)
        member.set_weights(model.get_weights())
        member.get_layer("td").layer.set_weights(voter.get_weights())
        members.append(np.asarray(member(x)))
    np.testing.assert_allclose(y, np.mean(members, axis=0), atol=1e-5)
    np.testing.assert_allclose(std, np.std(members, axis=0), atol=1e-5)
    assert float(std.mean()) > 0
    assert_same(before, model)


def test_rnn_cells_inside_bidirectional_are_wrapped_as_their_rnn_layer(tmp_path):
    model = recurrent()
    before = snapshot(model)
    x = _x((3, 5, 4), seed=3)
    voted = vote.Wrapper(n_voters=2)(model)  # every weighted layer: the LSTM cells too
    assert [p for p, _ in voted.risk_paths()] == ["td/tdd", "bi", "head"]
    assert voted.wrappers[-1]["targets"] == ["td/tdd", "bi", "head"]
    y, std = (np.asarray(t) for t in voted(x, return_risk=True))
    assert np.isfinite(y).all() and float(std.mean()) > 0
    voted.save(tmp_path / "voted.keras")
    loaded = keras.saving.load_model(tmp_path / "voted.keras")
    for a, b in zip(loaded(x, return_risk=True), (y, std), strict=True):
        np.testing.assert_allclose(np.asarray(a), b, atol=1e-5)
    sampled = sample.Wrapper(n_samples=2)(model, targets="bi/forward_lstm/lstm_cell")
    assert [p for p, _ in sampled.risk_paths()] == ["bi"]
    assert np.isfinite(np.asarray(sampled(x))).all()
    assert_same(before, model)


def test_a_folded_export_without_patches_saves_the_model_as_it_is(tmp_path):
    state = EditorState(mlp())
    path = state.export(tmp_path / "plain.keras", fold=True)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(np.asarray(loaded(X4)), np.asarray(mlp()(X4)))

"""Exact patch -> save -> load (and fold, and adapter files) round trips for every adapter
and wrapper kind and compositions of them; sample finds its default sites through adapters."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import pytest

import risk_widgets as rw
from risk_widgets.risk import RiskModel, sample, sculpt, vote
from tests import models as M
from tests.bad_inputs_helpers import (
    X1,
    X4,
    _perturb,
    _x,
    assert_same,
    mlp,
    regression,
    snapshot,
)

# ----------------------------------------------------------------------------- round trips
# patch -> save -> load (and fold, for adapters) give the same outputs within 1e-5, for every
# adapter and wrapper kind and compositions of them.


@functools.cache
def attention():
    return M.attention(seq=4, dim=8, heads=2)


ROUND_TRIPS: dict[str, tuple[Callable[[], Any], Any]] = {
    "lora": (lambda: rw.add_lora(mlp(), ["hidden_1", "head"], rank=2, alpha=4.0), X4),
    "svf": (lambda: rw.add_svf(mlp(), ["hidden_1", "head"]), X4),
    "lora+svf": (lambda: rw.add_svf(rw.add_lora(mlp(), "hidden_1", rank=2), "head"), X4),
    "lora+svf-inside-attention": (
        lambda: rw.add_svf(rw.add_lora(attention(), ["attn/query", "attn/value"], rank=2),
                           ["attn/key", "head"]), _x((3, 4, 8))),
    "vote": (lambda: vote.Wrapper(2)(mlp()), X4),
    "sample": (lambda: sample.Wrapper(3)(mlp()), X4),
    "sculpt": (lambda: sculpt.Wrapper()(regression()), X1),
    "vote(sculpt)": (lambda: vote.Wrapper(2)(sculpt.Wrapper()(regression())), X1),
    "sample(vote)": (lambda: sample.Wrapper(2)(vote.Wrapper(2)(mlp(), targets="head")), X4),
    "vote(lora)": (lambda: vote.Wrapper(2)(_perturb(rw.add_lora(mlp(), "head", rank=2))), X4),
    "sample(vote(sculpt(svf)))": (
        lambda: sample.Wrapper(2)(vote.Wrapper(2)(sculpt.Wrapper()(
            _perturb(rw.add_svf(regression(), ["hidden_1", "head"]))))), X1),
    "vote-inside-attention": (lambda: vote.Wrapper(2)(attention(), targets="attn/query"),
                              _x((3, 4, 8))),
}


def _both(model, x) -> list[np.ndarray]:
    if isinstance(model, RiskModel):
        return [np.asarray(t) for t in model(x, return_risk=True)]
    return [np.asarray(t) for t in keras.tree.flatten(model(x))]


def _same_dropout_masks(source, target) -> None:
    """Keras does not save dropout's seed state: start the reloaded model from the same one."""
    pairs = [(a, b) for a, b in zip(source.variables, target.variables, strict=True)
             if "seed_generator" in a.path]
    for a, b in pairs:
        b.assign(a)


def _assert_close(got, want):
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)


@pytest.mark.parametrize("kind", list(ROUND_TRIPS))
def test_patch_save_load_and_fold_round_trip_exactly(kind, tmp_path):
    build, x = ROUND_TRIPS[kind]
    patched = build()
    if isinstance(patched, rw.PatchedModel):
        _perturb(patched, seed=1)  # a fresh patch is the identity: give the fold work to do
    users = {m.name: snapshot(m) for m in (mlp(), regression(), attention())}
    path = tmp_path / "patched.keras"
    patched.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert type(loaded) is type(patched)
    _same_dropout_masks(patched, loaded)
    _assert_close(_both(loaded, x), _both(patched, x))
    if isinstance(patched, rw.PatchedModel):
        want = _both(patched, x)
        folded = rw.fold(patched)
        _assert_close(_both(folded, x), want)
        folded.save(tmp_path / "folded.keras")
        plain = keras.saving.load_model(tmp_path / "folded.keras", safe_mode=True)
        assert not any(
            type(layer).__module__.startswith("risk_widgets") for layer in plain._flatten_layers()
        )
        _assert_close(_both(plain, x), want)
        rw.save_adapters(patched, tmp_path / "adapters.npz")
        again = build()  # the same patch on the same base, fresh adapters
        rw.load_adapters(again, tmp_path / "adapters.npz")
        _assert_close(_both(again, x), want)
        _assert_close(_both(rw.fold(loaded), x), want)
    for model in (mlp(), regression(), attention()):
        assert_same(users[model.name], model)


def test_sample_finds_its_default_sites_through_adapters():
    patched = rw.add_svf(regression(), ["hidden_1", "head"])
    sampled = sample.Wrapper(n_samples=2)(patched)  # was: "the model has no Dense ... layer"
    assert [p for p, layer in sampled.risk_paths() if isinstance(layer, sample.SampleLayer)] == [
        "hidden_1"
    ]
    assert np.isfinite(np.asarray(sampled(X1))).all()

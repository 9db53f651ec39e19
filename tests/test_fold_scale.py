"""Issue 32 (7): fold at scale — the copies are made by the backend (no trip through NumPy
for the weights fold does not change), and `fold(share_base=True)` shares them instead.

Small models only; the 1B-parameter measurement is `bench/bench_fold_scale.py`
(bench/RESULTS.md, *Fold at scale*), run here on its smallest size.
"""

from __future__ import annotations

import pathlib
import sys

import keras
import numpy as np
import pytest

import risk_widgets as rw
from risk_widgets.engine.rebuild import copy_variable

BENCH = pathlib.Path(__file__).resolve().parents[1] / "bench"


def _mlp(dtype="float32"):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6,))
    hidden = keras.layers.Dense(8, activation="relu", name="hidden", dtype=dtype)(inputs)
    middle = keras.layers.Dense(8, name="middle", dtype=dtype)(hidden)
    return keras.Model(inputs, keras.layers.Dense(2, name="head", dtype=dtype)(middle))


def _nudge(patched) -> None:
    rng = np.random.default_rng(0)
    for layer in rw.patch_layers(patched).values():
        for v in layer.trainable_weights:
            v.assign(v + 0.1 * rng.normal(size=v.shape).astype("float32"))


def _np(x) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(x), dtype="float64")


X = np.random.default_rng(1).normal(size=(4, 6)).astype("float32")
Y = np.random.default_rng(2).normal(size=(4, 2)).astype("float32")


def _train(model) -> None:
    model.compile(optimizer=keras.optimizers.Adam(0.1), loss="mse", jit_compile=False)
    model.fit(X, Y, epochs=2, verbose=0)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_fold_copies_every_weight_and_training_it_leaves_the_original(dtype):
    model = _mlp(dtype)
    lora = rw.add_lora(model, "middle", rank=2)
    _nudge(lora)
    before = [_np(v) for v in model.weights]
    folded = rw.fold(lora)
    np.testing.assert_allclose(_np(folded(X)), _np(lora(X)), rtol=0.02 if dtype != "float32"
                               else 1e-5, atol=0.02 if dtype != "float32" else 1e-5)
    original = {id(v) for v in model.weights}
    assert not original & {id(v) for v in folded.weights}
    hidden = folded.get_layer("hidden")
    assert hidden.kernel.dtype == dtype and hidden.kernel.path == "hidden/kernel"
    _train(folded)
    assert all(np.array_equal(a, _np(v)) for a, v in zip(before, model.weights, strict=True))
    # and the other way round: writing the original leaves the folded copy
    kept = _np(hidden.kernel)
    model.get_layer("hidden").kernel.assign(np.zeros((6, 8), dtype))
    np.testing.assert_array_equal(_np(hidden.kernel), kept)


def test_fold_share_base_shares_unchanged_weights_and_training_changes_the_original():
    model = _mlp()
    lora = rw.add_lora(model, "middle", rank=2)
    _nudge(lora)
    folded = rw.fold(lora, share_base=True)
    np.testing.assert_allclose(_np(folded(X)), _np(lora(X)), rtol=1e-5, atol=1e-5)
    for name in ("hidden", "head"):  # unchanged: the same variables
        assert folded.get_layer(name).kernel is model.get_layer(name).kernel
        assert folded.get_layer(name).bias is model.get_layer(name).bias
    merged = folded.get_layer("middle").kernel  # changed: its own
    assert merged is not model.get_layer("middle").kernel
    base_middle = _np(model.get_layer("middle").kernel)
    head_before = _np(model.get_layer("head").kernel)
    _train(folded)  # as its docstring says: the original trains too
    assert not np.array_equal(head_before, _np(model.get_layer("head").kernel))
    np.testing.assert_array_equal(base_middle, _np(model.get_layer("middle").kernel))
    np.testing.assert_array_equal(_np(folded.get_layer("head").kernel),
                                  _np(model.get_layer("head").kernel))


def test_fold_reads_no_unchanged_weight_into_numpy(monkeypatch):
    """The weights fold does not change are copied by the backend: none of them goes
    through ``convert_to_numpy`` (that trip made a 1B-parameter fold 5.2x a get_weights)."""
    model = _mlp("bfloat16")
    lora = rw.add_lora(model, "middle", rank=2)
    unchanged = {id(v) for name in ("hidden", "head") for v in model.get_layer(name).weights}
    real, seen = keras.ops.convert_to_numpy, []
    monkeypatch.setattr(keras.ops, "convert_to_numpy", lambda x: seen.append(id(x)) or real(x))
    for share in (False, True):
        rw.fold(lora, share_base=share)
    assert seen and not unchanged & set(seen)


def test_fold_share_base_on_a_kerashub_backbone():
    pytest.importorskip("keras_hub", reason="keras-hub is installed by `make setup`")
    from tests.kerashub_cases import build_case

    backbone, data = build_case("MistralBackbone")
    lora = rw.add_lora(backbone, rank=2)
    _nudge(lora)
    want = _np(keras.tree.flatten(lora(data))[0])
    for share in (False, True):
        folded = rw.fold(lora, share_base=share)
        np.testing.assert_allclose(_np(keras.tree.flatten(folded(data))[0]), want,
                                   rtol=1e-4, atol=1e-5)
        shared = {id(v) for v in folded.weights} & {id(v) for v in backbone.weights}
        n_merged = sum(len(layer.layer.weights) for layer in rw.patch_layers(lora).values())
        assert len(shared) == (len(backbone.weights) - n_merged if share else 0)
    # the copies may share their buffers with the originals until written (TensorFlow's
    # copy-on-write): training the folded copy, token embedding (sparse updates) included,
    # leaves the backbone as it was
    before = _values_by_path(backbone)
    folded = rw.fold(lora)
    folded.compile(optimizer=keras.optimizers.Adam(0.1), loss="mse", jit_compile=False)
    folded.fit(data, np.zeros(folded(data).shape, "float32"), epochs=2, verbose=0)
    after = _values_by_path(folded)
    assert set(after) == set(before)
    moved = {k for k in before if not np.array_equal(before[k], after[k])}
    assert "token_embedding#0" in moved and len(moved) > len(before) // 2, sorted(moved)
    assert all(np.array_equal(a, b) for a, b in zip(before.values(),
                                                     _values_by_path(backbone).values(),
                                                     strict=True))


def _values_by_path(model) -> dict[str, np.ndarray]:
    """``{"<layer path>#<i>": value}`` of each leaf layer's own weights."""
    from risk_widgets.core.walk import iter_layers

    return {f"{ref.path}#{i}": _np(v) for ref in iter_layers(model) if ref.kind == "layer"
            for i, v in enumerate(ref.layer.weights)}


def test_copy_variable_keeps_dtype_path_and_flags():
    with keras.name_scope("block"):
        v = keras.Variable(np.arange(4.0).reshape(2, 2), dtype="bfloat16", trainable=False,
                           name="w")
    twin = copy_variable(v)
    assert twin is not v
    assert (twin.dtype, twin.path, twin.trainable) == (v.dtype, v.path, v.trainable)
    np.testing.assert_array_equal(_np(twin), _np(v))
    v.assign(np.zeros((2, 2)))
    assert _np(twin).sum() == 6
    seed = keras.random.SeedGenerator(3)
    assert copy_variable(seed) is not seed


def test_fold_share_base_must_be_a_bool():
    lora = rw.add_lora(_mlp(), "middle", rank=1)
    with pytest.raises(TypeError, match=r"share_base.*Received: share_base='yes'"):
        rw.fold(lora, share_base="yes")


def test_bench_fold_scale_smallest():
    sys.path.insert(0, str(BENCH))
    import bench_fold_scale

    rows = bench_fold_scale.main(["--smoke"])
    assert {r["name"].split(",")[0] for r in rows} >= {"fold time", "fold(share_base) time"}
    for row in rows:
        assert row["ours"] >= 0 and row["baseline"] and row["baseline"] > 0

"""Keras-native LoRA (``enable_lora``), Embedding LoRA and int8 bases (issue 16 C)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import risk_widgets as rw
from risk_widgets.core import keras_internals as ki
from tests import models as M

RNG = np.random.default_rng(0)


def _model(seed=0):
    """ids -> Embedding "embed" -> Dense "dense" (relu) -> EinsumDense "ein" (per token)."""
    keras.utils.set_random_seed(seed)
    ids = keras.Input((5,), dtype="int32", name="ids")
    h = keras.layers.Embedding(20, 8, name="embed")(ids)
    h = keras.layers.Dense(6, activation="relu", name="dense")(h)
    y = keras.layers.EinsumDense("abc,cd->abd", output_shape=(None, 3), bias_axes="d",
                                 name="ein")(h)
    return keras.Model(ids, y, name="interop")


X = RNG.integers(0, 20, (4, 5)).astype("int32")
NAMES = ("embed", "dense", "ein")


def _predict(model, x=X):
    return np.asarray(model.predict(x, verbose=0))


def _randomise(weights, seed=1, scale=0.3):
    rng = np.random.default_rng(seed)
    for v in weights:
        v.assign((scale * rng.normal(size=v.shape)).astype(v.dtype))


@pytest.fixture(scope="module")
def native():
    """The model with Keras' own LoRA on all three layers, its LoRA weights non-zero."""
    model = _model()
    model.get_layer("embed").enable_lora(2)
    model.get_layer("dense").enable_lora(3, lora_alpha=6)
    model.get_layer("ein").enable_lora(2)
    _randomise([v for v in model.weights if v.name.startswith("lora_")])
    return model


def _state(model):
    return ([np.array(w) for w in model.get_weights()],
            [model.get_layer(n).lora_enabled for n in NAMES])


def _assert_state(model, state):
    weights, enabled = _state(model)
    assert enabled == state[1]
    for a, b in zip(weights, state[0], strict=True):
        np.testing.assert_array_equal(a, b)


def test_keras_lora_is_shown_counted_folded_and_unpatched(native):
    before = _state(native)
    nodes = {n["id"]: n for n in rw.to_graph(native).to_json()["nodes"]}
    assert nodes["dense"]["patch"] == {
        "kind": "lora", "params": {"rank": 3, "alpha": 6, "source": "keras"}}
    assert nodes["embed"]["patch"]["params"]["source"] == "keras"
    assert nodes["ein"]["patch"]["params"]["rank"] == 2
    report = rw.trainable_report(native)["patched"]
    # A (20, 2) + B (2, 8); A (8, 3) + B (3, 6); A (6, 2) + B (2, 3)
    assert {p: r["trainable"] for p, r in report.items()} == {
        "embed": 56, "dense": 42, "ein": 18}
    expected = _predict(native)
    folded = rw.fold(native)
    assert not any(getattr(layer, "lora_enabled", False) for layer in folded.layers)
    assert rw.trainable_report(folded)["patched"] == {}
    np.testing.assert_array_equal(_predict(folded), expected)  # the kernel Keras merges
    plain = rw.unpatch(native)
    assert not any(getattr(layer, "lora_enabled", False) for layer in plain.layers)
    np.testing.assert_allclose(_predict(plain), _predict(_model()), atol=1e-6)
    _assert_state(native, before)  # the user's model is never modified


def test_keras_lora_fold_matches_keras_formula(native):
    """The folded kernels are ``W + (alpha / rank) A @ B`` (Keras 3's dense/einsum_dense/
    embedding ``kernel`` properties)."""
    folded = rw.fold(native)
    for name, attr, a, b in (("dense", "kernel", "lora_kernel_a", "lora_kernel_b"),
                             ("ein", "kernel", "lora_kernel_a", "lora_kernel_b"),
                             ("embed", "embeddings", "lora_embeddings_a",
                              "lora_embeddings_b")):
        layer = native.get_layer(name)
        base = np.asarray(layer.get_weights()[0], "float64")
        merged = base + (layer.lora_alpha / layer.lora_rank) * (
            np.asarray(getattr(layer, a)) @ np.asarray(getattr(layer, b)))
        np.testing.assert_allclose(getattr(folded.get_layer(name), attr), merged, atol=1e-6)


def test_quantized_keras_lora_refuses_to_fold_and_unpatches():
    model = _model()
    dense = model.get_layer("dense")
    dense.quantize("int8")
    dense.enable_lora(2)
    with pytest.raises(TypeError, match=r"'dense'.*quantized \(int8\).*rw.unpatch"):
        rw.fold(model)
    assert dense.lora_enabled
    plain = rw.unpatch(model)
    assert not plain.get_layer("dense").lora_enabled
    np.testing.assert_allclose(_predict(plain), _predict(model), atol=1e-6)  # B is zeros


def test_embedding_lora_forward_fold_and_round_trips(tmp_path):
    model = _model()
    before = M.snapshot(model)
    lora = rw.add_lora(model, "embed", rank=4)
    np.testing.assert_array_equal(_predict(lora), _predict(model))  # B = 0: unchanged
    report = rw.trainable_report(lora)
    assert report["trainable"] == 20 * 4 + 4 * 8
    assert report["patched"]["embed"]["kind"] == "lora"
    _randomise(lora.trainable_weights)
    adapter = lora.get_layer("embed")
    a, b = np.asarray(adapter.lora_a), np.asarray(adapter.lora_b)
    table = np.asarray(model.get_layer("embed").embeddings) + (a @ b)  # alpha = rank
    np.testing.assert_allclose(adapter(X), table[X], atol=1e-6)
    expected = _predict(lora)
    assert not np.allclose(expected, _predict(model), atol=1e-3)
    folded = rw.fold(lora)
    assert type(folded.get_layer("embed")) is keras.layers.Embedding
    np.testing.assert_allclose(_predict(folded), expected, atol=1e-5)  # float32 rounding only
    path = tmp_path / "embed.keras"
    lora.save(path)
    np.testing.assert_array_equal(_predict(keras.models.load_model(path)), expected)
    npz = rw.save_adapters(lora, tmp_path / "embed.npz")
    fresh = rw.add_lora(model, "embed", rank=4)
    assert rw.load_adapters(fresh, npz) == ["embed"]
    np.testing.assert_array_equal(_predict(fresh), expected)
    M.assert_same_snapshot(before, M.snapshot(model))


def test_embedding_lora_refuses_dropout_and_mask_zero():
    model = _model()
    with pytest.raises(ValueError, match=r"'embed'.*dropout=0"):
        rw.add_lora(model, "embed", rank=2, dropout=0.1)
    ids = keras.Input((3,), dtype="int32")
    masked = keras.Model(ids, keras.layers.Embedding(5, 2, mask_zero=True, name="e")(ids))
    with pytest.raises(TypeError, match=r"'e'.*mask_zero"):
        rw.add_lora(masked, "e", rank=1)


def test_int8_base_takes_lora_but_not_fold(tmp_path):
    model = _model()
    for name in ("dense", "ein"):
        model.get_layer(name).quantize("int8")
    before = M.snapshot(model)
    quantized = _predict(model)
    # the graph (so the editor's toolbar) offers LoRA and DoRA on an int8 layer, not SVF
    patchable = {n["id"]: n["patchable"] for n in rw.to_graph(model).to_json()["nodes"]}
    assert {"lora", "dora"} <= set(patchable["dense"]) and "svf" not in patchable["dense"]
    lora = rw.add_lora(model, ["dense", "ein"], rank=2)
    np.testing.assert_array_equal(_predict(lora), quantized)  # the quantized forward pass
    _randomise([v for v in lora.trainable_weights if v.name == "lora_b"])
    # the float delta is added before the activation: dense's output = relu(q(x) + s x A B)
    layer = lora.get_layer("dense")
    x = keras.ops.convert_to_numpy(model.get_layer("embed")(X))
    pre = keras.ops.convert_to_numpy(ki.quantized_linear(layer.layer, x))
    delta = x @ np.asarray(layer.lora_a) @ np.asarray(layer.lora_b)
    np.testing.assert_allclose(layer(x), np.maximum(pre + delta, 0), atol=1e-5)
    assert not np.allclose(_predict(lora), quantized, atol=1e-3)
    lora.save(tmp_path / "int8.keras")  # the int8 base and the float adapter round-trip
    np.testing.assert_array_equal(_predict(keras.models.load_model(tmp_path / "int8.keras")),
                                  _predict(lora))
    with pytest.raises(TypeError, match=r"'dense'.*quantized \(int8\).*rw.unpatch.*before "
                                        r"quantizing"):
        rw.fold(lora)
    np.testing.assert_array_equal(_predict(rw.unpatch(lora)), quantized)
    with pytest.raises(TypeError, match=r"'dense'.*quantized \(int8\).*LoRA and DoRA take int8"):
        rw.add_svf(model, "dense")
    M.assert_same_snapshot(before, M.snapshot(model))


def test_param_report_per_adapter_and_block(native):
    model = _model()
    lora = rw.add_lora(rw.add_lora(model, ["embed", "dense"], rank=2), "dense", rank=1,
                       name="b")
    rw.set_active(lora, "default")
    report = rw.param_report(lora)
    rows = [(a.path, a.kind, a.name, a.active, a.trainable) for a in report.adapters]
    assert rows == [("embed", "lora", "default", True, 20 * 2 + 2 * 8),
                    ("dense", "lora", "default", True, 8 * 2 + 2 * 6),
                    ("dense", "lora", "b", False, 8 + 6)]
    blocks = {b.name: (b.trainable, b.total) for b in report.blocks}
    assert blocks == {"embed": (56, 160 + 56), "dense": (42, 54 + 42), "ein": (0, 21)}
    assert report.trainable == rw.trainable_report(lora)["trainable"] == 98
    assert report.total == sum(t for _, t in blocks.values())
    text = str(report)
    assert text.startswith("98 trainable of 333 parameters") and "dense    lora  b" in text
    assert report.to_json()["adapters"][2]["name"] == "b"
    keras_rows = rw.param_report(native).adapters  # Keras' own LoRA: unnamed rows
    assert [(a.path, a.name, a.trainable) for a in keras_rows] == [
        ("embed", None, 56), ("dense", None, 42), ("ein", None, 18)]
    mixed = _model()
    mixed.get_layer("ein").enable_lora(2)
    ours = rw.add_lora(mixed, "dense", rank=1)  # the patched model freezes Keras' LoRA
    assert [(a.path, a.trainable) for a in rw.param_report(ours).adapters] == [
        ("dense", 8 + 6), ("ein", 0)]
    assert rw.trainable_report(ours)["patched"]["ein"]["trainable"] == 0
    assert rw.trainable_report(mixed)["patched"]["ein"]["trainable"] == 18
    plain = rw.param_report(model)
    assert plain.adapters == [] and plain.trainable == plain.total == 235
    with pytest.raises(TypeError, match="param_report"):
        rw.param_report("not a model")


def test_embedding_is_offered_and_takes_svf():
    model = _model()
    node = {n["id"]: n for n in rw.to_graph(model).to_json()["nodes"]}["embed"]
    assert {"lora", "svf"} <= set(node["patchable"])
    svf = rw.add_svf(model, "embed")
    np.testing.assert_array_equal(_predict(svf), _predict(model))  # z = singular values
    adapter = svf.get_layer("embed")
    adapter.svf_z.assign(RNG.random(adapter.svf_z.shape).astype("float32") + 0.5)
    expected = _predict(svf)
    assert not np.allclose(expected, _predict(model), atol=1e-3)
    np.testing.assert_allclose(_predict(rw.fold(svf)), expected, atol=1e-5)


def test_param_report_in_the_editor_and_of_a_risk_model():
    from risk_widgets.editor.state import EditorState
    from risk_widgets.risk import vote

    state = EditorState(_model())
    assert state.param_report().adapters == []
    state.apply("lora", ["dense"], rank=2)
    rows = state.param_report().adapters
    assert [(a.path, a.kind, a.trainable) for a in rows] == [("dense", "lora", 8 * 2 + 2 * 6)]
    state.undo()
    assert state.param_report().adapters == []
    risky = vote.Wrapper(n_voters=3)(M.mlp())
    report = rw.param_report(risky)
    assert {a.kind for a in report.adapters} == {"vote"}
    assert report.trainable == sum(a.trainable for a in report.adapters)

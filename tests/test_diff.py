"""rw.diff and editor.diff: added / removed / changed nodes, trainable counts, output |Δ|."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

import risk_widgets as rw
from risk_widgets.editor.state import EditorState
from risk_widgets.risk import vote


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    x = keras.Input((4,), name="x")
    h = keras.layers.Dense(8, activation="relu", name="hidden")(x)
    h = keras.Sequential([keras.layers.Dense(8, name="inner")], name="block")(h)
    return keras.Model(x, keras.layers.Dense(2, name="head")(h), name="mlp")


@pytest.fixture(scope="module")
def xs():
    return np.random.default_rng(0).normal(size=(300, 4)).astype("float32")


def _predict(model, x):
    return np.asarray(model(x, training=False), dtype="float64")


def test_lora_diff_nodes_trainable_and_output(model, xs):
    lora = rw.add_lora(model, ["hidden", "block/inner"], rank=2)
    d = rw.diff(model, lora, x=xs)
    assert d.added == [] and d.removed == []
    assert d.changed == ["hidden", "block/inner"]  # the container 'block' is re-created, equal
    assert d.reasons["hidden"] == ["class", "patch", "weights"]
    assert d.classes["hidden"] == ["Dense", "LoRAAdapter"]
    # trainable per layer: the base is frozen by the patched model, the adapters train
    assert d.trainable["head"] == [18, 0]
    assert d.trainable["hidden"] == [40, 2 * (4 + 8)]
    assert d.trainable_before == 40 + 72 + 18
    assert d.trainable_delta == 2 * (4 + 8) + 2 * (8 + 8) - d.trainable_before
    # a fresh LoRA (B = 0) changes no output, exactly
    assert d.output.max_abs == 0.0 and d.output.mean_abs == 0.0 and d.output.n == 300
    # after a change of B the delta is the one measured independently
    adapter = lora.get_layer("hidden")
    b = next(w for w in adapter.trainable_weights if tuple(w.shape) == (2, 8))
    b.assign(np.full((2, 8), 0.05, "float32"))
    d = rw.diff(model, lora, x=xs)
    delta = np.abs(_predict(lora, xs) - _predict(model, xs))
    assert d.output.max_abs == pytest.approx(delta.max(), rel=1e-9) and d.output.max_abs > 0
    assert d.output.mean_abs == pytest.approx(delta.mean(), rel=1e-9)
    data = json.loads(json.dumps(d.to_json()))
    assert data["changed"] == ["hidden", "block/inner"] and data["output"]["n"] == 300
    assert "~ hidden: class, patch, weights" in repr(d)
    assert rw.diff(model, model).changed == []  # a model against itself


def test_weights_and_config_by_value_added_removed():
    keras.utils.set_random_seed(1)
    x = keras.Input((3,), name="x")
    a = keras.Model(x, keras.layers.Dense(2, name="head")(x))
    y = keras.Input((3,), name="x")
    b = keras.Model(y, keras.layers.Dense(2, name="head")(y))
    b.set_weights(a.get_weights())
    assert rw.diff(a, b).changed == []  # other objects, same values and config
    b.get_layer("head").bias.assign([1.0, 0.0])
    assert rw.diff(a, b).reasons == {"head": ["weights"]}
    z = keras.Input((3,), name="x")
    c = keras.Model(z, keras.layers.Dense(2, activation="relu", name="head")(
        keras.layers.Dense(3, name="extra")(z)))
    d = rw.diff(a, c, x=np.ones((5, 3), "float32"))
    assert d.added == ["extra"] and d.removed == []
    assert d.reasons["head"] == ["config", "weights"]
    assert d.trainable["extra"] == [None, 12]


def test_risk_and_multi_output_models(model, xs):
    risky = vote.Wrapper(n_voters=3)(model)
    d = rw.diff(model, risky, x=xs)
    assert d.changed  # every voted layer is wrapped
    assert d.output.risk_before is None and d.output.risk_after > 0
    y, _ = risky(xs, return_risk=True)
    expected = np.abs(np.asarray(y, "float64") - _predict(model, xs))
    assert d.output.max_abs == pytest.approx(expected.max(), rel=1e-6)

    x = keras.Input((4,), name="x")
    two = keras.Model(x, [keras.layers.Dense(2, name="a")(x), keras.layers.Dense(3, name="b")(x)])
    patched = rw.add_lora(two, "b", rank=1)
    patched.get_layer("b").trainable_weights[-1].assign(np.ones((1, 3), "float32"))
    d = rw.diff(two, patched, x=xs)
    assert [p["shape"] for p in d.output.per_output] == [[300, 2], [300, 3]]
    assert d.output.per_output[0]["max_abs"] == 0.0 and d.output.per_output[1]["max_abs"] > 0
    assert d.output.max_abs == d.output.per_output[1]["max_abs"]
    other = keras.Model(x, keras.layers.Dense(2, name="a")(x))
    d = rw.diff(two, other, x=xs)
    assert d.output is None and "differ in number or shape" in d.output_error
    assert d.removed == ["b"]


def test_bad_inputs(model, xs):
    with pytest.raises(TypeError, match="two built Keras models"):
        rw.diff(model, "not a model")
    bad = xs.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="1 NaN/inf"):
        rw.diff(model, model, x=bad)
    with pytest.raises(ValueError, match="cannot call the models on the sample data"):
        rw.diff(model, model, x=np.ones((2, 7), "float32"))


def test_editor_diff_between_history_entries(model, xs):
    state = EditorState(model)
    with pytest.raises(ValueError, match="Nothing to diff yet: the history is empty"):
        state.diff()
    state.apply("lora", ["hidden"], rank=2)
    state.apply("svf", ["head"])
    assert state.diff().changed == ["head"]  # current patch against the previous entry
    assert state.diff(0).changed == ["hidden", "head"]  # against the original
    assert state.diff(0, 1).changed == ["hidden"]
    state.undo()
    assert state.diff().changed == ["hidden"]
    assert state.diff(1, 2).changed == ["head"]  # a redo-able entry too
    assert state.diff(x=xs).output.max_abs == 0.0
    with pytest.raises(ValueError, match="from 0 .the original model. to 2"):
        state.diff(0, 3)
    state.undo()
    with pytest.raises(ValueError, match="every patch is undone"):
        state.diff()
    assert state.diff(0, 2).changed == ["hidden", "head"]


def test_widget_diff_messages(model, xs):
    from risk_widgets.ui.widget import GraphEditor

    editor = GraphEditor(model, data=xs[:64])
    editor._on_message(editor, {"type": "diff"})
    assert editor.diff_view["error"].startswith("Nothing to diff yet")
    editor.apply("lora", ["hidden"], rank=2)
    editor.apply("sample", ["head"], n_samples=4, rate=0.2)
    editor._on_message(editor, {"type": "diff", "i": 0, "j": 1})
    shown = editor.diff_view
    assert shown["changed"] == ["hidden"] and shown["labels"][0] == "original"
    assert shown["labels"][1].startswith("1. LoRA(") and shown["output"]["max_abs"] == 0.0
    got = editor.diff()  # the current patch (MC dropout on head) against entry 1
    assert got.changed == ["head"] and editor.diff_view["i"] == 1
    assert editor.diff_view["output"]["max_abs"] > 0 and editor.diff_view["output"]["n"] == 64
    editor.undo()  # an open diff follows the model: now entry 1 against the original
    assert editor.diff_view["changed"] == ["hidden"] and editor.diff_view["j"] == 1
    editor._on_message(editor, {"type": "diff_close"})
    assert editor.diff_view == {}
    editor._on_message(editor, {"type": "diff", "i": True, "j": 1})
    assert "'diff' needs field 'i' of type int or null" in editor.status["message"]

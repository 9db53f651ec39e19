"""`GraphEditor.overlay` (risk_widgets/ui/overlays.py) and the gradient norm per layer that
`GraphEditor.fit` adds (risk_widgets/editor/grad_norms.py)."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

import risk_widgets as rw
from risk_widgets.editor.grad_norms import gradient_norms
from risk_widgets.ui.html_export import page_html


def _model():
    x = keras.Input((2,), name="x")
    block = keras.Sequential([keras.layers.Dense(8, activation="tanh", name="up"),
                              keras.layers.Dense(8, name="down")], name="block")
    return keras.Model(x, keras.layers.Dense(1, name="head")(block(x)), name="mlp")


def _data(n=64):
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (n, 2)).astype("float32")
    return x, (x[:, :1] * x[:, 1:] + 0.1).astype("float32")


def test_overlay_sets_the_traits_and_switches_between_overlays():
    editor = rw.GraphEditor(_model())
    assert editor.overlay("saliency", {"block/up": 2, "head": 0.5}, agg="max") == "saliency"
    assert editor.overlays == {"saliency": {"values": {"block/up": 2.0, "head": 0.5},
                                            "agg": "max"}}
    assert editor.overlay_shown == "saliency"
    assert editor.overlay("parameters") == "parameters"  # a built-in: no values needed
    assert editor.overlay("saliency") == "saliency"  # added before
    assert editor.overlay(None) == "" and editor.overlay_shown == ""
    assert editor.overlays["saliency"]["values"]["head"] == 0.5  # kept for later
    np_value = editor.overlay("np", {"head": np.float32(1.5), "block": np.int64(3)})
    assert np_value == "np" and editor.overlays["np"]["values"] == {"head": 1.5, "block": 3.0}


@pytest.mark.parametrize(
    ("name", "values", "agg", "error", "words"),
    [
        ("s", {"block/upp": 1.0}, "sum", ValueError, ["'block/upp'", "close: 'block/up'"]),
        ("s", {"nowhere": 1.0}, "sum", ValueError, ["unknown layer path 'nowhere'", "node ids"]),
        ("s", {"head": "big"}, "sum", TypeError, ["'head'", "real number", "'big'", "str"]),
        ("s", {"head": True}, "sum", TypeError, ["'head'", "real number", "bool"]),
        ("s", {"head": float("nan")}, "sum", ValueError, ["'head'", "nan", "finite"]),
        ("s", [("head", 1.0)], "sum", TypeError, ["dict", "list"]),
        ("s", {"head": 1.0}, "mean", ValueError, ["'sum' or 'max'", "agg='mean'"]),
        ("", {"head": 1.0}, "sum", ValueError, ["non-empty", "''"]),
        ("risk", {"head": 1.0}, "sum", ValueError, ["built in", "another name"]),
        ("unknown", None, "sum", ValueError, ["No overlay named 'unknown'", "parameters"]),
    ],
)
def test_bad_overlays_are_refused_naming_the_problem(name, values, agg, error, words):
    editor = rw.GraphEditor(_model())
    editor.overlay("kept", {"head": 1.0})
    with pytest.raises(error) as caught:
        editor.overlay(name, values, agg=agg)
    for word in words:
        assert word in str(caught.value), (word, str(caught.value))
    # nothing changed
    assert editor.overlays == {"kept": {"values": {"head": 1.0}, "agg": "sum"}}
    assert editor.overlay_shown == "kept"


def test_fit_adds_the_gradient_norm_of_the_trained_layers():
    import tensorflow as tf

    x, y = _data()
    editor = rw.GraphEditor(_model(), data=(x, y))
    editor.apply("lora", targets=["block/up", "head"], rank=1)
    assert "gradient norm" not in editor.overlays
    editor.fit(x, y, epochs=2, batch_size=16)
    norms = editor.overlays["gradient norm"]["values"]
    assert sorted(norms) == ["block/up", "head"]  # block/down is frozen: not trained
    # the same gradient, taken directly on the same batch
    model = editor.model
    with tf.GradientTape() as tape:
        pred = model(x, training=True)
        loss = model.compute_loss(x=x, y=y, y_pred=pred, training=True)
    layer = model.get_layer("head")
    grads = tape.gradient(loss, layer.trainable_weights)
    direct = math.sqrt(sum(float(tf.reduce_sum(g * g)) for g in grads))
    assert norms["head"] == pytest.approx(direct, rel=1e-4)
    assert all(v > 0 and math.isfinite(v) for v in norms.values())
    assert editor.overlay("gradient norm") == "gradient norm"
    editor.undo()  # another model: its gradients were not measured
    assert "gradient norm" not in editor.overlays
    assert editor.overlay_shown == ""  # the families again, as the page shows


def test_gradient_norms_need_a_compiled_model():
    x, y = _data(8)
    with pytest.raises(ValueError, match="not compiled"):
        gradient_norms(_model(), x, y)


def test_overlays_travel_to_the_standalone_page():
    editor = rw.GraphEditor(_model())
    editor.overlay("saliency", {"head": 0.25})
    state = {k: getattr(editor, k) for k in ("graph", "overlays", "overlay_shown")}
    text = page_html(state)
    assert '"saliency": {"values": {"head": 0.25}' in text and '"overlay_shown": "saliency"' in text

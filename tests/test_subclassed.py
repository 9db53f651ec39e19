"""Issue 17 (1): KerasHub-style subclassed blocks (sub-layers in underscore attributes,
created in ``build``; a MultiHeadAttention inside) are reached by the graph, `add_lora`,
`fold`, `unpatch`, adapter files, ``.keras`` files and the risk wrappers, without touching
the user's model and without copying base weights.

The block is `risk_widgets.demo.TransformerEncoder` (written like
``keras_hub.layers.TransformerEncoder``) inside `demo.TransformerBackbone` (a Functional
subclass built in ``__init__``, like KerasHub backbones). ``keras-hub`` itself is not used:
installing it pulls in the full ``tensorflow`` distribution (through ``tensorflow-text``)
next to the ``tensorflow-cpu`` this project pins.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

import risk_widgets as rw
from risk_widgets import demo
from risk_widgets.core.walk import get_layer_by_path, iter_layers
from risk_widgets.risk import sample, vote
from tests import models as M

BLOCK = "backbone/transformer_layer_0"
TARGETS = ["*/self_attention_layer/query", "*/self_attention_layer/value",
           "*/feedforward_intermediate_dense", "*/feedforward_output_dense"]
LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _model(seed=0):
    keras.utils.set_random_seed(seed)
    return demo.subclassed_transformer(n_blocks=2, dim=16, heads=2, seq_len=8)


def _direct(seed=0):
    """A TransformerEncoder used directly in a Functional model (no backbone)."""
    keras.utils.set_random_seed(seed)
    x = keras.Input((8, 16), name="x")
    h = demo.TransformerEncoder(32, 2, name="encoder")(x)
    h = keras.layers.GlobalAveragePooling1D(name="pool")(h)
    return keras.Model(x, keras.layers.Dense(2, name="head")(h), name="direct")


def _data(n=32):
    return demo.toy_sequences(n=n, seq_len=8)


def _perturb(model, seed=0):
    rng = np.random.default_rng(seed)
    for layer in rw.patch_layers(model).values():
        for v in layer.trainable_weights:
            v.assign(v.numpy() + 0.2 * rng.normal(size=v.shape).astype("float32"))


def _attrs(model):
    """Identity of every sub-layer attribute of every TransformerEncoder / MHA in ``model``."""
    found = {}
    for ref in iter_layers(model):
        if type(ref.layer).__name__ in ("TransformerEncoder", "MultiHeadAttention"):
            found[ref.path] = {k: id(v) for k, v in vars(ref.layer).items()
                               if isinstance(v, keras.layers.Layer)}
    return found


def test_paths_and_graph_reach_the_sublayers():
    model = _model()
    paths = [ref.path for ref in iter_layers(model)]
    for path in (f"{BLOCK}/self_attention_layer/query", f"{BLOCK}/feedforward_intermediate_dense",
                 f"{BLOCK}/feedforward_output_dense", f"{BLOCK}/self_attention_layer_norm"):
        assert path in paths
    nodes = {n["id"]: n for n in rw.to_graph(model).to_json()["nodes"]}
    assert nodes[BLOCK]["class_name"] == "TransformerEncoder"
    assert nodes[BLOCK]["opaque"] and nodes[BLOCK]["kind"] == "group"
    assert nodes[f"{BLOCK}/self_attention_layer"]["parent"] == BLOCK
    dense = nodes[f"{BLOCK}/feedforward_intermediate_dense"]
    assert {"lora", "svf", "sample", "vote"} <= set(dense["patchable"])
    assert "lora" in nodes[f"{BLOCK}/self_attention_layer/query"]["patchable"]


def test_config_round_trip_of_the_demo_block():
    block = _model().get_layer("backbone").get_layer("transformer_layer_0")
    again = demo.TransformerEncoder.from_config(block.get_config())
    assert again.get_config() == block.get_config()
    backbone = _model().get_layer("backbone")
    assert demo.TransformerBackbone.from_config(backbone.get_config()).count_params() == (
        backbone.count_params()
    )


@pytest.mark.parametrize("build", [_model, _direct], ids=["backbone", "direct"])
def test_lora_shares_base_trains_adapters_only(build):
    model = build()
    x = _data()[0] if build is _model else np.random.default_rng(0).random((32, 8, 16), "float32")
    y = _data()[1]
    before, attrs = M.snapshot(model), _attrs(model)
    y0 = np.asarray(model(x))
    lora = rw.add_lora(model, TARGETS, rank=2)
    assert len(rw.patch_layers(lora)) == (8 if build is _model else 4)
    # base weights shared by identity, none copied: only adapter weights are new
    base_ids = {id(v) for v in model.weights}
    adapter_ids = {id(v) for layer in rw.patch_layers(lora).values() for v in layer.weights
                   if id(v) not in base_ids}
    assert {id(v) for v in lora.weights} == base_ids | adapter_ids
    assert {id(v) for v in lora.trainable_weights} <= adapter_ids
    np.testing.assert_array_equal(np.asarray(lora(x)), y0)  # B = 0: same outputs
    lora.compile(optimizer=keras.optimizers.Adam(0.05), loss=LOSS)
    lora.fit(x, y, epochs=2, batch_size=16, verbose=0)
    assert np.abs(np.asarray(lora(x)) - y0).max() > 1e-4  # adapters trained
    M.assert_same_snapshot(before, M.snapshot(model))  # the user's model: untouched
    assert _attrs(model) == attrs  # ... and so are its blocks' sub-layer attributes
    np.testing.assert_array_equal(np.asarray(model(x)), y0)


def test_fold_unpatch_and_file_round_trips(tmp_path):
    model = _model()
    x = _data()[0]
    lora = rw.add_lora(model, TARGETS, rank=2)
    _perturb(lora)
    y = np.asarray(lora(x))
    # .keras of the patched model: patches inside MHA inside the subclassed block return
    lora.save(tmp_path / "lora.keras")
    again = keras.saving.load_model(tmp_path / "lora.keras")
    assert sorted(rw.patch_layers(again)) == sorted(rw.patch_layers(lora))
    np.testing.assert_allclose(np.asarray(again(x)), y, atol=1e-6)
    # adapter files
    rw.save_adapters(lora, tmp_path / "adapters.npz")
    fresh = rw.add_lora(model, TARGETS, rank=2)
    rw.load_adapters(fresh, tmp_path / "adapters.npz")
    np.testing.assert_allclose(np.asarray(fresh(x)), y, atol=1e-6)
    # fold: a plain Functional model holding the demo classes, saved and loaded
    folded = rw.fold(lora)
    assert not rw.patch_layers(folded)
    assert type(get_layer_by_path(folded, BLOCK)).__name__ == "TransformerEncoder"
    np.testing.assert_allclose(np.asarray(folded(x)), y, atol=1e-5)
    folded.save(tmp_path / "folded.keras")
    np.testing.assert_allclose(
        np.asarray(keras.saving.load_model(tmp_path / "folded.keras")(x)), y, atol=1e-5
    )
    # unpatch: back to the base layers (shared)
    plain = rw.unpatch(lora)
    np.testing.assert_array_equal(np.asarray(plain(x)), np.asarray(model(x)))
    assert get_layer_by_path(plain, f"{BLOCK}/feedforward_output_dense") is get_layer_by_path(
        model, f"{BLOCK}/feedforward_output_dense"
    )


def test_backbone_as_the_top_level_model():
    backbone = _model().get_layer("backbone")
    x = _data()[0]
    lora = rw.add_lora(backbone, "*/self_attention_layer/query", rank=2)
    assert isinstance(lora, rw.PatchedModel)
    _perturb(lora)
    folded = rw.fold(lora)
    np.testing.assert_allclose(np.asarray(folded(x)), np.asarray(lora(x)), atol=1e-5)


def test_risk_wrappers_reach_the_sublayers():
    model = _model()
    x, y = _data()
    before = M.snapshot(model)
    mc = sample.Wrapper(n_samples=4)(model, f"{BLOCK}/feedforward_intermediate_dense")
    _, std = mc(x, return_risk=True)
    assert std.shape == (len(x), 2)
    ens = vote.Wrapper(n_voters=2)(model, [f"{BLOCK}/self_attention_layer/value",
                                           "backbone/transformer_layer_1"])
    voted = {n["id"] for n in rw.to_graph(ens).to_json()["nodes"]
             if (n["patch"] or {}).get("kind") == "vote"}
    assert f"{BLOCK}/self_attention_layer/value" in voted
    assert "backbone/transformer_layer_1/feedforward_output_dense" in voted
    ens.compile(optimizer=keras.optimizers.Adam(0.01), loss=LOSS)
    ens.fit(x, y, epochs=1, batch_size=16, verbose=0)
    _, std = ens(x, return_risk=True)
    assert float(np.mean(std)) > 0
    M.assert_same_snapshot(before, M.snapshot(model))


def test_bench_subclassed_smallest():
    """bench/bench_subclassed.py runs on one block and reports 0 base-weight copies."""
    import pathlib
    import sys

    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "bench"))
    import bench_subclassed

    rows = bench_subclassed.main(n_blocks=1, dim=16)
    assert len(rows) == 4 and all(row["ours"] >= 0 for row in rows)
    assert rows[1]["note"].startswith("0 base-weight copies")

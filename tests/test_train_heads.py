"""Heads that train (issue #32 part 4): ``train=`` of the adapter functions, the default head
of a KerasHub classifier task, `rw.train_fully` and the editor's ``full`` kind.

A layer that trains whole is an independent copy (new variables, same values) that the
patched model trains; the user's model never changes. On a tiny RobertaTextClassifier the
loss after 31 steps of LoRA with the head training vs frozen, seeds 0 / 1 / 2 (Adam 1e-2,
32 rows, label = first token mod 3): head 1.098 -> 0.843 / 1.102 -> 0.849 / 1.095 -> 0.821,
frozen 1.098 -> 1.099 / 1.102 -> 1.103 / 1.095 -> 1.095; KerasHub's own
``backbone.enable_lora(2)`` (head trainable) 0.843 / 0.849 / 0.820.
"""

from __future__ import annotations

import keras
import keras_hub
import numpy as np
import pytest

import risk_widgets as rw
from risk_widgets.editor.state import EditorState
from risk_widgets.graph.build import to_graph
from tests.kerashub_cases import build_case

X = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
Y = np.random.default_rng(1).normal(size=(16, 2)).astype("float32")


def _mlp(frozen=False):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(8, activation="relu", name="hidden")(inputs)
    hidden = keras.layers.Dropout(0.0, name="drop")(hidden)
    model = keras.Model(inputs, keras.layers.Dense(2, name="head")(hidden), name="mlp")
    if frozen:
        model.trainable = False
    return model


def _fit(model, steps=5):
    model.compile(keras.optimizers.Adam(1e-2), "mse")
    model.fit(X, Y, batch_size=16, epochs=steps, verbose=0)


@pytest.mark.parametrize("frozen", [False, True])
def test_train_copies_the_layer_and_trains_it_beside_the_adapters(frozen):
    model = _mlp(frozen)
    before = [w.copy() for w in model.get_weights()]
    flags = [(layer.trainable, [v.trainable for v in layer.weights]) for layer in model.layers]
    lora = rw.add_lora(model, "hidden", rank=2, train=["head"])
    assert lora.get_layer("head") is not model.get_layer("head")
    assert lora.get_layer("hidden").layer is model.get_layer("hidden")  # shared base
    assert [v.path for v in lora.trainable_weights] == [
        "hidden/lora_a", "hidden/lora_b", "head/kernel", "head/bias"]
    np.testing.assert_array_equal(lora.predict(X, verbose=0), model.predict(X, verbose=0))
    _fit(lora)
    assert not np.allclose(lora.get_layer("head").get_weights()[0], before[2])
    for old, new in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)  # the user's model never changes
    assert flags == [(layer.trainable, [v.trainable for v in layer.weights])
                     for layer in model.layers]


def test_param_report_graph_and_save_show_the_layers_that_train_whole(tmp_path):
    lora = rw.add_lora(_mlp(), "hidden", rank=2, train="head")
    rows = [(r.path, r.kind, r.name, r.trainable) for r in rw.param_report(lora).adapters]
    assert rows == [("hidden", "lora", "default", 24), ("head", "full", None, 18)]
    assert "head     full" in str(rw.param_report(lora))
    nodes = {n["id"]: n for n in to_graph(lora).to_json()["nodes"]}
    assert nodes["head"]["patch"]["kind"] == "full"
    assert "full" not in nodes["head"]["patchable"]  # it trains already
    assert "full" in to_graph(_mlp()).to_json()["nodes"][1]["patchable"]
    _fit(lora, 2)
    lora.save(tmp_path / "m.keras")
    loaded = rw.load_model(tmp_path / "m.keras")
    assert [v.path for v in loaded.trainable_weights] == [v.path for v in lora.trainable_weights]
    np.testing.assert_allclose(loaded.predict(X, verbose=0), lora.predict(X, verbose=0),
                               atol=1e-6)
    folded = rw.fold(lora)
    np.testing.assert_allclose(folded.predict(X, verbose=0), lora.predict(X, verbose=0),
                               atol=1e-5)


@pytest.mark.parametrize("kind", ["dora", "svf", "scale_head"])
def test_every_adapter_function_takes_train(kind):
    class Scale(rw.Adapter):
        def build_adapter(self):
            self.s = self.add_weight(name="s", shape=(self.output_dim,), initializer="ones")

        def delta(self, inputs, training=None):
            return self.apply_matrix(inputs, self.kernel_tensor() * (self.s - 1.0))

    rw.register_adapter("scale_head", Scale)
    try:
        patched = rw.add_adapter(_mlp(), kind, "hidden", train=["head"],
                                 **({"rank": 2} if kind == "dora" else {}))
    finally:
        rw.unregister_adapter("scale_head")
    kinds = [(r.path, r.kind) for r in rw.param_report(patched).adapters]
    assert kinds == [("hidden", kind), ("head", "full")]


def test_train_errors_name_the_layer_and_change_nothing():
    model = _mlp()
    with pytest.raises(ValueError, match="train=.*'nope'"):
        rw.add_lora(model, "hidden", rank=2, train=["nope"])
    with pytest.raises(ValueError, match="'hidden' is named by train=.*adapter targets"):
        rw.add_lora(model, "hidden", rank=2, train=["hidden"])
    with pytest.raises(ValueError, match="no layer with weights"):
        rw.add_lora(model, "hidden", rank=2, train=["drop"])
    with pytest.raises(TypeError, match="patch layer"):
        rw.train_fully(rw.add_lora(model, "head", rank=1), "head")
    with pytest.raises(ValueError, match="needs the layers"):
        rw.train_fully(model, [])
    assert len(rw.add_lora(model, "hidden", rank=2, train=[]).trainable_weights) == 2
    assert [layer.name for layer in model.layers][1:] == ["hidden", "drop", "head"]


def test_train_fully_and_the_editors_full_kind():
    model = _mlp()
    whole = rw.train_fully(model, "*")  # a glob: its matches with weights
    assert [v.path for v in whole.trainable_weights] == [
        "hidden/kernel", "hidden/bias", "head/kernel", "head/bias"]
    state = EditorState(model)
    state.apply("full", targets=["head"])
    assert [(r.path, r.kind) for r in rw.param_report(state.model).adapters] == [
        ("head", "full")]
    state.apply("lora", targets=["hidden"], rank=2)  # the head keeps training
    assert [(r.path, r.kind) for r in rw.param_report(state.model).adapters] == [
        ("hidden", "lora"), ("head", "full")]
    assert "rw.train_fully(model, targets=['head'])" in state.export_code()


def _roberta(seed):
    backbone, _ = build_case("RobertaBackbone")
    keras.utils.set_random_seed(seed)
    task = keras_hub.models.RobertaTextClassifier(backbone=backbone, num_classes=3,
                                                  preprocessor=None)
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, 10, (32, 5)).astype("int32")
    data = {"token_ids": ids, "padding_mask": np.ones((32, 5), "int32")}
    return task, data, ids[:, 0] % 3


def _losses(model, data, labels, steps=31):
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    loss = model.fit(data, labels, batch_size=len(labels), epochs=steps, verbose=0)
    return loss.history["loss"][0], loss.history["loss"][-1]


def test_a_kerashub_classifier_trains_its_head_by_default():
    task, data, labels = _roberta(0)
    head = [w.copy() for w in task.get_layer("logits").get_weights()]
    patched = rw.add_lora(task, rank=2)
    assert rw.adapters.classifier_head(task) == ["pooled_dense", "logits"]
    assert [(r.path, r.kind) for r in rw.param_report(patched).adapters][-2:] == [
        ("pooled_dense", "full"), ("logits", "full")]
    frozen = rw.add_lora(task, rank=2, train=[])
    assert {r.kind for r in rw.param_report(frozen).adapters} == {"lora"}
    start, trained = _losses(patched, data, labels)
    _, stuck = _losses(frozen, data, labels)
    # seeds 0-2: the head gains 0.25-0.27 over the frozen head in 31 steps
    assert trained < stuck - 0.1 and trained < start - 0.1, (start, trained, stuck)
    for old, new in zip(head, task.get_layer("logits").get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)
    again = rw.add_lora(patched, "*key", rank=2, name="b")  # trains it still, not copied again
    assert again.get_layer("logits") is patched.get_layer("logits")
    assert {id(v) for v in patched.get_layer("logits").weights} <= {
        id(v) for v in again.trainable_weights}
    assert "classifier task" in rw.add_lora.__doc__


def test_a_patched_classifiers_head_survives_keras_and_fold(tmp_path):
    task, data, labels = _roberta(1)
    patched = rw.add_lora(task, rank=2)
    _losses(patched, data, labels, steps=3)
    patched.save(tmp_path / "task.keras")
    loaded = rw.load_model(tmp_path / "task.keras")
    assert type(loaded) is type(patched)
    assert [r.kind for r in rw.param_report(loaded).adapters] == ["lora", "lora", "full", "full"]
    np.testing.assert_allclose(loaded.predict(data, verbose=0), patched.predict(data, verbose=0),
                               atol=1e-6)
    folded = rw.fold(patched)
    assert type(folded) is type(task)
    np.testing.assert_allclose(folded.predict(data, verbose=0), patched.predict(data, verbose=0),
                               atol=1e-5)


def test_a_nested_frozen_model_trains_whole_and_a_block_holding_adapters_is_refused():
    keras.utils.set_random_seed(0)
    inner = keras.Sequential([keras.layers.Dense(8, name="d1"),
                              keras.Sequential([keras.layers.Dense(8, name="d2")], name="stack")],
                             name="enc")
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2, name="head")(inner(inputs)))
    model.trainable = False
    before = [w.copy() for w in model.get_weights()]
    whole = rw.train_fully(model, "enc")
    assert len(whole.trainable_weights) == 4
    np.testing.assert_array_equal(whole.predict(X, verbose=0), model.predict(X, verbose=0))
    _fit(whole, 3)
    assert not np.allclose(whole.get_layer("enc").get_weights()[0], before[0])
    for old, new in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)
    assert not model.get_layer("enc").trainable
    lora = rw.add_lora(model, "enc/d1", rank=2)
    with pytest.raises(TypeError, match="'enc'.*holds patch layers"):
        rw.train_fully(lora, "enc")
    assert "full" not in {n["id"]: n for n in to_graph(lora).to_json()["nodes"]}["enc"][
        "patchable"]


def test_adapter_files_hold_the_layers_that_train_whole(tmp_path):
    """PEFT saves ``modules_to_save`` with the adapters: so do we, every weight of them."""
    task, data, labels = _roberta(2)
    patched = rw.add_lora(task, rank=2)  # the head trains whole by default
    _losses(patched, data, labels, steps=3)
    file = rw.save_adapters(patched, tmp_path / "task.npz")
    keys = list(np.load(file).keys())
    assert any(k.startswith("logits::") for k in keys), keys
    fresh = rw.add_lora(_roberta(2)[0], rank=2)
    assert not np.allclose(fresh.predict(data, verbose=0), patched.predict(data, verbose=0))
    loaded = rw.load_adapters(fresh, file)
    assert {"pooled_dense", "logits"} <= set(loaded)
    np.testing.assert_allclose(fresh.predict(data, verbose=0), patched.predict(data, verbose=0),
                               atol=1e-6)
    adapters_only = rw.add_lora(_roberta(2)[0], rank=2, train=[])
    with pytest.raises(ValueError, match="in the file only: \\['logits', 'pooled_dense'\\]"):
        rw.load_adapters(adapters_only, file)

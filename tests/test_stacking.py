"""Several named adapters on one layer (issue 16, part B): stacking, names, gates
(`set_active` / `disable_adapters` in a compiled model), folding and removing a subset,
`.keras` and adapter-file round trips, the graph's ``patches`` and the editor's history."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import ops

import risk_widgets as rw
from risk_widgets.adapters.base import AdapterLayer, AdapterStack, stack_adapters
from risk_widgets.editor.state import EditorState
from tests import models as M


def _x(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def _perturb(layer, seed):
    """Moves an adapter's trainable weights as training would (B starts at zero)."""
    rng = np.random.default_rng(seed)
    for v in layer.trainable_weights:
        v.assign(v.numpy() + 0.3 * rng.normal(size=v.shape).astype("float32"))


def _stacked(seed=0):
    """mlp with LoRA "default" on hidden_1 and head, then LoRA "task_b" stacked on head."""
    model = M.mlp(seed=seed)
    one = rw.add_lora(model, ["hidden_1", "head"], rank=2)
    for i, layer in enumerate(rw.patch_layers(one).values()):
        _perturb(layer, seed + i)
    two = rw.add_lora(one, "head", rank=2, alpha=4, name="task_b")
    _perturb(two.get_layer("head").adapters[1], seed + 7)
    return model, one, two


def _predict(model, x):
    return model.predict(x, verbose=0, batch_size=len(x))


# ----------------------------------------------------------------------------- stacking


def test_stacking_names_defaults_and_duplicates():
    model, one, two = _stacked()
    head = two.get_layer("head")
    assert isinstance(head, AdapterStack)
    assert [a.adapter_name for a in head.named_adapters()] == ["default", "task_b"]
    assert head.adapters[0] is one.get_layer("head")  # the first adapter is shared, not copied
    assert rw.adapter_names(two) == ["default", "task_b"]
    # default names follow PEFT: "default" first, then "<kind>_<k>" unused on the targets
    three = rw.add_svf(two, ["hidden_1", "head"])
    assert [a.adapter_name for a in three.get_layer("head").named_adapters()] == [
        "default", "task_b", "svf_1"]
    assert [a.adapter_name for a in three.get_layer("hidden_1").named_adapters()] == [
        "default", "svf_1"]
    assert rw.adapter_names(rw.add_lora(model, "head", rank=1)) == ["default"]
    # trainable weights: both LoRAs on head (2 x (8*2 + 2*2)), default on hidden_1 (4*2 + 2*8)
    assert rw.trainable_report(two)["trainable"] == 2 * 20 + 24
    with pytest.raises(ValueError, match="'head': that layer already has an adapter named "
                       "'task_b' \\(its adapters: default, task_b\\)"):
        rw.add_lora(two, "head", rank=2, name="task_b")
    with pytest.raises(ValueError, match="name='a b '"):
        rw.add_lora(two, "head", name="a b ")


class _FullDelta(AdapterLayer):
    """A test adapter kind (Dense only): a full trainable kernel change ``x M``."""

    patch_kind = "full"

    def build_adapter(self):
        self.m = self.add_weight(name="m", shape=self.view.matrix_shape, initializer="zeros")

    def delta(self, inputs, training=None):
        return ops.matmul(inputs, self.m)

    def delta_matrix(self):
        return np.asarray(self.m.numpy(), dtype="float64")


def test_stacking_is_generic_over_adapter_kinds():
    model = M.mlp(seed=1)
    x = _x((6, 4))
    lora = rw.add_lora(model, "head", rank=2)
    _perturb(lora.get_layer("head"), 1)
    full = stack_adapters(lora, "head", lambda layer, path: _FullDelta(layer), "full")
    added = full.get_layer("head").adapters[1]
    assert added.adapter_name == "full_1"
    _perturb(added, 2)
    m = added.m.numpy()
    hidden = keras.Model(model.input, model.get_layer("hidden_1").output)(x)
    # the second adapter adds exactly x M to the head's output (float32 sums: ~1e-7)
    np.testing.assert_allclose(full(x) - lora(x), np.asarray(hidden) @ m, atol=1e-5)
    folded = rw.fold(full)
    np.testing.assert_allclose(folded(x), full(x), atol=1e-5)


# ----------------------------------------------------------------------------- gates


def test_set_active_and_disable_reach_a_compiled_fitted_model():
    model, _, two = _stacked(seed=2)
    x, y = _x((16, 4), 3), _x((16, 2), 4)
    two.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    two.fit(x, y, epochs=2, batch_size=8, verbose=0)
    only_default = rw.unpatch(two, names="task_b")
    only_b = rw.unpatch(two, names=["default"])
    expected = {"default": _predict(only_default, x), "task_b": _predict(only_b, x),
                "none": _predict(model, x)}
    both = _predict(two, x)
    step = two.predict_function
    assert rw.set_active(two, "default") == ["default"]
    np.testing.assert_array_equal(_predict(two, x), expected["default"])
    assert rw.set_active(two, ["task_b"]) == ["task_b"]
    np.testing.assert_array_equal(_predict(two, x), expected["task_b"])
    with rw.disable_adapters(two):
        assert rw.active_adapters(two) == []
        np.testing.assert_array_equal(_predict(two, x), expected["none"])
    assert rw.active_adapters(two) == ["task_b"]  # the state before the context
    assert rw.set_active(two) == ["default", "task_b"]
    np.testing.assert_array_equal(_predict(two, x), both)
    assert two.predict_function is step  # no rebuild, no retrace: the gates are variables
    with pytest.raises(ValueError, match="no adapter named 'task_c'.*'default', 'task_b'"):
        rw.set_active(two, "task_c")
    assert rw.active_adapters(two) == ["default", "task_b"]  # nothing changed


def test_stacked_updates_add_up():
    keras.utils.set_random_seed(5)
    inputs = keras.Input((4,), name="x")
    model = keras.Model(inputs, keras.layers.Dense(3, name="head")(inputs))
    a = rw.add_lora(model, "head", rank=2)
    _perturb(a.get_layer("head"), 5)
    b = rw.add_svf(a, "head", name="b")
    _perturb(b.get_layer("head").adapters[1], 6)
    x = _x((8, 4), 7)
    base, with_a, both = model(x), a(x), b(x)
    rw.set_active(b, "b")
    with_b = b(x)
    rw.set_active(b)
    # a linear layer: y(a+b) - y = (y(a) - y) + (y(b) - y); float32 sums: max 2.4e-7 over
    # five seeds
    np.testing.assert_allclose(both - base, (with_a - base) + (with_b - base), atol=1e-5)


# ----------------------------------------------------------------------------- fold / unpatch


def test_fold_and_unpatch_a_subset_leave_the_model_unchanged():
    model, _, two = _stacked(seed=3)
    x = _x((8, 4), 8)
    before = M.snapshot(two)
    want = _predict(two, x)
    part = rw.fold(two, names=["default"])
    assert isinstance(part, rw.PatchedModel) and rw.adapter_names(part) == ["task_b"]
    head = part.get_layer("head")
    assert type(head).__name__ == "LoRAAdapter" and head.layer is not model.get_layer("head")
    assert type(part.get_layer("hidden_1")).__name__ == "Dense"  # default folded there too
    # float64 merge, float32 outputs: max 9.5e-7 over seeds 0-4 (tests/test_stacking.py)
    np.testing.assert_allclose(_predict(part, x), want, atol=1e-5)
    np.testing.assert_array_equal(  # the kept adapter keeps its weights exactly
        head.lora_b.numpy(), two.get_layer("head").adapters[1].lora_b.numpy())
    assert [v.name for v in part.trainable_weights] == ["lora_a", "lora_b"]
    plain = rw.fold(part)
    assert type(plain).__name__ == "Functional"
    np.testing.assert_allclose(_predict(plain, x), want, atol=1e-5)
    # an inactive adapter merges as nothing: the folded model predicts what the model does
    rw.set_active(two, "default")
    np.testing.assert_allclose(_predict(rw.fold(two), x), _predict(two, x), atol=1e-5)
    rw.set_active(two)
    removed = rw.unpatch(two, names="default")
    assert removed.get_layer("head") is two.get_layer("head").adapters[1]
    assert removed.get_layer("hidden_1") is model.get_layer("hidden_1")
    with pytest.raises(ValueError, match="fold\\(\\): model 'mlp' has no adapter named 'x'"):
        rw.fold(two, names="x")
    M.assert_same_snapshot(before, M.snapshot(two))
    np.testing.assert_array_equal(_predict(two, x), want)


# ----------------------------------------------------------------------------- saving


def test_keras_file_keeps_names_stacking_and_active_state(tmp_path):
    _, _, two = _stacked(seed=4)
    three = rw.add_svf(two, "head", name="svf_c")
    _perturb(three.get_layer("head").adapters[2], 9)
    rw.set_active(three, ["default", "svf_c"])
    x = _x((8, 4), 10)
    want = _predict(three, x)
    three.save(tmp_path / "stacked.keras")
    back = keras.models.load_model(tmp_path / "stacked.keras")
    head = back.get_layer("head")
    assert isinstance(head, AdapterStack)
    assert [(type(a).__name__, a.adapter_name, a.active) for a in head.adapters] == [
        ("LoRAAdapter", "default", True), ("LoRAAdapter", "task_b", False),
        ("SVFAdapter", "svf_c", True)]
    assert all(a.layer is head.layer for a in head.adapters)  # one base, not three copies
    assert len(back.weights) == len(three.weights)
    np.testing.assert_array_equal(_predict(back, x), want)
    rw.set_active(back)
    rw.set_active(three)
    np.testing.assert_array_equal(_predict(back, x), _predict(three, x))


def test_adapter_files_by_name(tmp_path):
    model, _, two = _stacked(seed=5)
    x = _x((8, 4), 11)
    rw.set_active(two, "task_b")
    everything = rw.save_adapters(two, tmp_path / "all.npz")
    only_b = rw.save_adapters(two, tmp_path / "b.npz", names="task_b")
    rw.set_active(two)
    with np.load(only_b) as data:
        assert sorted(data.files) == ["__patches__", "head::lora_a", "head::lora_b"]
    with np.load(everything) as data:
        assert "head::task_b::lora_b" in data.files and "hidden_1::lora_a" in data.files
    # a stack made the same way from fresh adapters
    fresh = rw.add_lora(rw.add_lora(model, ["hidden_1", "head"], rank=2), "head", rank=2,
                        alpha=4, name="task_b")
    default_before = fresh.get_layer("head").adapters[0].lora_a.numpy()
    assert rw.load_adapters(fresh, only_b, names="task_b") == ["head"]
    np.testing.assert_array_equal(fresh.get_layer("head").adapters[1].lora_a.numpy(),
                                  two.get_layer("head").adapters[1].lora_a.numpy())
    np.testing.assert_array_equal(fresh.get_layer("head").adapters[0].lora_a.numpy(),
                                  default_before)  # not named: untouched
    assert rw.load_adapters(fresh, everything) == ["hidden_1", "head"]
    assert rw.active_adapters(fresh) == ["task_b"]  # the saved state
    rw.set_active(fresh)
    np.testing.assert_array_equal(_predict(fresh, x), _predict(two, x))
    with pytest.raises(ValueError, match="holds no adapter named 'default'"):
        rw.load_adapters(fresh, only_b, names="default")
    single = rw.add_lora(model, ["hidden_1", "head"], rank=2)
    with pytest.raises(ValueError, match="'head' holds the adapters \\['default', 'task_b'\\]"):
        rw.load_adapters(single, everything)


# ----------------------------------------------------------------------------- graph, editor


def test_graph_marks_every_patch_and_the_editor_undoes_one():
    _, _, two = _stacked(seed=6)
    rw.set_active(two, "task_b")
    node = {n["id"]: n for n in rw.to_graph(two).to_json()["nodes"]}["head"]
    assert node["patch"] == {"kind": "lora", "params": {"rank": 2, "alpha": None,
                                                        "dropout": 0.0}}
    assert [(p["kind"], p["name"], p["active"]) for p in node["patches"]] == [
        ("lora", "default", False), ("lora", "task_b", True)]
    assert node["patches"][1]["params"]["alpha"] == 4.0
    assert {"lora", "svf"} <= set(node["patchable"])  # a third one can stack
    state = EditorState(M.mlp(seed=6))
    state.apply("lora", targets=["head"], rank=2)
    state.apply("lora", targets=["head"], rank=1)

    def marks():
        head = {n["id"]: n for n in state.graph()["nodes"]}["head"]
        return [(p["name"], p["params"]["rank"]) for p in head["patches"]]

    assert marks() == [("default", 2), ("lora_1", 1)]
    state.undo()
    assert marks() == [("default", 2)]
    state.redo()
    assert marks() == [("default", 2), ("lora_1", 1)]

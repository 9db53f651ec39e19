"""rewire(): structure, sharing, nesting, opaque parents, shared layers, transactions."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import risk_widgets as rw
from risk_widgets.core.walk import iter_layers
from risk_widgets.engine.models import PatchedModel
from tests import models as M


def _new_dense(units):
    def replace(layer, path):
        return keras.layers.Dense(units, name=layer.name)

    return replace


def _paths(model):
    return [ref.path for ref in iter_layers(model)]


def _outputs(model, x):
    out = model(x)
    return [np.asarray(o) for o in (out if isinstance(out, (list, tuple)) else [out])]


def _nested_inputs(n=4, seed=1):
    rng = np.random.default_rng(seed)
    return [rng.random((n, 6), dtype="float32"), rng.random((n, 6), dtype="float32")]


def test_replaces_only_the_target_and_shares_everything_else():
    model = M.mlp(units=(8, 8))
    before = M.snapshot(model)
    new = rw.rewire(model, "head", _new_dense(2))
    assert isinstance(new, PatchedModel) and new is not model
    assert new.name == model.name
    assert [layer.name for layer in new.layers] == [layer.name for layer in model.layers]
    assert new.get_layer("hidden_1") is model.get_layer("hidden_1")
    assert new.get_layer("hidden_2") is model.get_layer("hidden_2")
    assert new.get_layer("head") is not model.get_layer("head")
    assert new.inputs[0].name == model.inputs[0].name
    M.assert_same_snapshot(before, M.snapshot(model))


def test_freeze_base_false_gives_a_model_where_everything_trains():
    from risk_widgets.engine.models import RewiredModel

    model = M.mlp()
    new = rw.rewire(model, "head", _new_dense(2), freeze_base=False)
    # a Functional that only adds the saving of swapped sub-layers, no frozen base
    assert type(new) is RewiredModel and not isinstance(new, rw.PatchedModel)
    assert len(new.trainable_weights) == 4  # shared hidden_1 + new head, all trainable


def test_nested_functional_and_sequential_are_rebuilt_on_the_way_only():
    model = M.nested()
    x = _nested_inputs()
    ref = _outputs(model, x)
    before = M.snapshot(model)
    new = rw.add_lora(model, "enc/stack/deep", rank=2)
    enc, old_enc = new.get_layer("enc"), model.get_layer("enc")
    assert enc is not old_enc and type(enc) is type(old_enc)
    stack = enc.get_layer("stack")
    assert isinstance(stack, keras.Sequential) and stack is not old_enc.get_layer("stack")
    assert stack.get_layer("deeper") is old_enc.get_layer("stack").get_layer("deeper")
    assert enc.get_layer("proj") is old_enc.get_layer("proj")
    for name in ("shared", "bn", "cat", "out_1", "out_2"):
        assert new.get_layer(name) is model.get_layer(name)
    assert _paths(new) == _paths(model)
    for a, b in zip(_outputs(new, x), ref, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)
    M.assert_same_snapshot(before, M.snapshot(model))


def test_multiple_inputs_and_outputs_keep_their_structure_and_names():
    model = M.nested()
    new = rw.add_lora(model, ["out_1", "out_2"], rank=1)
    assert [t.name for t in new.inputs] == ["a", "b"]
    assert len(new.outputs) == 2
    assert [tuple(t.shape) for t in new.outputs] == [(None, 1), (None, 3)]


def test_dict_inputs_keep_their_keys():
    keras.utils.set_random_seed(0)
    a, b = keras.Input((3,), name="a"), keras.Input((2,), name="b")
    out = keras.layers.Dense(1, name="head")(keras.layers.Concatenate()([a, b]))
    model = keras.Model({"a": a, "b": b}, {"y": out})
    new = rw.add_lora(model, "head", rank=1)
    x = {"a": np.ones((2, 3), "float32"), "b": np.ones((2, 2), "float32")}
    assert set(new(x)) == {"y"}
    np.testing.assert_allclose(new(x)["y"], model(x)["y"], atol=1e-6)


def test_shared_layer_is_replaced_by_one_object_everywhere():
    model = M.nested()
    calls = []

    def replace(layer, path):
        calls.append(path)
        return rw.adapters.LoRAAdapter(layer, rank=1)

    new = rw.rewire(model, "shared", replace)
    assert calls == ["shared"]
    adapter = new.get_layer("shared")
    assert isinstance(adapter, rw.adapters.LoRAAdapter)
    users = [n for n in new._nodes_by_depth.values() for n in n if n.operation is adapter]
    assert len(users) == 2  # both branches call the one replacement


def test_shared_layer_inside_two_containers():
    keras.utils.set_random_seed(0)
    dense = keras.layers.Dense(4, name="tied")
    x1 = keras.Input((4,), name="in_1")
    left = keras.Model(x1, dense(x1), name="left")
    x2 = keras.Input((4,), name="in_2")
    right = keras.Model(x2, dense(x2), name="right")
    inputs = keras.Input((4,), name="x")
    model = keras.Model(inputs, right(left(inputs)), name="twice")
    new = rw.add_lora(model, "left/tied", rank=1)
    assert new.get_layer("left").get_layer("tied") is new.get_layer("right").get_layer("tied")
    x = np.ones((2, 4), "float32")
    np.testing.assert_allclose(new(x), model(x), atol=1e-6)


def test_opaque_parent_is_recreated_with_its_original_sublayers():
    model = M.attention()
    attn = model.get_layer("attn")
    x = np.random.default_rng(0).random((3, 6, 8), dtype="float32")
    ref = np.asarray(model(x))
    before = M.snapshot(model)
    new = rw.add_lora(model, ["attn/query", "attn/value"], rank=2)
    new_attn = new.get_layer("attn")
    assert new_attn is not attn and type(new_attn) is type(attn)
    assert new_attn._key_dense is attn._key_dense
    assert new_attn._output_dense is attn._output_dense
    assert new_attn._query_dense.layer is attn._query_dense
    assert isinstance(new_attn._value_dense, rw.adapters.LoRAAdapter)
    assert attn._query_dense in attn._layers and new_attn._query_dense in new_attn._layers
    assert len(new.weights) == len(model.weights) + 4
    np.testing.assert_allclose(new(x), ref, atol=1e-6)
    M.assert_same_snapshot(before, M.snapshot(model))


def test_composite_layers_keep_class_and_untouched_blocks_are_shared():
    from risk_widgets.core.composite import CompositeLayer

    model = M.transformer()
    new = rw.add_lora(model, "block_0/mlp/up", rank=2)
    block_0 = new.get_layer("block_0")
    assert isinstance(block_0, CompositeLayer) and block_0 is not model.get_layer("block_0")
    assert block_0.get_layer("attn") is model.get_layer("block_0").get_layer("attn")
    assert new.get_layer("block_1") is model.get_layer("block_1")
    assert _paths(new) == _paths(model)
    tokens, _ = M.sequences(n=8)
    np.testing.assert_allclose(new(tokens), model(tokens), atol=1e-6)


def test_optional_inputs_stay_optional():
    model = M.optional_input()
    new = rw.add_lora(model, "head", rank=1)
    assert new.inputs[1]._keras_history[0].optional
    x = np.ones((2, 4), "float32")
    np.testing.assert_allclose(new([x, None]), model([x, None]), atol=1e-6)
    extra = np.full((2, 2), 3.0, "float32")
    np.testing.assert_allclose(new([x, extra]), model([x, extra]), atol=1e-6)


def test_sequential_top_level_model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(4, name="d1"), keras.layers.Dense(2, name="d2")],
        name="seq",
    )
    new = rw.add_lora(model, "d2", rank=1)
    assert new.name == "seq" and new.get_layer("d1") is model.get_layer("d1")
    x = np.ones((2, 3), "float32")
    np.testing.assert_allclose(new(x), model(x), atol=1e-6)


def test_missing_target_names_close_matches_and_changes_nothing():
    model = M.mlp()
    before = M.snapshot(model)
    with pytest.raises(ValueError, match="hidden_1"):
        rw.rewire(model, "hiden_1", _new_dense(8))
    M.assert_same_snapshot(before, M.snapshot(model))


def test_replace_must_return_a_layer():
    model = M.mlp()
    with pytest.raises(TypeError, match=r"'head'.*Received: 3"):
        rw.rewire(model, "head", lambda layer, path: 3)
    with pytest.raises(TypeError, match="replace"):
        rw.rewire(model, "head", "not callable")


def test_shape_mismatch_is_refused_before_anything_is_returned():
    model = M.nested()
    x = _nested_inputs()
    ref = _outputs(model, x)
    before = M.snapshot(model)
    names = [op.name for op in model.operations]
    with pytest.raises(ValueError, match=r"'enc/proj'.*\(None, 7\).*\(None, 5\)"):
        rw.rewire(model, ["out_1", "enc/proj"], lambda layer, path: keras.layers.Dense(
            7 if path == "enc/proj" else 1, name=layer.name))
    M.assert_same_snapshot(before, M.snapshot(model))
    for a, b in zip(_outputs(model, x), ref, strict=True):
        np.testing.assert_array_equal(a, b)
    assert [op.name for op in model.operations] == names  # the model's own graph


def test_not_a_model_is_refused():
    with pytest.raises(TypeError, match="Keras 3 model"):
        rw.rewire(keras.layers.Dense(2), "x", _new_dense(2))


def test_replacement_name_clash_is_explained():
    model = M.mlp(units=(8, 8))
    with pytest.raises(ValueError, match="unique name"):
        rw.rewire(model, "head", lambda layer, path: keras.layers.Dense(2, name="hidden_1"))


def test_overlapping_targets_are_refused():
    model = M.nested()
    with pytest.raises(ValueError, match="'enc/proj' is inside 'enc'"):
        rw.rewire(model, ["enc", "enc/proj"], lambda layer, path: layer)


def test_rw_rewire_is_the_plain_function_with_its_signature_and_docstring():
    """Issue 19 item 7: `rw.rewire` was a callable module showing `(*args, **kwargs)`."""
    import importlib
    import inspect
    import types

    importlib.import_module("risk_widgets.engine.models")  # the engine's modules
    importlib.import_module("risk_widgets.engine.rewiring")  # rebind nothing on the package
    assert isinstance(rw.rewire, types.FunctionType)
    assert rw.rewire.__module__ == "risk_widgets.engine.rewiring"
    params = inspect.signature(rw.rewire).parameters
    assert list(params) == ["model", "targets", "replace", "freeze_base"]
    assert [p.kind for p in params.values()] == [
        inspect.Parameter.POSITIONAL_OR_KEYWORD] * 3 + [inspect.Parameter.KEYWORD_ONLY]
    assert params["freeze_base"].default is True
    assert rw.rewire.__doc__.startswith(
        "Returns a new model with the layers at ``targets`` replaced by ``replace``.")
    assert "freeze_base" in inspect.getdoc(rw.rewire)
    from risk_widgets import rewire

    assert rewire is rw.rewire

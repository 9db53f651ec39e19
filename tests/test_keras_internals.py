"""core.keras_internals: every Keras internal risk_widgets uses, on the installed Keras.

Issue 19 item 9: ``keras.src`` imports and private attributes were spread over 7 modules.
They now live in `risk_widgets.core.keras_internals`; this file imports every name it provides
and exercises it, so a Keras upgrade that breaks one shows here first. Checked on Keras
3.15.1 (``KERAS_VERSIONS_CHECKED``).
"""

from __future__ import annotations

import ast
import pathlib

import keras
import numpy as np
import pytest

from risk_widgets.core import keras_internals as ki
from risk_widgets.core.composite import CompositeLayer

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "risk_widgets"

# private Keras attributes: only keras_internals may touch them
PRIVATE = {
    "_keras_history", "_inbound_nodes", "_nodes_by_depth", "_inputs_struct", "_outputs_struct",
    "_trainable", "_tracker", "_layers", "_trainable_variables", "_non_trainable_variables",
    "_seed_generators", "_build_shapes_dict", "_lock_state", "_flatten_layers", "_functional",
    "_call_has_training_arg", "_call_context_args", "_standardize_inputs", "_run_through_graph",
    "_compile_loss", "_aggregate_additional_loss", "_kernel", "_shape", "_convert_input_args",
    "_allow_non_tensor_positional_args", "_operations", "_inputs", "_outputs",
    "_assert_input_compatibility", "_compile_config",
}
# what stays outside, and why
ALLOWED = {
    # CompositeLayer overrides these hooks (ki.LAYER_HOOKS) and calls the base versions
    "composite.py": {"_lock_state", "_assert_input_compatibility"},
}


def test_checked_on_this_keras_version():
    assert keras.__version__ in ki.KERAS_VERSIONS_CHECKED, (
        f"risk_widgets.core.keras_internals was checked on Keras {ki.KERAS_VERSIONS_CHECKED}, "
        f"this is {keras.__version__}: run tests/test_keras_internals.py (and the suite), fix "
        "keras_internals.py where it fails, then add the version to KERAS_VERSIONS_CHECKED."
    )


def test_every_name_it_provides_exists():
    for name in ki.__all__:
        assert getattr(ki, name) is not None, name
    assert isinstance(_model(), ki.Functional)
    for hook in ki.LAYER_HOOKS:
        assert callable(getattr(keras.layers.Layer, hook)), hook
        assert callable(getattr(ki.Functional, hook)), hook


def _model():
    keras.utils.set_random_seed(0)
    x = keras.Input((4,), name="x")
    h = keras.layers.Dense(3, name="d")(x)
    h = keras.layers.BatchNormalization(name="bn")(h)
    inner = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="inner_d")],
                             name="inner")
    return keras.Model(x, inner(h), name="m")


def test_graph_helpers():
    model = _model()
    out = model.outputs[0]
    assert ki.keras_history(out).operation.name == "inner"
    assert ki.producer_node(out).operation is model.get_layer("inner")
    depths = ki.nodes_by_depth(model)
    assert isinstance(depths, dict) and all(isinstance(d, int) for d in depths)
    assert ki.inputs_struct(model) is model.inputs[0] or ki.inputs_struct(model) == model.inputs
    assert ki.outputs_struct(keras.layers.Dense(1), "none") == "none"
    assert ki.graph_inputs(model) == model.inputs and ki.graph_outputs(model) == model.outputs
    assert [op.name for op in ki.graph_operations(model)] == ["x", "d", "bn", "inner"]
    seq = model.get_layer("inner")
    assert isinstance(ki.sequential_graph(seq), ki.Functional)
    assert ki.sequential_graph(keras.layers.Dense(1)) is None
    assert ki.is_input_keras_tensor(model.inputs[0])
    x = np.ones((2, 4), "float32")
    flat = ki.standardize_inputs(model, x)
    calls = []

    def operation_fn(op):
        calls.append(op.name)
        return op

    y = ki.unpack_singleton(ki.run_through_graph(model, flat, operation_fn))
    np.testing.assert_allclose(y, model(x), atol=1e-6)
    assert calls == ["d", "bn", "inner"]
    middle = model.get_layer("d").output
    assert not ki.is_input_keras_tensor(middle)
    inputs, _ = ki.clone_graph_nodes(middle, model.get_layer("bn").output)
    assert ki.is_input_keras_tensor(inputs)
    plain = keras.Model(model.inputs, model.get_layer("bn").output)
    copy = ki.functional_from_config(ki.Functional, plain.get_config())
    assert [layer.name for layer in copy.layers] == ["x", "d", "bn"]
    t = keras.ops.ones((2, 3))
    ki.set_keras_mask(t, keras.ops.ones((2,), "bool"))
    assert ki.get_keras_mask(t) is not None
    assert issubclass(keras.layers.Conv2D, ki.BaseConv)
    function = keras.Function(model.inputs, model.outputs)
    assert all(hasattr(function, attr) for attr in ki.GRAPH_ATTRS)


def test_layer_helpers():
    model = _model()
    dense, bn = model.get_layer("d"), model.get_layer("bn")
    assert [layer.name for layer in ki.tracked_sublayers(model)][-3:] == ["d", "bn", "inner"]
    assert ki.sublayers(keras.ops.add) == [] and "d" in [s.name for s in ki.sublayers(model)]
    assert ki.trainable_flag(bn) is True
    ki.set_trainable_flag(bn, False)
    assert bn.trainable is False and all(v.trainable for v in bn.trainable_weights)
    ki.set_trainable_flag(bn, True)
    assert [v.name for v in ki.own_trainable_variables(bn)] == ["gamma", "beta"]
    assert [v.name for v in ki.own_non_trainable_variables(bn)] == ["moving_mean",
                                                                     "moving_variance"]
    assert ki.call_takes_training(bn)
    assert not ki.call_takes_training(keras.layers.Activation("relu"))
    assert "training" in ki.call_context_args(bn)
    assert ki.build_shapes(dense) == {"input_shape": (None, 4)}
    assert ki.variable_shape(dense.kernel) == (4, 3)
    assert ki.kernel_variable(dense) is dense.kernel
    embed = keras.layers.Embedding(5, 2)
    embed.build((None, 3))
    assert ki.kernel_variable(embed) is embed.embeddings
    quantized = keras.layers.Dense(3, activation="relu")
    quantized.build((None, 4))
    quantized.quantize("int8")
    assert ki.float_policy(quantized.dtype_policy).name == "float32"
    x = np.random.default_rng(0).normal(size=(2, 4)).astype("float32")
    pre = keras.ops.convert_to_numpy(ki.quantized_linear(quantized, x))
    assert quantized.activation is not None and (pre < 0).any()  # restored; no relu applied
    np.testing.assert_array_equal(np.maximum(pre, 0), keras.ops.convert_to_numpy(quantized(x)))
    attn = keras.layers.MultiHeadAttention(2, 2, name="attn")
    attn(np.ones((1, 3, 4), "float32"), np.ones((1, 3, 4), "float32"))
    assert ki.tracker_of(attn) is not None and ki.torch_modules(attn) is None
    assert ki.is_framework_attribute("_tracker") and not ki.is_framework_attribute("_query_dense")
    tracker = ki.copy_tracker(attn, list)  # its own stores, each a copy of the original's
    layers = tracker.config["layers"][1]
    assert tracker is not ki.tracker_of(attn) and layers == ki.sublayers(attn)
    assert layers is not ki.tracker_of(attn).config["layers"][1]
    assert {"_inbound_nodes", "_outbound_nodes"} == set(ki.NODE_LISTS)
    assert not ki.is_checkpoint_reference(attn)
    twin_q = keras.layers.EinsumDense("abc,cde->abde", (None, 2, 2), name="twin_q")
    ki.swap_tracked(attn, attn.query_dense, twin_q)  # the tracked list only, not the attribute
    assert twin_q in ki.sublayers(attn) and attn.query_dense not in ki.sublayers(attn)
    other = keras.layers.Dense(3, name="other")
    holder = keras.layers.Layer()
    ki.track(holder, dense)
    assert dense in ki.sublayers(holder)
    ki.replace_sublayer(holder, dense, other)
    assert ki.sublayers(holder) == [other]
    ki.accept_raw_and_none_inputs(holder)
    ki.lock_state(holder)
    with ki.DotNotTrackScope():
        holder_attr = keras.layers.Dense(1)
    assert holder_attr is not None


def test_training_helpers():
    model = _model()
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.ones((2, 4), "float32"), np.zeros((2, 2), "float32")
    loss = ki.compiled_loss(model)(y, model(x), None)
    assert float(loss) >= 0
    assert float(ki.aggregate_additional_loss(model, keras.ops.ones((2,)))) == pytest.approx(2.0)


def test_compile_arguments_are_the_objects_passed():
    model = _model()
    assert ki.compile_arguments(model) is None
    huber, metric = keras.losses.Huber(delta=0.5), keras.metrics.MeanAbsoluteError()
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=huber, metrics=[metric])
    arguments = ki.compile_arguments(model)
    assert arguments["loss"] is huber and arguments["metrics"][0] is metric
    assert arguments["optimizer"] is model.optimizer


def test_composite_hooks_are_the_ones_it_overrides():
    for hook in ki.LAYER_HOOKS:
        assert hook in CompositeLayer.__dict__, hook


def _sources():
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name != "keras_internals.py":
            yield path, ast.parse(path.read_text(encoding="utf-8"))


def test_only_keras_internals_imports_keras_src():
    found = []
    for path, tree in _sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("keras.src"):
                found.append(f"{path.name}:{node.lineno} from {node.module}")
            elif isinstance(node, ast.ImportFrom) and node.module == "keras" and any(
                alias.name == "src" for alias in node.names
            ):
                found.append(f"{path.name}:{node.lineno} from keras import src")
            elif isinstance(node, ast.Import) and any(
                alias.name.startswith("keras.src") for alias in node.names
            ):
                found.append(f"{path.name}:{node.lineno} import keras.src")
            elif (isinstance(node, ast.Attribute) and node.attr == "src"
                  and isinstance(node.value, ast.Name) and node.value.id == "keras"):
                found.append(f"{path.name}:{node.lineno} keras.src")
    assert not found, (
        "import Keras internals through risk_widgets.core.keras_internals:\n" + "\n".join(found)
    )


def test_only_keras_internals_touches_private_keras_attributes():
    found = []
    for path, tree in _sources():
        allowed = ALLOWED.get(path.name, set())
        for node in ast.walk(tree):
            name = None
            if isinstance(node, ast.Attribute) and node.attr in PRIVATE:
                name = node.attr
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                  and node.func.id in ("getattr", "hasattr", "setattr") and len(node.args) > 1
                  and isinstance(node.args[1], ast.Constant) and node.args[1].value in PRIVATE):
                name = node.args[1].value
            if name and name not in allowed:
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {name}")
    assert not found, "use risk_widgets.core.keras_internals for:\n" + "\n".join(found)

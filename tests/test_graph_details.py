"""risk_widgets.graph.build.to_graph: each node's family, key config, input shape and
weights (docs/architecture.md "Graph JSON"), and the family table shared with the page."""

from __future__ import annotations

import pathlib
import re

import keras
import pytest

import risk_widgets as rw
from risk_widgets.core.composite import CompositeLayer
from risk_widgets.graph.build import to_graph
from risk_widgets.graph.details import FAMILIES, MAX_WEIGHTS, layer_family
from tests.graph_helpers import check_contract, node

pytestmark = pytest.mark.usefixtures("_fresh_names")


def _zoo():
    """One layer of most families, in one functional model."""
    image = keras.Input((8, 8, 3), name="image")
    h = keras.layers.Conv2D(4, 3, padding="same", name="conv")(image)
    h = keras.layers.BatchNormalization(name="bn")(h)
    h = keras.layers.ReLU(name="relu")(h)
    h = keras.layers.MaxPooling2D(name="pool")(h)
    h = keras.layers.Flatten(name="flat")(h)
    h = keras.layers.Dropout(0.25, name="drop")(h)
    tokens = keras.Input((5,), name="tokens", dtype="int32")
    e = keras.layers.Embedding(11, 6, name="embed")(tokens)
    e = keras.layers.MultiHeadAttention(num_heads=2, key_dim=3, name="attn")(e, e)
    e = keras.layers.LayerNormalization(name="norm")(e)
    e = keras.layers.LSTM(4, name="lstm")(e)
    both = keras.layers.Concatenate(name="cat")([h, e])
    out = keras.layers.Dense(2, activation="softmax", name="head")(both)
    return keras.Model([image, tokens], out + out, name="zoo")


def test_families_follow_the_keras_class_hierarchy():
    graph = to_graph(_zoo())
    check_contract(graph)
    family = {n["id"]: n["family"] for n in graph.nodes}
    assert family == {
        "image": "io", "tokens": "io", "conv": "convolution", "bn": "normalization",
        "relu": "activation", "pool": "pooling", "flat": "reshape", "drop": "dropout",
        "embed": "embedding", "attn": "attention", "attn/query": "dense",
        "attn/key": "dense", "attn/value": "dense", "attn/attention_output": "dense",
        "attn/softmax": "activation", "attn/dropout": "dropout", "norm": "normalization",
        "lstm": "recurrent", "lstm/lstm_cell": "recurrent", "cat": "merge", "head": "dense",
        "add": "merge",  # `out + out`: an op, known by its class name
        "output_0": "io",
    }


def test_unknown_classes_are_placed_by_the_names_in_their_hierarchy():
    class FancyAttention(keras.layers.Layer):
        pass

    class MyRMSNorm(keras.layers.Layer):
        pass

    class Scaled(MyRMSNorm):  # a subclass of one: by its parent's name
        pass

    class Mystery(keras.layers.Layer):
        pass

    assert layer_family(FancyAttention()) == "attention"
    assert layer_family(MyRMSNorm()) == "normalization"
    assert layer_family(Scaled()) == "normalization"
    assert layer_family(Mystery()) == "other"
    block = CompositeLayer([keras.layers.Dense(2)], name="block")
    assert layer_family(block, "group") == "group"
    assert layer_family(keras.layers.Dense(2), "input") == "io"


def test_patched_layers_keep_their_family_and_list_the_adapter_weights():
    x = keras.Input((4,), name="x")
    h = keras.layers.Dense(8, activation="relu", name="hidden")(x)
    model = keras.Model(x, keras.layers.Dense(1, name="head")(h), name="base")
    patched = rw.add_lora(model, targets="hidden", rank=2)
    patched = rw.add_lora(patched, targets="hidden", rank=3, name="task_b")
    hidden = node(to_graph(patched), "hidden")
    assert hidden["family"] == "dense"
    assert hidden["config"] == {"units": 8, "activation": "relu", "use_bias": True,
                                "dtype": "float32"}
    rows = {w["name"]: (w["shape"], w["dtype"], w["trainable"]) for w in hidden["weights"]}
    assert rows == {
        "kernel": ([4, 8], "float32", False),  # the frozen base
        "bias": ([8], "float32", False),
        "default/lora_a": ([4, 2], "float32", True),  # stacked adapters: by adapter name
        "default/lora_b": ([2, 8], "float32", True),
        "task_b/lora_a": ([4, 3], "float32", True),
        "task_b/lora_b": ([3, 8], "float32", True),
    }
    # the rows add up to the node's counts
    total = sum(int(__import__("math").prod(w["shape"])) for w in hidden["weights"])
    trained = sum(int(__import__("math").prod(w["shape"])) for w in hidden["weights"]
                  if w["trainable"])
    assert (total, trained) == (hidden["params"], hidden["trainable_params"])


def test_a_variance_head_is_of_the_patch_family():
    x = keras.Input((3,), name="x")
    model = keras.Model(x, keras.layers.Dense(1, name="head")(x), name="reg")
    editor = rw.GraphEditor(model)
    editor.apply("sculpt")
    families = {n["id"]: n["family"] for n in editor.graph["nodes"]}
    heads = [i for i, f in families.items() if f == "patch"]
    assert heads == ["sculpt_variance"], families
    assert families["head"] == "dense"


def test_key_config_dtype_and_quantization_mode():
    x = keras.Input((4,), name="x")
    conv_in = keras.Input((6, 6, 1), name="img")
    dense = keras.layers.Dense(3, name="q", dtype="mixed_float16")
    conv = keras.layers.Conv2D(5, (3, 2), strides=2, name="c")
    model = keras.Model([x, conv_in], [dense(x), conv(conv_in)])
    plain = keras.layers.Dense(2, name="int8_dense")
    plain.build((None, 4))
    plain.quantize("int8")
    graph = to_graph(model)
    assert node(graph, "q")["config"]["dtype"] == "mixed_float16"
    assert node(graph, "c")["config"] | {} == {
        "filters": 5, "kernel_size": [3, 2], "strides": [2, 2], "padding": "valid",
        "dilation_rate": [1, 1], "activation": "linear", "use_bias": True, "dtype": "float32"}
    qx = keras.Input((4,), name="qx")
    quantized = to_graph(keras.Model(qx, plain(qx)))
    q = node(quantized, "int8_dense")
    assert q["config"]["quantization_mode"] == "int8"
    assert {w["name"]: w["dtype"] for w in q["weights"]}["kernel"] == "int8"


def test_long_values_are_cut_and_many_weights_are_counted_not_listed():
    class Wide(keras.layers.Layer):
        equation = "a" * 200  # a long text
        kernel_size = tuple(range(20))  # a long tuple

        def build(self, shape):
            for i in range(MAX_WEIGHTS + 4):
                self.add_weight(name=f"w{i}", shape=(2,))

        def call(self, x):
            return x

    x = keras.Input((2,), name="x")
    graph = to_graph(keras.Model(x, Wide(name="wide")(x)))
    check_contract(graph)
    wide = node(graph, "wide")
    assert len(wide["config"]["equation"]) == 64 and wide["config"]["equation"].endswith("…")
    assert wide["config"]["kernel_size"] == [*range(8), "…"]
    assert [w["name"] for w in wide["weights"]] == [f"w{i}" for i in range(MAX_WEIGHTS)]
    assert wide["weights_more"] == 4


def test_input_shapes_from_the_graph_and_from_build_shapes():
    graph = to_graph(_zoo())
    assert node(graph, "conv")["input_shape"] == [None, 8, 8, 3]
    assert node(graph, "cat")["input_shape"] == [[None, 64], [None, 4]]
    # an opaque layer's child has no node in any graph: from the shape it was built on
    assert node(graph, "attn/query")["input_shape"] == [None, 5, 6]
    assert node(graph, "attn")["input_shape"] == [[None, 5, 6], [None, 5, 6]]
    assert node(graph, "image")["input_shape"] is None
    assert node(graph, "head")["weights"] == [
        {"name": "kernel", "shape": [68, 2], "dtype": "float32", "trainable": True},
        {"name": "bias", "shape": [2], "dtype": "float32", "trainable": True},
    ]
    assert node(graph, "attn")["weights"] == []  # a group: the panel sums its children


def test_every_family_has_a_colour_in_the_page():
    source = (pathlib.Path(__file__).parents[1] / "js/src/families.ts").read_text()
    table = source[source.index("FAMILY_COLORS"):]
    coloured = set(re.findall(r"^\s+(\w+): \[", table, flags=re.MULTILINE))
    assert set(FAMILIES) == coloured

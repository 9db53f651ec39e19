"""risk_widgets.graph.build.to_graph: nodes, parents and edges of every kind of model
(nested, shared, multi-I/O, composites, attention, subclassed, applications), exactly, and
fast on a thousand layers."""

from __future__ import annotations

import json
import sys
import time

import keras
import pytest

from risk_widgets.graph.build import (
    to_graph,
)
from tests.graph_helpers import (
    check_contract,
    edges,
    ids,
    multi_io_shared,
    node,
    sequential_in_functional,
    three_deep,
)

# fresh Keras names, empty patch registries (fixtures in tests/conftest.py)
pytestmark = pytest.mark.usefixtures("_fresh_names", "no_hooks")


# ----------------------------------------------------------------------------- structure


def test_single_layer_json_exactly():
    x = keras.Input((4,), name="x")
    model = keras.Model(x, keras.layers.Dense(2, name="head")(x), name="tiny")
    assert to_graph(model).to_json() == {
        "name": "tiny",
        "nodes": [
            {
                "id": "x",
                "name": "x",
                "class_name": "InputLayer",
                "kind": "input",
                "parent": None,
                "family": "io",
                "input_shape": None,
                "output_shape": [None, 4],
                "config": {},
                "weights": [],
                "params": 0,
                "trainable_params": 0,
                "patch": None,
                "patches": [],
                "patchable": [],
                "opaque": False,
            },
            {
                "id": "head",
                "name": "head",
                "class_name": "Dense",
                "kind": "layer",
                "parent": None,
                "family": "dense",
                "input_shape": [None, 4],
                "output_shape": [None, 2],
                "config": {"units": 2, "activation": "linear", "use_bias": True,
                           "dtype": "float32"},
                "weights": [
                    {"name": "kernel", "shape": [4, 2], "dtype": "float32", "trainable": True},
                    {"name": "bias", "shape": [2], "dtype": "float32", "trainable": True},
                ],
                "params": 10,
                "trainable_params": 10,
                "patch": None,
                "patches": [],
                "patchable": [],
                "opaque": False,
            },
            {
                "id": "output_0",
                "name": "output_0",
                "class_name": "Output",
                "kind": "output",
                "parent": None,
                "family": "io",
                "input_shape": None,
                "output_shape": [None, 2],
                "config": {},
                "weights": [],
                "params": 0,
                "trainable_params": 0,
                "patch": None,
                "patches": [],
                "patchable": [],
                "opaque": False,
            },
        ],
        "edges": [{"source": "x", "target": "head"}, {"source": "head", "target": "output_0"}],
    }


def test_sequential_in_functional():
    graph = to_graph(sequential_in_functional())
    check_contract(graph)
    assert ids(graph) == [
        ("x", "input", None),
        ("enc", "group", None),
        ("enc/stack", "group", "enc"),
        ("enc/stack/deep", "layer", "enc/stack"),
        ("enc/proj", "layer", "enc"),
        ("head", "layer", None),
        ("output_0", "output", None),
    ]
    assert edges(graph) == sorted(
        [
            ("x", "enc/stack/deep"),
            ("enc/stack/deep", "enc/proj"),
            ("enc/proj", "head"),
            ("head", "output_0"),
        ]
    )
    enc = node(graph, "enc")
    assert (enc["class_name"], enc["opaque"], enc["output_shape"]) == (
        "Functional",
        False,
        [None, 2],
    )
    assert enc["params"] == 20 + 10
    assert node(graph, "enc/stack")["class_name"] == "Sequential"


def test_sequential_root():
    model = keras.Sequential(
        [
            keras.Input((3,), name="x"),
            keras.layers.Dense(2, name="a"),
            keras.layers.Dense(1, name="b"),
        ]
    )
    graph = to_graph(model)
    assert ids(graph) == [
        ("x", "input", None),
        ("a", "layer", None),
        ("b", "layer", None),
        ("output_0", "output", None),
    ]
    assert edges(graph) == sorted([("x", "a"), ("a", "b"), ("b", "output_0")])


def test_multi_io_shared_layers_and_ops():
    graph = to_graph(multi_io_shared())
    check_contract(graph)
    assert ids(graph) == [
        ("a", "input", None),
        ("b", "input", None),
        ("shared", "layer", None),
        ("add", "layer", None),
        ("cat", "layer", None),
        ("out_1", "layer", None),
        ("out_2", "layer", None),
        ("output_0", "output", None),
        ("output_1", "output", None),
    ]
    assert edges(graph) == sorted(
        [
            ("a", "shared"),
            ("b", "shared"),
            ("shared", "add"),
            ("shared", "cat"),
            ("add", "cat"),
            ("cat", "out_1"),
            ("shared", "out_2"),
            ("out_1", "output_0"),
            ("out_2", "output_1"),
        ]
    )
    add = node(graph, "add")
    assert (add["class_name"], add["output_shape"], add["params"]) == ("Add", [None, 4], 0)
    assert node(graph, "output_1")["output_shape"] == [None, 2]


def test_composites_three_deep_edges_cross_boundaries():
    graph = to_graph(three_deep())
    check_contract(graph)
    assert ids(graph) == [
        ("x", "input", None),
        ("outer", "group", None),
        ("outer/before", "layer", "outer"),
        ("outer/middle", "group", "outer"),
        ("outer/middle/inner", "group", "outer/middle"),
        ("outer/middle/inner/core_1", "layer", "outer/middle/inner"),
        ("outer/middle/inner/core_2", "layer", "outer/middle/inner"),
        ("outer/middle/after", "layer", "outer/middle"),
        ("outer/middle/add", "layer", "outer/middle"),
        ("head", "layer", None),
        ("output_0", "output", None),
    ]
    assert edges(graph) == sorted(
        [
            ("x", "outer/before"),
            ("outer/before", "outer/middle/inner/core_1"),
            ("outer/middle/inner/core_1", "outer/middle/inner/core_2"),
            ("outer/middle/inner/core_2", "outer/middle/after"),
            ("outer/middle/after", "outer/middle/add"),
            ("outer/before", "outer/middle/add"),
            ("outer/middle/add", "head"),
            ("head", "output_0"),
        ]
    )
    outer = node(graph, "outer")
    assert outer["class_name"] == "CompositeLayer"
    assert outer["params"] == 16 + 3 * 20
    assert node(graph, "outer/middle/inner")["output_shape"] == [None, 4]


def test_nested_model_called_twice():
    inner_in = keras.Input((3,), name="inner_in")
    inner = keras.Model(inner_in, keras.layers.Dense(3, name="d")(inner_in), name="inner")
    a = keras.Input((3,), name="a")
    b = keras.Input((3,), name="b")
    model = keras.Model([a, b], keras.layers.Add(name="sum")([inner(a), inner(b)]))
    graph = to_graph(model)
    assert ids(graph)[2:4] == [("inner", "group", None), ("inner/d", "layer", "inner")]
    assert edges(graph) == sorted(
        [("a", "inner/d"), ("b", "inner/d"), ("inner/d", "sum"), ("sum", "output_0")]
    )


def test_multi_input_multi_output_container():
    x1 = keras.Input((2,), name="x1")
    x2 = keras.Input((3,), name="x2")
    cat = keras.layers.Concatenate(name="cat")([x1, x2])
    inner = keras.Model(
        [x1, x2],
        [keras.layers.Dense(1, name="p")(cat), keras.layers.Dense(2, name="q")(x2)],
        name="inner",
    )
    a = keras.Input((2,), name="a")
    b = keras.Input((3,), name="b")
    p, q = inner([a, b])
    model = keras.Model([a, b], [keras.layers.Dense(1, name="after_q")(q), p])
    graph = to_graph(model)
    check_contract(graph)
    assert node(graph, "inner")["output_shape"] == [[None, 1], [None, 2]]
    assert edges(graph) == sorted(
        [
            ("a", "inner/cat"),
            ("b", "inner/cat"),
            ("b", "inner/q"),
            ("inner/cat", "inner/p"),
            ("inner/q", "after_q"),
            ("after_q", "output_0"),
            ("inner/p", "output_1"),
        ]
    )


def test_multi_head_attention_is_an_opaque_group():
    x = keras.Input((5, 8), name="x")
    attended = keras.layers.MultiHeadAttention(2, 4, name="attn")(x, x)
    model = keras.Model(x, keras.layers.LayerNormalization(name="norm")(x + attended))
    graph = to_graph(model)
    check_contract(graph)
    assert ids(graph) == [
        ("x", "input", None),
        ("attn", "group", None),
        ("attn/query", "layer", "attn"),
        ("attn/key", "layer", "attn"),
        ("attn/value", "layer", "attn"),
        ("attn/softmax", "layer", "attn"),
        ("attn/dropout", "layer", "attn"),
        ("attn/attention_output", "layer", "attn"),
        ("add", "layer", None),
        ("norm", "layer", None),
        ("output_0", "output", None),
    ]
    # The children of an opaque group have no edges: the group is the op.
    assert edges(graph) == sorted(
        [("x", "attn"), ("x", "add"), ("attn", "add"), ("add", "norm"), ("norm", "output_0")]
    )
    attn = node(graph, "attn")
    assert (attn["opaque"], attn["output_shape"], attn["params"]) == (True, [None, 5, 8], 4 * 72)
    query = node(graph, "attn/query")
    assert (query["class_name"], query["params"], query["opaque"]) == ("EinsumDense", 72, False)
    assert query["output_shape"][-2:] == [2, 4]  # from the shape it was built with


def test_optional_input_and_output_id_clash():
    x = keras.Input((4,), name="x")
    extra = keras.Input((4,), name="extra", optional=True)

    class AddIfGiven(keras.layers.Layer):
        def call(self, x, extra=None):
            return x if extra is None else x + extra

    h = AddIfGiven(name="add_if")(x, extra)
    model = keras.Model([x, extra], keras.layers.Dense(2, name="output_0")(h))
    graph = to_graph(model)
    check_contract(graph)
    assert [n["id"] for n in graph.nodes] == ["x", "extra", "add_if", "output_0", "output_0#1"]
    assert node(graph, "output_0#1")["name"] == "output_0"
    assert edges(graph) == sorted(
        [("x", "add_if"), ("extra", "add_if"), ("add_if", "output_0"), ("output_0", "output_0#1")]
    )


def test_subclassed_model_lists_layers_without_edges():
    class Net(keras.Model):
        def __init__(self):
            super().__init__(name="net")
            self.first = keras.layers.Dense(3, name="first")
            self.second = keras.layers.Dense(1, name="second")

        def call(self, x):
            return self.second(self.first(x))

    net = Net()
    net(keras.ops.ones((2, 4)))
    graph = to_graph(net)
    assert ids(graph) == [("first", "layer", None), ("second", "layer", None)]
    assert graph.edges == []
    check_contract(graph)


def test_keras_application():
    model = keras.applications.MobileNetV2(
        input_shape=(32, 32, 3), alpha=0.35, weights=None, classes=3
    )
    graph = to_graph(model)
    check_contract(graph)
    inputs = [n for n in graph.nodes if n["kind"] == "input"]
    outputs = [n for n in graph.nodes if n["kind"] == "output"]
    layers = [n for n in graph.nodes if n["kind"] == "layer"]
    assert len(inputs) == 1 and len(outputs) == 1
    # Every layer but the InputLayer is a node; MobileNetV2 has no containers.
    assert len(layers) == len(model.layers) - 1
    assert [n["id"] for n in layers] == [layer.name for layer in model.layers[1:]]
    assert sum(n["params"] for n in layers) == model.count_params()
    # Residual adds have two producers; every layer has a producer.
    targets = {}
    for e in graph.edges:
        targets.setdefault(e["target"], []).append(e["source"])
    assert all(n["id"] in targets for n in layers)
    assert sorted(targets["block_2_add"]) == ["block_1_project_BN", "block_2_project_BN"]
    assert outputs[0]["output_shape"] == [None, 3]
    assert len(json.dumps(graph.to_json())) > 10_000


def test_a_thousand_layers_in_well_under_a_second():
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10_000))  # Keras itself recurses per layer
    try:
        x = keras.Input((4,), name="x")
        h = x
        for i in range(1000):
            h = keras.layers.Activation("relu", name=f"act_{i}")(h)
        model = keras.Model(x, h)
    finally:
        sys.setrecursionlimit(limit)
    to_graph(model)  # warm up
    best = min(_timed(lambda: to_graph(model).to_json()) for _ in range(3))
    graph = to_graph(model)
    assert len(graph.nodes) == 1002 and len(graph.edges) == 1001
    assert best < 0.5, f"to_graph took {best:.3f}s for 1000 layers"


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start

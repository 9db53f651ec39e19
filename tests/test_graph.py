"""risk_widgets.graph.build.to_graph: nodes, parents, edges and the Graph JSON contract."""

from __future__ import annotations

import json
import sys
import time

import keras
import pytest

from risk_widgets.core.composite import CompositeLayer
from risk_widgets.engine import registry
from risk_widgets.graph.build import (
    Graph,
    register_patch_inspector,
    register_patchable,
    to_graph,
    unregister_patch_inspector,
    unregister_patchable,
)

NODE_KEYS = [
    "id",
    "name",
    "class_name",
    "kind",
    "parent",
    "output_shape",
    "params",
    "trainable_params",
    "patch",
    "patches",
    "patchable",
    "opaque",
]


@pytest.fixture(autouse=True)
def _fresh_names():
    keras.backend.clear_session(free_memory=False)
    yield


@pytest.fixture(autouse=True)
def no_hooks():
    """Runs each test with empty patch registries; yields the saved built-in hooks (loaded
    first, so that `to_graph` does not register them mid-test)."""
    registry.load_builtin_kinds()
    saved = registry.snapshot()
    registry.restore(([], {}))
    try:
        yield saved
    finally:
        registry.restore(saved)


@pytest.fixture
def builtin_hooks(no_hooks):
    """The hooks that adapters and risk wrappers register, for integration tests."""
    registry.restore(no_hooks)


def ids(graph: Graph) -> list[tuple[str, str, str | None]]:
    return [(n["id"], n["kind"], n["parent"]) for n in graph.nodes]


def edges(graph: Graph) -> list[tuple[str, str]]:
    pairs = [(e["source"], e["target"]) for e in graph.edges]
    assert len(pairs) == len(set(pairs)), "duplicate edges"
    return sorted(pairs)


def node(graph: Graph, id_: str) -> dict:
    return next(n for n in graph.nodes if n["id"] == id_)


def check_contract(graph: Graph) -> None:
    """Invariants of docs/architecture.md "Graph JSON" on any graph."""
    data = json.loads(json.dumps(graph.to_json()))
    assert list(data) == ["name", "nodes", "edges"]
    by_id = {n["id"]: n for n in data["nodes"]}
    assert len(by_id) == len(data["nodes"]), "node ids must be unique"
    for n in data["nodes"]:
        assert list(n) == NODE_KEYS
        assert n["kind"] in ("input", "layer", "group", "output")
        assert n["parent"] is None or by_id[n["parent"]]["kind"] == "group"
        assert n["opaque"] is False or n["kind"] == "group"
    for e in data["edges"]:
        assert list(e) == ["source", "target"]
        for end in (e["source"], e["target"]):
            # Edges join leaves; an opaque group is the op itself, so it may be an end.
            assert by_id[end]["kind"] != "group" or by_id[end]["opaque"], e


# ----------------------------------------------------------------------------- models


def sequential_in_functional():
    stack = keras.Sequential(
        [keras.Input((4,), name="stack_in"), keras.layers.Dense(4, name="deep")], name="stack"
    )
    inner_in = keras.Input((4,), name="enc_in")
    enc = keras.Model(inner_in, keras.layers.Dense(2, name="proj")(stack(inner_in)), name="enc")
    x = keras.Input((4,), name="x")
    return keras.Model(x, keras.layers.Dense(1, name="head")(enc(x)), name="outer")


def multi_io_shared():
    """Two inputs, two outputs, ``shared`` used on both, ``x + y`` and a nested model."""
    shared = keras.layers.Dense(4, name="shared")
    a = keras.Input((4,), name="a")
    b = keras.Input((4,), name="b")
    ha, hb = shared(a), shared(b)
    summed = ha + hb  # an op between layers: node "add"
    cat = keras.layers.Concatenate(name="cat")([ha, summed])
    return keras.Model(
        [a, b],
        [keras.layers.Dense(1, name="out_1")(cat), keras.layers.Dense(2, name="out_2")(hb)],
        name="multi",
    )


def three_deep():
    def middle_fn(x):
        inner = CompositeLayer(
            [keras.layers.Dense(4, name="core_1"), keras.layers.Dense(4, name="core_2")],
            name="inner",
        )
        h = inner(x)
        return keras.layers.Dense(4, name="after")(h) + x

    def outer_fn(x):
        h = keras.layers.Dense(4, name="before")(x)
        return CompositeLayer(middle_fn, name="middle")(h)

    x = keras.Input((3,), name="x")
    y = CompositeLayer(outer_fn, name="outer")(x)
    return keras.Model(x, keras.layers.Dense(1, name="head")(y), name="model")


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
                "output_shape": [None, 4],
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
                "output_shape": [None, 2],
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
                "output_shape": [None, 2],
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


def test_trainable_params_and_shared_layers_across_containers():
    shared = keras.layers.Dense(4, name="shared")
    inner_in = keras.Input((4,), name="inner_in")
    inner = keras.Model(inner_in, shared(inner_in), name="inner")
    x = keras.Input((4,), name="x")
    frozen = keras.layers.Dense(4, name="frozen")
    model = keras.Model(x, inner(frozen(shared(x))))
    frozen.trainable = False
    graph = to_graph(model)
    assert edges(graph) == sorted(
        [
            ("x", "shared"),
            ("shared", "frozen"),
            ("frozen", "inner/shared"),
            ("inner/shared", "output_0"),
        ]
    )
    assert (node(graph, "frozen")["params"], node(graph, "frozen")["trainable_params"]) == (20, 0)
    assert node(graph, "inner/shared")["params"] == node(graph, "shared")["params"] == 20


def test_trainable_params_follow_the_root_model():
    model = sequential_in_functional()
    model.get_layer("enc").get_layer("stack").trainable = False
    graph = to_graph(model)
    counts = {n["id"]: (n["params"], n["trainable_params"]) for n in graph.nodes}
    assert counts["enc/stack/deep"] == (20, 0)
    assert counts["enc"] == (30, 10)
    assert counts["head"] == (3, 3)


def test_lora_patched_model_counts_only_adapter_weights():
    import risk_widgets as rw

    x = keras.Input((4,), name="x")
    h = keras.layers.Dense(8, name="hidden")(x)
    model = keras.Model(x, keras.layers.Dense(1, name="head")(h), name="base")
    patched = rw.add_lora(model, targets="hidden", rank=2)
    graph = to_graph(patched)
    assert [n["id"] for n in graph.nodes] == ["x", "hidden", "head", "output_0"]
    hidden = node(graph, "hidden")
    assert (hidden["params"], hidden["trainable_params"]) == (40 + 2 * (4 + 8), 2 * (4 + 8))
    assert node(graph, "head")["trainable_params"] == 0
    assert edges(graph) == sorted([("x", "hidden"), ("hidden", "head"), ("head", "output_0")])


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


# ----------------------------------------------------------------------------- registries


class FakeLora(keras.layers.Wrapper):
    is_patch_layer = True

    def __init__(self, layer, rank=4, **kwargs):
        super().__init__(layer, **kwargs)
        self.rank = rank

    def call(self, x):
        return self.layer(x)


def test_patch_inspector_and_patchable_registries():
    x = keras.Input((4,), name="x")
    h = FakeLora(keras.layers.Dense(4, name="hidden"), rank=2, name="hidden")(x)
    model = keras.Model(x, keras.layers.Dense(1, name="head")(h))

    def lora_patch(layer):
        if isinstance(layer, FakeLora):
            return {"kind": "lora", "params": {"rank": layer.rank, "shape": (1, 2)}}
        return None

    def is_dense(layer):
        return isinstance(layer, keras.layers.Dense)

    plain = to_graph(model)
    assert [(n["patch"], n["patchable"]) for n in plain.nodes] == [(None, [])] * 4
    assert [n["id"] for n in plain.nodes] == ["x", "hidden", "head", "output_0"]  # a leaf

    register_patch_inspector(lora_patch)
    register_patch_inspector(lora_patch)  # twice: no-op
    register_patchable("lora", is_dense)
    register_patchable("vote", lambda layer: True)
    try:
        graph = to_graph(model)
        assert node(graph, "hidden")["patch"] == {
            "kind": "lora",
            "params": {"rank": 2, "shape": [1, 2]},
        }
        assert node(graph, "head")["patch"] is None
        assert node(graph, "head")["patchable"] == ["lora", "vote"]
        assert node(graph, "hidden")["patchable"] == ["vote"]
        assert node(graph, "x")["patchable"] == [] and node(graph, "output_0")["patchable"] == []
        json.dumps(graph.to_json())
        assert "[lora]" in graph.to_dot()
    finally:
        unregister_patch_inspector(lora_patch)
        unregister_patchable("lora")
        unregister_patchable("vote")
    assert to_graph(model).to_json() == plain.to_json()


def test_builtin_hooks_mark_lora_patches_and_risk_models(builtin_hooks):
    import risk_widgets as rw
    from risk_widgets.risk import vote

    x = keras.Input((4,), name="x")
    h = keras.layers.Dense(8, name="hidden")(x)
    model = keras.Model(x, keras.layers.Dense(1, name="head")(h), name="base")
    assert {"lora", "svf"} <= set(node(to_graph(model), "hidden")["patchable"])
    patched = rw.add_lora(model, targets="hidden", rank=2)
    assert node(to_graph(patched), "hidden")["patch"]["kind"] == "lora"
    risky = vote.Wrapper(n_voters=2)(model)
    assert [n["id"] for n in to_graph(risky).nodes][:1] == ["x"]  # the body's graph


def test_kinds_that_do_not_reach_through_a_risk_model_are_not_offered_there(builtin_hooks):
    """Issue 19 item 1: the graph of a risk model offered LoRA/SVF, which add_lora then refused
    (a RiskModel is no graph model); `through_wrappers=False` kinds are left out there."""
    from risk_widgets.risk import vote

    x = keras.Input((4,), name="x")
    h = keras.layers.Dense(8, name="hidden")(x)
    model = keras.Model(x, keras.layers.Dense(1, name="head")(h), name="base")
    risky = vote.Wrapper(n_voters=2)(model, targets="head")
    assert {"lora", "svf", "vote", "sample"} <= set(node(to_graph(model), "hidden")["patchable"])
    assert node(to_graph(risky), "hidden")["patchable"] == ["sample", "vote", "lora_ensemble"]
    register_patchable("mine", lambda layer: True, through_wrappers=False)
    try:
        assert "mine" in node(to_graph(model), "head")["patchable"]
        assert "mine" not in node(to_graph(risky), "head")["patchable"]
    finally:
        unregister_patchable("mine")


def test_registry_errors():
    with pytest.raises(TypeError, match="patch inspector"):
        register_patch_inspector("lora")
    with pytest.raises(TypeError, match="non-empty string"):
        register_patchable("", lambda layer: True)
    with pytest.raises(TypeError, match="predicate"):
        register_patchable("lora", True)
    unregister_patchable("never-registered")  # no error

    def bad(layer):
        return "lora"

    x = keras.Input((4,), name="x")
    model = keras.Model(x, keras.layers.Dense(1, name="head")(x))
    register_patch_inspector(bad)
    try:
        with pytest.raises(TypeError, match=r"returned 'lora' for layer 'head'"):
            to_graph(model)
    finally:
        unregister_patch_inspector(bad)


# ----------------------------------------------------------------------------- rendering


def test_to_dot_has_nested_clusters():
    dot = to_graph(three_deep()).to_dot()
    assert dot.startswith('digraph "model" {')
    assert dot.count("subgraph cluster_") == 3
    assert 'label="middle (CompositeLayer)";' in dot
    assert '"outer/middle/inner/core_1" -> "outer/middle/inner/core_2";' in dot
    # Clusters nest: "inner" opens inside "middle", which opens inside "outer".
    assert dot.index('label="outer') < dot.index('label="middle') < dot.index('label="inner')


def test_to_dot_gives_opaque_groups_a_node():
    x = keras.Input((5, 8), name="x")
    model = keras.Model(x, keras.layers.MultiHeadAttention(2, 4, name="attn")(x, x))
    dot = to_graph(model).to_dot()
    assert '"attn" [label="attn\\nMultiHeadAttention"];' in dot
    assert '"x" -> "attn";' in dot


def test_to_svg():
    svg = to_graph(sequential_in_functional()).to_svg()
    assert "<svg" in svg and "enc/stack/deep" in svg


def test_to_svg_without_dot_names_the_fix(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(RuntimeError, match="apt-get install graphviz"):
        to_graph(sequential_in_functional()).to_svg()


def test_repr():
    assert repr(to_graph(three_deep())) == "<Graph 'model': 11 nodes (3 groups), 8 edges>"

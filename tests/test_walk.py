"""risk_widgets.core.walk: paths, parents and kinds (docs/architecture.md "Paths")."""

from __future__ import annotations

import keras
import pytest

from risk_widgets.core.composite import CompositeLayer
from risk_widgets.core.walk import (
    LayerRef,
    container_chain,
    get_layer_by_path,
    iter_layers,
    register_graph_root,
    unregister_graph_root,
)


@pytest.fixture(autouse=True)
def _fresh_names():
    """Auto-generated names (``add``, ``softmax``) start from zero in every test."""
    keras.backend.clear_session(free_memory=False)
    yield


def walk(model) -> list[tuple[str, str | None, str]]:
    return [(ref.path, ref.parent, ref.kind) for ref in iter_layers(model)]


def functional_with_sequential():
    stack = keras.Sequential(
        [
            keras.Input((4,), name="stack_in"),
            keras.layers.Dense(4, name="deep"),
            keras.layers.Dense(3, name="deeper"),
        ],
        name="stack",
    )
    inner_in = keras.Input((4,), name="enc_in")
    enc = keras.Model(inner_in, keras.layers.Dense(2, name="proj")(stack(inner_in)), name="enc")
    x = keras.Input((4,), name="x")
    return keras.Model(x, keras.layers.Dense(1, name="head")(enc(x)), name="outer")


def three_deep():
    """``outer`` composite > ``middle`` composite > ``inner`` composite (Dense ``core``)."""

    def middle_fn(x):
        inner = CompositeLayer([keras.layers.Dense(4, name="core")], name="inner")
        return keras.layers.Dense(4, name="after")(inner(x))

    def outer_fn(x):
        h = keras.layers.Dense(4, name="before")(x)
        return CompositeLayer(middle_fn, name="middle")(h)

    x = keras.Input((3,), name="x")
    y = CompositeLayer(outer_fn, name="outer")(x)
    return keras.Model(x, keras.layers.Dense(1, name="head")(y), name="model")


class TwoHeads(keras.layers.Layer):
    """An opaque layer whose two sub-layers share a name."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.first = keras.layers.Dense(2, name="head")
        self.second = keras.layers.Dense(2, name="head")

    def build(self, input_shape):
        self.first.build(input_shape)
        self.second.build(input_shape)

    def call(self, x):
        return self.first(x) + self.second(x)


class FakePatch(keras.layers.Wrapper):
    """A patch layer (``is_patch_layer = True``): a leaf even though it wraps a layer."""

    is_patch_layer = True

    def call(self, x):
        return self.layer(x)


def test_layer_ref_fields():
    ref = next(iter_layers(functional_with_sequential()))
    assert isinstance(ref, LayerRef)
    assert ref._fields == ("path", "layer", "parent", "kind")
    path, layer, parent, kind = ref
    assert (path, layer.name, parent, kind) == ("enc", "enc", None, "group")


def test_sequential_in_functional():
    model = functional_with_sequential()
    assert walk(model) == [
        ("enc", None, "group"),
        ("enc/stack", "enc", "group"),
        ("enc/stack/deep", "enc/stack", "layer"),
        ("enc/stack/deeper", "enc/stack", "layer"),
        ("enc/proj", "enc", "layer"),
        ("head", None, "layer"),
    ]
    assert get_layer_by_path(model, "enc/stack/deeper") is model.get_layer("enc").get_layer(
        "stack"
    ).get_layer("deeper")


def test_sequential_root_and_unbuilt_sequential():
    model = keras.Sequential([keras.layers.Dense(3, name="a"), keras.layers.Dense(2, name="b")])
    assert walk(model) == [("a", None, "layer"), ("b", None, "layer")]  # not built yet
    model.build((None, 4))
    assert walk(model) == [("a", None, "layer"), ("b", None, "layer")]


def test_composites_three_deep():
    model = three_deep()
    assert walk(model) == [
        ("outer", None, "group"),
        ("outer/before", "outer", "layer"),
        ("outer/middle", "outer", "group"),
        ("outer/middle/inner", "outer/middle", "group"),
        ("outer/middle/inner/core", "outer/middle/inner", "layer"),
        ("outer/middle/after", "outer/middle", "layer"),
        ("head", None, "layer"),
    ]
    chain = container_chain(model, "outer/middle/inner/core")
    assert [(c.name, child.name) for c, child in chain] == [
        ("model", "outer"),
        ("outer", "middle"),
        ("middle", "inner"),
        ("inner", "core"),
    ]
    outer = model.get_layer("outer")
    assert chain[0][1] is outer
    assert chain[-1][1] is get_layer_by_path(model, "outer/middle/inner/core")
    assert isinstance(chain[2][1], CompositeLayer)


def test_composite_as_root():
    model = three_deep()
    outer = model.get_layer("outer")
    assert walk(outer)[:2] == [("before", None, "layer"), ("middle", None, "group")]
    assert get_layer_by_path(outer, "middle/inner/core").name == "core"


def test_multi_head_attention_children_and_ops():
    x = keras.Input((5, 8), name="x")
    attended = keras.layers.MultiHeadAttention(2, 4, name="attn")(x, x)
    y = keras.layers.LayerNormalization(name="norm")(x + attended)
    model = keras.Model(x, y)
    assert walk(model) == [
        ("attn", None, "group"),
        ("attn/query", "attn", "layer"),
        ("attn/key", "attn", "layer"),
        ("attn/value", "attn", "layer"),
        ("attn/softmax", "attn", "layer"),
        ("attn/dropout", "attn", "layer"),
        ("attn/attention_output", "attn", "layer"),
        ("add", None, "layer"),
        ("norm", None, "layer"),
    ]
    mha = model.get_layer("attn")
    assert get_layer_by_path(model, "attn/query") is mha._query_dense
    assert get_layer_by_path(model, "attn/attention_output") is mha._output_dense
    assert type(get_layer_by_path(model, "add")).__name__ == "Add"
    assert [(c.name, s.name) for c, s in container_chain(model, "attn/value")] == [
        (model.name, "attn"),
        ("attn", "value"),
    ]


def test_repeated_names_in_opaque_layer_get_suffixes():
    x = keras.Input((3,), name="x")
    model = keras.Model(x, TwoHeads(name="two")(x))
    assert walk(model) == [
        ("two", None, "group"),
        ("two/head", "two", "layer"),
        ("two/head#1", "two", "layer"),
    ]
    two = model.get_layer("two")
    assert get_layer_by_path(model, "two/head") is two.first
    assert get_layer_by_path(model, "two/head#1") is two.second


def test_shared_layers():
    shared = keras.layers.Dense(4, name="shared")
    inner_in = keras.Input((4,), name="inner_in")
    inner = keras.Model(inner_in, shared(inner_in), name="inner")
    a = keras.Input((4,), name="a")
    b = keras.Input((4,), name="b")
    # Shared twice in the outer graph, and once more inside `inner`.
    merged = keras.layers.Concatenate(name="cat")([shared(a), inner(shared(b))])
    model = keras.Model([a, b], merged)
    assert walk(model) == [
        ("shared", None, "layer"),
        ("inner", None, "group"),
        ("inner/shared", "inner", "layer"),
        ("cat", None, "layer"),
    ]
    assert get_layer_by_path(model, "shared") is get_layer_by_path(model, "inner/shared")


def test_reused_layer_does_not_leak_nodes_of_other_models():
    dense = keras.layers.Dense(3, name="dense")
    x1 = keras.Input((3,), name="x1")
    keras.Model(x1, keras.layers.Dense(1, name="other")(dense(x1)))  # other model
    x2 = keras.Input((3,), name="x2")
    model = keras.Model(x2, dense(x2))
    assert len(dense._inbound_nodes) == 2
    assert walk(model) == [("dense", None, "layer")]


def test_patch_layers_are_leaves():
    x = keras.Input((3,), name="x")
    patched = FakePatch(keras.layers.Dense(2, name="head"), name="head")
    model = keras.Model(x, patched(x))
    assert walk(model) == [("head", None, "layer")]
    assert get_layer_by_path(model, "head") is patched


def test_graph_root_resolver():
    model = functional_with_sequential()

    class Holder(keras.Model):
        def __init__(self, body, **kwargs):
            super().__init__(**kwargs)
            self.body = body

        def call(self, x):
            return self.body(x)

    holder = Holder(model, name="holder")
    assert walk(holder)[0] == ("outer", None, "group")  # opaque: its tracked `body`

    resolver = register_graph_root(lambda m: m.body if isinstance(m, Holder) else None)
    try:
        assert walk(holder) == walk(model)
        assert get_layer_by_path(holder, "enc/proj") is get_layer_by_path(model, "enc/proj")
    finally:
        unregister_graph_root(resolver)
    assert walk(holder)[0] == ("outer", None, "group")
    with pytest.raises(TypeError, match="callable"):
        register_graph_root("body")


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("enc/stak/deep", r"'enc' has no child named 'stak'.*Close matches: 'enc/stack/deep'"),
        ("head/kernel", r"'head' is not a container"),
        ("nothing", r"the model has no layer named 'nothing'"),
        ("", r"the path is empty"),
        ("x", r"no layer named 'x'"),  # model inputs are not layers of the walk
    ],
)
def test_get_layer_by_path_errors(path, message):
    model = functional_with_sequential()
    with pytest.raises(ValueError, match=message) as info:
        get_layer_by_path(model, path)
    assert "find_layers(model, '*')" in str(info.value)
    assert f"{path!r}" in str(info.value)


def test_path_must_be_a_string():
    with pytest.raises(TypeError, match=r"Received: \['enc'\]"):
        container_chain(functional_with_sequential(), ["enc"])


@pytest.mark.parametrize("module", ["core.walk", "core.targets", "graph.build"])
def test_docstring_examples_run(module):
    import doctest
    import importlib

    mod = importlib.import_module(f"risk_widgets.{module}")
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0

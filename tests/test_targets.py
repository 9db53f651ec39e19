"""risk_widgets.core.targets.find_layers: every target form and every error."""

from __future__ import annotations

import keras
import pytest

from risk_widgets.core.composite import CompositeLayer
from risk_widgets.core.targets import find_layers

ALL = [
    "embed",
    "block_0",
    "block_0/attn",
    "block_0/attn/query",
    "block_0/attn/key",
    "block_0/attn/value",
    "block_0/attn/softmax",
    "block_0/attn/dropout",
    "block_0/attn/attention_output",
    "block_0/add",
    "block_0/mlp",
    "block_0/mlp/up",
    "block_0/mlp/down",
    "block_1",
    "block_1/attn",
    "block_1/attn/query",
    "block_1/attn/key",
    "block_1/attn/value",
    "block_1/attn/softmax_1",
    "block_1/attn/dropout_1",
    "block_1/attn/attention_output",
    "block_1/add_1",
    "block_1/mlp",
    "block_1/mlp/up",
    "block_1/mlp/down",
    "pool",
    "head",
]


@pytest.fixture(scope="module")
def model():
    """Embedding, two CompositeLayer blocks (MHA ``attn`` + an ``mlp`` composite), head."""
    keras.backend.clear_session(free_memory=False)

    def block(name):
        def fn(x):
            h = x + keras.layers.MultiHeadAttention(2, 4, name="attn")(x, x)
            mlp = CompositeLayer(
                [keras.layers.Dense(16, name="up"), keras.layers.Dense(8, name="down")],
                name="mlp",
            )
            return mlp(h)

        return CompositeLayer(fn, name=name)

    tokens = keras.Input((5,), dtype="int32", name="tokens")
    x = keras.layers.Embedding(10, 8, name="embed")(tokens)
    x = block("block_1")(block("block_0")(x))
    x = keras.layers.GlobalAveragePooling1D(name="pool")(x)
    return keras.Model(tokens, keras.layers.Dense(2, name="head")(x), name="tiny")


def test_star_lists_every_path_in_graph_order(model):
    assert find_layers(model, "*") == ALL


def test_exact_paths(model):
    assert find_layers(model, "block_0/attn/query") == ["block_0/attn/query"]
    assert find_layers(model, "block_1/mlp") == ["block_1/mlp"]  # a group
    assert find_layers(model, "head") == ["head"]


def test_globs_cross_slashes(model):
    assert find_layers(model, "*/query") == ["block_0/attn/query", "block_1/attn/query"]
    assert find_layers(model, "*/attn/*") == [p for p in ALL if "/attn/" in p]
    assert find_layers(model, "block_?/mlp") == ["block_0/mlp", "block_1/mlp"]
    assert find_layers(model, "block_[1]/mlp/*") == ["block_1/mlp/up", "block_1/mlp/down"]
    assert find_layers(model, "*up") == ["block_0/mlp/up", "block_1/mlp/up"]


def test_list_is_a_union_in_graph_order_without_duplicates(model):
    got = find_layers(model, ["head", "*/value", "block_0/attn/value", "*/query"])
    assert got == [
        "block_0/attn/query",
        "block_0/attn/value",
        "block_1/attn/query",
        "block_1/attn/value",
        "head",
    ]
    assert find_layers(model, ("head",)) == ["head"]
    mixed = [keras.layers.Embedding, "pool", lambda path, layer: path == "block_1/mlp/down"]
    assert find_layers(model, mixed) == ["embed", "block_1/mlp/down", "pool"]


def test_layer_class(model):
    assert find_layers(model, keras.layers.Dense) == [
        "block_0/mlp/up",
        "block_0/mlp/down",
        "block_1/mlp/up",
        "block_1/mlp/down",
        "head",
    ]
    assert find_layers(model, keras.layers.EinsumDense) == [
        p for p in ALL if p.endswith(("query", "key", "value", "attention_output"))
    ]
    assert find_layers(model, CompositeLayer) == [
        "block_0",
        "block_0/mlp",
        "block_1",
        "block_1/mlp",
    ]
    # Subclasses match too; ops such as `x + y` are not layers.
    class_paths = find_layers(model, keras.layers.Layer)
    assert "block_0/add" not in class_paths
    assert len(class_paths) == len(ALL) - 2


def test_predicate(model):
    got = find_layers(model, lambda path, layer: getattr(layer, "units", 0) == 16)
    assert got == ["block_0/mlp/up", "block_1/mlp/up"]
    seen = []
    find_layers(model, lambda path, layer: seen.append((path, layer.name)) or True)
    assert [p for p, _ in seen] == ALL
    assert seen[3] == ("block_0/attn/query", "query")


def test_nested_functional_and_sequential():
    keras.backend.clear_session(free_memory=False)
    stack = keras.Sequential([keras.layers.Dense(4, name="deep")], name="stack")
    x_in = keras.Input((4,), name="enc_in")
    enc = keras.Model(x_in, stack(x_in), name="enc")
    x = keras.Input((4,), name="x")
    model = keras.Model(x, keras.layers.Dense(1, name="head")(enc(x)))
    assert find_layers(model, "*deep") == ["enc/stack/deep"]
    assert find_layers(model, keras.Model) == ["enc", "enc/stack"]


# ----------------------------------------------------------------------------- errors


def test_unknown_path_names_it_and_lists_close_matches(model):
    with pytest.raises(ValueError) as info:
        find_layers(model, "block_0/atn/query")
    message = str(info.value)
    assert message.startswith("No layer at path 'block_0/atn/query' in model 'tiny'.")
    assert "Close matches: 'block_0/attn/query'" in message
    assert "find_layers(model, '*')" in message


def test_pattern_matching_nothing(model):
    with pytest.raises(ValueError) as info:
        find_layers(model, "*/qeury")
    message = str(info.value)
    assert "The pattern '*/qeury' matches no layer in model 'tiny'." in message
    assert "'block_0/attn/query'" in message
    assert "find_layers(model, '*')" in message


def test_no_close_match_still_says_how_to_list(model):
    with pytest.raises(ValueError, match=r"^No layer at path 'zzzzzzzz'[^C]*List every path"):
        find_layers(model, "zzzzzzzz")


def test_list_error_names_the_failing_element(model):
    with pytest.raises(ValueError, match="No layer at path 'hed'.*Close matches: 'head'"):
        find_layers(model, ["*/query", "hed"])


def test_class_matching_nothing(model):
    with pytest.raises(ValueError, match=r"No layer of class Conv2D in model 'tiny'.*Dense"):
        find_layers(model, keras.layers.Conv2D)


def test_predicate_matching_nothing(model):
    def never(path, layer):
        return False

    with pytest.raises(ValueError, match=r"The predicate never matched no layer.*path, layer"):
        find_layers(model, never)


def test_empty_list(model):
    with pytest.raises(ValueError, match="empty list"):
        find_layers(model, [])


@pytest.mark.parametrize("bad", [None, 3, b"head", {"head": 1}])
def test_wrong_target_type(model, bad):
    with pytest.raises(TypeError, match=r"`targets` must be a path.*Received: targets="):
        find_layers(model, bad)


def test_class_that_is_not_a_layer(model):
    with pytest.raises(TypeError, match=r"Keras layer class.*builtins.int"):
        find_layers(model, int)


def test_nested_list(model):
    with pytest.raises(TypeError, match="not nested lists"):
        find_layers(model, [["head"]])


# ----------------------------------------------------------------------------- leaves, patch
# Issue 19 item 1: one resolver for every target; risk wrappers use its leaves mode.

LEAVES_0 = [
    "block_0/attn/query",
    "block_0/attn/key",
    "block_0/attn/value",
    "block_0/attn/softmax",
    "block_0/attn/dropout",
    "block_0/attn/attention_output",
    "block_0/add",
    "block_0/mlp/up",
    "block_0/mlp/down",
]


def test_leaves_expands_a_group_into_its_leaf_layers(model):
    assert find_layers(model, "block_0", leaves=True) == LEAVES_0
    assert find_layers(model, "block_1/mlp", leaves=True) == ["block_1/mlp/up", "block_1/mlp/down"]
    assert find_layers(model, "head", leaves=True) == ["head"]
    groups = {"block_0", "block_0/attn", "block_0/mlp", "block_1", "block_1/attn", "block_1/mlp"}
    assert find_layers(model, "*", leaves=True) == [p for p in ALL if p not in groups]
    # a group and a leaf inside it: each leaf once, in graph order
    assert find_layers(model, ["block_0/mlp/down", "block_0/mlp"], leaves=True) == [
        "block_0/mlp/up", "block_0/mlp/down"]
    # a class that matches groups (attention) expands them too
    assert find_layers(model, keras.layers.MultiHeadAttention, leaves=True) == [
        p for p in ALL if "/attn/" in p]


def test_leaves_predicate_chooses_the_leaves_of_a_group(model):
    def weighted(layer):
        return bool(getattr(layer, "weights", None))

    assert find_layers(model, "block_0", leaves=weighted) == [
        p for p in LEAVES_0 if not p.endswith(("softmax", "dropout", "add"))]
    # a leaf named by itself is returned whatever the predicate says (its caller checks it)
    assert find_layers(model, ["block_0/add", "block_1/mlp"], leaves=weighted) == [
        "block_0/add", "block_1/mlp/up", "block_1/mlp/down"]
    with pytest.raises(ValueError) as info:
        find_layers(model, "block_0/mlp", leaves=lambda layer: False)
    message = str(info.value)
    assert message.startswith("The group 'block_0/mlp' holds no layer that the leaves filter")
    assert "'block_0/mlp/up'" in message and "find_layers(model, '*')" in message


def test_leaves_class_targets_see_through_risk_layers():
    class Wrapping(keras.layers.Layer):  # like a risk layer: `wrapped_layer` is the original
        is_patch_layer = True

        def __init__(self, layer, **kwargs):
            super().__init__(name=layer.name, **kwargs)
            self.wrapped_layer = layer

        def call(self, x):
            return self.wrapped_layer(x)

    keras.backend.clear_session(free_memory=False)
    x = keras.Input((3,), name="x")
    model = keras.Model(x, Wrapping(keras.layers.Dense(2, name="head"))(x), name="m")
    assert find_layers(model, keras.layers.Dense, leaves=True) == ["head"]
    with pytest.raises(ValueError, match="No layer of class Dense"):
        find_layers(model, keras.layers.Dense)  # paths mode: the class of the layer itself


def test_patch_words_errors_for_the_patch_and_keeps_the_way_out(model):
    with pytest.raises(ValueError) as info:
        find_layers(model, "hed", leaves=True, patch="vote")
    message = str(info.value)
    assert message.startswith("vote: target 'hed' matches no layer. Did you mean 'head'")
    assert "of model 'tiny'" in message and "find_layers(model, '*')" in message
    with pytest.raises(ValueError, match=r"^sample: target '\*/qeury' matches no layer\. "
                                         r"Did you mean 'block_0/attn/query'"):
        find_layers(model, "*/qeury", leaves=True, patch="sample")
    with pytest.raises(ValueError, match=r"^vote: no layer of class Conv2D in model 'tiny'\. "
                                         r"Classes present: .*Dense"):
        find_layers(model, keras.layers.Conv2D, leaves=True, patch="vote")
    with pytest.raises(ValueError, match=r"^vote: the targets predicate matched no layer in "
                                         r"model 'tiny'.*predicate\(path, layer\)"):
        find_layers(model, lambda path, layer: False, leaves=True, patch="vote")
    with pytest.raises(ValueError, match=r"^vote: `targets` is an empty list"):
        find_layers(model, [], leaves=True, patch="vote")
    with pytest.raises(TypeError, match=r"^vote: `targets` must be None, a path.*Received: "
                                        r"targets=3"):
        find_layers(model, 3, leaves=True, patch="vote")
    with pytest.raises(ValueError, match=r"^vote: target 'block_0/mlp' holds no layer that "
                                         r"vote applies to"):
        find_layers(model, "block_0/mlp", leaves=lambda layer: False, patch="vote")

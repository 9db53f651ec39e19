"""risk_widgets.graph.build.to_graph: parameter counts per node (shared layers across
containers, the root model's trainable flags, LoRA patches)."""

from __future__ import annotations

import keras
import pytest

from risk_widgets.graph.build import (
    to_graph,
)
from tests.graph_helpers import (
    edges,
    node,
    sequential_in_functional,
)

# fresh Keras names, empty patch registries (fixtures in tests/conftest.py)
pytestmark = pytest.mark.usefixtures("_fresh_names", "no_hooks")


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

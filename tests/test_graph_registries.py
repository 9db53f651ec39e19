"""risk_widgets.graph.build: the patch-inspector and patchable registries (custom kinds,
the built-in hooks of adapters and risk wrappers, errors)."""

from __future__ import annotations

import json

import keras
import pytest

from risk_widgets.graph.build import (
    register_patch_inspector,
    register_patchable,
    to_graph,
    unregister_patch_inspector,
    unregister_patchable,
)
from tests.graph_helpers import (
    node,
)

# fresh Keras names, empty patch registries (fixtures in tests/conftest.py)
pytestmark = pytest.mark.usefixtures("_fresh_names", "no_hooks")


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

"""Shared by the tests of risk_widgets.graph.build.to_graph (tests/test_graph_*.py): the
Graph JSON contract check, accessors, and the models they draw. Their fixtures
(``_fresh_names``, ``no_hooks``, ``builtin_hooks``) are in tests/conftest.py."""

from __future__ import annotations

import json

import keras

from risk_widgets.core.composite import CompositeLayer
from risk_widgets.graph.build import (
    Graph,
)
from risk_widgets.graph.details import FAMILIES

NODE_KEYS = [
    "id",
    "name",
    "class_name",
    "kind",
    "parent",
    "family",
    "input_shape",
    "output_shape",
    "config",
    "weights",
    "params",
    "trainable_params",
    "patch",
    "patches",
    "patchable",
    "opaque",
]


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
        assert [k for k in n if k != "weights_more"] == NODE_KEYS  # weights_more: when cut
        assert n["family"] in FAMILIES
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

"""risk_widgets.graph.build.Graph rendering: to_dot (nested clusters, opaque groups),
to_svg, repr."""

from __future__ import annotations

import keras
import pytest

from risk_widgets.graph.build import (
    to_graph,
)
from tests.graph_helpers import (
    sequential_in_functional,
    three_deep,
)

# fresh Keras names, empty patch registries (fixtures in tests/conftest.py)
pytestmark = pytest.mark.usefixtures("_fresh_names", "no_hooks")


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

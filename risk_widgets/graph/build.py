"""`to_graph(model) -> Graph`: nodes, edges and nested groups of a Keras model.

The nodes are the model's inputs, every layer of `risk_widgets.core.walk.iter_layers` (groups
for containers, layers for leaves and ops such as ``x + y``) and one node per model output;
their ids are paths (docs/architecture.md "Paths" and "Graph JSON"). Edges connect leaf
producers to leaf consumers through the boundaries of nested graphs (their inputs and
outputs are not nodes). An *opaque* group (a layer that tracks sub-layers but is not a graph,
such as `MultiHeadAttention`) is itself the producer and consumer of its edges: its children
are listed without edges between them.

Patch state (a node's ``patch`` and ``patchable``) is read from the patch-kind registry,
`risk_widgets.engine.registry`, so this module imports no adapter or risk code; its
register functions are re-exported here.

Example:
    >>> import json, keras
    >>> from risk_widgets.graph.build import to_graph
    >>> x = keras.Input((4,), name="x")
    >>> model = keras.Model(x, keras.layers.Dense(2, name="head")(x), name="tiny")
    >>> graph = to_graph(model)
    >>> [node["id"] for node in graph.nodes]
    ['x', 'head', 'output_0']
    >>> graph.edges
    [{'source': 'x', 'target': 'head'}, {'source': 'head', 'target': 'output_0'}]
    >>> json.loads(json.dumps(graph.to_json()))["nodes"][1]["params"]
    10
"""

from __future__ import annotations

import math
from typing import Any

from keras import tree
from keras.layers import InputLayer, Layer

from risk_widgets.core import keras_internals as ki
from risk_widgets.core.walk import (
    graph_of,
    is_graph_container,
    iter_layers,
    resolve_root,
)
from risk_widgets.engine import registry
from risk_widgets.engine.registry import (
    register_patch_inspector,
    register_patchable,
    unregister_patch_inspector,
    unregister_patchable,
)
from risk_widgets.graph.details import base_layer, key_config, layer_family, weight_rows
from risk_widgets.graph.shapes import (
    input_shape_without_node,
    output_shape_without_node,
    shape_list,
    shapes_of,
)

__all__ = [
    "Graph",
    "to_graph",
    "register_patch_inspector",
    "unregister_patch_inspector",
    "register_patchable",
    "unregister_patchable",
]


def _class_name(layer: Any) -> str:
    """The class a user knows the node by: a patch layer shows the layer it wraps, through
    every patch (a sample on a LoRA on a Dense is a Dense)."""
    base = base_layer(layer)
    return type(layer if base is None else base).__name__


# ----------------------------------------------------------------------------- helpers


def _jsonable(value: Any) -> Any:
    """Plain JSON types only (numpy scalars, tuples, and other objects become plain)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        try:
            return _jsonable(item())
        except (TypeError, ValueError):
            pass
    return str(value)


def _size(variable: Any, sizes: dict[int, int]) -> int:
    key = id(variable)
    if key not in sizes:
        # KerasVariable keeps its shape as a tuple; `.shape` may build a backend shape.
        shape = ki.variable_shape(variable)
        if not isinstance(shape, tuple):
            shape = tuple(variable.shape)
        sizes[key] = math.prod(int(d) for d in shape)
    return sizes[key]


def _params(layer: Any, sizes: dict[int, int], trainable_ids: set[int]) -> tuple[int, int]:
    """(all, trainable) parameter counts of ``layer``, each variable counted once.

    A variable counts as trainable when the *root* model trains it (``trainable_ids``):
    a layer inside a frozen container, or a base layer frozen by a patched model, has
    trainable flags of its own but is not trained by this model.
    """
    if not isinstance(layer, Layer):
        return 0, 0
    variables = {id(v): v for v in layer.weights}
    total = sum(_size(v, sizes) for v in variables.values())
    trainable = sum(_size(v, sizes) for key, v in variables.items() if key in trainable_ids)
    return total, trainable


def _trainable_ids(root: Any, refs: list) -> set[int]:
    """Ids of the variables the root model trains."""
    if isinstance(root, Layer):
        return {id(v) for v in root.trainable_weights}
    ids: set[int] = set()  # not a layer: each top-level layer decides
    for ref in refs:
        if ref.parent is None and isinstance(ref.layer, Layer):
            ids.update(id(v) for v in ref.layer.trainable_weights)
    return ids


def _call_inputs(node: Any) -> list:
    """The flat input tensors of a container's call (the first argument, or ``inputs=``)."""
    args, kwargs = node.arguments.args, node.arguments.kwargs
    if args:
        return tree.flatten(args[0])
    if "inputs" in kwargs:
        return tree.flatten(kwargs["inputs"])
    return list(node.input_tensors)


# ----------------------------------------------------------------------------- graph


class Graph:
    """A model's graph: ``nodes`` (dicts, see docs/architecture.md), ``edges`` and ``name``.

    Use `to_graph` to make one.
    """

    def __init__(self, name: str, nodes: list[dict], edges: list[dict]):
        self.name = name
        self.nodes = nodes
        self.edges = edges

    def __repr__(self) -> str:
        groups = sum(n["kind"] == "group" for n in self.nodes)
        return (
            f"<Graph {self.name!r}: {len(self.nodes)} nodes ({groups} groups), "
            f"{len(self.edges)} edges>"
        )

    def to_json(self) -> dict:
        """A plain JSON-serialisable dict: ``{"name", "nodes", "edges"}`` (fresh copies)."""
        return {
            "name": self.name,
            "nodes": [dict(n) for n in self.nodes],
            "edges": [dict(e) for e in self.edges],
        }

    def to_dot(self) -> str:
        """Graphviz source: one ``cluster`` subgraph per group, nested like the groups."""
        by_parent: dict[str | None, list[dict]] = {}
        for node in self.nodes:
            by_parent.setdefault(node["parent"], []).append(node)

        def quote(text: str) -> str:
            escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
            return '"' + escaped + '"'

        lines = [
            f"digraph {quote(self.name)} {{",
            "  rankdir=TB;",
            '  node [shape=box, style="rounded,filled", fillcolor="#ffffff", '
            'fontname="Helvetica", fontsize=10];',
            '  edge [color="#555555", arrowsize=0.6];',
        ]
        counter = [0]

        def node_line(node: dict, indent: str) -> str:
            label = f"{node['name']}\n{node['class_name']}"
            stacked = node.get("patches") or []
            if len(stacked) > 1:  # several named adapters on one layer
                label += "\n[" + ", ".join(f"{p['kind']}:{p['name']}" for p in stacked) + "]"
            elif node["patch"]:
                label += f"\n[{node['patch']['kind']}]"
            attrs = [f"label={quote(label)}"]
            if node["kind"] in ("input", "output"):
                attrs.append('shape=ellipse, fillcolor="#eef3ff"')
            elif node["patch"]:
                attrs.append('fillcolor="#ffe9c7"')
            return f"{indent}{quote(node['id'])} [{', '.join(attrs)}];"

        def emit(parent: str | None, indent: str) -> None:
            for node in by_parent.get(parent, []):
                if node["kind"] != "group":
                    lines.append(node_line(node, indent))
                    continue
                counter[0] += 1
                lines.append(f"{indent}subgraph cluster_{counter[0]} {{")
                label = f"{node['name']} ({node['class_name']})"
                lines.append(f"{indent}  label={quote(label)};")
                lines.append(f'{indent}  style="rounded,dashed"; color="#888888";')
                if node["opaque"]:
                    # An opaque group is itself the end of its edges: give it a node.
                    lines.append(node_line(node, indent + "  "))
                emit(node["id"], indent + "  ")
                lines.append(f"{indent}}}")

        emit(None, "  ")
        for edge in self.edges:
            lines.append(f"  {quote(edge['source'])} -> {quote(edge['target'])};")
        lines.append("}")
        return "\n".join(lines) + "\n"

    def to_svg(self) -> str:
        """The graph drawn by graphviz's ``dot``, as SVG text.

        Raises:
            RuntimeError: the ``dot`` program (or the ``graphviz`` Python package) is
                missing; the message names the fix.
        """
        try:
            import graphviz
        except ImportError as error:  # pragma: no cover - a declared dependency
            raise RuntimeError(
                "Graph.to_svg needs the graphviz Python package: `pip install graphviz` "
                "(and the `dot` program: `apt-get install graphviz`)."
            ) from error
        try:
            svg = graphviz.Source(self.to_dot()).pipe(format="svg", encoding="utf-8")
        except graphviz.ExecutableNotFound as error:
            raise RuntimeError(
                "Graph.to_svg needs graphviz's `dot` program, which was not found on PATH. "
                "Install it with `apt-get install graphviz` (Debian/Ubuntu), "
                "`conda install graphviz` or `brew install graphviz`; use Graph.to_dot() or "
                "Graph.to_json() without it."
            ) from error
        return svg

    def _repr_svg_(self) -> str | None:  # pragma: no cover - notebooks only
        try:
            return self.to_svg()
        except RuntimeError:
            return None


class _Builder:
    """Computes edges and output shapes in one pass over the nested graphs."""

    def __init__(self) -> None:
        self.edges: dict[tuple[str, str], None] = {}  # ordered set
        self.shapes: dict[str, Any] = {}
        self.input_shapes: dict[str, Any] = {}

    def flow(self, graph: Any, prefix: str, sources: list[tuple[str, ...]]) -> list:
        """Propagates leaf sources through ``graph``; returns the sources of its outputs.

        Args:
            graph: a `Function` (Functional model, Sequential graph, CompositeLayer graph).
            prefix: the container's path plus ``"/"`` ("" at the top level).
            sources: per graph input, the leaf ids that produce it.
        """
        srcs: dict[int, tuple[str, ...]] = {}
        for tensor, src in zip(graph.inputs, sources, strict=False):
            srcs[id(tensor)] = src
        nodes_by_depth = ki.nodes_by_depth(graph)
        for depth in sorted(nodes_by_depth, reverse=True):
            for node in nodes_by_depth[depth]:
                op = node.operation
                if op is None or node.is_input or isinstance(op, InputLayer):
                    continue
                path = prefix + op.name
                inner = graph_of(op) if is_graph_container(op) else None
                if inner is not None:
                    outs = self._through(node, inner, path, srcs)
                else:
                    ins = _union(srcs.get(id(t), ()) for t in node.input_tensors)
                    for src in ins:
                        self.edges[(src, path)] = None
                    outs = [(path,)] * len(node.outputs)
                if path not in self.shapes:
                    self.shapes[path] = shapes_of(node.outputs)
                    self.input_shapes[path] = shapes_of(list(node.input_tensors))
                for tensor, src in zip(node.outputs, outs, strict=False):
                    srcs[id(tensor)] = src
        return [srcs.get(id(t), ()) for t in graph.outputs]

    def _through(self, node: Any, inner: Any, path: str, srcs: dict) -> list:
        """Edges through a nested graph container called at ``node``."""
        call_in = _call_inputs(node)
        if len(call_in) == len(inner.inputs):
            ins = [srcs.get(id(t), ()) if t is not None else () for t in call_in]
        else:  # an unusual call signature: every input feeds every inner input
            every = _union(srcs.get(id(t), ()) for t in node.input_tensors)
            ins = [every] * len(inner.inputs)
        outs = self.flow(inner, path + "/", ins)
        if len(outs) != len(node.outputs):
            every = _union(outs)
            outs = [every] * len(node.outputs)
        return outs


def _union(groups: Any) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for group in groups:
        for item in group:
            seen[item] = None
    return tuple(seen)


def _node(id_: str, name: str, class_name: str, kind: str, parent: str | None, shape: Any):
    return {
        "id": id_,
        "name": name,
        "class_name": class_name,
        "kind": kind,
        "parent": parent,
        "family": "io" if kind in ("input", "output") else "other",
        "input_shape": None,
        "output_shape": shape,
        "config": {},
        "weights": [],
        "params": 0,
        "trainable_params": 0,
        "patch": None,
        "patches": [],
        "patchable": [],
        "opaque": False,
    }


def _unique(id_: str, taken: set[str]) -> str:
    if id_ not in taken:
        return id_
    k = 1
    while f"{id_}#{k}" in taken:
        k += 1
    return f"{id_}#{k}"


def to_graph(model: Any) -> Graph:
    """The graph of ``model``: input, layer, group and output nodes and leaf-to-leaf edges.

    Works on any built Keras model: Functional and Sequential models (nested too),
    CompositeLayers, shared layers, multi-input / multi-output models, ops between layers
    (``x + y`` is an ``Add`` layer node), keras.applications models. A subclassed model
    (no graph) gives its layers, without inputs, outputs or edges.

    Args:
        model: a built Keras model or layer.

    Returns:
        A `Graph`; ``graph.to_json()`` is the "Graph JSON" of docs/architecture.md.

    Example:
        >>> import keras
        >>> from risk_widgets.graph.build import to_graph
        >>> inner = keras.Sequential([keras.layers.Dense(4, name="dense")], name="inner")
        >>> x = keras.Input((3,), name="x")
        >>> model = keras.Model(x, keras.layers.Dense(2, name="head")(inner(x)), name="m")
        >>> [(n["id"], n["kind"], n["parent"]) for n in to_graph(model).nodes]
        ... # doctest: +NORMALIZE_WHITESPACE
        [('x', 'input', None), ('inner', 'group', None), ('inner/dense', 'layer', 'inner'),
         ('head', 'layer', None), ('output_0', 'output', None)]
        >>> [(e["source"], e["target"]) for e in to_graph(model).edges]
        [('x', 'inner/dense'), ('inner/dense', 'head'), ('head', 'output_0')]
    """
    registry.load_builtin_kinds()
    root = resolve_root(model)
    name = str(getattr(model, "name", type(model).__name__))
    builder = _Builder()
    graph = graph_of(root) if is_graph_container(root) else None

    refs = list(iter_layers(root))
    taken = {ref.path for ref in refs}
    inputs: list[dict] = []
    outputs: list[dict] = []
    if graph is not None:
        sources = []
        for tensor in graph.inputs:
            origin = ki.keras_history(tensor).operation
            label = origin.name if isinstance(origin, InputLayer) else tensor.name
            id_ = _unique(label, taken)
            taken.add(id_)
            inputs.append(_node(id_, label, "InputLayer", "input", None, shape_list(tensor.shape)))
            sources.append((id_,))
        outs = builder.flow(graph, "", sources)
        for i, (tensor, src) in enumerate(zip(graph.outputs, outs, strict=True)):
            id_ = _unique(f"output_{i}", taken)
            taken.add(id_)
            outputs.append(
                _node(id_, f"output_{i}", "Output", "output", None, shape_list(tensor.shape))
            )
            for s in src:
                builder.edges[(s, id_)] = None

    nodes = list(inputs)
    sizes: dict[int, int] = {}
    trainable_ids = _trainable_ids(root, refs)
    for ref in refs:
        layer = ref.layer
        node = _node(
            ref.path,
            str(getattr(layer, "name", ref.path.rsplit("/", 1)[-1])),
            _class_name(layer),
            ref.kind,
            ref.parent,
            builder.shapes[ref.path]
            if ref.path in builder.shapes
            else output_shape_without_node(layer),
        )
        node["params"], node["trainable_params"] = _params(layer, sizes, trainable_ids)
        node["family"] = layer_family(layer, ref.kind)
        node["input_shape"] = builder.input_shapes.get(ref.path) or input_shape_without_node(
            layer
        )
        node["config"] = key_config(layer)
        if ref.kind == "layer":  # a group's weights are its children's (the panel sums them)
            node["weights"], more = weight_rows(layer, trainable_ids)
            if more:
                node["weights_more"] = more
        patch = registry.patch_of(layer, ref.path)
        node["patch"] = None if patch is None else _jsonable(patch)
        node["patches"] = _jsonable(registry.patches_of(layer, ref.path))
        node["patchable"] = registry.patchable_kinds(layer, wrapped=root is not model)
        node["opaque"] = ref.kind == "group" and not is_graph_container(layer)
        nodes.append(node)
    nodes.extend(outputs)
    edges = [{"source": s, "target": t} for s, t in builder.edges]
    return Graph(name, nodes, edges)

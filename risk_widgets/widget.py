"""The anywidget front for the graph editor (placeholder until the editor lands)."""

from __future__ import annotations

import pathlib
from typing import Any

import anywidget
import traitlets

_STATIC = pathlib.Path(__file__).parent / "static"


class GraphEditor(anywidget.AnyWidget):
    """Interactive graph editor for a Keras model.

    Example:
        >>> import keras, risk_widgets as rw
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="head")])
        >>> editor = rw.GraphEditor(model)
        >>> [n["id"] for n in editor.graph["nodes"] if n["kind"] == "layer"]
        ['head']
    """

    _esm = _STATIC / "widget.js"

    graph = traitlets.Dict().tag(sync=True)

    def __init__(self, model: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._model = model
        self.graph = _top_level_graph(model)


def _top_level_graph(model: Any) -> dict:
    nodes = [
        {"id": layer.name, "name": layer.name, "class_name": type(layer).__name__,
         "kind": "layer", "parent": None}
        for layer in model.layers
    ]
    return {"name": model.name, "nodes": nodes, "edges": []}

"""Tensor shapes as the graph JSON writes them: a list per shape (``None`` for unknown
dimensions), a list of lists for several tensors, ``None`` when unknown.

Example:
    >>> import keras
    >>> from risk_widgets.graph.shapes import shape_list, shapes_of
    >>> shape_list((None, 16, 32))
    [None, 16, 32]
    >>> shapes_of([keras.KerasTensor((None, 4)), keras.KerasTensor((None, 2))])
    [[None, 4], [None, 2]]
"""

from __future__ import annotations

from typing import Any

from keras import tree
from keras.layers import Layer

from risk_widgets.core import keras_internals as ki

__all__ = ["shape_list", "shapes_of", "output_shape_without_node", "input_shape_without_node"]


def shape_list(shape: Any) -> list | None:
    """One shape as a list of ints and ``None``s; ``None`` when it is not a shape."""
    if shape is None:
        return None
    try:
        return [None if d is None else int(d) for d in shape]
    except TypeError:
        return None


def shapes_of(tensors: list) -> Any:
    """One shape as a list, or a list of shapes for several tensors; None if unknown."""
    shapes = [shape_list(getattr(t, "shape", None)) for t in tensors]
    if not shapes:
        return None
    return shapes[0] if len(shapes) == 1 else shapes


def input_shape_without_node(layer: Any) -> Any:
    """Input shape of a layer that has no node in any walked graph (opaque children), from
    the shapes it was built on; None if unknown."""
    build_shapes = ki.build_shapes(layer)
    if not isinstance(layer, Layer) or not build_shapes:
        return None
    shapes = [shape_list(s) for s in build_shapes.values() if s is not None]
    if not shapes:
        return None
    return shapes[0] if len(shapes) == 1 else shapes


def output_shape_without_node(layer: Any) -> Any:
    """Output shape of a layer that has no node in any walked graph (opaque children)."""
    build_shapes = ki.build_shapes(layer)
    if not isinstance(layer, Layer) or not build_shapes or len(build_shapes) != 1:
        return None
    try:
        out = layer.compute_output_shape(*build_shapes.values())
    except Exception:  # noqa: BLE001 - a layer that cannot say: shape unknown
        return None
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], (tuple, list)):
        return [shape_list(s) for s in out]
    if isinstance(out, dict):
        return [shape_list(s) for s in tree.flatten(out)]
    return shape_list(out)

"""How a `PatchedModel` runs its shared base without touching it: `FrozenBase`.

Stateful base layers (BatchNormalization's moving statistics) are called with
``training=False``; graph containers that hold one are run through their own graph the
same way. Nothing is set on any layer, so the user's model, which shares them, can run at
the same time in another thread.
"""

from __future__ import annotations

from keras import Sequential, tree

from risk_widgets.core import keras_internals as ki
from risk_widgets.core.walk import graph_of, is_graph_container, is_patch_layer

__all__ = ["FrozenBase", "has_state"]


def has_state(layer) -> bool:
    """A leaf layer whose call takes ``training`` and that has non-trainable state
    (BatchNormalization's moving statistics)."""
    return bool(
        ki.call_takes_training(layer)
        and ki.own_non_trainable_variables(layer)
        and not ki.sublayers(layer)
    )


class FrozenBase:
    """How a `PatchedModel` runs its shared base without touching it.

    Stateful base layers (`has_state`) are called with ``training=False``, so they run on
    their moving statistics and never update them. Graph containers that hold one
    (nested Functional / Sequential models, CompositeLayers, shared or rebuilt) are run
    through their own graph the same way; an opaque layer that holds one (a subclassed
    layer whose call is not a graph) is called with ``training=False`` as a whole. Nothing
    is set on any layer: the user's model, which shares these layers, can run at the same
    time in another thread.
    """

    def __init__(self, model):
        self.stateful: set[int] = set()
        self.holders: set[int] = set()  # non-patch layers with a stateful layer inside
        self._keep = []  # the layers whose ids are used above
        self._visit(model, set())

    def _visit(self, layer, seen: set) -> bool:
        found = False
        for sub in ki.sublayers(layer):
            if is_patch_layer(sub):
                continue  # patch layers train as they are; their base is not entered
            if id(sub) not in seen:
                seen.add(id(sub))
                self._keep.append(sub)
                if has_state(sub):
                    self.stateful.add(id(sub))
                elif self._visit(sub, seen):
                    self.holders.add(id(sub))
            found = found or id(sub) in self.stateful or id(sub) in self.holders
        return found

    def run(self, graph, inputs, training, mask, context: dict):
        """`Functional.call` of ``graph`` (a Functional or CompositeLayer), frozen."""
        inputs = ki.standardize_inputs(graph, inputs)
        if mask is not None:
            for x, m in zip(inputs, tree.flatten(mask), strict=False):
                if m is not None:
                    ki.set_keras_mask(x, m)
        outputs = ki.run_through_graph(
            graph, inputs, lambda op: self.operation_fn(op, training, context)
        )
        return ki.unpack_singleton(outputs)

    def operation_fn(self, op, outer_training, context: dict):
        """The call of ``op`` inside a frozen graph: Keras' ``operation_fn`` (the outer
        call's ``training`` and context arguments win when set), except for stateful base
        layers and the layers that hold one."""
        key = id(op)
        forced = key in self.stateful or key in self.holders
        graph = None
        if key in self.holders and is_graph_container(op) and graph_of(op) is not None:
            graph = ki.sequential_graph(op) if isinstance(op, Sequential) else op

        def call(*args, **kwargs):
            names = ki.call_context_args(op)
            for name, value in {"training": outer_training, **context}.items():
                if name in names and value is not None:
                    kwargs[name] = value
            if graph is not None and len(args) == 1:  # a container: run its graph, frozen
                training, mask = kwargs.pop("training", None), kwargs.pop("mask", None)
                return self.run(graph, args[0], training, mask, kwargs)
            if forced and "training" in names:
                kwargs["training"] = False
            return op(*args, **kwargs)

        return call

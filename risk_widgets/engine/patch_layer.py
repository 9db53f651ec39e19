"""The patch-layer contract: `PatchLayer` and the `TrainableSubset` weight lists.

A *patch layer* is any layer whose class sets ``is_patch_layer = True``. `PatchedModel`
trains exactly the ``trainable_weights`` of its patch layers and nothing else, so a patch
layer's ``trainable_weights`` must list only its own new weights, never the (shared) base
layer's. `PatchLayer` does that for Keras `Wrapper`-style layers: it holds the base layer
as ``self.layer``, reports only its own weights as trainable and never changes the base's
``trainable`` flags (``layer.trainable = False`` on a shared layer would flip the flags of
the variables it shares with the user's model).

Example:
    >>> import keras
    >>> from risk_widgets.engine.patch_layer import PatchLayer
    >>> class Scaled(PatchLayer):
    ...     def call(self, x):
    ...         return 2.0 * self.layer(x)
    >>> dense = keras.layers.Dense(2)
    >>> dense.build((None, 3))
    >>> patch = Scaled(dense)
    >>> patch.is_patch_layer, patch.trainable_weights, dense.trainable
    (True, [], True)
"""

from __future__ import annotations

import keras

from risk_widgets.core import keras_internals as ki

__all__ = ["PatchLayer", "TrainableSubset"]


class TrainableSubset:
    """Derives the other weight lists from an overridden ``trainable_weights``.

    Mixed into layers and models that train only a subset of their weights (patch layers,
    `PatchedModel`): Keras' trainer reads ``trainable_weights`` and ``optimizer.build``
    reads ``trainable_variables``, so all four lists must agree.
    """

    @property
    def non_trainable_weights(self):
        trainable = {id(v) for v in self.trainable_weights}
        return [v for v in self.weights if id(v) not in trainable]

    @property
    def trainable_variables(self):
        return self.trainable_weights

    @property
    def non_trainable_variables(self):
        trainable = {id(v) for v in self.trainable_weights}
        return [v for v in self.variables if id(v) not in trainable]


class PatchLayer(TrainableSubset, keras.layers.Wrapper):
    """Base class of patch layers: wraps ``layer`` and freezes it, flags untouched.

    The base layer is **shared** with the model that was patched (not copied) and frozen
    by this wrapper: ``trainable_weights`` lists only the wrapper's own weights, and
    setting ``trainable`` never reaches the base layer.

    Subclasses implement ``call`` and, optionally, ``patch_info()``, ``unpatched()``
    (default: the base layer) and ``folded()`` (a plain Keras layer with merged, new
    weights).

    Args:
        layer: the base layer (built).
        **kwargs: base Layer arguments (``name`` defaults to the base layer's name, so the
            patched layer keeps its path).
    """

    is_patch_layer = True
    patch_kind = "patch"

    def __init__(self, layer, **kwargs):
        if not isinstance(layer, keras.layers.Layer):
            raise TypeError(
                f"{type(self).__name__} wraps a Keras layer. Received: layer={layer!r} "
                f"(of type {type(layer).__name__})"
            )
        kwargs.setdefault("name", layer.name)
        kwargs.setdefault("dtype", layer.dtype_policy)
        super().__init__(layer, **kwargs)

    # -- freezing the base without touching its flags -------------------------------
    def _frozen_ids(self) -> set[int]:
        return {id(v) for v in self.layer.variables}

    @property
    def trainable(self):
        return ki.trainable_flag(self)

    @trainable.setter
    def trainable(self, value):
        value = bool(value)
        ki.set_trainable_flag(self, value)
        for v in ki.own_trainable_variables(self):
            v.trainable = value
        for sub in ki.sublayers(self):
            if sub is not self.layer:
                sub.trainable = value

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        frozen = self._frozen_ids()
        return [v for v in self.weights if v.trainable and id(v) not in frozen]


    @property
    def adapter_weights(self) -> list:
        """The weights that make this patch (saved by `save_adapters`): own, not base."""
        frozen = self._frozen_ids()
        return [v for v in self.weights if id(v) not in frozen]

    # -- protocol ---------------------------------------------------------------------
    def patch_info(self) -> dict:
        """``{"kind": ..., "params": {...}}`` for the graph and the editor."""
        return {"kind": self.patch_kind, "params": {}}

    def unpatched(self) -> keras.layers.Layer:
        """The layer this patch replaced (for `unpatch`)."""
        return self.layer

    def folded(self) -> keras.layers.Layer:
        """A plain Keras layer equivalent to this patch, with new weights (for `fold`)."""
        raise NotImplementedError(
            f"{type(self).__name__} {self.name!r} cannot be folded into a plain layer; "
            "unpatch it first."
        )

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

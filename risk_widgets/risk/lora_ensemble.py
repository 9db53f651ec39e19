"""``lora_ensemble``: vote over M LoRA adapters on one frozen base.

Each targeted Dense / EinsumDense layer becomes a :class:`LoRAEnsembleLayer`: the base layer
runs once on all rows, and member ``k`` adds its own low-rank update ``x A_k B_k`` to its rows
(the batch is repeated over the members, as in :mod:`risk_widgets.risk.vote`). Every other
layer is frozen, so ``fit`` trains only the M adapters, each on its own copy of the compiled
loss. Risk = the std of the members' predictions. Memory: one copy of the base plus
``M × rank × (in + out)`` per targeted layer — against M full models for ``vote``.

The ``A_k`` start He-uniform and different per member, the ``B_k`` at zero: a fresh
ensemble predicts exactly what the base does (risk 0) and the members diverge as they train,
since each ``B_k`` gets a gradient through its own ``A_k``.

Example:
    >>> import keras
    >>> from risk_widgets.risk import lora_ensemble
    >>> inputs = keras.Input((4,))
    >>> h = keras.layers.Dense(8, name="body")(inputs)
    >>> model = keras.Model(inputs, keras.layers.Dense(1, name="head")(h))
    >>> risky = lora_ensemble.Wrapper(n_members=3, rank=2)(model, targets="body")
    >>> y, risk = risky(keras.ops.ones((2, 4)), return_risk=True)
    >>> risky.members, float(keras.ops.max(risk)) < 1e-6  # fresh adapters: members agree
    (3, True)
    >>> sorted(w.name for w in risky.trainable_weights)
    ['lora_a', 'lora_b']
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from risk_widgets.adapters.base import can_adapt, kernel_view
from risk_widgets.adapters.patterns import PathValues
from risk_widgets.core.params import PARAMS
from risk_widgets.core.walk import is_patch_layer
from risk_widgets.risk.compose import (
    Sites,
    check_member_count,
    leaf_layers,
    report_output,
    unwrap,
)
from risk_widgets.risk.model import RiskModel
from risk_widgets.risk.wrap import wrap_model

__all__ = ["LoRAEnsembleLayer", "SITES", "Wrapper"]


def _problem(layer: Any) -> str | None:
    if is_patch_layer(layer):
        return (
            f"is already patched ({type(layer).__name__}); a LoRA ensemble goes on a plain "
            "Dense / EinsumDense layer: call rw.unpatch(model) first, or target another layer."
        )
    if can_adapt(layer) and not isinstance(layer, keras.layers.Embedding):  # LoRA takes
        return None  # Embedding too; an ensemble needs a kernel matmul on the input
    return (
        f"({unwrap(layer).__class__.__name__}) is not a Dense or EinsumDense layer, which LoRA "
        "needs. Target Dense / EinsumDense layers (e.g. '*/attn/query') or a group holding them."
    )


#: Where a LoRA ensemble goes: Dense / EinsumDense layers (a group stands for those inside).
SITES = Sites("lora_ensemble", _problem, lambda layer: _problem(layer) is None)


@keras.saving.register_keras_serializable(package="risk_widgets")
class LoRAEnsembleLayer(keras.layers.Layer):
    """A frozen base layer plus ``n_members`` LoRA updates, one per member's rows.

    Args:
        layer: a built Dense or EinsumDense layer (the risk model's own copy; it is frozen).
        n_members: number of adapters, >= 2.
        rank: rank of each update, in the limits of ``PARAMS["rank"]``.
        stride: the member stride (the product of the member counts of earlier wrappers).
    """

    is_patch_layer = True
    risk_kind = "lora_ensemble"

    def __init__(self, layer, n_members=4, rank=4, stride=1, **kwargs):
        kwargs.setdefault("name", layer.name)
        super().__init__(**kwargs)
        self.layer = layer
        self.layer.trainable = False  # the risk model's copy: only the adapters train
        self.n_members = check_member_count("n_members", n_members, "one adapter has no spread")
        self.rank = PARAMS["rank"].check(rank)
        self.stride = int(stride)
        self.view = kernel_view(layer, self.name, "LoRA ensemble")
        if not self.view.trailing:
            raise ValueError(
                f"lora_ensemble: {self.name!r} contracts axes that are not the last ones of its "
                f"input (equation {self.view.equation!r}); use vote for this layer."
            )

    @property
    def wrapped_layer(self):
        return self.layer

    def patch_info(self) -> dict:
        return {"kind": "lora_ensemble", "params": {"n_members": self.n_members,
                                                    "rank": self.rank}}

    def build(self, input_shape):
        if not self.layer.built:
            self.layer.build(input_shape)
        n_in, n_out = self.view.matrix_shape
        self.lora_a = self.add_weight(
            name="lora_a", shape=(self.n_members, n_in, self.rank),
            initializer=keras.initializers.HeUniform(), dtype="float32")
        self.lora_b = self.add_weight(
            name="lora_b", shape=(self.n_members, self.rank, n_out), initializer="zeros",
            dtype="float32")
        self.built = True

    def call(self, inputs):
        n_in = self.view.matrix_shape[0]
        lead = ops.shape(inputs)[: len(inputs.shape) - len(self.view.contracted)]
        groups = lead[0] // (self.n_members * self.stride)
        # rows are (batch, member, stride) in member-digit order (as vote lays them out);
        # the axes between the rows and the contracted ones (a sequence) ride along as p
        x = ops.reshape(inputs, (groups, self.n_members, self.stride, -1, n_in))
        hidden = ops.einsum("bmspi,mir->bmspr", x, ops.cast(self.lora_a, x.dtype))
        delta = ops.einsum("bmspr,mro->bmspo", hidden, ops.cast(self.lora_b, x.dtype))
        delta = ops.reshape(delta, (*lead, *self.view.up_shape))
        linear = self.view.linear(inputs)
        return report_output(self, self.view.activate(ops.add(linear, delta)))

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def get_config(self):
        return {**super().get_config(), "n_members": self.n_members, "rank": self.rank,
                "stride": self.stride, "layer": keras.saving.serialize_keras_object(self.layer)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        layer = keras.saving.deserialize_keras_object(config.pop("layer"),
                                                      custom_objects=custom_objects)
        return cls(layer, **config)


class Wrapper:
    """LoRA ensemble: ``Wrapper(n_members=4, rank=4)(model, targets=None) -> RiskModel``.

    ``targets`` (path, glob, list, class or predicate; a group stands for the Dense /
    EinsumDense layers in it) default to every Dense / EinsumDense layer. Raises a
    ValueError naming the layer when a target cannot take LoRA. ``rank`` may be a dict
    of path globs, as for `risk_widgets.add_lora` (`risk_widgets.adapters.patterns`).
    """

    kind = "lora_ensemble"

    def __init__(self, n_members: int = 4, rank: Any = 4):
        self.n_members = check_member_count("n_members", n_members, "one adapter has no spread")
        # a rank, or per-path glob rules as in add_lora (first match wins; unmatched paths: 4)
        ranks = PathValues("rank", rank, default=4)
        self.rank = dict(ranks.rules) if ranks.is_pattern else ranks.value

    @property
    def params(self) -> dict:
        return {"n_members": self.n_members, "rank": self.rank}

    def __call__(self, model: Any, targets: Any = None) -> RiskModel:
        ranks = PathValues("rank", self.rank, default=4)

        def select(leaves, state):
            if targets is None:
                chosen = [p for p, layer in leaves if _problem(layer) is None]
                if not chosen:
                    raise ValueError(
                        "lora_ensemble: the model has no Dense or EinsumDense layer for LoRA. "
                        "Use vote or sample for other layers."
                    )
                return chosen
            return SITES.choose(state["base"], targets)

        def replace(layer, path, copy, stride):
            if not layer.built:
                raise ValueError(f"lora_ensemble: layer {path!r} is not built; call the model "
                                 "on data (or build it) first.")
            base = copy(layer)  # its weights are set from `layer` once the rebuild is done
            base.build_from_config(layer.get_build_config())
            return LoRAEnsembleLayer(base, n_members=self.n_members, rank=ranks(path),
                                     stride=stride, name=layer.name)

        risky = wrap_model(model, kind=self.kind, params=self.params, n_members=self.n_members,
                           select=select, replace=replace)
        for _, layer in leaf_layers(risky.body):  # the risk model's own copies, not the user's
            if not isinstance(layer, LoRAEnsembleLayer) and getattr(layer, "weights", None):
                layer.trainable = False
        ranks.warn_unmatched(self.kind)
        return risky

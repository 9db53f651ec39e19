"""``vote``: an ensemble of independently initialised copies of the chosen layers.

Risk = the std of the voters' predictions. The default target is the whole model: every
layer with weights becomes a :class:`VoteLayer` of ``n_voters`` fresh copies, all with the
same member digit, so member ``k`` runs an independent copy ``k`` of the whole network.
Layers without weights (activations, ``Add``, ...) are shared by all members.

All voters run in one batched call: the batch is repeated over the members and each vote
layer hands voter ``k`` its own slice of the rows (see :mod:`risk_widgets.risk.compose`).
``fit`` trains every member on its own copy of the compiled loss (the loss of the member's
prediction, not of the ensemble mean), so the voters stay diverse.

The voters are fresh copies: the user's model is never modified and its weights are not
reused by the targeted layers; untargeted layers are copied with their current weights.

Example:
    >>> import keras
    >>> from risk_widgets.risk import vote
    >>> inputs = keras.Input((1,))
    >>> model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Dense(8)(inputs)))
    >>> risky = vote.Wrapper(n_voters=3)(model)
    >>> y, risk = risky(keras.ops.ones((2, 1)), return_risk=True)
    >>> tuple(risk.shape), risky.members
    ((2, 1), 3)
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops, tree

from risk_widgets.risk.compose import (
    Sites,
    check_member_count,
    copy_layer,
    report_output,
    trailing_dims,
    unwrap,
)
from risk_widgets.risk.model import RiskModel
from risk_widgets.risk.wrap import wrap_model

__all__ = ["SITES", "VoteLayer", "Wrapper"]


def _vote_problem(layer: Any) -> str | None:
    """Why vote cannot go into ``layer`` (None when it can): it needs weights to copy."""
    if getattr(layer, "weights", None):
        return None
    return (
        f"({unwrap(layer).__class__.__name__}) has no weights, so its copies would all agree. "
        "Target a layer with weights (Dense, Conv, ...) or leave targets=None to ensemble the "
        "whole model."
    )


#: Where vote goes for given targets (applying it and the graph's ``patchable``): a layer
#: with weights; a group named by its path stands for every layer with weights inside it,
#: a group a glob matches (with layers inside it) is voted whole.
SITES = Sites("vote", _vote_problem, lambda layer: _vote_problem(layer) is None,
              whole_groups=True)


def _check_n_voters(n_voters: Any) -> int:
    return check_member_count("n_voters", n_voters, "one voter has no one to disagree with")


@keras.saving.register_keras_serializable(package="risk_widgets")
class VoteLayer(keras.layers.Layer):
    """``n_voters`` independent copies of a layer; copy ``k`` gets the rows of member digit ``k``.

    Args:
        layer: the layer to copy (only its config is used: each voter is freshly initialised).
        n_voters: number of copies, >= 2.
        stride: the member stride of this vote's digit (the product of the member counts of
            the wrappers applied before it); rows are read as ``(-1, n_voters, stride, ...)``.
        voters: the copies themselves (used by ``from_config``; leave unset).

    Input shape: whatever ``layer`` takes, with a batch of ``B·M`` rows (``M`` divisible by
    ``n_voters·stride``). Output shape: what ``layer`` returns for those rows.
    """

    is_patch_layer = True
    risk_kind = "vote"

    def __init__(self, layer=None, n_voters=5, stride=1, voters=None, **kwargs):
        n_voters = _check_n_voters(n_voters)
        if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1:
            raise ValueError(f"`stride` must be a positive integer. Received: stride={stride!r}")
        if voters is None:
            if not isinstance(layer, keras.layers.Layer):
                raise TypeError(f"VoteLayer needs a keras Layer to copy. Received: layer={layer!r}")
            kwargs.setdefault("name", layer.name)
            voters = []
            for k in range(n_voters):
                voter = copy_layer(layer, name=f"{layer.name}_voter_{k}", fresh=True)
                voter.trainable = True  # the copy's own flag; the user's layer is untouched
                voters.append(voter)
        elif len(voters) != n_voters:
            raise ValueError(f"Expected {n_voters} voters. Received: {len(voters)}")
        super().__init__(**kwargs)
        self.n_voters = n_voters
        self.stride = stride
        self.voters = list(voters)

    @property
    def wrapped_layer(self):
        return self.voters[0]

    def patch_info(self) -> dict:
        return {"kind": "vote", "params": {"n_voters": self.n_voters}}

    def copy_layer(self, name=None, fresh=False):
        """A new VoteLayer with copies of the voters (custom voter classes need no registry)."""
        voters = [copy_layer(v, fresh=fresh) for v in self.voters]
        return VoteLayer(
            n_voters=self.n_voters, stride=self.stride, voters=voters, name=name or self.name
        )

    def build(self, input_shape=None, **shapes):
        # ``shapes``: a voted layer whose call takes several tensors (MultiHeadAttention's
        # query_shape, value_shape), when the rebuild builds this layer as the original was
        for voter in self.voters:
            if voter.built or type(voter).build is keras.layers.Layer.build:
                continue  # a block without build() of its own builds on its first call
            voter.build(**shapes) if shapes else voter.build(input_shape)
        self.built = True

    def _split(self, t: Any) -> list[Any]:
        dims = trailing_dims(t)
        grouped = ops.reshape(t, (-1, self.n_voters, self.stride, *dims))
        parts = ops.unstack(grouped, num=self.n_voters, axis=1)
        return [ops.reshape(part, (-1, *dims)) for part in parts]

    def _merge(self, parts: list[Any]) -> Any:
        dims = trailing_dims(parts[0])
        grouped = [ops.reshape(p, (-1, self.stride, *dims)) for p in parts]
        return ops.reshape(ops.stack(grouped, axis=1), (-1, *dims))

    def call(self, inputs, *args, **kwargs):
        if _shape_trace(inputs):  # JAX / torch working out an enclosing layer's output shape
            return self.voters[0](inputs, *args, **kwargs)
        if not args and not kwargs.keys() - {"training"} and self._stackable(inputs):
            return report_output(self, self._stacked_dense(inputs))
        structure = (inputs, list(args), kwargs)
        leaves = tree.flatten(structure)
        parts = [
            self._split(leaf) if _is_tensor(leaf) else [leaf] * self.n_voters for leaf in leaves
        ]
        outputs = []
        for k, voter in enumerate(self.voters):
            x_k, args_k, kwargs_k = tree.pack_sequence_as(structure, [p[k] for p in parts])
            outputs.append(voter(x_k, *args_k, **kwargs_k))
        merged = tree.map_structure(lambda *outs: self._merge(list(outs)), *outputs)
        return report_output(self, merged)

    def _stackable(self, inputs: Any) -> bool:
        """Whether every voter is a plain float Dense (no LoRA, not quantized, this layer's
        dtype policy), so that one einsum over the stacked kernels computes them all."""
        if not _is_tensor(inputs) or len(inputs.shape) - 2 > len(_MID_AXES):
            return False
        policy, first = self.dtype_policy.name, self.voters[0]
        return all(
            type(v) is keras.layers.Dense
            and v.built
            and not v.lora_enabled
            and v.quantization_mode is None
            and v.dtype_policy.name == policy
            and v.units == first.units
            and v.activation is first.activation
            and (v.bias is None) == (first.bias is None)
            for v in self.voters
        )

    def _stacked_dense(self, inputs: Any) -> Any:
        """The voters' ``Dense.call`` as one einsum over their stacked kernels.

        Calling n Dense layers on n slices costs n matmuls plus a reshape per slice each way;
        here the rows stay grouped as ``(B, n_voters, stride, ..., in)`` and member ``k``'s
        rows meet kernel ``k`` in one op (vote over a whole MLP: about 2-3x fewer ops per
        call). The letters are spelled out: TF's einsum gradient with ``...`` broadcasts.
        """
        dims = trailing_dims(inputs)
        mid = _MID_AXES[: len(dims) - 1]
        grouped = ops.reshape(inputs, (-1, self.n_voters, self.stride, *dims))
        kernels = ops.stack([v.kernel.value for v in self.voters])
        out = ops.einsum(f"bns{mid}i,nio->bns{mid}o", grouped, kernels)
        first = self.voters[0]
        if first.bias is not None:
            bias = ops.stack([v.bias.value for v in self.voters])
            out = ops.add(out, ops.reshape(bias, (self.n_voters, 1, *[1] * len(mid), -1)))
        if first.activation is not None:
            out = first.activation(out)
        return ops.reshape(out, (-1, *dims[:-1], first.units))

    def compute_output_spec(self, inputs, *args, **kwargs):
        return self.voters[0].compute_output_spec(inputs, *args, **kwargs)

    def compute_output_shape(self, input_shape):  # wrappers such as TimeDistributed ask
        return self.voters[0].compute_output_shape(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "n_voters": self.n_voters,
                "stride": self.stride,
                "voters": [keras.saving.serialize_keras_object(v) for v in self.voters],
            }
        )
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config["voters"] = [
            keras.saving.deserialize_keras_object(v, custom_objects=custom_objects)
            for v in config["voters"]
        ]
        return cls(**config)


#: einsum letters for the axes between the batch and the features (none of b, n, s, i, o)
_MID_AXES = "cdefghjklm"


def _shape_trace(inputs: Any) -> bool:
    """Whether ``inputs`` are stand-ins that JAX or torch run a layer on to find an enclosing
    opaque layer's output shape (a subclassed model wrapped whole): a symbolic batch size on
    JAX, the ``meta`` device on torch, where ``None`` became 83 rows, which the member
    reshape cannot split. A vote keeps its voter's shapes, so voter 0 answers then."""
    first = next((t for t in tree.flatten(inputs) if _is_tensor(t)), None)
    if first is None or keras.backend.backend() not in ("jax", "torch"):
        return False
    if keras.backend.backend() == "torch":
        return str(getattr(first, "device", "")) == "meta"
    return not isinstance(first.shape[0], int)


def _is_tensor(value: Any) -> bool:
    return hasattr(value, "shape") and hasattr(value, "dtype") and len(value.shape) > 0


class Wrapper:
    """Vote wrapper: ``Wrapper(n_voters=5)(model, targets=None) -> RiskModel``.

    Args:
        n_voters: ensemble size, an integer >= 2.

    Calling it:
        model: a built Functional, Sequential or subclassed model (wrapped as one opaque
            layer: :func:`~risk_widgets.risk.wrap.as_graph`), or a :class:`RiskModel`
            (wrappers compose).
        targets: layers to ensemble: a path, glob, list, layer class or predicate(path, layer)
            (see :func:`risk_widgets.find_layers`); a group (``"block_0"``) stands for every
            layer with weights inside it, each voted on its own. A glob takes its outermost
            matches: one that matches a block and the layers inside it
            (``"*transformer_layer_1*"``) votes the block whole (each voter a fresh copy of
            the block; a block holding an earlier patch gives its layers instead), and skips
            matches without weights (a ``Softmax``); a glob matching no layer with weights is
            an error naming it. ``None`` (default) ensembles the whole model (every layer
            with weights).

    Example:
        >>> import keras
        >>> from risk_widgets.risk import vote
        >>> inputs = keras.Input((2,))
        >>> h = keras.layers.Dense(4, name="body")(inputs)
        >>> model = keras.Model(inputs, keras.layers.Dense(1, name="head")(h))
        >>> risky = vote.Wrapper(n_voters=2)(model, targets="head")
        >>> [layer.__class__.__name__ for layer in risky.body.layers]
        ['InputLayer', 'Dense', 'VoteLayer']
    """

    kind = "vote"

    def __init__(self, n_voters: int = 5):
        self.n_voters = _check_n_voters(n_voters)

    @property
    def params(self) -> dict:
        return {"n_voters": self.n_voters}

    def __call__(self, model: Any, targets: Any = None) -> RiskModel:
        n_voters = self.n_voters

        def select(leaves, state):
            if targets is None:
                chosen = [p for p, layer in leaves if getattr(layer, "weights", None)]
                if not chosen:
                    raise ValueError(
                        "vote: the model has no layer with weights, so every copy would agree. "
                        "Vote needs at least one trainable layer (e.g. Dense)."
                    )
                return chosen
            return SITES.choose(state["base"], targets)

        def replace(layer, path, copy, stride):
            try:
                return VoteLayer(layer, n_voters=n_voters, stride=stride, name=layer.name)
            except (NotImplementedError, TypeError, ValueError, AttributeError) as err:
                why = (str(err).strip().splitlines() or [""])[0]
                raise ValueError(
                    f"vote: target {path!r} ({type(layer).__name__}) cannot be copied from its "
                    f"config ({type(err).__name__}: {why}), and every voter is a fresh copy. "
                    f"Target the layers inside it instead, e.g. targets={path + '/*'!r}."
                ) from err

        return wrap_model(
            model,
            kind="vote",
            params=self.params,
            n_members=n_voters,
            select=select,
            replace=replace,
        )

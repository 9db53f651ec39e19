"""``sample``: Monte-Carlo dropout after the chosen layers, active at inference.

Risk = the std over ``n_samples`` dropout samples. The samples are members of the risk model:
the batch is repeated ``n_samples`` times and the body runs once on all rows, each row drawing
its own dropout mask, so there is no Python loop over samples.

The default sites are every Dense / EinsumDense / Conv layer except the last ones (those that
feed a model output with no other Dense/Conv in between): dropout right on the prediction
would only add noise proportional to it. Inside an opaque layer that ends the model (a
subclassed block or a subclassed model wrapped whole, whose inside is not a graph) the last
ones are found by running the model once per candidate (:func:`~risk_widgets.risk.wrap.
last_layers`), so its prediction layer gets no dropout either.

The risk model owns a copy of the user's layers, initialised with their current weights; it
trains them (with dropout on) when you ``fit`` it. The user's model is never modified.

Example:
    >>> import keras
    >>> from risk_widgets.risk import sample
    >>> inputs = keras.Input((1,))
    >>> model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Dense(8)(inputs)))
    >>> risky = sample.Wrapper(n_samples=4, rate=0.2)(model)
    >>> y, risk = risky(keras.ops.ones((3, 1)), return_risk=True)
    >>> tuple(y.shape), tuple(risk.shape), risky.members
    ((3, 1), (3, 1), 4)
"""

from __future__ import annotations

import random
from typing import Any

import keras
from keras import tree

from risk_widgets.core.params import PARAMS
from risk_widgets.risk.compose import (
    Sites,
    check_member_count,
    report_output,
    unwrap,
)
from risk_widgets.risk.mc_dropout import mc_dropout
from risk_widgets.risk.model import RiskModel
from risk_widgets.risk.wrap import last_layers, wrap_model

__all__ = ["SITES", "SampleLayer", "Wrapper", "DROPOUT_SITES"]


def _dropout_site_classes() -> tuple[type, ...]:
    from risk_widgets.core.keras_internals import BaseConv

    return (keras.layers.Dense, keras.layers.EinsumDense, BaseConv)


DROPOUT_SITES = "Dense, EinsumDense, Conv1D/2D/3D"


def _check_rate(rate: Any) -> float:
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 < rate < 1:
        raise ValueError(
            "Received an invalid value for `rate`, expected a dropout rate strictly between 0 "
            f"and 1 (e.g. 0.1). Received: rate={rate!r}"
        )
    return PARAMS["rate"].check(float(rate))  # the editor's limits


def _check_n_samples(n_samples: Any) -> int:
    return check_member_count("n_samples", n_samples, "the std of one sample is undefined")


@keras.saving.register_keras_serializable(package="risk_widgets")
class SampleLayer(keras.layers.Layer):
    """Runs ``layer`` and applies dropout to its output, in training **and** at inference.

    Args:
        layer: the layer whose output gets dropout.
        rate: dropout rate in (0, 1).
        n_samples: the number of samples this site was created for (informational; the
            number of members is the risk model's).
        seed: the seed of this site's dropout masks (an int), so that the same seed gives
            the same masks on every backend; None draws one from Python's `random` (which
            ``keras.utils.set_random_seed`` seeds).

    Input shape: as ``layer``. Output shape: as ``layer``.
    """

    is_patch_layer = True
    risk_kind = "sample"

    def __init__(self, layer, rate=0.1, n_samples=16, seed=None, **kwargs):
        if not isinstance(layer, keras.layers.Layer):
            raise TypeError(f"SampleLayer needs a keras Layer. Received: layer={layer!r}")
        seed = _check_seed(seed)
        kwargs.setdefault("name", layer.name)
        super().__init__(**kwargs)
        self.layer = layer
        self.rate = _check_rate(rate)
        self.n_samples = _check_n_samples(n_samples)
        self.seed = _draw_seed() if seed is None else seed
        # kept as a sublayer for its seed generator (and the saved files that hold its
        # state); the mask itself comes from `mc_dropout`, cheaper on TensorFlow. Seeded:
        # on torch an unseeded generator falls back to torch's global, unreproducible dropout
        self.dropout = keras.layers.Dropout(self.rate, seed=self.seed, name="mc_dropout")

    @property
    def wrapped_layer(self):
        return self.layer

    def patch_info(self) -> dict:
        return {"kind": "sample", "params": {"n_samples": self.n_samples, "rate": self.rate}}

    def copy_layer(self, name=None, fresh=False):
        """A new SampleLayer around a copy of the wrapped layer (no registry needed); with
        ``fresh`` (a voter) its seed is derived from this one's and the new name."""
        from risk_widgets.risk.compose import copy_layer

        # a fresh copy (a voter) draws its own masks: a seed of its own, from this one's
        return SampleLayer(
            copy_layer(self.layer, fresh=fresh),
            rate=self.rate,
            n_samples=self.n_samples,
            seed=_site_seed(self.seed, name or self.name) if fresh else self.seed,
            name=name or self.name,
        )

    def build(self, input_shape):
        if not self.layer.built:
            self.layer.build(input_shape)
        self.built = True

    def call(self, inputs, *args, **kwargs):
        outputs = self.layer(inputs, *args, **kwargs)
        seeds = self.dropout.seed_generator
        dropped = tree.map_structure(lambda t: mc_dropout(t, self.rate, seeds), outputs)
        return report_output(self, dropped)

    def compute_output_spec(self, inputs, *args, **kwargs):
        return self.layer.compute_output_spec(inputs, *args, **kwargs)

    def compute_output_shape(self, input_shape):  # wrappers such as TimeDistributed ask
        return self.layer.compute_output_shape(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "layer": keras.saving.serialize_keras_object(self.layer),
                "rate": self.rate,
                "n_samples": self.n_samples,
                "seed": self.seed,
            }
        )
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config["layer"] = keras.saving.deserialize_keras_object(
            config["layer"], custom_objects=custom_objects
        )
        return cls(**config)


def _check_seed(seed: Any) -> int | None:
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise ValueError(
            "Received an invalid value for `seed`, expected a non-negative integer or None. "
            f"Received: seed={seed!r}"
        )
    return seed


def _draw_seed() -> int:
    """A seed from Python's global `random`, which ``keras.utils.set_random_seed`` seeds."""
    return random.randint(1, 2**31 - 1)


def _site_seed(seed: int, path: str) -> int:
    """The seed of the dropout site at ``path`` for the wrapper's ``seed``: the same for
    the same pair, independent between sites (one seed for every site would give layers of
    the same width the same masks)."""
    return random.Random(f"{seed}/{path}").randint(1, 2**31 - 1)


def _site_problem(layer: Any) -> str | None:
    """Why dropout cannot follow ``layer``, or None if it can."""
    if isinstance(layer, keras.layers.InputLayer):
        return "it is an input"
    if not isinstance(layer, keras.layers.Layer):
        return f"it is an operation ({type(layer).__name__}, such as x + y), not a layer"
    try:
        outputs = tree.flatten(layer.output)
    except (AttributeError, ValueError):
        return None  # called more than once or nested: checked when the graph is rebuilt
    for t in outputs:
        if "float" not in str(t.dtype):
            return f"its output is {t.dtype}, not a float tensor"
    return None


def _sample_problem(layer: Any) -> str | None:
    """Why MC dropout cannot follow the targeted ``layer`` (None when it can)."""
    problem = _site_problem(layer)
    if problem is None:
        return None
    return (
        f"has no dropout site: {problem}. Target a layer with a float output "
        f"(e.g. {DROPOUT_SITES})."
    )


def _in_group(layer: Any) -> bool:
    """Whether a layer inside a targeted group gets MC dropout: the Dense/EinsumDense/Conv ones."""
    return isinstance(unwrap(layer), _dropout_site_classes()) and _site_problem(layer) is None


#: Where MC dropout goes for given targets (applying it and the graph's ``patchable``): after a
#: layer with a float output; a group stands for its Dense / EinsumDense / Conv layers.
SITES = Sites("sample", _sample_problem, _in_group)


class Wrapper:
    """MC-dropout wrapper: ``Wrapper(n_samples=16, rate=0.1)(model, targets=None)``.

    Args:
        n_samples: Monte-Carlo samples per prediction, an integer >= 2.
        rate: dropout rate, strictly between 0 and 1.
        seed: the seed of the dropout masks: the same seed gives the same masks (each site
            its own, derived from the seed and its path). None draws one from Python's
            `random` when the wrapper is applied, so ``keras.utils.set_random_seed`` before
            it makes the masks reproducible too.

    Calling it:
        model: a built Functional, Sequential or subclassed model (wrapped as one opaque
            layer: :func:`~risk_widgets.risk.wrap.as_graph`), or a :class:`RiskModel`.
        targets: the layers to put dropout after (a path, glob, list, layer class or
            predicate(path, layer), see :func:`risk_widgets.find_layers`); a group
            (``"block_0/mlp"``) stands for the Dense/EinsumDense/Conv layers inside it.
            A glob takes its outermost matches: one that matches a block and the layers
            inside it (``"*transformer_layer_1*"``) stands for the block, so dropout goes
            after the block's Dense/EinsumDense/Conv layers (as naming the block does), not
            after each layer the glob matched inside it (a ``Softmax``, a ``LayerNorm``);
            matches without a dropout site are skipped, and a glob with none is an error
            naming it. ``None`` picks every Dense/EinsumDense/Conv layer except the last ones.

    Example:
        >>> import keras
        >>> from risk_widgets.risk import sample
        >>> inputs = keras.Input((2,))
        >>> h = keras.layers.Dense(4, name="hidden")(inputs)
        >>> model = keras.Model(inputs, keras.layers.Dense(1, name="head")(h))
        >>> [l.name for l in sample.Wrapper()(model).risk_layers()]
        ['hidden']
    """

    kind = "sample"

    def __init__(self, n_samples: int = 16, rate: float = 0.1, seed: int | None = None):
        self.n_samples = _check_n_samples(n_samples)
        self.rate = _check_rate(rate)
        self.seed = _check_seed(seed)

    @property
    def params(self) -> dict:
        return {"n_samples": self.n_samples, "rate": self.rate}

    def __call__(self, model: Any, targets: Any = None) -> RiskModel:
        rate, n_samples = self.rate, self.n_samples
        seed = _draw_seed() if self.seed is None else self.seed

        def select(leaves, state):
            sites = _dropout_site_classes()
            if targets is None:
                # only the prediction outputs count: a variance head hangs off the features
                # feeding the last layer, and must not make that layer a "last" one
                last_sites = last_layers(
                    state["base"], sites, state["n_outputs"], batch=state["stride"]
                )
                last = {id(layer) for layer in last_sites}
                chosen = [
                    p
                    for p, layer in leaves
                    if isinstance(unwrap(layer), sites) and id(layer) not in last
                ]
                if not chosen:
                    raise ValueError(
                        "sample: no dropout site: the model has no Dense/EinsumDense/Conv layer "
                        "before its last one. Pass targets=[...] naming the layers to put "
                        "dropout after."
                    )
                return chosen
            return SITES.choose(state["base"], targets)

        def replace(layer, path, copy, stride):
            return SampleLayer(copy(layer), rate=rate, n_samples=n_samples,
                               seed=_site_seed(seed, path), name=layer.name)

        return wrap_model(
            model,
            kind="sample",
            params=self.params,
            n_members=n_samples,
            select=select,
            replace=replace,
        )

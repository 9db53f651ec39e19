"""LoRA: `LoRAAdapter` and `add_lora`.

``y = act(x W + b + (alpha / rank) * dropout(x) A B)`` with ``A`` He-uniform ``(in, rank)``
and ``B`` zeros, so a fresh patch leaves the outputs unchanged. Fold:
``W' = W + (alpha / rank) A B``. Variants (`risk_widgets.adapters.lora_init`):
``use_rslora=True`` scales by ``alpha / sqrt(rank)``; ``init="gaussian"`` or ``"pissa"``
(``A``, ``B`` on the kernel's principal directions, minus frozen copies ``A0 B0``).

Example:
    >>> import keras, numpy as np
    >>> import risk_widgets as rw
    >>> inputs = keras.Input((4,))
    >>> model = keras.Model(inputs, keras.layers.Dense(2, name="head")(inputs))
    >>> lora = rw.add_lora(model, "head", rank=2)
    >>> rw.trainable_report(lora)["trainable"]  # A (4, 2) + B (2, 2)
    12
    >>> x = np.ones((1, 4), "float32")
    >>> bool(np.allclose(lora.predict(x, verbose=0), model.predict(x, verbose=0)))
    True
"""

from __future__ import annotations

import warnings
from typing import Any

import keras
import numpy as np
from keras import ops

from risk_widgets.adapters.base import AdapterLayer, kernel_view, stack_adapters
from risk_widgets.adapters.defaults import DEFAULT_NAMES_ATTR, default_lora_names, default_targets
from risk_widgets.adapters.lora_init import lora_scale, pissa_factors
from risk_widgets.adapters.patterns import PathValues
from risk_widgets.core.params import PARAMS, ParamSpec
from risk_widgets.core.targets import user_stacklevel

#: not a catalog parameter: the editor offers DoRA as its own kind, "dora"
_USE_DORA = ParamSpec("use_dora", "bool", False, help="DoRA instead of LoRA")
#: subclasses of `LoRAAdapter` that ``add_lora(use_<name>=True)`` builds (`adapters.dora`)
LORA_VARIANTS: dict[str, type] = {}

__all__ = ["LoRAAdapter", "add_lora", "lora_replace"]


def _check_args(rank, alpha, dropout):
    """The arguments, typed, or a ValueError; the limits are those of `params.PARAMS`."""
    rank = PARAMS["rank"].check(rank)
    return rank, PARAMS["alpha"].check(alpha), PARAMS["dropout"].check(dropout)


@keras.saving.register_keras_serializable(package="risk_widgets")
class LoRAAdapter(AdapterLayer):
    """Low-rank adapter around a `Dense`, `EinsumDense` or `Embedding` layer.

    The base layer is shared with the patched model (not copied) and frozen: only ``A``
    and ``B`` (float32) are trainable. An ``int8`` or ``int4``-quantized `Dense` /
    `EinsumDense` base (QLoRA-style) runs its quantized forward pass and the float update is
    added to it; such an adapter cannot be folded (`rw.fold` says so): unpatch it, or fold
    before quantizing.

    Args:
        layer: a built `Dense`, `EinsumDense` or `Embedding` layer (or an int8 / int4
            Dense / EinsumDense).
        rank: int in [1, 1024], the rank of ``A B``.
        alpha: non-negative number, the scale is ``alpha / rank``; None means ``rank``.
        dropout: dropout rate on the adapter's input, in [0, 1).
        use_rslora: scale by ``alpha / sqrt(rank)`` (rsLoRA) instead.
        init: ``"he_uniform"``, ``"gaussian"`` or ``"pissa"`` (see
            `risk_widgets.adapters.lora_init`; ``"pissa"`` adds frozen ``lora_a0``,
            ``lora_b0``).
        **kwargs: base Layer arguments (``name`` defaults to the base layer's name).

    Input shape:
        That of the base layer.

    Output shape:
        That of the base layer.

    Example:
        >>> import keras, numpy as np
        >>> from risk_widgets.adapters.lora import LoRAAdapter
        >>> dense = keras.layers.Dense(3)
        >>> dense.build((None, 4))
        >>> adapter = LoRAAdapter(dense, rank=2)
        >>> adapter(np.ones((1, 4))).shape
        TensorShape([1, 3])
        >>> [w.name for w in adapter.trainable_weights]
        ['lora_a', 'lora_b']
    """

    patch_kind = "lora"
    accepts_quantized = True  # an int8 / int4 Dense / EinsumDense: quantized forward + delta
    accepts_embedding = True

    def __init__(
        self, layer, rank=8, alpha=None, dropout=0.0, use_rslora=False, init="he_uniform",
        **kwargs,
    ):
        rank, alpha, dropout = _check_args(rank, alpha, dropout)
        use_rslora = PARAMS["use_rslora"].check(use_rslora)
        init = PARAMS["init"].check(init)
        super().__init__(layer, **kwargs)
        self.rank = rank
        self.alpha = alpha
        self.dropout = dropout
        self.use_rslora = use_rslora
        self.init = init
        self.scale = lora_scale(rank, alpha, use_rslora)
        self.dropout_layer = keras.layers.Dropout(dropout) if dropout > 0 else None

    def build_adapter(self):
        n_in, n_out = self.view.matrix_shape
        a_init, b_init = keras.initializers.HeUniform(), "zeros"
        if self.init == "gaussian":  # PEFT: std 1/rank
            a_init = keras.initializers.RandomNormal(stddev=1.0 / self.rank)
        elif self.init == "pissa":
            self.view.check_float("use init='pissa' on")
            a0, b0 = pissa_factors(self.view.kernel_matrix(), self.rank, self.scale)
            a_init = keras.initializers.Constant(a0)
            b_init = keras.initializers.Constant(b0)
        self.lora_a = self.add_weight(
            name="lora_a", shape=(n_in, self.rank), initializer=a_init, dtype="float32"
        )
        self.lora_b = self.add_weight(
            name="lora_b", shape=(self.rank, n_out), initializer=b_init, dtype="float32"
        )
        if self.init == "pissa":  # frozen copies: delta = scale * x (A B - A0 B0)
            self.lora_a0 = self.add_weight(
                name="lora_a0", shape=(n_in, self.rank), initializer=a_init,
                dtype="float32", trainable=False,
            )
            self.lora_b0 = self.add_weight(
                name="lora_b0", shape=(self.rank, n_out), initializer=b_init,
                dtype="float32", trainable=False,
            )

    def delta(self, inputs, training=None):
        if self.dropout_layer is not None:
            inputs = self.dropout_layer(inputs, training=training)
        delta = self.view.low_rank(inputs, self.lora_a, self.lora_b)
        if self.init == "pissa":
            delta = ops.subtract(delta, self.view.low_rank(inputs, self.lora_a0, self.lora_b0))
        return ops.multiply(delta, ops.cast(self.scale, delta.dtype))

    def reverse_delta(self, inputs):
        """``x (scale A B)ᵀ`` = ``scale (x Bᵀ) Aᵀ``: a tied embedding's logits update."""
        def back(a, b):
            hidden = ops.matmul(inputs, ops.transpose(ops.cast(b, inputs.dtype)))
            return ops.matmul(hidden, ops.transpose(ops.cast(a, inputs.dtype)))

        delta = back(self.lora_a, self.lora_b)
        if self.init == "pissa":
            delta = ops.subtract(delta, back(self.lora_a0, self.lora_b0))
        return ops.multiply(delta, ops.cast(self.scale, delta.dtype))

    def delta_matrix(self) -> np.ndarray:
        a = np.asarray(ops.convert_to_numpy(self.lora_a), dtype="float64")
        b = np.asarray(ops.convert_to_numpy(self.lora_b), dtype="float64")
        if self.init == "pissa":
            a0 = np.asarray(ops.convert_to_numpy(self.lora_a0), dtype="float64")
            b0 = np.asarray(ops.convert_to_numpy(self.lora_b0), dtype="float64")
            return self.scale * (a @ b - a0 @ b0)
        return self.scale * (a @ b)

    def patch_info(self) -> dict:
        params = {"rank": self.rank, "alpha": self.alpha, "dropout": self.dropout}
        # the variants only when set, so a plain LoRA reads as before in the graph
        if self.use_rslora:
            params["use_rslora"] = True
        if self.init != "he_uniform":
            params["init"] = self.init
        return {"kind": "lora", "params": params}

    def get_config(self):
        config = {
            "rank": self.rank, "dropout": self.dropout, "use_rslora": self.use_rslora,
            "init": self.init,
        }
        if self.alpha is not None:
            config["alpha"] = self.alpha
        return {**super().get_config(), **config}


def add_lora(
    model: Any,
    targets: Any = None,
    rank: Any = 8,
    alpha: Any = None,
    dropout: float = 0.0,
    name: str | None = None,
    use_rslora: bool = False,
    init: str = "he_uniform",
    use_dora: bool = False,
    train: Any = None,
) -> Any:
    """Returns a `PatchedModel` with a `LoRAAdapter` around each targeted layer.

    Base weights are **shared** with ``model`` and frozen by the patched model (not
    copied); only the adapters' ``A`` and ``B`` train, and the layers ``train`` names.
    ``model`` is never changed. **A KerasHub classifier task** (``BertTextClassifier``,
    ``ViTImageClassifier``, …) also trains its head by default (its layers with weights
    outside ``task.backbone``: new and random, as PEFT trains a classification head);
    pass ``train=[]`` to train the adapters only.

    Args:
        model: a built Keras model.
        targets: path, glob, list, layer class or predicate (see `find_layers`). Each
            target must be a `Dense`, `EinsumDense` (also inside `MultiHeadAttention`:
            ``"*/attn/query"``), `Embedding` or `Conv1D` / `Conv2D` / `Conv3D` layer;
            int8 / int4-quantized Dense / EinsumDense layers are taken too (QLoRA-style;
            they cannot be folded). None (the default) adapts what KerasHub's ``enable_lora(rank)``
            adapts: when the model (or its ``backbone``, or a layer inside it) has
            ``default_lora_layer_names()``, the layers of those names (typically the
            attention's query and value); otherwise every Dense and EinsumDense layer
            (`risk_widgets.adapters.defaults`).
        rank: int in [1, 1024] (the limits of ``risk_widgets.core.params.PARAMS``, which the
            editor uses too), or a dict from path globs to ranks, first match wins
            (``{"*/attn/*": 8, "*": 4}``, PEFT's ``rank_pattern``; paths no key matches get
            8; see `risk_widgets.adapters.patterns`).
        alpha: non-negative number; the update is scaled by ``alpha / rank`` (default
            rank); or a dict of path globs as for ``rank``.
        dropout: dropout rate on the adapter input, in [0, 1).
        name: the adapters' name (default ``"default"``, or ``"lora_1"``, … when a target
            already has an adapter): on a layer that already has adapters the new one is
            added to them (`risk_widgets.adapters.base.stack_adapters`, `rw.set_active`).
        use_rslora: rsLoRA (PEFT's name): scale by ``alpha / sqrt(rank)``, not ``alpha / rank``.
        init: ``"he_uniform"`` (default: A He-uniform, B = 0), ``"gaussian"`` (PEFT: A ~
            N(0, std 1/rank), B = 0) or ``"pissa"`` (A, B on the kernel's top-``rank``
            singular directions, minus frozen copies, so outputs start unchanged; float
            bases only). See `risk_widgets.adapters.lora_init`.
        use_dora: DoRA (PEFT's name): the same as `risk_widgets.adapters.dora.add_dora`.
        train: layers that train whole beside the adapters (PEFT's ``modules_to_save``):
            targets as for ``targets`` (``["classifier*"]``; a glob takes its outermost
            matches with weights). Each is replaced by an independent copy with the same
            values, whose weights train; the user's layer keeps its own. None (default):
            a KerasHub classifier task's head on its first patch, else nothing; ``[]``:
            nothing. See `risk_widgets.adapters.full`.

    Returns:
        A new `PatchedModel`; raises ValueError/TypeError (naming the path) and changes
        nothing when a target is missing or unsupported.

    Example:
        >>> import keras
        >>> import risk_widgets as rw
        >>> inputs = keras.Input((8, 16))
        >>> attn = keras.layers.MultiHeadAttention(2, 8, name="attn")
        >>> model = keras.Model(inputs, attn(inputs, inputs))
        >>> lora = rw.add_lora(model, ["attn/query", "attn/value"], rank=4, alpha=8)
        >>> sorted(rw.trainable_report(lora)["patched"])
        ['attn/query', 'attn/value']
        >>> len(rw.patch_layers(rw.add_lora(model, rank=4)))  # no targets: every EinsumDense
        4
    """
    # DoRAAdapter (a subclass, in its own module) registers itself here: no import circle
    cls = LORA_VARIANTS["dora"] if _USE_DORA.check(use_dora) else LoRAAdapter
    return lora_replace(
        cls, "LoRA" if cls is LoRAAdapter else "DoRA", model, targets, rank=rank, alpha=alpha,
        dropout=dropout, name=name, use_rslora=use_rslora, init=init, train=train,
    )


def lora_replace(
    cls: type, label: str, model: Any, targets: Any, *, rank: Any, alpha: Any,
    dropout: float, name: str | None, use_rslora: bool, init: str, train: Any = None,
) -> Any:
    """The shared body of `add_lora` and `add_dora`: checks every argument (patterns
    included), then patches each target with ``cls`` (`LoRAAdapter` or a subclass)."""
    remembered = default_lora_names(model) if isinstance(model, keras.Model) else None
    if targets is None:
        targets = _default_targets(model, label)
    ranks, alphas = PathValues("rank", rank), PathValues("alpha", alpha)
    dropout = PARAMS["dropout"].check(dropout)
    use_rslora = PARAMS["use_rslora"].check(use_rslora)
    init = PARAMS["init"].check(init)

    def replace(layer, path):
        # refuses unsupported layers, naming the path; an int8 Dense / EinsumDense is taken
        # when the adapter class accepts one
        view = kernel_view(layer, path, label, quantized=cls.accepts_quantized)
        if isinstance(layer, keras.layers.Embedding):
            if not cls.accepts_embedding:
                raise TypeError(
                    f"Cannot add {label} to Embedding {path!r}: its magnitude is per output "
                    "unit of a kernel, and an embedding table has none. Use rw.add_lora for "
                    "Embedding targets, or leave them out of the targets."
                )
            if dropout > 0:
                raise ValueError(
                    f"Cannot add {label} with dropout={dropout} to Embedding {path!r}: its "
                    "inputs are token ids, which dropout cannot drop. Use dropout=0 for "
                    "Embedding targets."
                )
        layer_rank = ranks(path)
        limit = min(view.matrix_shape)
        if layer_rank > limit:  # valid, but the extra rank only adds weights
            warnings.warn(
                f"{label} rank={layer_rank} is larger than {path!r} allows: its kernel is "
                f"{view.matrix_shape[0]}x{view.matrix_shape[1]}, so an update of it has rank at "
                f"most {limit}, and rank={layer_rank} only adds weights. Use rank<={limit}.",
                stacklevel=user_stacklevel(),  # the user's line
            )
        if init == "pissa":
            view.check_float("use init='pissa' on")
        return cls(
            layer, rank=layer_rank, alpha=alphas(path), dropout=dropout,
            use_rslora=use_rslora, init=init,
        )

    patched = stack_adapters(model, targets, replace, cls.patch_kind, name, train)
    for values in (ranks, alphas):
        values.warn_unmatched(f"add_{cls.patch_kind}")
    if remembered:  # a rebuilt backbone is a plain Functional: the patched model keeps them
        object.__setattr__(patched, DEFAULT_NAMES_ATTR, list(remembered))
    return patched


def _default_targets(model: Any, label: str) -> Any:
    """The rule `add_lora(model)` uses without targets; a ValueError when it matches none."""
    from risk_widgets.core.targets import find_layers

    rule, why = default_targets(model) if isinstance(model, keras.Model) else (None, "")
    if rule is None:
        return None  # not a model: rewire says what it needs
    try:
        found = find_layers(model, rule)
    except ValueError:  # "matched no layer": said below with the rule's description
        found = []
    if not found:
        raise ValueError(
            f"add_{label.lower()}(model) without targets adapts {why}, and model "
            f"{model.name!r} has none. Pass targets=... (a path, glob, list, layer class "
            "or predicate; rw.find_layers(model, '*') lists every path)."
        )
    return rule

"""`param_report`: trainable parameters per adapter and per top-level block.

`trainable_report` gives totals and one entry per patched path; `param_report` splits the
count further: one row per adapter (a layer holding several named adapters gives one row
each; Keras' own ``enable_lora`` and risk layers give one row, ``name`` None; a layer
that trains whole — ``add_lora(..., train=[...])``, the default head of a KerasHub
classifier task — gives a row of kind ``"full"``, and your own replacement layer given to
`rw.rewire` that keeps some of the original's weights one of kind ``"layer"``) and one row
per top-level layer of the model (its trainable and total parameters, shared weights
counted once). Trainable means trained by ``model``: in a patched model only patch weights
and the new weights of the layers it trains whole.

Example:
    >>> import keras
    >>> import risk_widgets as rw
    >>> inputs = keras.Input((4,))
    >>> hidden = keras.layers.Dense(3, name="hidden")(inputs)
    >>> model = keras.Model(inputs, keras.layers.Dense(2, name="head")(hidden))
    >>> lora = rw.add_lora(rw.add_lora(model, "head", rank=1), "head", rank=2, name="b")
    >>> report = rw.param_report(lora)
    >>> [(a.name, a.trainable) for a in report.adapters]  # A (3, r) + B (r, 2)
    [('default', 5), ('b', 10)]
    >>> print(report)
    15 trainable of 38 parameters (39.47%)
    adapter  kind  name     active  trainable
    head     lora  default  yes             5
    head     lora  b        yes            10
    block   trainable  total
    hidden          0     15
    head           15     23
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from risk_widgets.core.walk import iter_layers
from risk_widgets.engine import keras_native
from risk_widgets.engine.operations import patch_layers

__all__ = ["AdapterRow", "BlockRow", "ParamReport", "param_report"]


@dataclass(frozen=True)
class AdapterRow:
    """One adapter: its layer path, kind, name (None for unnamed patches), gate, count.
    A layer that trains whole is a row of kind ``"full"`` (name None, active)."""

    path: str
    kind: str
    name: str | None
    active: bool
    trainable: int


@dataclass(frozen=True)
class BlockRow:
    """One top-level layer of the model: parameters ``model`` trains in it, and all."""

    name: str
    trainable: int
    total: int


@dataclass(frozen=True)
class ParamReport:
    """What `param_report` returns: ``adapters``, ``blocks`` and the model's totals."""

    adapters: list[AdapterRow]
    blocks: list[BlockRow]
    trainable: int
    total: int

    def to_json(self) -> dict:
        """The report as plain JSON-able data (lists of dicts)."""
        return {
            "trainable": self.trainable,
            "total": self.total,
            "adapters": [vars(a) for a in self.adapters],
            "blocks": [vars(b) for b in self.blocks],
        }

    def __str__(self) -> str:
        share = 100.0 * self.trainable / self.total if self.total else 0.0
        lines = [f"{self.trainable:,} trainable of {self.total:,} parameters ({share:.2f}%)"]
        if self.adapters:
            lines += _table(
                ["adapter", "kind", "name", "active", "trainable"],
                [[a.path, a.kind, a.name or "-", "yes" if a.active else "no", f"{a.trainable:,}"]
                 for a in self.adapters],
                right={4},
            )
        lines += _table(
            ["block", "trainable", "total"],
            [[b.name, f"{b.trainable:,}", f"{b.total:,}"] for b in self.blocks],
            right={1, 2},
        )
        return "\n".join(lines)

    __repr__ = __str__


def _table(header: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells):
        out = [c.rjust(w) if i in right else c.ljust(w)
               for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
        return "  ".join(out).rstrip()

    return [line(header), *(line(r) for r in rows)]


def _size(weights, only: set[int] | None = None) -> int:
    seen: set[int] = set()
    n = 0
    for v in weights:
        if id(v) in seen or (only is not None and id(v) not in only):
            continue
        seen.add(id(v))
        n += int(np.prod(v.shape))
    return n


def _with_trained_layers(model: Any, rows: list[AdapterRow], trained: set[int]) -> list:
    """``rows`` plus one row per layer ``model`` trains whole (`PatchedModel.trained_layers`:
    kind ``"full"``, or ``"layer"`` when it keeps some shared weights), in graph order."""
    whole = getattr(model, "trained_layers", None)
    layers = {id(layer) for layer in whole()} if callable(whole) else set()
    if not layers:
        return rows
    shared = {id(v) for v in model.shared_variables()}
    order: dict[str, int] = {}
    for ref in iter_layers(model):
        order.setdefault(ref.path, len(order))
        if id(ref.layer) in layers:
            layers.discard(id(ref.layer))  # a shared layer: its first path
            kind = "layer" if any(id(v) in shared for v in ref.layer.weights) else "full"
            rows.append(AdapterRow(ref.path, kind, None, True,
                                   _size(ref.layer.weights, trained)))
    return sorted(rows, key=lambda row: order.get(row.path, len(order)))


def param_report(model: Any) -> ParamReport:
    """Trainable parameters per adapter and per top-level block of ``model``.

    Args:
        model: a built Keras model, patched or not (a risk model too: its wrappers'
            layers are rows as any patch).

    Returns:
        A `ParamReport`: ``adapters`` (`AdapterRow` per adapter, in graph order),
        ``blocks`` (`BlockRow` per top-level layer with weights) and the totals; ``print``
        it for a table, ``to_json()`` for data. Raises TypeError for anything else.
    """
    if not isinstance(model, keras.Model) or not model.built:
        raise TypeError(
            f"param_report() needs a built Keras model. Received: {type(model).__name__}. "
            "Build it first (call it on a batch), or pass the model rw.add_lora returned."
        )
    trained = {id(v) for v in model.trainable_weights}
    adapters: list[AdapterRow] = []
    for path, layer in patch_layers(model).items():
        members = layer.named_adapters() if hasattr(layer, "named_adapters") else [layer]
        for member in members:
            own = getattr(member, "adapter_weights", member.trainable_weights)
            adapters.append(AdapterRow(
                path=path,
                kind=str(member.patch_info().get("kind")),
                name=getattr(member, "adapter_name", None),
                active=bool(getattr(member, "active", True)),
                trainable=_size(own, trained),
            ))
    for path, layer in keras_native.lora_layers(model).items():
        adapters.append(AdapterRow(path, "lora", None, True,
                                   _size(keras_native.lora_weights(layer), trained)))
    adapters = _with_trained_layers(model, adapters, trained)
    blocks, counted = [], set()
    for layer in model.layers:  # a layer used again at the top (a tied head): counted once
        weights = [v for v in layer.weights if id(v) not in counted]
        counted |= {id(v) for v in weights}
        if weights:
            blocks.append(BlockRow(layer.name, _size(weights, trained), _size(weights)))
    return ParamReport(adapters, blocks, _size(model.trainable_weights), _size(model.weights))

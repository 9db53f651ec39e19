"""`diff(before, after, x=None)`: what a patch changed, node by node, and on sample data.

Nodes are compared by path (docs/architecture.md "Paths"): a path only in ``after`` is
*added*, only in ``before`` *removed*; a path in both is *changed* when its class differs,
its patches differ (a layer wrapped by a patch, an adapter added or switched off), its
config differs, or its weights differ (shared variables are equal without being read;
others are compared by value). A group (container) is compared by class and patches only:
its config and weights are those of its children, which are compared themselves.

Per layer the diff also gives the parameters the root model trains before and after (a
patched model trains only its patch weights, so a base layer goes from trainable to
frozen), and with sample data ``x`` the output delta: max and mean ``|after(x) - before(x)|``
over every output of the models (a risk model's prediction, its risk reported beside).
This module is the module ``patch_diff`` so that ``risk_widgets.diff`` is the function.

Example:
    >>> import keras, numpy as np, risk_widgets as rw
    >>> x = keras.Input((3,), name="x")
    >>> model = keras.Model(x, keras.layers.Dense(2, name="head")(x), name="m")
    >>> d = rw.diff(model, rw.add_lora(model, "head", rank=1), x=np.ones((4, 3), "float32"))
    >>> d.changed, d.reasons["head"], d.trainable_delta, d.output.max_abs
    (['head'], ['class', 'patch', 'weights'], -3, 0.0)
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
from typing import Any

import numpy as np

from risk_widgets.editor.live import to_numpy

__all__ = ["ModelDiff", "OutputDelta", "diff"]

_BATCH = 2048


@dataclasses.dataclass(frozen=True)
class OutputDelta:
    """``|after(x) - before(x)|`` on sample data.

    Attributes:
        max_abs, mean_abs: over every element of every output.
        per_output: ``[{"max_abs", "mean_abs", "shape"}]``, one per model output.
        risk_before, risk_after: the mean risk (std) of a risk model, else None.
        n: the number of samples.
    """

    max_abs: float
    mean_abs: float
    per_output: tuple[dict, ...]
    risk_before: float | None
    risk_after: float | None
    n: int

    def to_json(self) -> dict:
        return {"max_abs": _num(self.max_abs), "mean_abs": _num(self.mean_abs),
                "per_output": [dict(p) for p in self.per_output], "n": self.n,
                "risk_before": _num(self.risk_before), "risk_after": _num(self.risk_after)}


class ModelDiff:
    """The result of `diff`.

    Attributes:
        added, removed, changed: paths, in graph order (``after``'s, then ``before``'s).
        reasons: path -> why it changed (``"class"``, ``"patch"``, ``"config"``,
            ``"weights"``), for every changed path.
        classes: path -> ``[class before or None, class after or None]`` for every
            added, removed or changed path.
        trainable: path -> ``[trainable params before or None, after or None]`` for every
            layer with parameters (None where the path does not exist).
        trainable_before, trainable_after: parameters each model trains.
        output: an `OutputDelta` when ``x`` was given (else None).
        output_error: why the outputs could not be compared (e.g. different shapes).
    """

    def __init__(self, **fields: Any):
        self.added: list[str] = fields["added"]
        self.removed: list[str] = fields["removed"]
        self.changed: list[str] = fields["changed"]
        self.reasons: dict[str, list[str]] = fields["reasons"]
        self.classes: dict[str, list[str | None]] = fields["classes"]
        self.trainable: dict[str, list[int | None]] = fields["trainable"]
        self.trainable_before: int = fields["trainable_before"]
        self.trainable_after: int = fields["trainable_after"]
        self.output: OutputDelta | None = fields.get("output")
        self.output_error: str | None = fields.get("output_error")

    @property
    def trainable_delta(self) -> int:
        """``trainable_after - trainable_before``."""
        return self.trainable_after - self.trainable_before

    def to_json(self) -> dict:
        """Plain JSON (the widget's ``diff`` trait; docs/architecture.md)."""
        return {
            "added": list(self.added), "removed": list(self.removed),
            "changed": list(self.changed), "reasons": dict(self.reasons),
            "classes": dict(self.classes), "trainable": dict(self.trainable),
            "trainable_before": self.trainable_before, "trainable_after": self.trainable_after,
            "trainable_delta": self.trainable_delta,
            "output": self.output.to_json() if self.output else None,
            "output_error": self.output_error,
        }

    def __repr__(self) -> str:
        lines = [f"<ModelDiff: {len(self.added)} added, {len(self.removed)} removed, "
                 f"{len(self.changed)} changed; trainable {self.trainable_before:,} -> "
                 f"{self.trainable_after:,} ({self.trainable_delta:+,})"]
        for path in self.changed[:10]:
            lines.append(f"  ~ {path}: {', '.join(self.reasons[path])}")
        for sign, paths in (("+", self.added), ("-", self.removed)):
            lines += [f"  {sign} {p}" for p in paths[:10]]
        if self.output:
            lines.append(f"  output |Δ|: max {self.output.max_abs:.4g}, "
                         f"mean {self.output.mean_abs:.4g} on {self.output.n} samples")
        elif self.output_error:
            lines.append(f"  output not compared: {self.output_error}")
        return "\n".join(lines) + ">"


def diff(before: Any, after: Any, x: Any = None) -> ModelDiff:
    """Compares two models node by node (by path) and, given ``x``, on sample data.

    Neither model is changed (nothing is trained or rebuilt; ``x`` is only predicted on,
    with ``training=False``). A ``sample`` risk model draws new dropout masks on every call,
    so its output delta includes that noise.

    Args:
        before, after: built Keras models, typically a model and a patched copy of it
            (``editor.diff()`` compares entries of the editor's history).
        x: optional sample inputs, anything both models accept (an array is predicted in
            batches of 2048).

    Returns:
        A `ModelDiff`: ``added`` / ``removed`` / ``changed`` paths with ``reasons``,
        per-layer trainable parameters before and after, ``trainable_delta``, and
        ``output`` (max and mean ``|Δ|``) when ``x`` is given. Outputs of different
        number or shapes are not compared: ``output_error`` says why.

    Raises:
        TypeError: a model is not a built Keras model.
        ValueError: ``x`` holds NaN or inf, or a model cannot be called on it.

    Example:
        >>> import keras, risk_widgets as rw
        >>> x = keras.Input((3,), name="x")
        >>> model = keras.Model(x, keras.layers.Dense(2, name="head")(x), name="m")
        >>> rw.diff(model, rw.add_svf(model, "head"))  # doctest: +ELLIPSIS
        <ModelDiff: 0 added, 0 removed, 1 changed; trainable 8 -> 2 (-6)
          ~ head: class, patch, weights>
    """
    from risk_widgets.core.walk import iter_layers
    from risk_widgets.engine.registry import load_builtin_kinds, patches_of

    _check_model(before, "before")
    _check_model(after, "after")
    load_builtin_kinds()
    refs_b = {ref.path: ref for ref in iter_layers(before)}
    refs_a = {ref.path: ref for ref in iter_layers(after)}
    added = [p for p in refs_a if p not in refs_b]
    removed = [p for p in refs_b if p not in refs_a]
    changed, reasons = [], {}
    for path, ref in refs_a.items():
        old = refs_b.get(path)
        if old is None:
            continue
        why = _why_changed(old, ref, patches_of)
        if why:
            changed.append(path)
            reasons[path] = why
    classes = {p: [_cls(refs_b.get(p)), _cls(refs_a.get(p))] for p in [*added, *removed, *changed]}
    ids_b, ids_a = _trained_ids(before), _trained_ids(after)
    trainable: dict[str, list[int | None]] = {}
    for path in [*refs_a, *removed]:
        counts = [_trained(refs_b.get(path), ids_b), _trained(refs_a.get(path), ids_a)]
        if any(c is not None for c in counts):
            trainable[path] = counts
    result: dict[str, Any] = dict(
        added=added, removed=removed, changed=changed, reasons=reasons, classes=classes,
        trainable=trainable, trainable_before=_count(before.trainable_weights),
        trainable_after=_count(after.trainable_weights),
    )
    if x is not None:
        result.update(_output_delta(before, after, x))
    return ModelDiff(**result)


# ----------------------------------------------------------------------------- nodes


def _check_model(model: Any, which: str) -> None:
    import keras

    if not isinstance(model, keras.Model) or not model.built:
        raise TypeError(
            f"diff() compares two built Keras models; `{which}` is "
            f"{'not built' if isinstance(model, keras.Model) else type(model).__name__}. "
            "Pass e.g. diff(model, rw.add_lora(model, '*/query')), or editor.diff()."
        )


def _cls(ref: Any) -> str | None:
    return None if ref is None else type(ref.layer).__name__


def _why_changed(old: Any, new: Any, patches_of: Any) -> list[str]:
    """The reasons a node at one path differs ([] when it does not)."""
    if old.layer is new.layer:
        return []
    why = []
    if type(old.layer) is not type(new.layer):
        why.append("class")
    if _marks(patches_of(old.layer, old.path)) != _marks(patches_of(new.layer, new.path)):
        why.append("patch")
    if new.kind == "group" or old.kind == "group":
        return why  # a container: its children are compared themselves
    if not why and _config(old.layer) != _config(new.layer):
        why.append("config")
    if not _same_weights(old.layer, new.layer):
        why.append("weights")
    return why


def _marks(patches: list[dict]) -> str:
    return json.dumps(patches, sort_keys=True, default=str)


def _config(layer: Any) -> str | None:
    try:
        return json.dumps(layer.get_config(), sort_keys=True, default=str)
    except Exception:  # noqa: BLE001 - a layer without a usable config: not compared
        return None


def _same_weights(a: Any, b: Any) -> bool:
    wa, wb = list(getattr(a, "weights", [])), list(getattr(b, "weights", []))
    if len(wa) != len(wb):
        return False
    for va, vb in zip(wa, wb, strict=True):
        if va is vb:
            continue
        xa, xb = to_numpy(va), to_numpy(vb)
        if xa.shape != xb.shape or not np.array_equal(xa, xb):
            return False
    return True


def _trained_ids(model: Any) -> set[int]:
    return {id(v) for v in model.trainable_weights}


def _count(variables: list) -> int:
    unique = {id(v): v for v in variables}
    return int(sum(math.prod(int(d) for d in v.shape) for v in unique.values()))


def _trained(ref: Any, trained: set[int]) -> int | None:
    """Parameters of the layer at ``ref`` that its root model trains (None: no weights)."""
    if ref is None or ref.kind == "group":
        return None
    variables = {id(v): v for v in getattr(ref.layer, "weights", [])}
    if not variables:
        return None
    return _count([v for key, v in variables.items() if key in trained])


# ----------------------------------------------------------------------------- outputs


def _num(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _returns_risk(model: Any) -> bool:
    try:
        return "return_risk" in inspect.signature(model.call).parameters
    except (TypeError, ValueError):
        return False


def _predict(model: Any, x: Any) -> tuple[list[np.ndarray], float | None]:
    """Every output of ``model`` on ``x`` (flattened, float64) and its mean risk or None."""
    from keras import tree

    risky = _returns_risk(model)
    batches = [x[i : i + _BATCH] for i in range(0, len(x), _BATCH)] if isinstance(
        x, np.ndarray) else [x]
    outs: list[list[np.ndarray]] = []
    risks: list[np.ndarray] = []
    for batch in batches:
        if risky:
            y, std = model(batch, training=False, return_risk=True)
            risks += [to_numpy(s, "float64").ravel() for s in tree.flatten(std)]
        else:
            y = model(batch, training=False)
        outs.append([to_numpy(t, "float64") for t in tree.flatten(y)])
    flat = [np.concatenate(parts) for parts in zip(*outs, strict=True)]
    risk = float(np.mean(np.concatenate(risks))) if risks else None
    return flat, risk


def _output_delta(before: Any, after: Any, x: Any) -> dict:
    from keras import tree

    for leaf in tree.flatten(x):
        arr = to_numpy(leaf)
        if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
            raise ValueError(
                f"Sample data x has {int(np.sum(~np.isfinite(arr)))} NaN/inf value(s): clean "
                "or drop those rows before diffing."
            )
    try:
        out_b, risk_b = _predict(before, x)
        out_a, risk_a = _predict(after, x)
    except Exception as err:  # noqa: BLE001 - any call error: say which data and why
        raise ValueError(
            f"diff(): cannot call the models on the sample data x ({type(err).__name__}: "
            f"{err}). Pass inputs both models accept, or x=None to compare nodes only."
        ) from err
    shapes_b, shapes_a = [o.shape for o in out_b], [o.shape for o in out_a]
    if shapes_b != shapes_a:
        return {"output_error": (
            f"the outputs differ in number or shape ({shapes_b} before, {shapes_a} after)")}
    per_output, deltas = [], []
    for b, a in zip(out_b, out_a, strict=True):
        d = np.abs(a - b)
        deltas.append(d.ravel())
        per_output.append({"max_abs": _num(float(d.max()) if d.size else 0.0),
                           "mean_abs": _num(float(d.mean()) if d.size else 0.0),
                           "shape": list(a.shape)})
    every = np.concatenate(deltas) if deltas else np.zeros(0)
    n = int(out_b[0].shape[0]) if out_b and out_b[0].ndim else 0
    return {"output": OutputDelta(
        max_abs=float(every.max()) if every.size else 0.0,
        mean_abs=float(every.mean()) if every.size else 0.0,
        per_output=tuple(per_output), risk_before=risk_b, risk_after=risk_a, n=n,
    )}

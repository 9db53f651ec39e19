"""The live risk view: a model's prediction and risk on sample data, ready to send.

:func:`risk_view` turns ``(model, x, y)`` into the ``risk`` trait payload described in
docs/architecture.md (arrays as float32 bytes, so they travel as binary buffers), and
:class:`LiveRiskCallback` refreshes it after every training epoch.

Example:
    >>> import numpy as np, keras
    >>> from risk_widgets.editor.live import risk_view
    >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    >>> view = risk_view(model, np.linspace(-1, 1, 5)[:, None])
    >>> view["mode"], view["n"], len(view["x"])  # 5 float32 values = 20 bytes
    ('bands', 5, 20)
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

# Sample data beyond this is subsampled (evenly) for the plot: the browser stays smooth.
MAX_POINTS = 20_000
# Rows per forward call: as many as keep the members' copies of the input under this many
# values (one call of 10k rows beats five of 2k by ~30% on a T=16 `sample` model).
_CHUNK_VALUES = 1 << 22
_LAYER_RISK_ROWS = 256
#: training rows drawn as dots on the bands plot at most (evenly subsampled)
MAX_TRAIN_POINTS = 2000
#: training and held-out coverage "part" when they differ by more than this (and by more
#: than twice the sampling std of the difference): the panel then says so
COVERAGE_GAP = 0.05


def check_sample_data(x: Any, y: Any = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Returns ``(x, y)`` as float32 arrays, or raises a ValueError naming the problem."""
    if isinstance(x, (list, tuple, dict)):
        raise ValueError(
            "Sample data for the live plot must be one array (a model with one input). "
            f"Received: {type(x).__name__}"
        )
    try:
        x = to_numpy(x, "float32")
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"Sample data x is not numeric ({err}): pass numbers, e.g. x.astype('float32')."
        ) from None
    if x.ndim == 0 or x.shape[0] == 0:
        raise ValueError("Sample data x is empty: pass at least one sample.")
    if not np.all(np.isfinite(x)):
        bad = int(np.sum(~np.isfinite(x)))
        raise ValueError(f"Sample data x has {bad} NaN/inf value(s): clean or drop those rows.")
    if y is not None:
        try:
            y = to_numpy(y, "float32")
        except (TypeError, ValueError) as err:
            raise ValueError(
                f"Sample data y is not numeric ({err}): pass numbers, e.g. y.astype('float32')."
            ) from None
        if y.ndim == 0 or y.shape[0] != x.shape[0]:
            rows = y.shape[0] if y.ndim else "no"
            raise ValueError(
                f"Sample data x and y differ in length: {x.shape[0]} vs {rows} rows. Pass one "
                "target row per sample."
            )
        if not np.all(np.isfinite(y)):
            raise ValueError("Sample data y has NaN/inf values: clean or drop those rows.")
    return x, y


def predict_with_risk(model: Any, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(y_pred, std)`` for ``x``; std is zero for a model that returns no risk."""
    returns_risk = callable(getattr(model, "call", None)) and _accepts_return_risk(model)
    forward = _forward(model, returns_risk)
    preds, stds = [], []
    chunk = _chunk_rows(x, getattr(model, "members", 1))
    for start in range(0, len(x), chunk):
        batch = x[start : start + chunk]
        if returns_risk:
            y_pred, std = forward(batch)
        else:
            y_pred, std = forward(batch), None
        y_pred = _first(y_pred)
        y_np = to_numpy(y_pred, "float32")
        preds.append(y_np)
        stds.append(np.zeros_like(y_np) if std is None else to_numpy(_first(std), "float32"))
    return np.concatenate(preds), np.concatenate(stds)


def _chunk_rows(x: np.ndarray, members: Any) -> int:
    members = members if isinstance(members, int) and members > 0 else 1
    per_row = max(1, int(np.prod(x.shape[1:]))) * members
    return max(64, _CHUNK_VALUES // per_row)


# model -> {what: its compiled function}, made on the model's second view (see `_compiled`)
_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_SEEN: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _forward(model: Any, returns_risk: bool) -> Any:
    """The forward pass for the plot (see `_compiled`)."""
    if returns_risk:
        def call(batch):
            return model(batch, return_risk=True)
    else:
        def call(batch):
            return model(batch, training=False)
    return _compiled(model, "forward", call)


def _compiled(model: Any, what: str, call: Any) -> Any:
    """``call`` eager on a model's first view, a `tf.function` from its second view on (the
    epochs of a `fit`), where the TensorFlow backend is in use.

    Why: on the 10k-point view of a T=16 `sample` model the eager call was 2.5x slower than
    the compiled one, but tracing costs more than one eager call, and each patch makes a new
    model that may be viewed only once.
    """
    import keras

    try:
        compiled = _COMPILED.setdefault(model, {})
        seen = _SEEN.setdefault(model, set())
    except TypeError:  # not weak-referenceable: stay eager
        return call
    if what in compiled:
        return compiled[what]
    if what not in seen or keras.backend.backend() != "tensorflow":
        seen.add(what)
        return call
    import tensorflow as tf

    compiled[what] = tf.function(call, reduce_retracing=True)
    return compiled[what]


def risk_view(
    model: Any,
    x: Any,
    y: Any = None,
    *,
    epoch: int | None = None,
    epochs: int | None = None,
    loss: list[float] | None = None,
    ood: Any = None,
    points: Any = None,
    held_out: dict | None = None,
) -> dict:
    """The ``risk`` trait payload for ``model`` on sample data ``x`` (and targets ``y``).

    1-D inputs with a 1-D output give ``mode="bands"`` (x sorted, prediction and std);
    anything else gives ``mode="per_sample"`` (std per sample, sorted). Errors in the data
    or the model raise ValueError; the widget turns that into an inline message.
    ``points``: ``(x, y)`` training rows the bands plot draws as dots (:func:`points_view`);
    ``held_out``: the per-epoch held-out scores of a fit (:func:`held_out_view`).
    """
    x, y = check_sample_data(x, y)
    if len(x) > MAX_POINTS:
        keep = np.linspace(0, len(x) - 1, MAX_POINTS).astype(int)
        x, y = x[keep], (None if y is None else y[keep])
    try:
        y_pred, std = _risk_as_std(model, *predict_with_risk(model, x))
    except Exception as err:  # a shape mismatch surfaces here, from deep inside Keras
        expected = getattr(model, "input_shape", None)
        raise ValueError(
            f"The model cannot run on the sample data: x has shape {x.shape}, the model "
            f"expects {expected}. Pass data=(x, y) matching the model's input. ({err})"
        ) from None

    flat_x = x.reshape(len(x), -1)
    flat_pred = y_pred.reshape(len(y_pred), -1)
    flat_std = std.reshape(len(std), -1)
    summary = _summary(flat_pred, flat_std, None if y is None else y.reshape(len(y), -1))
    if flat_x.shape[1] == 1 and flat_pred.shape[1] == 1:
        order = np.argsort(flat_x[:, 0], kind="stable")
        mode = "bands"
        xs, pred, sd = flat_x[order, 0], flat_pred[order, 0], flat_std[order, 0]
        truth = None if y is None else y.reshape(len(y), -1)[order, 0]
    else:
        mode = "per_sample"
        per_sample = flat_std.mean(axis=1)
        order = np.argsort(per_sample, kind="stable")
        xs = np.arange(len(order), dtype="float32")
        sd = per_sample[order]
        pred = flat_pred.mean(axis=1)[order]
        truth = None
    return {
        "mode": mode,
        "n": int(len(xs)),
        "x": _bytes(xs),
        "y_pred": _bytes(pred),
        "std": _bytes(sd),
        "y_true": None if truth is None else _bytes(truth),
        "epoch": epoch,
        "epochs": epochs,
        "loss": [float(v) for v in (loss or [])],
        "summary": summary,
        "calibration": _with_ood(_calibration_or_reason(y_pred, std, y), model, flat_std, ood),
        "layer_risk": _layer_risk(model, x),
        "points": points_view(*points) if points is not None and mode == "bands" else None,
        "held_out": held_out,
        "error": None,
    }


def points_view(x: Any, y: Any) -> dict | None:
    """The training rows drawn as dots on the bands plot: ``{"x", "y", "n"}`` (float32
    bytes, at most :data:`MAX_TRAIN_POINTS`, evenly subsampled), or None when ``x`` or ``y``
    is not one number per row.

    Example:
        >>> import numpy as np
        >>> from risk_widgets.editor.live import points_view
        >>> points_view(np.arange(3.0)[:, None], np.arange(3.0))["n"]
        3
        >>> points_view(np.zeros((3, 2)), np.zeros(3)) is None
        True
    """
    x = to_numpy(x, "float32")
    y = to_numpy(y, "float32")
    if len(x) != len(y) or x.reshape(len(x), -1).shape[1] != 1 or \
            y.reshape(len(y), -1).shape[1] != 1:
        return None
    x, y = x.reshape(-1), y.reshape(-1)
    if len(x) > MAX_TRAIN_POINTS:
        keep = np.linspace(0, len(x) - 1, MAX_TRAIN_POINTS).astype(int)
        x, y = x[keep], y[keep]
    return {"x": _bytes(x), "y": _bytes(y), "n": int(len(x))}


def held_out_view(history: dict[str, list[float]], n_train: int, n_val: int) -> dict | None:
    """The held-out scores of a fit so far, for the calibration panel, or None without any.

    ``history``: the ``val_nll``, ``val_coverage`` and ``coverage`` logged every epoch
    (:mod:`risk_widgets.risk.held_out`). ``parted`` is true when the training rows'
    coverage exceeds the held-out one by more than :data:`COVERAGE_GAP` and by more than
    twice the sampling std of the difference (``n_train`` scored training rows, ``n_val``
    held-out rows): the intervals are too narrow on new data.

    Example:
        >>> from risk_widgets.editor.live import held_out_view
        >>> view = held_out_view(
        ...     {"val_nll": [1.0], "val_coverage": [0.7], "coverage": [0.9]}, 500, 200)
        >>> view["parted"], view["gap"]
        (True, 0.2)
    """
    from risk_widgets.risk.held_out import NOMINAL, TRAIN_ROWS

    val_cov = [float(v) for v in history.get("val_coverage", [])]
    if not val_cov:
        return None
    train_cov = [float(v) for v in history.get("coverage", [])]
    gap = None
    parted = False
    if train_cov:
        gap = round(train_cov[-1] - val_cov[-1], 6)
        n_scored = max(1, min(int(n_train), TRAIN_ROWS))
        noise = 2.0 * float(np.sqrt(0.09 / max(1, int(n_val)) + 0.09 / n_scored))
        parted = gap > max(COVERAGE_GAP, noise)
    return {
        "nominal": NOMINAL,
        "val_nll": [float(v) for v in history.get("val_nll", [])],
        "val_coverage": val_cov,
        "train_coverage": train_cov,
        "gap": gap,
        "parted": bool(parted),
    }


def _risk_as_std(model: Any, y_pred: np.ndarray, risk: np.ndarray):
    """``(y_pred, std)``: a risk that is not a std (a conformal half-width) converted by the
    model's own ``risk_to_std``, so bands and coverage read the same for every kind."""
    to_std = getattr(model, "risk_to_std", None)
    return y_pred, (risk if to_std is None else to_numpy(to_std(risk), risk.dtype))


def calibration_view(y_pred: np.ndarray, std: np.ndarray, y: np.ndarray | None) -> dict | None:
    """The ``calibration`` entry of the risk payload (None without targets ``y``).

    Classification when the prediction is ``(n, k≥2)`` and ``y`` holds one integer class id
    per row (rows that are not probabilities are taken as logits and softmaxed): confidence
    bins, ECE, NLL and Brier. Regression when ``y`` has the prediction's shape: observed
    coverage of ``y_pred ± z·std`` at 10 nominal levels, NLL and the quantile calibration
    error, if the model gives a risk (std > 0); else ``kind="none"`` with the reason.

    Example:
        >>> import numpy as np
        >>> view = calibration_view(np.zeros((4, 1)), np.ones((4, 1)), np.zeros((4, 1)))
        >>> view["kind"], view["observed"][:2]
        ('regression', [1.0, 1.0])
    """
    from risk_widgets.risk import calibration, metrics

    if y is None:
        return None
    pred = y_pred.reshape(len(y_pred), -1)
    labels = y.reshape(len(y), -1)
    if pred.shape[1] >= 2 and labels.shape[1] == 1 and np.all(labels == np.round(labels)) and \
            labels.min() >= 0 and labels.max() < pred.shape[1]:
        probs = pred.astype("float64")
        if probs.min() < 0 or not np.allclose(probs.sum(axis=1), 1.0, atol=1e-3):
            shifted = np.exp(probs - probs.max(axis=1, keepdims=True))  # logits -> softmax
            probs = shifted / shifted.sum(axis=1, keepdims=True)
        ids = labels[:, 0].astype(int)
        bins = calibration.reliability_bins(probs, ids, n_bins=10)
        return {
            "kind": "classification",
            "bins": bins,
            "ece": calibration.ece(probs, ids),
            "nll": calibration.classification_nll(probs, ids),
            "brier": calibration.brier(probs, ids),
            "accuracy": float(np.mean(probs.argmax(axis=1) == ids)),
        }
    if y.shape != y_pred.shape:
        return {"kind": "none", "reason": (
            f"targets y {y.shape} do not match the prediction {y_pred.shape}: pass one target "
            "per output (regression) or one class id per sample (classification)")}
    if float(std.min()) <= 0:
        return {"kind": "none", "reason": "no risk output: add sample, vote or sculpt to see "
                "whether its intervals cover the targets"}
    nominal, observed = calibration.interval_coverage(y, y_pred, std)
    return {
        "kind": "regression",
        "nominal": nominal,
        "observed": observed,
        "nll": metrics.gaussian_nll(y, y_pred, std),
        "calibration_error": metrics.calibration_error(y, y_pred, std),
    }


def _with_ood(calibration: dict | None, model: Any, std_in: np.ndarray, ood: Any) -> dict | None:
    """Adds ``ood_auroc`` (mean std per sample, OOD probes against the sample data) when
    ``ood`` probes are given and the model outputs risk; None when it outputs none."""
    if ood is None:
        return calibration
    view = dict(calibration or {"kind": "none", "reason": "no targets y: pass data=(x, y)"})
    if float(std_in.max()) <= 0:
        view["ood_auroc"] = None
        return view
    from risk_widgets.risk.metrics import ood_auroc

    x_ood, _ = check_sample_data(ood)
    _, std_out = predict_with_risk(model, x_ood[:MAX_POINTS])
    per_out = std_out.reshape(len(std_out), -1).mean(axis=1)
    view["ood_auroc"] = ood_auroc(std_in.mean(axis=1), per_out)
    return view


def _calibration_or_reason(y_pred, std, y) -> dict | None:
    try:
        return calibration_view(y_pred, std, y)
    except ValueError as err:  # e.g. NaN predictions: the panel says why, the plot stays
        return {"kind": "none", "reason": str(err)}


def error_view(message: str, previous: dict | None = None) -> dict:
    """A payload that keeps the last good plot (if any) and shows ``message``."""
    view = dict(previous or {})
    view["error"] = message
    return view


def _summary(pred: np.ndarray, std: np.ndarray, y: np.ndarray | None) -> dict:
    summary: dict[str, float | None] = {
        "mean_risk": float(std.mean()),
        "nll": None,
        "calibration_error": None,
    }
    if y is not None and y.shape == pred.shape and float(std.min()) > 0:
        from risk_widgets.risk.metrics import calibration_error, gaussian_nll

        summary["nll"] = float(gaussian_nll(y, pred, std))
        summary["calibration_error"] = float(calibration_error(y, pred, std))
    return summary


def _layer_risk(model: Any, x: np.ndarray) -> dict[str, float]:
    spreads = getattr(model, "layer_spreads", None)
    if not callable(spreads):
        return {}
    try:  # x is checked already (check_sample_data)
        values = _compiled(model, "layer_spreads", spreads)(x[:_LAYER_RISK_ROWS])
        return {str(k): float(to_numpy(v)) for k, v in values.items()}
    except Exception:  # the overlay is a nicety: never let it break the plot
        return {}


def _accepts_return_risk(model: Any) -> bool:
    import inspect

    try:
        return "return_risk" in inspect.signature(model.call).parameters
    except (TypeError, ValueError):
        return False


def to_numpy(value: Any, dtype: Any = None) -> np.ndarray:
    """``value`` (a NumPy array, a list, or any backend's tensor or variable) as a NumPy
    array, through ``keras.ops.convert_to_numpy`` for tensors: on torch, ``np.asarray`` of
    a model output that tracks gradients raises.

    Example:
        >>> import keras
        >>> from risk_widgets.editor.live import to_numpy
        >>> to_numpy(keras.ops.ones((2,)), "float32").tolist()
        [1.0, 1.0]
    """
    if not isinstance(value, (np.ndarray, np.generic, list, tuple, int, float)):
        import keras

        value = keras.ops.convert_to_numpy(value)
    return np.asarray(value, dtype=dtype)


def _first(value: Any) -> Any:
    if isinstance(value, dict):
        return next(iter(value.values()))
    if isinstance(value, (list, tuple)):
        return value[0]
    return value


def _bytes(values: np.ndarray) -> bytes:
    return np.ascontiguousarray(values, dtype="<f4").tobytes()


def make_live_callback(on_epoch: Any) -> Any:
    """A Keras callback calling ``on_epoch(epoch, logs)`` after every epoch."""
    import keras

    class LiveRiskCallback(keras.callbacks.Callback):
        """Streams the risk view to the editor after every epoch."""

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            on_epoch(epoch, dict(logs or {}))

    return LiveRiskCallback()

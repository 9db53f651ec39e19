"""What the post-hoc risk kinds share: `PosthocModel`, the final-Dense split, the data checks.

Post-hoc kinds (:mod:`~risk_widgets.risk.conformal`, :mod:`~risk_widgets.risk.temperature`,
:mod:`~risk_widgets.risk.laplace`) need no retraining: each is fitted in closed form (or by a
1-D search) on held-out calibration data ``(x_cal, y_cal)`` and returns a
:class:`PosthocModel`. It keeps the `RiskModel` contract:

- ``model(x)`` / ``predict(x)`` -> the prediction (same meaning as the wrapped model's:
  values for regression, probabilities or logits — whatever the wrapped model returned);
- ``model(x, return_risk=True)`` -> ``(y, risk)``; ``predict_risk(x)`` the same as NumPy.
  Regression: ``risk`` has the shape of ``y``; classification: ``risk`` is ``(batch, 1)``,
  one number per example (each kind's docstring says which).

The wrapped model is **shared, not copied** (its weights are read, never written) and has
nothing left to train: ``fit`` refuses, with the way out (train the wrapped model, then
calibrate again). The graph view shows the wrapped model's graph.

Example:
    >>> import keras
    >>> from risk_widgets.risk.posthoc import final_dense
    >>> inputs = keras.Input((4,))
    >>> h = keras.layers.Dense(8, activation="relu", name="body")(inputs)
    >>> model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="head")(h))
    >>> head = final_dense(model, "laplace")
    >>> head.dense.name, head.softmax, head.features.output.shape
    ('head', True, (None, 8))
"""

from __future__ import annotations

import dataclasses
from typing import Any

import keras
import numpy as np
from keras import ops

from risk_widgets.core import keras_internals as ki
from risk_widgets.risk.model import RiskModel

__all__ = ["FinalDense", "PosthocModel", "check_calibration_data", "final_dense", "task_of"]

_BATCH = 4096


@dataclasses.dataclass
class FinalDense:
    """The last ``Dense`` of a model: ``features`` (a model from the inputs to its input),
    the layer, and whether a softmax follows (in the Dense or as a layer after it)."""

    features: Any
    dense: Any
    softmax: bool

    def logits(self, x: Any) -> Any:
        """The Dense's pre-activation ``features(x) @ kernel + bias`` (the logits)."""
        return self.logits_of(self.features(x, training=False))

    def logits_of(self, phi: Any) -> Any:
        z = ops.matmul(phi, self.dense.kernel)
        return z + self.dense.bias if self.dense.use_bias else z


def _is_softmax(op: Any) -> bool:
    if isinstance(op, keras.layers.Softmax):
        return True
    if isinstance(op, keras.layers.Activation):
        return keras.activations.serialize(op.activation) == "softmax"
    return False


def final_dense(model: Any, kind: str) -> FinalDense:
    """The model's final `Dense` layer (optionally followed by a softmax layer), or a
    ValueError naming what the last layer is and the way out.

    Example:
        >>> import keras
        >>> from risk_widgets.risk.posthoc import final_dense
        >>> model = keras.Sequential(
        ...     [keras.Input((2,)), keras.layers.Dense(2), keras.layers.ReLU()], name="mlp")
        >>> try:
        ...     final_dense(model, "laplace")
        ... except ValueError as err:
        ...     print(str(err)[:53])
        laplace: the last layer of 'mlp' is a ReLU, not a Den
    """
    _check_plain_model(model, kind)
    if len(model.outputs) != 1:
        raise ValueError(
            f"{kind}: model {model.name!r} has {len(model.outputs)} outputs; it needs one "
            "(the logits or the regression head). Wrap a model with a single output."
        )
    tensor = model.outputs[0]
    op = ki.keras_history(tensor).operation
    softmax = False
    if _is_softmax(op):
        softmax = True
        tensor = ki.producer_node(tensor).input_tensors[0]
        op = ki.keras_history(tensor).operation
    if type(op) is not keras.layers.Dense:
        raise ValueError(
            f"{kind}: the last layer of {model.name!r} is a {type(op).__name__}, not a Dense, "
            f"so there is no final linear layer to work on. {kind} needs the model to end in a "
            "Dense layer (optionally followed by a softmax). If it is an adapter, fold it "
            "first (rw.fold(model)); otherwise end the model with keras.layers.Dense(units)."
        )
    activation = keras.activations.serialize(op.activation)
    if activation not in ("linear", "softmax"):
        raise ValueError(
            f"{kind}: the final Dense {op.name!r} has activation {activation!r}; expected "
            "'linear' (logits or a regression head) or 'softmax'. Rebuild the head without "
            "the activation (or with softmax for a classifier)."
        )
    softmax = softmax or activation == "softmax"
    node = ki.producer_node(tensor)
    phi = node.input_tensors[0]
    if len(phi.shape) != 2:
        raise ValueError(
            f"{kind}: the final Dense {op.name!r} gets inputs of shape {tuple(phi.shape)}; "
            "only (batch, features) is supported. Pool or flatten before the head."
        )
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
    features = keras.Model(inputs, phi, name=f"{model.name}_features")
    return FinalDense(features, op, softmax)


def _check_plain_model(model: Any, kind: str) -> None:
    if not isinstance(model, keras.Model):
        raise TypeError(
            f"{kind}: expected a trained keras.Model. Received: {type(model).__name__}."
        )
    if isinstance(model, (RiskModel, PosthocModel)):
        raise TypeError(
            f"{kind}: {model.name!r} is already a risk model; {kind} works on the final Dense "
            "of a plain Functional or Sequential model. Apply it to the trained model itself."
        )
    if not model.built or not getattr(model, "outputs", None):
        raise ValueError(
            f"{kind}: model {model.name!r} is not built or has no graph of layers. Use a "
            "Functional or Sequential model with an Input."
        )


def check_calibration_data(kind: str, x: Any, y: Any, min_rows: int = 2):
    """``(x, y)`` as float32 NumPy arrays with the same number of rows, or a ValueError."""
    if x is None or y is None:
        raise ValueError(
            f"{kind} is calibrated on held-out data: pass x_cal and y_cal (rows the model was "
            "not trained on), e.g. Wrapper()(model, x_cal, y_cal); in the editor, open it "
            "with data=(x_cal, y_cal)."
        )
    x = np.asarray(x, dtype="float32")
    y = np.asarray(y, dtype="float32")
    if x.ndim == 0 or y.ndim == 0 or len(x) != len(y):
        raise ValueError(
            f"{kind}: x_cal and y_cal need one row per example; received shapes {x.shape} "
            f"and {y.shape}."
        )
    if len(x) < min_rows:
        raise ValueError(f"{kind}: needs at least {min_rows} calibration rows; got {len(x)}.")
    for name, a in (("x_cal", x), ("y_cal", y)):
        if not np.all(np.isfinite(a)):
            raise ValueError(
                f"{kind}: {name} has {int(np.sum(~np.isfinite(a)))} NaN/inf value(s): clean "
                "or drop those rows."
            )
    return x, y


def task_of(kind: str, task: str, y: np.ndarray, n_outputs: int) -> str:
    """``"classification"`` or ``"regression"``: ``task``, or (``"auto"``) classification
    when ``y`` holds integer class labels and the model has more than one output unit."""
    if task not in ("auto", "classification", "regression"):
        raise ValueError(
            f"{kind}: `task` must be 'auto', 'classification' or 'regression'. "
            f"Received: task={task!r}"
        )
    labels = y.reshape(len(y), -1).shape[1] == 1 and np.all(y == np.round(y))
    if task == "auto":
        return "classification" if labels and n_outputs > 1 else "regression"
    if task == "classification" and not labels:
        raise ValueError(
            f"{kind}: task='classification' needs y_cal as integer class labels, one per row "
            f"(received shape {y.shape}). Convert one-hot targets with y.argmax(-1)."
        )
    return task


def class_labels(kind: str, y: np.ndarray, n_classes: int) -> np.ndarray:
    labels = y.reshape(-1).astype("int64")
    if labels.min() < 0 or labels.max() >= n_classes:
        raise ValueError(
            f"{kind}: y_cal has labels in [{labels.min()}, {labels.max()}], but the model has "
            f"{n_classes} classes (0 to {n_classes - 1})."
        )
    return labels


def softmax_np(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def batched(fn, x: np.ndarray, batch: int = _BATCH):
    """``fn`` on ``x`` in batches, outputs (one array or a tuple) concatenated as NumPy."""
    parts = [fn(x[i : i + batch]) for i in range(0, len(x), batch)]
    if isinstance(parts[0], tuple):
        n = len(parts[0])
        return tuple(np.concatenate([ops.convert_to_numpy(p[j]) for p in parts]) for j in range(n))
    return np.concatenate([ops.convert_to_numpy(p) for p in parts])


class PosthocModel(keras.Model):
    """Base class of post-hoc risk models (see the module docstring).

    Subclasses implement ``call_with_risk(x) -> (y, risk)`` with Keras ops, ``params`` and
    ``get_config``. (Not ``forward``: on torch a Keras layer is an ``nn.Module``, whose
    ``__call__`` runs ``forward``, so ``model(x)`` would skip ``call``.)
    ``base`` is the wrapped model (shared).
    """

    kind = "posthoc"

    def __init__(self, base, **kwargs):
        kwargs.setdefault("name", f"{base.name}_{self.kind}")
        super().__init__(**kwargs)
        self.base = base

    @property
    def trainable_weights(self):
        return []  # nothing to train: the wrapped model's weights are read, never written

    @property
    def non_trainable_weights(self):
        return self.weights

    def call(self, inputs, training=None, return_risk=False):
        y, risk = self.call_with_risk(inputs)
        return (y, risk) if return_risk else y

    def call_with_risk(self, x):  # pragma: no cover - abstract
        raise NotImplementedError

    def risk_to_std(self, risk: np.ndarray) -> np.ndarray:
        """The risk as a Gaussian std, for views that draw ``y ± z·std`` (the live plot and
        the calibration panel). Most post-hoc risks already are one; conformal overrides."""
        return risk

    def predict_risk(self, x, batch_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(y, risk)`` as NumPy, in batches.

        Example:
            >>> import keras, numpy as np
            >>> from risk_widgets.risk import conformal
            >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
            >>> x = np.linspace(-1, 1, 50)[:, None].astype("float32")
            >>> y, half = conformal.Wrapper(coverage=0.8)(model, x, 2 * x).predict_risk(x)
            >>> y.shape, half.shape
            ((50, 1), (50, 1))
        """
        x = np.asarray(x, dtype="float32")
        return batched(
            lambda b: tuple(ops.convert_to_numpy(t) for t in self.call_with_risk(b)),
            x,
            batch_size or _BATCH,
        )

    def fit(self, *args, **kwargs):
        raise TypeError(
            f"{self.name!r} is a post-hoc {self.kind} model: it has nothing to train (it was "
            "fitted on calibration data). Train the wrapped model (`.base`, or undo this "
            f"patch in the editor), then apply {self.kind} again on fresh calibration data."
        )

    def patch_info(self) -> dict:
        return {"kind": self.kind, "params": dict(self.params)}

    @property
    def params(self) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def summary(self, *args, **kwargs):
        print_fn = kwargs.get("print_fn") or print
        shown = ", ".join(f"{k}={v}" for k, v in self.params.items())
        print_fn(f'{type(self).__name__} "{self.name}": {self.kind}({shown}) on {self.base.name!r}')
        self.base.summary(*args, **kwargs)

    def get_config(self):
        return {"name": self.name, "base": keras.saving.serialize_keras_object(self.base)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config["base"] = keras.saving.deserialize_keras_object(
            config["base"], custom_objects=custom_objects
        )
        return cls(**config)


def posthoc_base(model: Any) -> Any:
    """The wrapped model of a post-hoc model (the graph to show), else None."""
    return model.base if isinstance(model, PosthocModel) else None

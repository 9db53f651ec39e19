"""``RiskModel``: a Keras model that returns a prediction and, on request, its risk.

A risk model holds a **body**, a Functional model whose layers include risk layers
(:class:`~risk_widgets.risk.vote.VoteLayer`, :class:`~risk_widgets.risk.sample.SampleLayer`,
:class:`~risk_widgets.risk.sculpt.SculptHead`). ``call`` repeats the batch ``members`` times,
runs the body once on all rows and reduces over the members by the law of total variance
(:mod:`risk_widgets.risk.compose`). The body outputs the member means, then (with sculpt)
the member variances.

- ``model(x)`` / ``predict(x)`` -> ``y`` (same structure as the wrapped model's output).
- ``model(x, return_risk=True)`` -> ``(y, std)``: ``std`` has the shape and units of ``y``.
- ``predict_risk(x)`` -> ``(y, std)`` as NumPy, batched like ``predict``.
- ``fit`` trains every member on its own loss: the compiled loss of each member's prediction
  (so voters stay diverse), plus the Gaussian NLL of each member when there is a variance
  head, which trains the variance only (the compiled loss alone trains the prediction;
  without a compiled loss the NLL trains both).
- ``risky.compute_loss = fn`` (Capsa's way) trains on your own loss instead; with a variance
  head ``fn`` receives ``y_pred = (y_hat, risk)`` (:meth:`RiskModel.compute_loss`).
- ``fit(..., validation_data=... | validation_split=...)`` also logs the held-out NLL and
  90% interval coverage, and the training rows' coverage, every epoch (``val_nll``,
  ``val_coverage``, ``coverage``: :mod:`risk_widgets.risk.held_out`).
- ``layer_risk(x)`` -> ``{path: float}``: the mean spread across members at each risk layer,
  at any depth, keyed by its full path (``'block_0/attn/query'``).

The risk model owns copies of the wrapped model's layers (initialised with its weights; the
voters of ``vote`` are freshly initialised): fitting it never changes the wrapped model.

Example:
    >>> import keras, numpy as np
    >>> from risk_widgets.risk import vote
    >>> inputs = keras.Input((1,))
    >>> model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Dense(4)(inputs)))
    >>> risky = vote.Wrapper(n_voters=2)(model)
    >>> risky.compile(optimizer="adam", loss="mse")
    >>> _ = risky.fit(np.zeros((8, 1)), np.zeros((8, 1)), epochs=1, verbose=0)
    >>> y, std = risky.predict_risk(np.zeros((3, 1)))
    >>> y.shape, std.shape
    ((3, 1), (3, 1))
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any

import keras
import numpy as np
from keras import ops

from risk_widgets.core import keras_internals as ki
from risk_widgets.risk.compose import (
    capture_outputs,
    check_finite,
    gaussian_nll_terms,
    leaf_layers,
    split_members,
    tile_members,
    total_variance,
)
from risk_widgets.risk.held_out import HeldOutRisk, held_out_rows

__all__ = ["RiskModel"]


@keras.saving.register_keras_serializable(package="risk_widgets")
class RiskModel(keras.Model):
    """A model with risk: see the module docstring.

    Args:
        body: the Functional model computing member outputs (means, then variances).
        members: ``M``, the number of members (the product of all wrappers' counts).
        n_outputs: number of prediction outputs.
        has_variance: whether the body also outputs member variances (sculpt).
        output_format: ``"single"``, ``"list"`` or ``"dict"`` (the wrapped model's outputs).
        output_keys: output names, in the body's order (for the dict format).
        wrappers: the wrappers applied, innermost first:
            ``[{"kind": ..., "params": {...}, "targets": [...]}]``.
    """

    def __init__(
        self,
        body,
        members,
        n_outputs=1,
        has_variance=False,
        output_format="single",
        output_keys=None,
        wrappers=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(body, keras.Model):
            raise TypeError(f"RiskModel needs a keras Model as body. Received: {body!r}")
        if isinstance(members, bool) or not isinstance(members, int) or members < 1:
            raise ValueError(f"`members` must be a positive integer. Received: {members!r}")
        expected = n_outputs * (2 if has_variance else 1)
        if len(body.outputs) != expected:
            raise ValueError(
                f"The body has {len(body.outputs)} outputs; expected {expected} "
                f"(n_outputs={n_outputs}, has_variance={has_variance})."
            )
        self.body = body
        self.members = members
        self.n_outputs = int(n_outputs)
        self.has_variance = bool(has_variance)
        self.output_format = output_format
        self._set_private("output_keys", list(output_keys) if output_keys is not None else None)
        self._set_private("wrappers", [dict(w) for w in (wrappers or [])])
        self._set_private("_risk_stash", None)
        self._set_private("_predict_with_risk", False)
        self._set_private("_user_compute_loss", None)
        self.built = True  # the body is built: weights can be loaded without a first call

    def _set_private(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)  # not tracked by Keras (tensors, flags, caches)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "compute_loss":  # Capsa's way: risky.compute_loss = my_loss (see there)
            if value is not None and not callable(value):
                raise TypeError(
                    "`compute_loss` must be a function compute_loss(x, y, y_pred, "
                    f"sample_weight, training) returning a scalar. Received: {value!r}"
                )
            self._set_private("_user_compute_loss", value)
            self.train_function = self.test_function = None  # traced with the old loss
            return
        super().__setattr__(name, value)

    # --- forward ----------------------------------------------------------------------

    def __call__(self, *args, **kwargs):
        if args:
            _check_inputs(self, args[0], "call")
            check_finite(args[0], "x", "call")
        return super().__call__(*args, **kwargs)

    def _members(self, inputs, training=None) -> tuple[list[Any], list[Any] | None]:
        outputs = self.body(tile_members(inputs, self.members), training=training)
        outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        means = outputs[: self.n_outputs]
        variances = outputs[self.n_outputs :] if self.has_variance else None
        return means, variances

    def call(self, inputs, training=None, return_risk=False):
        means, variances = self._members(inputs, training=training)
        self._set_private("_risk_stash", (means, variances))
        ys, stds = [], []
        for i, mean in enumerate(means):
            y, var = total_variance(mean, variances[i] if variances else None, self.members)
            ys.append(y)
            stds.append(ops.sqrt(ops.maximum(var, 0.0)))
        if return_risk:
            return self._pack(ys), self._pack(stds)
        return self._pack(ys)

    def _pack(self, flat: list[Any]) -> Any:
        if self.output_format == "single":
            return flat[0]
        if self.output_format == "dict":
            return dict(zip(self.output_keys, flat, strict=True))
        return list(flat)

    def _unpack(self, struct: Any) -> list[Any]:
        if self.output_format == "single":
            return [struct]
        if self.output_format == "dict" and isinstance(struct, dict):
            return [struct[k] for k in self.output_keys]
        return list(struct)

    # --- training -----------------------------------------------------------------------

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Each member's compiled loss (on its own prediction) + NLL of its variance, if any
        (the NLL trains the variance; the mean too only when no compiled loss does).

        **Your own loss.** Assign a function, as in Capsa: ``risky.compute_loss = fn`` with
        ``fn(x, y, y_pred, sample_weight, training)`` (``training`` optional) returning a
        scalar. With a variance head (sculpt) ``y_pred`` is ``(y_hat, risk)``, the prediction
        and its std (as ``risky(x, return_risk=True)``), so that
        :func:`risk_widgets.risk.sculpt.gaussian_nll` can train the head; without one it is
        the prediction. ``fit`` / ``evaluate`` then use ``fn`` instead of the above (on the
        members' combined prediction); ``risky.compute_loss = None`` goes back.

        Example:
            >>> import keras, numpy as np
            >>> from risk_widgets.risk import sculpt
            >>> inputs = keras.Input((1,))
            >>> model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
            >>> model.compile(optimizer="adam")  # no loss: sculpt warns
            >>> import warnings; warnings.simplefilter("ignore")
            >>> risky = sculpt.Wrapper()(model)
            >>> def my_loss(x, y, y_pred, sample_weight=None, training=True):
            ...     y_hat, std = y_pred
            ...     mae = keras.ops.mean(keras.ops.abs(y - y_hat))
            ...     return mae + sculpt.gaussian_nll(y, keras.ops.stop_gradient(y_hat), std)
            >>> risky.compute_loss = my_loss
            >>> history = risky.fit(np.ones((8, 1)), np.ones((8, 1)), epochs=2, verbose=0)
            >>> len(history.history["loss"])
            2
        """
        stash = self._risk_stash
        self._set_private("_risk_stash", None)
        user = self._user_compute_loss
        if user is not None:
            return self._user_loss(user, x, y, y_pred, sample_weight, training, stash)
        if stash is None or y is None:
            return super().compute_loss(x, y, y_pred, sample_weight, training)
        means, variances = stash
        y_m = tile_members(y, self.members)
        sw_m = None if sample_weight is None else tile_members(sample_weight, self.members)
        losses = []
        compiled = ki.compiled_loss(self)
        if compiled is not None:
            loss = compiled(y_m, self._pack(means), sw_m)
            if loss is not None:
                losses.append(loss)
        trains_mean = not losses
        for loss in self.losses:
            losses.append(ki.aggregate_additional_loss(self, loss))
        if variances:
            # the compiled loss trains the prediction; the NLL then trains the variance only
            # (see `_nll`). With no compiled loss the NLL is all there is: it trains both.
            losses.append(self._nll(self._unpack(y_m), means, variances, sw_m, trains_mean))
        if not losses:
            raise ValueError(
                f"No loss to compute: {self.name!r} has no variance head, so it needs the loss "
                "of its predictions. Compile it with one, e.g. "
                "risky.compile(optimizer='adam', loss='mse')."
            )
        return losses[0] if len(losses) == 1 else ops.sum(ops.stack(losses))

    @property
    def user_compute_loss(self) -> Any:
        """The function assigned to ``compute_loss`` (see there), or None."""
        return self._user_compute_loss

    def _user_loss(self, user, x, y, y_pred, sample_weight, training, stash) -> Any:
        """The assigned ``compute_loss``, given ``(y_hat, risk)`` when there is a variance
        head (from this step's forward pass, else from a new one)."""
        if self.has_variance:
            if stash is None:
                y_pred = self(x, training=training, return_risk=True)
            else:
                means, variances = stash
                ys, stds = [], []
                for mean, var in zip(means, variances, strict=True):
                    y_hat, total = total_variance(mean, var, self.members)
                    ys.append(y_hat)
                    stds.append(ops.sqrt(ops.maximum(total, 0.0)))
                y_pred = (self._pack(ys), self._pack(stds))
        if "training" in _parameters(user):
            return user(x, y, y_pred, sample_weight, training=training)
        return user(x, y, y_pred, sample_weight)

    @staticmethod
    def _nll(ys, means, variances, sample_weight, trains_mean=False) -> Any:
        """Gaussian NLL of every member; the means enter as constants unless ``trains_mean``
        (when a compiled loss trains them: see "What trains what" in
        :mod:`risk_widgets.risk.sculpt`, which also keeps the NLL out of the shared features).
        """
        total = 0.0
        for y, mu, var in zip(ys, means, variances, strict=True):
            y = ops.reshape(ops.cast(y, mu.dtype), ops.shape(mu))
            if not trains_mean:
                mu = ops.stop_gradient(mu)
            per = gaussian_nll_terms(y, mu, var)
            per_row = ops.mean(ops.reshape(per, (ops.shape(per)[0], -1)), axis=1)
            if sample_weight is not None:
                w = ops.reshape(ops.cast(sample_weight, per_row.dtype), (-1,))
                total = total + ops.sum(per_row * w) / ops.maximum(ops.sum(w), 1e-12)
            else:
                total = total + ops.mean(per_row)
        return total

    def fit(self, x=None, y=None, *args, **kwargs):
        if (
            self.has_variance
            and self._user_compute_loss is None
            and getattr(self, "compiled", False)
            and ki.compiled_loss(self) is None
        ):
            warnings.warn(
                f"{self.name!r} has a variance head (sculpt) but no compiled loss, so fit trains "
                "its prediction and variance on the Gaussian NLL alone. To train the "
                "prediction on your loss: risky.compile(optimizer=..., loss=your_loss), or "
                "assign risky.compute_loss = fn(x, y, y_pred, sample_weight, training) with "
                "y_hat, risk = y_pred, adding sculpt.gaussian_nll(y, y_hat, risk).",
                UserWarning,
                stacklevel=2,
            )
        _check_inputs(self, x, "fit")
        check_finite(x, "x", "fit")
        check_finite(y, "y", "fit")
        validation = kwargs.get("validation_data")
        if isinstance(validation, (tuple, list)):
            check_finite(list(validation), "validation_data", "fit")
        held_out = None if args else held_out_rows(x, y, kwargs)
        if held_out is not None:  # held-out NLL and coverage in every epoch's logs
            callbacks = kwargs.get("callbacks")
            callbacks = list(callbacks.callbacks if hasattr(callbacks, "callbacks") else
                             (callbacks or []))
            # first: the user's callbacks (EarlyStopping(monitor="val_nll"), a History of
            # their own, the editor's live view) see the scores in the same epoch's logs
            kwargs["callbacks"] = [HeldOutRisk((x, y), held_out), *callbacks]
        return super().fit(x, y, *args, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        _check_inputs(self, x, "evaluate")
        check_finite(x, "x", "evaluate")
        check_finite(y, "y", "evaluate")
        return super().evaluate(x, y, *args, **kwargs)

    # --- prediction ------------------------------------------------------------------------

    def predict(self, x, *args, **kwargs):
        _check_inputs(self, x, "predict")
        check_finite(x, "x", "predict")
        return super().predict(x, *args, **kwargs)

    def predict_step(self, *args):
        # JAX's trainer passes (state, data) and wants (outputs, non-trainable state) back,
        # the other backends pass data
        kwargs = {"training": False, "return_risk": bool(self._predict_with_risk)}
        if len(args) == 2:
            (trainable, non_trainable), data = args
            x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
            return self.stateless_call(trainable, non_trainable, x, **kwargs)
        x, _, _ = keras.utils.unpack_x_y_sample_weight(args[0])
        return self(x, **kwargs)

    def predict_risk(self, x, batch_size=None, verbose=0, **kwargs) -> tuple[Any, Any]:
        """``(y, std)`` as NumPy arrays (structured like the outputs), batched like ``predict``.

        Example:
            >>> import keras, numpy as np
            >>> from risk_widgets.risk import sample
            >>> inputs = keras.Input((1,))
            >>> m = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Dense(4)(inputs)))
            >>> y, std = sample.Wrapper(n_samples=4)(m).predict_risk(np.ones((5, 1)))
            >>> std.shape
            (5, 1)
        """
        self._set_private("_predict_with_risk", True)
        self.predict_function = None
        try:
            y, std = self.predict(x, batch_size=batch_size, verbose=verbose, **kwargs)
        finally:
            self._set_private("_predict_with_risk", False)
            self.predict_function = None
        return y, std

    # --- introspection ---------------------------------------------------------------------

    def risk_layers(self) -> list[Any]:
        """The risk layers of the body (vote, sample, sculpt), in graph order."""
        return [layer for _, layer in self.risk_paths()]

    def risk_paths(self) -> list[tuple[str, Any]]:
        """``[(path, layer)]`` for every risk layer of the body."""
        return [(p, layer) for p, layer in leaf_layers(self.body) if hasattr(layer, "patch_info")]

    def patch_info(self) -> dict[str, dict]:
        """``{path: {"kind", "params"}}`` for every risk layer (for the graph overlay)."""
        return {p: layer.patch_info() for p, layer in self.risk_paths()}

    def layer_risk(self, x) -> dict[str, float]:
        """Mean spread across members at every risk layer's output, ``{path: float}``.

        Risk layers at any depth count (inside CompositeLayers, nested models and opaque
        layers such as `MultiHeadAttention`), keyed by their full paths as
        :func:`risk_widgets.core.walk.iter_layers` names them (``"block_0/attn/query"``), the ids
        of the graph's nodes. For vote and sample sites: the std across members of the
        layer's output, averaged over examples and units. For a sculpt head: the mean
        predicted std. A risk layer called more than once gets the mean over its calls
        (under each of its paths).

        Example:
            >>> import keras, numpy as np
            >>> from risk_widgets.risk import vote
            >>> inputs = keras.Input((2,))
            >>> h = keras.layers.Dense(4, name="hidden")(inputs)
            >>> model = keras.Model(inputs, keras.layers.Dense(1, name="head")(h))
            >>> sorted(vote.Wrapper(n_voters=2)(model).layer_risk(np.ones((3, 2))))
            ['head', 'hidden']
        """
        _check_inputs(self, x, "layer_risk")
        check_finite(x, "x", "layer_risk")
        return {path: float(spread) for path, spread in self.layer_spreads(x).items()}

    def layer_spreads(self, x) -> dict[str, Any]:
        """:meth:`layer_risk` as backend scalars, without the input checks: a function of
        ``x`` alone, so it can be compiled (the live view does, for a model it shows again)."""
        sites = [
            (path, layer)
            for path, layer in self.risk_paths()
            if getattr(layer, "risk_kind", None) in ("vote", "sample", "sculpt")
        ]
        if not sites:
            return {}
        # the body runs once (eagerly, or traced by tf.function) and each risk layer reports
        # its output as it is called: inside an opaque layer there is no graph to probe
        with capture_outputs([layer for _, layer in sites]) as captured:
            self.body(tile_members(x, self.members), training=False)
        result = {}
        for path, layer in sites:
            values = captured[id(layer)]
            if not values:  # not on the way to any output: nothing to measure
                continue
            if layer.risk_kind == "sculpt":
                spreads = [ops.mean(ops.sqrt(value)) for value in values]
            else:
                spreads = [
                    ops.mean(ops.std(split_members(value, self.members), axis=1))
                    for value in values
                ]
            result[path] = ops.mean(ops.stack(spreads))
        return result

    def summary(self, *args, **kwargs):
        """Prints the members and risk layers, then the body's summary (which lists them)."""
        print_fn = kwargs.get("print_fn") or print
        chain = " ∘ ".join(
            f"{w['kind']}({', '.join(f'{k}={v}' for k, v in w['params'].items())})"
            for w in reversed(self.wrappers)
        )
        lines = [f'RiskModel "{self.name}": {chain}; {self.members} members in one batched call']
        lines += [
            f"  {p}: {info['kind']} {info['params']}" for p, info in self.patch_info().items()
        ]
        print_fn("\n".join(lines))
        self.body.summary(*args, **kwargs)

    # --- serialisation ---------------------------------------------------------------------

    def get_config(self):
        try:
            body = keras.saving.serialize_keras_object(self.body)
        except (AttributeError, NotImplementedError, TypeError) as err:
            # a KerasHub block whose get_config is broken (Llama's decoder) or missing
            raise ValueError(
                f"Cannot save risk model {self.name!r}: a layer of its body cannot give its "
                f"config ({type(err).__name__}: {err}). Save what you wrapped instead (a "
                "patched KerasHub model saves as its backbone's config plus the patches) and "
                "wrap it again after loading: rw.load_model(path), then the wrapper."
            ) from err
        _keep_layer_names(self.body, body)
        return {
            "name": self.name,
            "trainable": self.trainable,
            "body": body,
            "members": self.members,
            "n_outputs": self.n_outputs,
            "has_variance": self.has_variance,
            "output_format": self.output_format,
            "output_keys": self.output_keys,
            "wrappers": self.wrappers,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from risk_widgets.engine import registry

        registry.load_builtin_kinds()  # the adapter / risk classes the body names
        config = dict(config)
        config["body"] = keras.saving.deserialize_keras_object(
            config["body"], custom_objects=custom_objects
        )
        return cls(**config)


def _keep_layer_names(body: Any, serialized: Any) -> None:
    """Puts each top-level layer's name into its config where its ``get_config`` left it out
    and its constructor takes one: Keras' ``Model.get_config`` for a subclassed model (which
    a wrapper makes one layer of the body) drops the name, and the patches saved inside the
    layer are found again by its path."""
    entries = serialized.get("config", {}).get("layers", []) if isinstance(serialized, dict) else []
    for entry in entries:
        config = entry.get("config") if isinstance(entry, dict) else None
        if not isinstance(config, dict) or "name" in config or "name" not in entry:
            continue
        try:
            layer = body.get_layer(entry["name"])
        except ValueError:
            continue
        parameters = inspect.signature(type(layer).__init__).parameters
        takes_kwargs = any(p.kind is p.VAR_KEYWORD for p in parameters.values())
        if "name" in parameters or takes_kwargs:
            config["name"] = entry["name"]


def _parameters(fn: Any) -> set[str]:
    try:
        return set(inspect.signature(fn).parameters)
    except (TypeError, ValueError):  # a builtin or C callable: the four positional arguments
        return set()


def _check_inputs(model: RiskModel, x: Any, method: str) -> None:
    """NumPy inputs that are not numbers, empty or shaped unlike the body's inputs: a clear
    error before Keras runs (its own message shows the batch repeated over the members)."""
    if isinstance(x, np.ndarray):
        arrays = [x]
    elif isinstance(x, (list, tuple)) and x and all(isinstance(a, np.ndarray) for a in x):
        arrays = list(x)
    else:
        return  # tensors, datasets, dicts: left to Keras
    specs = list(model.body.inputs)
    for i, array in enumerate(arrays):
        name = "x" if len(arrays) == 1 else f"x[{i}]"
        if array.dtype.kind not in "biuf":
            raise TypeError(
                f"{method}(): `{name}` has dtype {array.dtype}, but model {model.name!r} takes "
                f"numbers. Convert it first, e.g. {name} = {name}.astype('float32')."
            )
        if array.ndim == 0 or array.shape[0] == 0:
            raise ValueError(
                f"{method}(): `{name}` is empty (shape {array.shape}): pass at least one "
                "example."
            )
        if len(arrays) != len(specs):
            continue  # optional inputs: Keras matches them
        expected = tuple(specs[i].shape)
        if len(expected) != array.ndim:
            continue  # Keras adds or drops a trailing axis of size 1 itself
        pairs = zip(expected[1:], array.shape[1:], strict=True)
        if any(e is not None and e != d for e, d in pairs):
            raise ValueError(
                f"{method}(): `{name}` has shape {array.shape}, but model {model.name!r} "
                f"expects {expected} (None: any size). Pass one row per example, each shaped "
                f"like the model's input {expected[1:]}."
            )

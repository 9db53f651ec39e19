"""Risk wrappers: ``vote`` (ensembles), ``sample`` (MC dropout), ``sculpt`` (variance head).

``Wrapper(**params)(model, targets=None)`` returns a :class:`RiskModel`: ``model(x)`` and
``predict`` give the prediction, ``model(x, return_risk=True)`` gives ``(y, std)`` with the
std in the units of y. Wrappers compose by the law of total variance:
``vote.Wrapper()(sculpt.Wrapper()(model))``. ``recalibrate(model, x_val, y_val)`` rescales a
trained risk model's std on held-out rows (:mod:`~risk_widgets.risk.recalibration`).

Example:
    >>> import keras
    >>> from risk_widgets.risk import vote, sample, sculpt
    >>> inputs = keras.Input((1,))
    >>> h = keras.layers.Dense(8, activation="relu")(inputs)
    >>> model = keras.Model(inputs, keras.layers.Dense(1)(h))
    >>> risky = sample.Wrapper(n_samples=4)(vote.Wrapper(n_voters=2)(sculpt.Wrapper()(model)))
    >>> risky.members
    8
"""

from risk_widgets.risk import graph_hooks as _graph_hooks  # noqa: F401  (registers the hooks)
from risk_widgets.risk import metrics
from risk_widgets.risk.model import RiskModel

__all__ = [
    "RiskModel", "conformal", "laplace", "lora_ensemble", "metrics", "recalibrate",
    "recalibration", "sample", "sculpt", "temperature", "vote",
]


def __getattr__(name):
    if name in ("sample", "sculpt", "vote", "compose", "conformal", "temperature", "laplace",
                "posthoc", "lora_ensemble", "calibration", "recalibration", "held_out"):
        import importlib

        module = importlib.import_module(f"risk_widgets.risk.{name}")
        globals()[name] = module
        return module
    if name == "recalibrate":  # rw.risk.recalibrate(model, x_val, y_val): one call
        from risk_widgets.risk.recalibration import recalibrate

        globals()[name] = recalibrate
        return recalibrate
    raise AttributeError(f"module 'risk_widgets.risk' has no attribute {name!r}")

"""Compiling a new model as the user's model was compiled: `carry_compile`.

Used where risk_widgets hands back a new model of the user's (a risk model, a patched
KerasHub task): the user's loss and metric objects are reused, never re-created from
their configs (Keras 3.15's ``Huber.get_config`` drops ``delta``; a plain Python function
has no config at all).
"""

from __future__ import annotations

import warnings
from typing import Any

from risk_widgets.core import keras_internals as ki

__all__ = ["carry_compile"]


def carry_compile(source: Any, target: Any, *, stacklevel: int = 3) -> None:
    """Compiles ``target`` as ``source`` was compiled, reusing the objects ``source`` got.

    The loss, loss weights and metrics are the very objects and functions passed to
    ``source.compile`` (``Huber(delta=0.5)`` keeps its delta, a plain Python function works,
    a metric object is shared: its state is reset at the start of every fit / evaluate).
    The **optimizer is a fresh one of the same class and config** (learning rate or its
    schedule, clipping, ...): the user's optimizer holds slots bound to the user's
    variables and its own step count. ``run_eagerly``, ``steps_per_execution`` and
    ``jit_compile`` carry over. Does nothing if ``source`` was never compiled; warns (and
    leaves ``target`` uncompiled) if its optimizer cannot be re-created.

    Example:
        >>> import keras
        >>> from risk_widgets.core.compile_settings import carry_compile
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        >>> huber = keras.losses.Huber(delta=0.5)
        >>> model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=huber)
        >>> twin = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        >>> carry_compile(model, twin)
        >>> twin.loss is huber, twin.optimizer is model.optimizer
        (True, False)
        >>> round(float(twin.optimizer.learning_rate), 6)
        0.001
    """
    arguments = ki.compile_arguments(source) if getattr(source, "compiled", False) else None
    if arguments is None:
        return
    arguments = dict(arguments)
    optimizer = arguments.pop("optimizer", None)
    try:
        if optimizer is not None:
            optimizer = optimizer.__class__.from_config(optimizer.get_config())
    except Exception as err:  # e.g. an unregistered custom learning-rate schedule
        warnings.warn(
            f"Could not carry over the optimizer of {source.name!r} ({type(err).__name__}: "
            f"{err}). Compile the new model yourself: new.compile(optimizer=..., loss=...).",
            stacklevel=stacklevel,
        )
        return
    target.compile(optimizer=optimizer, **arguments)

"""Shared by the bad-input tests (tests/test_bad_inputs.py, the case tables
tests/bad_input_cases_*.py, tests/test_edge_cases.py, tests/test_editor_state_machine.py,
tests/test_round_trips.py): snapshots of what must not change, tiny seeded models, data, and
the `Case` of a bad input."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import keras
import numpy as np

import risk_widgets as rw
from risk_widgets.editor.state import EditorState
from risk_widgets.risk import sculpt, vote
from tests import models as M

# ----------------------------------------------------------------------------- snapshots


def snapshot(model) -> dict:
    """What must not change: every weight (a NumPy copy), every variable's and every layer's
    trainable flag, by path and name (values, not object identity)."""
    return {
        "weights": [(v.path, np.array(keras.ops.convert_to_numpy(v))) for v in model.weights],
        "variable_flags": [(v.path, bool(v.trainable)) for v in model.weights],
        "layer_flags": [
            (layer.name, type(layer).__name__, bool(layer.trainable))
            for layer in model._flatten_layers(include_self=True, recursive=True)
        ],
    }


def assert_same(before: dict, model) -> None:
    after = snapshot(model)
    assert after["layer_flags"] == before["layer_flags"], "a layer's trainable flag changed"
    assert after["variable_flags"] == before["variable_flags"], "a variable's flag changed"
    for (path, a), (_, b) in zip(before["weights"], after["weights"], strict=True):
        np.testing.assert_array_equal(a, b, err_msg=f"weight {path} changed")


def _watched(world: dict) -> dict[str, Any]:
    """Every model in a case's world: the user's models and each editor's models."""
    found = {}
    for name, value in world.items():
        if isinstance(value, keras.Model):
            found[name] = value
        elif isinstance(value, (EditorState, rw.GraphEditor)):
            found[f"{name}.original"] = value.original
            found[f"{name}.model"] = value.model
    return found


def _editor_state(world: dict) -> dict:
    return {
        name: (value.history() if isinstance(value, EditorState) else value.history,
               list(value.selection), id(value.model))
        for name, value in world.items()
        if isinstance(value, (EditorState, rw.GraphEditor))
    }


# ----------------------------------------------------------------------------- models
# Tiny (Dense 2-8 units) and seeded; cached: a case that changed a shared model would fail
# its own before/after comparison.


@functools.cache
def mlp():
    """x (4) -> hidden_1 Dense(8, relu) -> head Dense(2)."""
    return M.mlp()


@functools.cache
def regression():
    """x (1) -> hidden_1 Dense(8, relu) -> head Dense(1)."""
    return M.mlp(n_in=1, n_out=1, name="regression")


@functools.cache
def with_batch_norm():
    keras.utils.set_random_seed(0)
    x = keras.Input((4,), name="x")
    h = keras.layers.BatchNormalization(name="bn")(keras.layers.Dense(8, name="d1")(x))
    return keras.Model(x, keras.layers.Dense(2, name="head")(h), name="with_bn")


class Scaled(keras.layers.Layer):
    """An opaque subclassed layer holding a Dense; it has no config, so it cannot be
    re-created (which patching inside it needs)."""

    def __init__(self, scale, **kwargs):
        super().__init__(**kwargs)
        self.scale = float(scale)
        self.inner = keras.layers.Dense(4, name="inner")

    def call(self, x):
        return self.inner(x) * self.scale

    def get_config(self):
        raise NotImplementedError("Scaled does not implement get_config()")


@functools.cache
def opaque():
    keras.utils.set_random_seed(0)
    x = keras.Input((4,), name="x")
    return keras.Model(x, keras.layers.Dense(2, name="head")(Scaled(2.0, name="op")(x)),
                       name="opaque")


@functools.cache
def shared():
    """A Dense ``s`` used at the top level and inside the nested model ``inner``."""
    keras.utils.set_random_seed(0)
    s = keras.layers.Dense(4, name="s")
    inner_in = keras.Input((4,), name="inner_in")
    inner = keras.Model(inner_in, s(inner_in), name="inner")
    x = keras.Input((4,), name="x")
    return keras.Model(x, keras.layers.Dense(2, name="head")(inner(s(x))), name="shared")


@functools.cache
def recurrent():
    """x (5, 4) -> td = TimeDistributed(Dense 3) -> bi = Bidirectional(LSTM 3) -> head."""
    keras.utils.set_random_seed(0)
    x = keras.Input((5, 4), name="x")
    h = keras.layers.TimeDistributed(keras.layers.Dense(3, name="tdd"), name="td")(x)
    h = keras.layers.Bidirectional(keras.layers.LSTM(3, name="lstm"), name="bi")(h)
    return keras.Model(x, keras.layers.Dense(2, name="head")(h), name="recurrent")


@functools.cache
def classifier(activation="softmax"):
    keras.utils.set_random_seed(0)
    x = keras.Input((4,), name="x")
    h = keras.layers.Dense(8, activation="relu", name="hidden")(x)
    n = 3 if activation == "softmax" else 1
    return keras.Model(x, keras.layers.Dense(n, activation=activation, name="head")(h),
                       name=f"{activation}_classifier")


class Subclassed(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = keras.layers.Dense(2, name="dense")

    def call(self, x):
        return self.dense(x)


@functools.cache
def subclassed():
    model = Subclassed(name="subclassed")
    model(np.zeros((1, 4), "float32"))
    return model


def unbuilt():
    return keras.Sequential([keras.layers.Dense(4), keras.layers.Dense(1)], name="unbuilt")


@functools.cache
def risky():
    """vote(2) over sculpt over ``regression()``, compiled."""
    model = vote.Wrapper(n_voters=2)(sculpt.Wrapper()(regression()))
    model.compile(optimizer="adam", loss="mse")
    return model


def _x(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


X4 = _x((5, 4))
X1 = np.linspace(-1, 1, 16, dtype="float32")[:, None]
Y1 = X1**3


def _with(array, index, value):
    array = array.copy()
    array[index] = value
    return array


def _perturb(model, seed=0):
    """Moves every adapter weight as training would (so that folds have work to do)."""
    rng = np.random.default_rng(seed)
    for layer in rw.patch_layers(model).values():
        for v in layer.trainable_weights:
            v.assign(v.numpy() + 0.3 * rng.normal(size=v.shape).astype("float32"))
    return model


# ----------------------------------------------------------------------------- the cases


@dataclasses.dataclass(frozen=True)
class Case:
    """A bad input: ``bad(world)`` must raise ``error`` whose message matches ``problem`` and
    ``way_out`` (regular expressions); ``good(world)`` is a valid operation that must work
    afterwards. ``setup(tmp_path)`` returns the world: names -> models, editors, paths."""

    id: str
    setup: Callable[[Any], dict]
    bad: Callable[[dict], Any]
    error: type[BaseException]
    problem: str
    way_out: str
    good: Callable[[dict], Any]


def _models(**builders) -> Callable[[Any], dict]:
    return lambda tmp_path: {name: build() for name, build in builders.items()}


def _lora_head(w):
    return rw.add_lora(w["model"], "head", rank=2)


def _risky_predict(w):
    w["model"].predict(X1, verbose=0)


def case_table() -> tuple[list[Case], Callable[..., None]]:
    """An empty case list and ``case(id, setup, bad, error, problem, way_out, good)``, which
    adds a `Case` to it."""
    cases: list[Case] = []

    def case(id, setup, bad, error, problem, way_out, good):
        cases.append(Case(id, setup, bad, error, problem, way_out, good))

    return cases, case


def _vote_editor():
    state = EditorState(mlp())
    state.apply("vote", n_voters=2)
    return state

"""Bad inputs, each refused with a clear error, and nothing changed by them (issue 14).

Every case in ``CASES`` asserts three things:

1. the error type, and a message that names the problem **and** the way out;
2. the editor and the kernel still work: a following valid operation succeeds;
3. the user's model and the editor's model are unchanged: weights (NumPy copies) and the
   trainable flags of every layer and variable are compared, not object identity.

Widget messages go through ``GraphEditor._on_message`` (how anywidget delivers them) and
must leave an error ``status`` naming the problem. After the cases: messages during a
running ``fit``, rapid apply/undo, a hypothesis state machine on the headless editor, and
exact patch -> save -> load / fold round trips for every adapter and wrapper kind.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import warnings
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

import risk_widgets as rw
from risk_widgets.editor.state import EditorState
from risk_widgets.risk import RiskModel, sample, sculpt, vote
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


CASES: list[Case] = []


def case(id, setup, bad, error, problem, way_out, good):
    CASES.append(Case(id, setup, bad, error, problem, way_out, good))


# -- targets ----------------------------------------------------------------------------------
case("target-unknown-path", _models(model=mlp),
     lambda w: rw.add_lora(w["model"], "hiden_1", rank=2),
     ValueError, r"No layer at path 'hiden_1'", r"Close matches: 'hidden_1'",
     lambda w: rw.add_lora(w["model"], "hidden_1", rank=2))
case("target-glob-matches-nothing", _models(model=mlp),
     lambda w: rw.add_svf(w["model"], "*/query"),
     ValueError, r"pattern '\*/query' matches no layer", r"find_layers\(model, '\*'\)",
     lambda w: rw.add_svf(w["model"], "*head"))
case("target-empty-list", _models(model=mlp),
     lambda w: rw.add_lora(w["model"], [], rank=2),
     ValueError, r"`targets` is an empty list", r"give at least one path",
     _lora_head)
case("target-glob-matches-an-unsupported-layer", _models(model=with_batch_norm),
     lambda w: rw.add_lora(w["model"], "*", rank=2),
     TypeError, r"'bn': BatchNormalization is not supported", r"targets=keras\.layers\.Dense",
     lambda w: rw.add_lora(w["model"], keras.layers.Dense, rank=2))
case("target-class-that-is-not-a-layer", _models(model=mlp),
     lambda w: rw.add_lora(w["model"], dict, rank=2),
     TypeError, r"class target must be a Keras layer class", r"such as `keras\.layers\.Dense`",
     _lora_head)
case("target-of-a-wrong-type", _models(model=mlp),
     lambda w: rw.add_svf(w["model"], 3),
     TypeError, r"Received: targets=3 \(of type int\)", r"a glob \('\*/query'\)",
     lambda w: rw.add_svf(w["model"], "head"))
case("vote-predicate-matching-nothing", _models(model=mlp),
     lambda w: vote.Wrapper(2)(w["model"], targets=lambda path, layer: False),
     ValueError, r"predicate matched no layer", r"predicate\(path, layer\) -> bool",
     lambda w: vote.Wrapper(2)(w["model"], targets=lambda path, layer: path == "head"))
case("sample-unknown-path", _models(model=mlp),
     lambda w: sample.Wrapper(2)(w["model"], targets="hiden_1"),
     ValueError, r"target 'hiden_1' matches no layer", r"Did you mean 'hidden_1'",
     lambda w: sample.Wrapper(2)(w["model"], targets="hidden_1"))
case("opaque-subclassed-layer-lora-inside", _models(model=opaque),
     lambda w: rw.add_lora(w["model"], "op/inner", rank=2),
     ValueError, r"Cannot patch inside Scaled 'op'.*could not be re-created",
     r"Implement get_config\(\)/from_config\(\)", _lora_head)
case("opaque-subclassed-layer-vote-whole-model", _models(model=opaque),
     lambda w: vote.Wrapper(2)(w["model"]),
     ValueError, r"Cannot patch inside Scaled 'op'", r"Implement get_config\(\)/from_config\(\)",
     _lora_head)
case("opaque-subclassed-layer-as-a-lora-target", _models(model=opaque),
     lambda w: rw.add_lora(w["model"], "op", rank=2),
     TypeError, r"'op': Scaled is not supported", r"Supported layer types: .*Dense",
     _lora_head)
case("shared-layer-patched-again-by-its-other-path",
     lambda tmp_path: {"model": shared(), "patched": rw.add_lora(shared(), "inner/s", rank=2)},
     lambda w: rw.add_lora(w["patched"], "s", rank=2, name="default"),
     ValueError, r"'s': that layer already has an adapter named 'default'",
     r"rw\.unpatch\(model, names=\['default'\]\)",
     lambda w: rw.add_lora(w["patched"], "head", rank=2))
case("lstm-cell-inside-bidirectional", _models(model=recurrent),
     lambda w: rw.add_lora(w["model"], "bi/forward_lstm/lstm_cell", rank=2),
     TypeError, r"LSTMCell is not supported", r"Choose targets of those types",
     lambda w: rw.add_lora(w["model"], "td/tdd", rank=2))
case("timedistributed-wrapper-itself", _models(model=recurrent),
     lambda w: rw.add_svf(w["model"], "td"),
     TypeError, r"'td': TimeDistributed is not supported", r"target 'td/tdd' instead",
     lambda w: rw.add_svf(w["model"], "td/tdd"))

# -- patches ----------------------------------------------------------------------------------
for rank in (0, -3):
    case(f"lora-rank-{rank}", _models(model=mlp),
         lambda w, rank=rank: rw.add_lora(w["model"], "head", rank=rank),
         ValueError, rf"invalid value for `rank`.*Received: rank={rank}",
         r"expected a positive integer", _lora_head)
case("lora-rank-above-the-limit", _models(model=mlp),
     lambda w: rw.add_lora(w["model"], "head", rank=4096),
     ValueError, r"Received: rank=4096", r"expected an integer in \[1, 1024\]", _lora_head)
case("lora-rank-not-an-integer", _models(model=mlp),
     lambda w: rw.add_lora(w["model"], "head", rank=2.5),
     ValueError, r"Received: rank=2\.5", r"expected an integer in \[1, 1024\]", _lora_head)
case("lora-alpha-negative", _models(model=mlp),
     lambda w: rw.add_lora(w["model"], "head", rank=2, alpha=-1.0),
     ValueError, r"Received: alpha=-1\.0", r"non-negative number or None", _lora_head)
case("lora-dropout-one", _models(model=mlp),
     lambda w: rw.add_lora(w["model"], "head", rank=2, dropout=1.0),
     ValueError, r"Received: dropout=1\.0", r"a number in \[0, 1\)", _lora_head)
case("lora-twice-on-one-layer-under-one-name",
     lambda tmp_path: {"model": mlp(), "patched": rw.add_lora(mlp(), "head", rank=2)},
     lambda w: rw.add_lora(w["patched"], "head", rank=2, name="default"),
     ValueError, r"'head': that layer already has an adapter named 'default'",
     r"Pass another name=",
     lambda w: rw.add_lora(w["patched"], "head", rank=2, name="task_b"))
case("lora-and-svf-mixed-on-one-layer-under-one-name",
     lambda tmp_path: {"model": mlp(), "patched": rw.add_lora(mlp(), "head", rank=2)},
     lambda w: rw.add_svf(w["patched"], ["hidden_1", "head"], name="default"),
     ValueError, r"Cannot add svf adapter 'default' to 'head'", r"rw\.unpatch\(model, names=",
     lambda w: rw.add_svf(w["patched"], ["hidden_1", "head"]))
case("adapter-name-with-a-slash", _models(model=mlp),
     lambda w: rw.add_lora(w["model"], "head", rank=2, name="a/b"),
     ValueError, r"Received: name='a/b'", r"Use e\.g\. name='task_b'", _lora_head)
case("set-active-of-an-unknown-name",
     lambda tmp_path: {"model": mlp(), "patched": rw.add_lora(mlp(), "head", rank=2)},
     lambda w: rw.set_active(w["patched"], "task_b"),
     ValueError, r"has no adapter named 'task_b'", r"Its adapters: 'default'",
     lambda w: rw.set_active(w["patched"], "default"))
case("unpatch-an-unpatched-model", _models(model=mlp),
     lambda w: rw.unpatch(w["model"]),
     ValueError, r"unpatch\(\): model 'mlp' has no patches",
     r"Pass the model that rw\.add_lora / rw\.add_svf returned",
     lambda w: rw.unpatch(_lora_head(w)))
case("fold-an-unpatched-model", _models(model=mlp),
     lambda w: rw.fold(w["model"]),
     ValueError, r"fold\(\): model 'mlp' has no patches, so there is nothing to merge",
     r"Pass the model that rw\.add_lora / rw\.add_svf returned",
     lambda w: rw.fold(_lora_head(w)))
case("fold-a-risk-model", _models(model=risky),
     lambda w: rw.fold(w["model"]),
     TypeError, r"is a risk model", r"Fold first, then wrap", _risky_predict)
case("save-adapters-of-a-risk-model", _models(model=risky),
     lambda w: rw.save_adapters(w["model"], "adapters.npz"),
     TypeError, r"save_adapters\(\) needs .*Received: RiskModel", r"model\.save\('risky\.keras'\)",
     _risky_predict)
case("lora-on-a-risk-model", _models(model=risky),
     lambda w: rw.add_lora(w["model"], "head", rank=1),
     TypeError, r"Cannot patch 'regression_sculpt_vote': it is a risk model",
     r"Add adapters first, then wrap", _risky_predict)
case("lora-on-an-unbuilt-model", lambda tmp_path: {"model": unbuilt(), "other": mlp()},
     lambda w: rw.add_lora(w["model"], "*", rank=2),
     ValueError, r"'unbuilt' is not built", r"give it an Input shape",
     lambda w: rw.add_lora(w["other"], "head", rank=2))

# -- risk wrappers ----------------------------------------------------------------------------
for n in (1, 0, 2.0):
    case(f"vote-n-voters-{n}", _models(model=mlp),
         lambda w, n=n: vote.Wrapper(n_voters=n)(w["model"]),
         ValueError, rf"Received: n_voters={n}", r"expected an integer >= 2",
         lambda w: vote.Wrapper(n_voters=2)(w["model"]))
case("sample-n-samples-1", _models(model=mlp),
     lambda w: sample.Wrapper(n_samples=1)(w["model"]),
     ValueError, r"Received: n_samples=1", r"expected an integer >= 2",
     lambda w: sample.Wrapper(n_samples=2)(w["model"]))
case("sample-rate-0", _models(model=mlp),
     lambda w: sample.Wrapper(n_samples=2, rate=0.0)(w["model"]),
     ValueError, r"Received: rate=0\.0", r"strictly between 0 and 1",
     lambda w: sample.Wrapper(n_samples=2, rate=0.2)(w["model"]))
for act in ("softmax", "sigmoid"):
    case(f"sculpt-on-a-{act}-classification-output",
         lambda tmp_path, act=act: {"model": classifier(act)},
         lambda w: sculpt.Wrapper()(w["model"]),
         ValueError, rf"output 'head' ends in a {act}", r"use vote or sample",
         lambda w: vote.Wrapper(2)(w["model"]))
case("sculpt-twice", _models(model=risky),
     lambda w: sculpt.Wrapper()(w["model"]),
     ValueError, r"already has a variance head", r"Apply sculpt once, first",
     lambda w: sample.Wrapper(2)(w["model"]))
for name, wrapper in (("vote", lambda: vote.Wrapper(2)), ("sample", lambda: sample.Wrapper(2)),
                      ("sculpt", sculpt.Wrapper)):
    case(f"{name}-on-an-unbuilt-model",
         lambda tmp_path: {"model": unbuilt(), "other": regression()},
         lambda w, wrapper=wrapper: wrapper()(w["model"]),
         ValueError, rf"{name}: model 'unbuilt' is not built",
         r"keras\.Input\(shape\), \.\.\.\]\)\) or call it once on data",
         lambda w, wrapper=wrapper: wrapper()(w["other"]))
case("vote-on-a-subclassed-model", _models(model=subclassed, other=mlp),
     lambda w: vote.Wrapper(2)(w["model"]),
     TypeError, r"'subclassed' is a subclassed model", r"keras\.Model\(inputs, model\(inputs\)\)",
     lambda w: vote.Wrapper(2)(w["other"]))
case("vote-on-a-layer", _models(other=mlp),
     lambda w: vote.Wrapper(2)(keras.layers.Dense(2)),
     TypeError, r"expected a keras\.Model .*Received: Dense",
     r"keras\.Sequential\(\[keras\.Input\(shape\), layer\]\)",
     lambda w: vote.Wrapper(2)(w["other"]))
for what, bad, problem in (
    ("predict-nan-x", lambda m: m.predict(_with(X1, (3, 0), np.nan), verbose=0),
     r"predict\(\): `x` contains 1 NaN/infinite value"),
    ("call-inf-x", lambda m: m(_with(X1, (0, 0), np.inf)), r"call\(\): `x` contains 1 NaN"),
    ("fit-nan-y", lambda m: m.fit(X1, _with(Y1, (2, 0), np.nan), verbose=0),
     r"fit\(\): `y` contains 1 NaN/infinite value"),
    ("layer-risk-inf-x", lambda m: m.layer_risk(_with(X1, (1, 0), -np.inf)),
     r"layer_risk\(\): `x` contains 1 NaN"),
):
    case(f"risk-{what}", _models(model=risky), lambda w, bad=bad: bad(w["model"]),
         ValueError, problem, r"Drop or impute them first", _risky_predict)
for what, bad, error, problem, way_out in (
    ("predict-empty-x", lambda m: m.predict(X1[:0], verbose=0), ValueError,
     r"predict\(\): `x` is empty \(shape \(0, 1\)\)", r"pass at least one example"),
    ("fit-empty-x", lambda m: m.fit(X1[:0], Y1[:0], verbose=0), ValueError,
     r"fit\(\): `x` is empty", r"pass at least one example"),
    ("predict-wrong-shape", lambda m: m.predict(np.zeros((3, 5), "float32"), verbose=0),
     ValueError, r"`x` has shape \(3, 5\), but model '.*' expects \(None, 1\)",
     r"each shaped like the model's input \(1,\)"),
    ("predict-risk-wrong-dtype", lambda m: m.predict_risk(np.array([["a"], ["b"]])), TypeError,
     r"`x` has dtype <U1, but model '.*' takes numbers", r"x\.astype\('float32'\)"),
    ("call-object-dtype", lambda m: m(np.array([[None], [1.0]], dtype=object)), TypeError,
     r"`x` has dtype object", r"x\.astype\('float32'\)"),
):
    case(f"risk-{what}", _models(model=risky), lambda w, bad=bad: bad(w["model"]),
         error, problem, way_out, _risky_predict)
for what, data, problem, way_out in (
    ("nan", (_with(X1, (2, 0), np.nan), Y1), r"x has 1 NaN/inf value", r"clean or drop"),
    ("empty", (X1[:0], Y1[:0]), r"x is empty", r"pass at least one sample"),
    ("of-other-lengths", (X1, Y1[:-1]), r"differ in length: 16 vs 15 rows",
     r"one target row per sample"),
    ("strings", (np.array([["a"]] * 16), Y1), r"x is not numeric", r"astype\('float32'\)"),
    ("y-strings", (X1, np.array([["a"]] * 16)), r"y is not numeric", r"astype\('float32'\)"),
):
    case(f"editor-sample-data-{what}", _models(model=regression),
         lambda w, data=data: rw.GraphEditor(w["model"], data=data),
         ValueError, problem, way_out,
         lambda w: rw.GraphEditor(w["model"], data=(X1, Y1)))
case("editor-fit-nan-x", lambda tmp_path: {"editor": rw.GraphEditor(regression(), data=(X1, Y1))},
     lambda w: w["editor"].fit(_with(X1, (0, 0), np.nan), Y1, epochs=1),
     ValueError, r"x has 1 NaN/inf value", r"clean or drop those rows",
     lambda w: w["editor"].select("head"))


# -- files ------------------------------------------------------------------------------------
def _editor_on_lora(tmp_path):
    state = EditorState(mlp())
    state.select("head")
    state.apply("lora", rank=2)
    _perturb(state.model)
    existing = tmp_path / "existing.keras"
    state.export(existing)
    return {"editor": state, "existing": existing, "tmp": tmp_path}


def _unwritable_folder(tmp_path):
    folder = tmp_path / "read_only"
    folder.mkdir()
    folder.chmod(0o500)
    if not os.access(folder, os.W_OK):
        return folder
    folder.chmod(0o700)  # root writes anywhere: use a folder the kernel refuses files in
    if os.path.isdir("/sys") and not os.access("/sys", os.W_OK):
        return "/sys"
    return "/sys" if os.path.isdir("/sys") else pytest.skip("no unwritable folder here")


def _export_good(w):
    saved = w["editor"].export(w["tmp"] / "fine.keras", fold=True)
    assert os.path.getsize(saved) > 0


case("export-to-an-existing-file-without-overwrite", _editor_on_lora,
     lambda w: w["editor"].export(w["existing"], overwrite=False),
     FileExistsError, r"existing\.keras': the file exists", r"Pass overwrite=True", _export_good)
case("export-to-an-existing-folder", _editor_on_lora,
     lambda w: (w["tmp"] / "folder.keras").mkdir() or w["editor"].export(w["tmp"] / "folder.keras"),
     IsADirectoryError, r"folder\.keras': it is a folder", r"Choose a file name in it",
     _export_good)
case("export-to-an-unwritable-folder", _editor_on_lora,
     lambda w: w["editor"].export(os.path.join(_unwritable_folder(w["tmp"]), "m.keras")),
     OSError, r"Cannot write '.*m\.keras'", r"Choose a folder you can write to", _export_good)
case("export-to-a-missing-folder", _editor_on_lora,
     lambda w: w["editor"].export(w["tmp"] / "missing" / "m.keras"),
     ValueError, r"folder '.*missing' does not exist", r"Create it first", _export_good)
case("export-without-the-keras-suffix", _editor_on_lora,
     lambda w: w["editor"].export(w["tmp"] / "m.h5"),
     ValueError, r"Received: '.*m\.h5'", r"must end with '\.keras'", _export_good)
case("export-folded-risk-model",
     lambda tmp_path: {"editor": _vote_editor(), "tmp": tmp_path},
     lambda w: w["editor"].export(w["tmp"] / "risky.keras", fold=True),
     TypeError, r"fold\(\) needs .*Received: RiskModel", r"Fold first, then wrap",
     lambda w: w["editor"].export(w["tmp"] / "risky.keras"))


def _vote_editor():
    state = EditorState(mlp())
    state.apply("vote", n_voters=2)
    return state


def _saved(tmp_path, model, name):
    path = tmp_path / name
    model.save(path)
    return path


def _truncated(tmp_path):
    good = _saved(tmp_path, rw.add_lora(mlp(), "head", rank=2), "good.keras")
    data = good.read_bytes()
    bad = tmp_path / "truncated.keras"
    bad.write_bytes(data[: len(data) // 2])
    return {"model": mlp(), "good": good, "bad": bad}


case("load-a-truncated-keras-file", _truncated,
     lambda w: keras.saving.load_model(w["bad"]),  # Keras' own message (it says "not found")
     ValueError, r"truncated\.keras", r"ensure the file is an accessible `\.keras` zip file",
     lambda w: keras.saving.load_model(w["good"]))


@functools.cache
def with_lambda():
    keras.utils.set_random_seed(0)
    x = keras.Input((4,), name="x")
    h = keras.layers.Lambda(lambda t: t * 2.0, name="lam")(x)  # runs code when loaded
    return keras.Model(x, keras.layers.Dense(2, name="head")(h), name="hostile")


for what, make in (("plain", lambda m: m),
                   ("lora-patched", lambda m: rw.add_lora(m, "head", rank=2)),
                   ("vote-wrapped", lambda m: vote.Wrapper(2)(m))):
    case(f"load-a-hostile-{what}-keras-file-in-safe-mode",
         lambda tmp_path, make=make: {
             "model": with_lambda(), "tmp": tmp_path,
             "file": _saved(tmp_path, make(with_lambda()), "hostile.keras")},
         lambda w: keras.saving.load_model(w["file"], safe_mode=True),
         ValueError, r"deserialization of a `Lambda` layer", r"passing `safe_mode=False`",
         lambda w: keras.saving.load_model(
             _saved(w["tmp"], rw.add_lora(mlp(), "head", rank=2), "fine.keras"), safe_mode=True))


def _adapter_file(tmp_path, patched, name="adapters.npz"):
    return rw.save_adapters(_perturb(patched), tmp_path / name)


def _adapters_world(make_other):
    def setup(tmp_path):
        saved = rw.add_lora(mlp(), "head", rank=2)
        return {
            "model": mlp(),
            "saved": saved,
            "file": _adapter_file(tmp_path, saved),
            "svf_file": _adapter_file(tmp_path, rw.add_svf(mlp(), "head"), "svf.npz"),
            "other": make_other(),
        }
    return setup


def _load_good(w):
    same = rw.add_lora(mlp(), "head", rank=2)
    assert rw.load_adapters(same, w["file"]) == ["head"]
    np.testing.assert_allclose(same(X4), w["saved"](X4), atol=1e-6)


case("load-adapters-of-another-rank", _adapters_world(lambda: rw.add_lora(mlp(), "head", rank=1)),
     lambda w: rw.load_adapters(w["other"], w["file"]),
     ValueError, r"'head::lora_a' has shape \(8, 2\) in the file but \(8, 1\) in the model",
     r"Patch the model with the same kind, rank and targets", _load_good)
case("load-adapters-into-other-layer-sizes",
     _adapters_world(lambda: rw.add_lora(M.mlp(units=(6,)), "head", rank=2)),
     lambda w: rw.load_adapters(w["other"], w["file"]),
     ValueError, r"saved on a kernel of shape \(8, 2\).*kernel of shape \(6, 2\)",
     r"same architecture", _load_good)
case("load-svf-adapters-into-other-layer-sizes",  # z has min(in, out) = 2 entries in both
     _adapters_world(lambda: rw.add_svf(M.mlp(units=(6,)), "head")),
     lambda w: rw.load_adapters(w["other"], w["svf_file"]),
     ValueError, r"saved on a kernel of shape \(8, 2\).*kernel of shape \(6, 2\)",
     r"same architecture", _load_good)
case("load-adapters-for-other-paths",
     _adapters_world(lambda: rw.add_lora(mlp(), "hidden_1", rank=2)),
     lambda w: rw.load_adapters(w["other"], w["file"]),
     ValueError, r"are for paths \['head'\], but model 'mlp' is patched at \['hidden_1'\]",
     r"Patch the model the same way", _load_good)
case("load-adapters-of-another-kind", _adapters_world(lambda: rw.add_svf(mlp(), "head")),
     lambda w: rw.load_adapters(w["other"], w["file"]),
     ValueError, r"'lora' patch in the file but a 'svf' patch in the model",
     r"Patch the model the same way", _load_good)


def _truncate(path):
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[: len(data) // 2])
    return path


def _lora_2():
    return rw.add_lora(mlp(), "head", rank=2)


case("load-adapters-from-a-truncated-file", _adapters_world(_lora_2),
     lambda w: rw.load_adapters(w["other"], _truncate(w["svf_file"])),
     ValueError, r"not a complete \.npz file written by rw\.save_adapters",
     r"Save the adapters again", _load_good)
case("load-adapters-from-a-missing-file", _adapters_world(_lora_2),
     lambda w: rw.load_adapters(w["other"], "no/such/adapters.npz"),
     FileNotFoundError, r"No adapter file at 'no/such/adapters\.npz'", r"rw\.save_adapters\(",
     _load_good)
case("save-adapters-of-an-unpatched-model", lambda tmp_path: {"model": mlp(), "tmp": tmp_path},
     lambda w: rw.save_adapters(w["model"], w["tmp"] / "a.npz"),
     ValueError, r"has no patch layers: nothing to save", r"Patch it first",
     lambda w: rw.save_adapters(_lora_head(w), w["tmp"] / "a.npz"))


# -- the headless editor ----------------------------------------------------------------------
def _editor(select=None):
    def setup(tmp_path):
        state = EditorState(mlp())
        if select:
            state.select(select)
        return {"editor": state}
    return setup


def _editor_apply(w):
    w["editor"].select("head")
    w["editor"].apply("lora", rank=2)


case("editor-apply-an-unknown-kind", _editor("head"),
     lambda w: w["editor"].apply("lorra", rank=2),
     ValueError, r"Unknown patch kind 'lorra'", r"Expected one of: .*\blora, ", _editor_apply)
case("editor-apply-without-a-selection", _editor(),
     lambda w: w["editor"].apply("svf"),
     ValueError, r"SVF needs target layers", r"select one or more layers first", _editor_apply)
case("editor-apply-an-unknown-parameter", _editor("head"),
     lambda w: w["editor"].apply("lora", rnk=2),
     ValueError, r"unknown parameter\(s\) \['rnk'\]", r"Allowed: alpha, dropout, .*rank",
     _editor_apply)
case("editor-apply-a-parameter-of-a-wrong-type", _editor("head"),
     lambda w: w["editor"].apply("vote", n_voters="many"),
     ValueError, r"Received: n_voters='many'", r"`n_voters` must be an integer", _editor_apply)
case("editor-apply-to-targets-that-do-not-exist", _editor("head"),
     lambda w: w["editor"].apply("lora", targets=["head", "nope"], rank=2),
     ValueError, r"Targets \['nope'\] are not layers of the current model",
     r"select the layers again", _editor_apply)
case("editor-select-a-path-that-does-not-exist", _editor("head"),
     lambda w: w["editor"].select("hed"),
     ValueError, r"No layer at path 'hed'", r"Close matches: 'head'", _editor_apply)
case("editor-lora-after-a-risk-wrapper",
     lambda tmp_path: {"editor": _vote_editor()},
     lambda w: w["editor"].apply("lora", targets=["head"], rank=2),
     TypeError, r"it is a risk model", r"undo the risk wrapper, apply the adapter",
     lambda w: w["editor"].apply("sculpt"))
case("editor-on-a-layer", _models(model=mlp),
     lambda w: EditorState(keras.layers.Dense(2)),
     TypeError, r"Received: Dense", r"needs a Keras 3 model \(keras\.Model",
     lambda w: EditorState(w["model"]))
case("editor-on-an-unbuilt-model", _models(model=mlp),
     lambda w: EditorState(unbuilt()),
     ValueError, r"'unbuilt' is not built yet", r"give it an Input shape",
     lambda w: EditorState(w["model"]))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_refused_clearly_and_changes_nothing(case, tmp_path):
    world = case.setup(tmp_path)
    watched = _watched(world)
    before = {name: snapshot(model) for name, model in watched.items()}
    editors = _editor_state(world)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with pytest.raises(case.error) as info:
            case.bad(world)
    message = str(info.value)
    assert re.search(case.problem, message, re.S), f"does not name the problem: {message}"
    assert re.search(case.way_out, message, re.S), f"gives no way out: {message}"
    assert _editor_state(world) == editors, "the editor's state changed"
    for name, model in watched.items():
        assert_same(before[name], model)
    case.good(world)  # the kernel, the library and the editor still work
    for name, model in watched.items():
        assert_same(before[name], model)


def test_there_are_at_least_40_cases():
    assert len(CASES) + len(MESSAGES) >= 40


# ----------------------------------------------------------------------------- widget messages


def _widget():
    return rw.GraphEditor(regression(), data=(X1, Y1))


def _send(editor, content):
    editor._on_message(editor, content, [])  # how anywidget delivers a message


_LORA_HEAD = {"type": "apply", "kind": "lora", "params": {"rank": 1}, "targets": ["head"]}


@dataclasses.dataclass(frozen=True)
class Message:
    id: str
    content: Any  # or content(tmp_path)
    problem: str
    way_out: str


MESSAGES = [
    Message("unknown-type", {"type": "explode"}, r"unknown message type 'explode'",
            r"expected one of \['apply', .*'export_html', .*'undo'\]"),
    Message("not-an-object", ["apply"], r"malformed message: expected an object, got list",
            r"expected an object"),
    Message("no-type-at-all", {}, r"unknown message type None", r"expected one of \["),
    Message("apply-missing-kind", {"type": "apply", "params": {}, "targets": ["head"]},
            r"'apply' needs field 'kind'", r"of type str"),
    Message("apply-missing-params", {"type": "apply", "kind": "lora", "targets": ["head"]},
            r"'apply' needs field 'params'", r"of type dict"),
    Message("apply-missing-targets", {"type": "apply", "kind": "lora", "params": {}},
            r"'apply' needs field 'targets'", r"of type list of str"),
    Message("apply-kind-of-a-wrong-type",
            {"type": "apply", "kind": 3, "params": {}, "targets": ["head"]},
            r"needs field 'kind'", r"of type str"),
    Message("apply-params-of-a-wrong-type",
            {"type": "apply", "kind": "lora", "params": [1], "targets": ["head"]},
            r"needs field 'params'", r"of type dict"),
    Message("apply-targets-of-a-wrong-type",
            {"type": "apply", "kind": "lora", "params": {}, "targets": "head"},
            r"needs field 'targets'", r"of type list of str"),
    Message("apply-target-ids-that-do-not-exist",
            {"type": "apply", "kind": "lora", "params": {}, "targets": ["head", "gone/dense"]},
            r"Applying lora failed: Targets \['gone/dense'\] are not layers",
            r"select the layers again"),
    Message("apply-an-unknown-kind",
            {"type": "apply", "kind": "lorra", "params": {}, "targets": ["head"]},
            r"unknown patch kind 'lorra'", r"expected one of \[.*'lora', "),
    Message("apply-a-parameter-of-a-wrong-type",
            {"type": "apply", "kind": "lora", "params": {"rank": "two"}, "targets": ["head"]},
            r"Received: rank='two'", r"`rank` must be an integer"),
    Message("apply-a-parameter-out-of-range",
            {"type": "apply", "kind": "vote", "params": {"n_voters": 1}, "targets": []},
            r"`n_voters` must be >= 2", r"must be >= 2. Received: 1"),
    Message("apply-a-nan-parameter",
            {"type": "apply", "kind": "sample", "params": {"rate": float("nan")}, "targets": []},
            r"`rate` must be a number \(not NaN", r"Received: rate=nan"),
    Message("apply-an-unknown-parameter",
            {"type": "apply", "kind": "lora", "params": {"rnk": 1}, "targets": ["head"]},
            r"unknown parameter\(s\) \['rnk'\]", r"Allowed: alpha, dropout, .*rank"),
    Message("export-path-of-a-wrong-type", {"type": "export", "path": 3, "fold": False},
            r"'export' needs field 'path'", r"of type str"),
    Message("export-fold-of-a-wrong-type", {"type": "export", "path": "m.keras", "fold": "yes"},
            r"'export' needs field 'fold'", r"of type bool"),
    Message("export-to-a-missing-folder",
            lambda tmp: {"type": "export", "path": str(tmp / "missing" / "m.keras"), "fold": True},
            r"Export failed: Cannot export to .*does not exist", r"Create it first"),
    Message("export-svg-without-a-path", {"type": "export_svg"},
            r"'export_svg' needs field 'path'", r"of type str"),
    Message("export-code-path-of-a-wrong-type", {"type": "export_code", "path": 3},
            r"'export_code' needs field 'path'", r"of type str or null"),
    Message("export-code-to-a-file-that-is-not-python",
            lambda tmp: {"type": "export_code", "path": str(tmp / "patch.txt")},
            r"Export code failed: Code export path must end with '\.py'",
            r"Received: '.*patch\.txt'"),
    Message("export-code-to-a-missing-folder",
            lambda tmp: {"type": "export_code", "path": str(tmp / "missing" / "p.py")},
            r"Export code failed: .*does not exist", r"Create it first"),
    Message("apply-an-adapter-name-with-a-slash",
            {"type": "apply", "kind": "lora", "params": {"name": "a/b"}, "targets": ["head"]},
            r"`name` must be a name of letters, digits, '_' or '-'.*Received: name='a/b'",
            r"e\.g\. 'task_a'"),
    Message("set-active-names-of-a-wrong-type", {"type": "set_active", "names": "default"},
            r"'set_active' needs field 'names'", r"of type list of str or null"),
    Message("set-active-without-adapters", {"type": "set_active", "names": ["default"]},
            r"Set active adapters failed: .*has no adapter named 'default'",
            r"rw\.adapter_names\(model\)"),
]


@pytest.mark.parametrize("message", MESSAGES, ids=[m.id for m in MESSAGES])
def test_bad_message_sets_an_error_status_and_changes_nothing(message, tmp_path):
    editor = _widget()
    content = message.content(tmp_path) if callable(message.content) else message.content
    before = snapshot(editor.original)
    graph, history, selection = editor.graph, editor.history, editor.selection
    _send(editor, content)  # returns: the kernel goes on
    assert editor.status["level"] == "error", editor.status
    text = editor.status["message"]
    assert re.search(message.problem, text), f"does not name the problem: {text}"
    assert re.search(message.way_out, text), f"gives no way out: {text}"
    assert (editor.graph, editor.history, editor.selection) == (graph, history, selection)
    assert editor.model is editor.original
    assert_same(before, editor.original)
    _send(editor, _LORA_HEAD)  # the next valid message works
    assert editor.status["level"] == "info", editor.status
    assert editor.history["index"] == 1
    assert_same(before, editor.original)


def test_a_10k_element_selection_of_unknown_ids_is_refused_in_a_short_message():
    editor = _widget()
    editor.selection = ["head"]
    editor.selection = [f"layer_{i}" for i in range(10_000)]
    message = editor.status["message"]
    assert editor.status["level"] == "error"
    assert "Unknown layer id(s) in selection: ['layer_0'," in message
    assert "(10000 in all)" in message and "Select nodes of the current graph" in message
    assert len(message) < 1_000, len(message)
    assert editor.selection == ["head"]  # the previous selection stands
    editor.apply("lora", rank=1)
    assert editor.history["entries"][0]["targets"] == ["head"]


def test_a_10k_element_selection_of_known_ids_keeps_each_once():
    editor = _widget()
    editor.selection = ["head", "hidden_1"] * 5_000
    assert editor.status["level"] != "error", editor.status
    editor.apply("svf")
    assert editor.history["entries"][0]["targets"] == ["head", "hidden_1"]
    assert {n["id"] for n in editor.graph["nodes"] if n["patch"]} == {"head", "hidden_1"}


def test_an_apply_message_with_10k_targets_that_do_not_exist_is_refused_in_a_short_message():
    editor = _widget()
    targets = ["head", *(f"ghost_{i}" for i in range(10_000))]
    _send(editor, {"type": "apply", "kind": "lora", "params": {}, "targets": targets})
    message = editor.status["message"]
    assert editor.status["level"] == "error"
    assert "Targets ['ghost_0'," in message and "(10000 in all)" in message, message[:300]
    assert "select the layers again" in message and len(message) < 2_000, len(message)
    assert editor.history["index"] == 0
    _send(editor, _LORA_HEAD)
    assert editor.history["index"] == 1


def test_messages_during_a_running_fit_are_refused_and_the_fit_stays_consistent(tmp_path):
    editor = _widget()
    editor.apply("lora", targets=["head"], rank=1)
    trained, history = editor.model, editor.history
    before = snapshot(editor.original)
    adapters = [np.array(v.numpy()) for v in trained.trainable_weights]
    seen, exported = [], tmp_path / "during_fit.keras"

    class Meddler(keras.callbacks.Callback):  # the page sends messages while fit() runs
        def on_train_batch_end(self, batch, logs=None):
            if seen:
                return
            for content in (
                {"type": "apply", "kind": "vote", "params": {"n_voters": 2}, "targets": []},
                {"type": "undo"}, {"type": "redo"}, {"type": "reset"},
                {"type": "apply", "kind": "svf", "params": {}, "targets": ["hidden_1"]},
            ):
                _send(editor, content)
                seen.append(dict(editor.status))
            with pytest.raises(RuntimeError, match="the model is training"):
                editor.apply("sculpt")
            _send(editor, {"type": "export", "path": str(exported), "fold": False})
            seen.append(dict(editor.status))

    editor.fit(X1, Y1, epochs=2, batch_size=8, callbacks=[Meddler()])
    *refused, export = seen
    assert len(refused) == 5
    for status in refused:
        assert status["level"] == "error", status
        assert "failed: the model is training (editor.fit)" in status["message"], status
        assert "wait until training ends" in status["message"], status
    assert export["level"] == "info" and os.path.getsize(exported) > 0, export
    assert editor.model is trained and editor.history == history  # nothing changed under fit
    assert editor.status["message"].startswith("Trained 2 epochs"), editor.status
    moved = [np.array(v.numpy()) for v in trained.trainable_weights]
    assert any(not np.array_equal(a, b) for a, b in zip(adapters, moved, strict=True))
    assert_same(before, editor.original)
    _send(editor, {"type": "apply", "kind": "vote", "params": {"n_voters": 2}, "targets": []})
    assert editor.status["level"] == "info" and editor.history["index"] == 2  # works again


def test_rapid_apply_undo_redo_reset_messages_keep_history_and_graph_consistent():
    editor = _widget()
    before = snapshot(editor.original)
    plays = {
        "lora_head": ({"type": "apply", "kind": "lora", "params": {"rank": 1},
                       "targets": ["head"]}, "head"),
        "svf_hidden": ({"type": "apply", "kind": "svf", "params": {},
                        "targets": ["hidden_1"]}, "hidden_1"),
        "undo": ({"type": "undo"}, None), "redo": ({"type": "redo"}, None),
        "reset": ({"type": "reset"}, None),
    }
    rng = np.random.default_rng(0)
    entries: list[str] = []  # the patched path of each history entry
    index = 0
    for name in rng.choice(list(plays), size=40, p=[0.25, 0.25, 0.25, 0.15, 0.1]):
        content, path = plays[name]
        if path is not None:  # valid on a patched path too: a second adapter stacks there
            valid = True
            entries, index = [*entries[:index], path], index + 1
        elif name == "undo":
            valid, index = index > 0, max(index - 1, 0)
        elif name == "redo":
            valid = index < len(entries)
            index = min(index + 1, len(entries))
        else:
            valid, index = True, 0
        _send(editor, content)
        assert editor.status["level"] == ("info" if valid else "error"), (name, editor.status)
        assert editor.history["index"] == index, name
        assert [e["targets"] for e in editor.history["entries"]] == [[p] for p in entries]
        patched = {n["id"] for n in editor.graph["nodes"] if n["patch"]}
        assert patched == set(entries[:index]), name
        stacked = {n["id"]: len(n["patches"]) for n in editor.graph["nodes"] if n["patches"]}
        assert stacked == {p: entries[:index].count(p) for p in set(entries[:index])}, name
        assert (editor.model is editor.original) == (index == 0)
    assert_same(before, editor.original)


# ----------------------------------------------------------------------------- cases that work


def test_adapters_on_a_frozen_model_train_and_leave_it_frozen():
    model = M.mlp(seed=1)
    model.trainable = False
    before = snapshot(model)
    patched = rw.add_lora(model, "head", rank=2)
    assert patched.trainable, "a frozen model's patches must train (the base is frozen anyway)"
    assert [v.name for v in patched.trainable_weights] == ["lora_a", "lora_b"]
    assert rw.trainable_report(patched)["trainable"] == 8 * 2 + 2 * 2
    patched.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    patched.fit(X4, np.ones((5, 2), "float32"), epochs=3, verbose=0)
    assert np.abs(patched.get_layer("head").lora_b.numpy()).max() > 0  # it trained
    assert model.trainable is False
    assert_same(before, model)


def test_a_lora_rank_larger_than_the_layer_allows_warns_with_the_limit():
    model = mlp()
    with pytest.warns(UserWarning, match=r"rank=5 is larger than 'head' allows: its kernel is "
                      r"8x2, so an update of it has rank at most 2.*Use rank<=2"):
        patched = rw.add_lora(model, "head", rank=5)
    np.testing.assert_allclose(patched(X4), model(X4), atol=1e-6)  # still a valid patch
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rw.add_lora(model, "head", rank=2)  # within the limit: no warning


def test_vote_inside_time_distributed_gives_each_member_its_own_voter_at_every_step():
    model = recurrent()
    before = snapshot(model)
    x = _x((3, 5, 4), seed=2)
    risky = vote.Wrapper(n_voters=2)(model, targets="td/tdd")
    [(path, layer)] = risky.risk_paths()
    assert path == "td/tdd"
    y, std = (np.asarray(t) for t in risky(x, return_risk=True))
    members = []
    for voter in layer.voters:  # the same network with voter k inside the TimeDistributed
        member = keras.models.clone_model(model)
        member.set_weights(model.get_weights())
        member.get_layer("td").layer.set_weights(voter.get_weights())
        members.append(np.asarray(member(x)))
    np.testing.assert_allclose(y, np.mean(members, axis=0), atol=1e-5)
    np.testing.assert_allclose(std, np.std(members, axis=0), atol=1e-5)
    assert float(std.mean()) > 0
    assert_same(before, model)


def test_rnn_cells_inside_bidirectional_are_wrapped_as_their_rnn_layer(tmp_path):
    model = recurrent()
    before = snapshot(model)
    x = _x((3, 5, 4), seed=3)
    voted = vote.Wrapper(n_voters=2)(model)  # every weighted layer: the LSTM cells too
    assert [p for p, _ in voted.risk_paths()] == ["td/tdd", "bi", "head"]
    assert voted.wrappers[-1]["targets"] == ["td/tdd", "bi", "head"]
    y, std = (np.asarray(t) for t in voted(x, return_risk=True))
    assert np.isfinite(y).all() and float(std.mean()) > 0
    voted.save(tmp_path / "voted.keras")
    loaded = keras.saving.load_model(tmp_path / "voted.keras")
    for a, b in zip(loaded(x, return_risk=True), (y, std), strict=True):
        np.testing.assert_allclose(np.asarray(a), b, atol=1e-5)
    sampled = sample.Wrapper(n_samples=2)(model, targets="bi/forward_lstm/lstm_cell")
    assert [p for p, _ in sampled.risk_paths()] == ["bi"]
    assert np.isfinite(np.asarray(sampled(x))).all()
    assert_same(before, model)


def test_a_folded_export_without_patches_saves_the_model_as_it_is(tmp_path):
    state = EditorState(mlp())
    path = state.export(tmp_path / "plain.keras", fold=True)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(np.asarray(loaded(X4)), np.asarray(mlp()(X4)))


# ----------------------------------------------------------------------------- state machine
# Any sequence of select / apply / undo / redo / reset keeps `editor.model` equal (outputs
# on fixed inputs, to 1e-6) to replaying the history in effect from the original, and the
# original untouched. Every apply is seeded (voters and heads are drawn from the seed), so
# the replay builds the same weights; failed actions must change nothing.

MACHINE_X = _x((5, 3), seed=7)
_PARAMS = {"lora": {"rank": 2}, "svf": {}, "vote": {"n_voters": 2}, "sculpt": {}}


@functools.cache
def machine_model():
    return M.mlp(units=(6,), n_in=3, n_out=2, seed=3, name="machine")


@functools.cache
def machine_reference():
    return snapshot(machine_model()), _outputs(machine_model())


def _outputs(model) -> list[np.ndarray]:
    if isinstance(model, RiskModel):
        return [np.asarray(t) for t in model(MACHINE_X, return_risk=True)]
    return [np.asarray(model(MACHINE_X))]


@functools.cache
def _replayed_outputs(recipes: tuple) -> list[np.ndarray]:
    return _outputs(_replayed(recipes))


@functools.cache
def _replayed(recipes: tuple) -> Any:
    """The model the history ``recipes`` gives when replayed from the original."""
    if not recipes:
        return machine_model()
    *earlier, (kind, params, targets, seed) = recipes
    state = EditorState(_replayed(tuple(earlier)))
    keras.utils.set_random_seed(seed)
    return state.apply(kind, targets=list(targets), **dict(params))


class EditorMachine(RuleBasedStateMachine):
    """The machine keeps its own account of the history (``recipes``, ``index``) and checks
    the editor against it after every step."""

    def __init__(self):
        super().__init__()
        self.state = EditorState(machine_model())
        self.recipes: list[tuple] = []  # (kind, params, targets, seed) of every entry
        self.index = 0  # entries in effect
        self.selection: list[str] = []

    _seen: dict[int, tuple] = {}  # id -> (model, snapshot, outputs): each model runs once

    def _outputs_of(self, model) -> list[np.ndarray]:
        """The outputs of ``model``, computed once; a model seen before must not have changed
        since (every model in the history is immutable)."""
        seen = self._seen.get(id(model))
        if seen is None or seen[0] is not model:
            seen = self._seen[id(model)] = (model, snapshot(model), _outputs(model))
        else:
            assert_same(seen[1], model)
        return seen[2]

    def _unchanged_since(self, history, model):
        assert self.state.history() == history and self.state.model is model

    @rule(paths=st.sampled_from([[], ["hidden_1"], ["head"], ["hidden_1", "head"], ["nope"]]))
    def select(self, paths):
        self._select(paths)

    def _select(self, paths):
        history, model = self.state.history(), self.state.model
        if paths == ["nope"]:
            with pytest.raises(ValueError, match=r"No layer at path 'nope'"):
                self.state.select(paths)
        else:
            self.selection = list(paths)
            assert self.state.select(paths) == self.selection
        assert self.state.selection == self.selection
        self._unchanged_since(history, model)

    @rule(kind=st.sampled_from(sorted(_PARAMS)), seed=st.integers(0, 2),
          paths=st.sampled_from([None, [], ["hidden_1"], ["head"], ["hidden_1", "head"]]))
    def apply(self, kind, seed, paths):
        if paths is not None:  # select, then apply (or apply to the selection as it is)
            self._select(paths)
        history, model = self.state.history(), self.state.model
        keras.utils.set_random_seed(seed)
        try:
            self.state.apply(kind, **_PARAMS[kind])
        except (ValueError, TypeError):  # e.g. LoRA on a patched layer, SVF on a risk model
            self._unchanged_since(history, model)
            return
        targets = [] if kind == "sculpt" else list(self.selection)
        entry = self.state.history()["entries"][-1]
        assert (entry["kind"], entry["targets"]) == (kind, targets)
        params = tuple(sorted(entry["params"].items()))
        self.recipes = [*self.recipes[: self.index], (kind, params, tuple(targets), seed)]
        self.index += 1

    @rule(action=st.sampled_from(["undo", "redo", "reset"]))
    def move(self, action):
        history, model = self.state.history(), self.state.model
        possible = {"undo": self.index > 0, "redo": self.index < len(self.recipes),
                    "reset": True}[action]
        if not possible:
            with pytest.raises(ValueError, match=f"Nothing to {action}"):
                getattr(self.state, action)()
            self._unchanged_since(history, model)
            return
        getattr(self.state, action)()
        self.index = {"undo": self.index - 1, "redo": self.index + 1, "reset": 0}[action]

    @invariant()
    def model_is_the_history_replayed_from_the_original(self):
        history = self.state.history()
        assert history["index"] == self.index
        assert [(e["kind"], tuple(e["targets"])) for e in history["entries"]] == [
            (kind, targets) for kind, _, targets, _ in self.recipes
        ]
        expected = _replayed_outputs(tuple(self.recipes[: self.index]))
        got = self._outputs_of(self.state.model)
        assert len(got) == len(expected)
        for a, b in zip(got, expected, strict=True):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
        if self.index == 0:
            assert self.state.model is self.state.original

    @invariant()
    def original_untouched(self):
        assert_same(machine_reference()[0], self.state.original)

    def teardown(self):
        np.testing.assert_array_equal(_outputs(self.state.original)[0], machine_reference()[1][0])

    @invariant()
    def selection_names_layers_of_the_current_model(self):
        assert set(self.state.selection) <= set(rw.find_layers(self.state.model, "*"))


EditorMachine.TestCase.settings = settings(
    max_examples=25, stateful_step_count=8, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_editor_state_machine = EditorMachine.TestCase


# ----------------------------------------------------------------------------- round trips
# patch -> save -> load (and fold, for adapters) give the same outputs within 1e-5, for every
# adapter and wrapper kind and compositions of them.


@functools.cache
def attention():
    return M.attention(seq=4, dim=8, heads=2)


ROUND_TRIPS: dict[str, tuple[Callable[[], Any], Any]] = {
    "lora": (lambda: rw.add_lora(mlp(), ["hidden_1", "head"], rank=2, alpha=4.0), X4),
    "svf": (lambda: rw.add_svf(mlp(), ["hidden_1", "head"]), X4),
    "lora+svf": (lambda: rw.add_svf(rw.add_lora(mlp(), "hidden_1", rank=2), "head"), X4),
    "lora+svf-inside-attention": (
        lambda: rw.add_svf(rw.add_lora(attention(), ["attn/query", "attn/value"], rank=2),
                           ["attn/key", "head"]), _x((3, 4, 8))),
    "vote": (lambda: vote.Wrapper(2)(mlp()), X4),
    "sample": (lambda: sample.Wrapper(3)(mlp()), X4),
    "sculpt": (lambda: sculpt.Wrapper()(regression()), X1),
    "vote(sculpt)": (lambda: vote.Wrapper(2)(sculpt.Wrapper()(regression())), X1),
    "sample(vote)": (lambda: sample.Wrapper(2)(vote.Wrapper(2)(mlp(), targets="head")), X4),
    "vote(lora)": (lambda: vote.Wrapper(2)(_perturb(rw.add_lora(mlp(), "head", rank=2))), X4),
    "sample(vote(sculpt(svf)))": (
        lambda: sample.Wrapper(2)(vote.Wrapper(2)(sculpt.Wrapper()(
            _perturb(rw.add_svf(regression(), ["hidden_1", "head"]))))), X1),
    "vote-inside-attention": (lambda: vote.Wrapper(2)(attention(), targets="attn/query"),
                              _x((3, 4, 8))),
}


def _both(model, x) -> list[np.ndarray]:
    if isinstance(model, RiskModel):
        return [np.asarray(t) for t in model(x, return_risk=True)]
    return [np.asarray(t) for t in keras.tree.flatten(model(x))]


def _same_dropout_masks(source, target) -> None:
    """Keras does not save dropout's seed state: start the reloaded model from the same one."""
    pairs = [(a, b) for a, b in zip(source.variables, target.variables, strict=True)
             if "seed_generator" in a.path]
    for a, b in pairs:
        b.assign(a)


def _assert_close(got, want):
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)


@pytest.mark.parametrize("kind", list(ROUND_TRIPS))
def test_patch_save_load_and_fold_round_trip_exactly(kind, tmp_path):
    build, x = ROUND_TRIPS[kind]
    patched = build()
    if isinstance(patched, rw.PatchedModel):
        _perturb(patched, seed=1)  # a fresh patch is the identity: give the fold work to do
    users = {m.name: snapshot(m) for m in (mlp(), regression(), attention())}
    path = tmp_path / "patched.keras"
    patched.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert type(loaded) is type(patched)
    _same_dropout_masks(patched, loaded)
    _assert_close(_both(loaded, x), _both(patched, x))
    if isinstance(patched, rw.PatchedModel):
        want = _both(patched, x)
        folded = rw.fold(patched)
        _assert_close(_both(folded, x), want)
        folded.save(tmp_path / "folded.keras")
        plain = keras.saving.load_model(tmp_path / "folded.keras", safe_mode=True)
        assert not any(
            type(layer).__module__.startswith("risk_widgets") for layer in plain._flatten_layers()
        )
        _assert_close(_both(plain, x), want)
        rw.save_adapters(patched, tmp_path / "adapters.npz")
        again = build()  # the same patch on the same base, fresh adapters
        rw.load_adapters(again, tmp_path / "adapters.npz")
        _assert_close(_both(again, x), want)
        _assert_close(_both(rw.fold(loaded), x), want)
    for model in (mlp(), regression(), attention()):
        assert_same(users[model.name], model)


def test_sample_finds_its_default_sites_through_adapters():
    patched = rw.add_svf(regression(), ["hidden_1", "head"])
    sampled = sample.Wrapper(n_samples=2)(patched)  # was: "the model has no Dense ... layer"
    assert [p for p, layer in sampled.risk_paths() if isinstance(layer, sample.SampleLayer)] == [
        "hidden_1"
    ]
    assert np.isfinite(np.asarray(sampled(X1))).all()

"""Bad inputs refused by the library's calls (targets, patch parameters, risk
wrappers, their data): the cases run by
``test_bad_input_is_refused_clearly_and_changes_nothing`` in tests/test_bad_inputs.py."""

from __future__ import annotations

import keras
import numpy as np

import risk_widgets as rw
from risk_widgets.risk import sample, sculpt, vote
from tests.bad_inputs_helpers import (
    X1,
    Y1,
    Subclassed,
    _lora_head,
    _models,
    _risky_predict,
    _with,
    case_table,
    classifier,
    mlp,
    opaque,
    recurrent,
    regression,
    risky,
    shared,
    subclassed,
    unbuilt,
    with_batch_norm,
)

CASES, case = case_table()


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
# a subclassed layer without get_config is now patched inside by a structural copy
# (core/layer_copy.py, #27): tests/test_layer_copy.py covers it instead of a refusal
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
# a built subclassed model is wrapped as one opaque layer (issue 33); an unbuilt one has no
# input shape to build that layer on
case("vote-on-an-unbuilt-subclassed-model",
     _models(model=lambda: Subclassed(name="subclassed"), other=subclassed),
     lambda w: vote.Wrapper(2)(w["model"]),
     ValueError, r"subclassed model 'subclassed' is not built",
     r"Call it once on data \(model\(x\[:1\]\)\)",
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

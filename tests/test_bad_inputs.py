"""Bad inputs, each refused with a clear error, and nothing changed by them (issue 14).

Every case in ``CASES`` (the tables in tests/bad_input_cases_api.py, _files.py and _editor.py)
asserts three things:

1. the error type, and a message that names the problem **and** the way out;
2. the editor and the kernel still work: a following valid operation succeeds;
3. the user's model and the editor's model are unchanged: weights (NumPy copies) and the
   trainable flags of every layer and variable are compared, not object identity.

Widget messages go through ``GraphEditor._on_message`` (how anywidget delivers them) and
must leave an error ``status`` naming the problem. After them: messages during a running
``fit`` and rapid apply/undo. Inputs at the edge that must work are in
tests/test_edge_cases.py, a hypothesis state machine on the headless editor in
tests/test_editor_state_machine.py, exact patch -> save -> load / fold round trips in
tests/test_round_trips.py.
"""

from __future__ import annotations

import dataclasses
import os
import re
import warnings
from typing import Any

import keras
import numpy as np
import pytest

import risk_widgets as rw
from tests.bad_input_cases_api import CASES as API_CASES
from tests.bad_input_cases_editor import CASES as EDITOR_CASES
from tests.bad_input_cases_files import CASES as FILE_CASES
from tests.bad_inputs_helpers import (
    X1,
    Y1,
    _editor_state,
    _watched,
    assert_same,
    regression,
    snapshot,
)

CASES = [*API_CASES, *FILE_CASES, *EDITOR_CASES]


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

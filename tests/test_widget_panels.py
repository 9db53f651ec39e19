"""The code export and parameter report panels of the widget, without a browser: the
``export_code`` / ``code_close`` / ``param_report`` / ``param_report_close`` messages and the
``code_view`` / ``param_report_view`` traits (risk_widgets/ui/panels.py)."""

import json

import keras
import numpy as np
import pytest

import risk_widgets as rw

X = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")


def _mlp():
    inputs = keras.Input((4,), name="x")
    hidden = keras.layers.Dense(8, activation="relu", name="hidden")(inputs)
    return keras.Model(inputs, keras.layers.Dense(2, name="head")(hidden), name="mlp")


@pytest.fixture
def editor():
    keras.utils.set_random_seed(0)
    return rw.GraphEditor(_mlp())


def _send(editor, content):
    editor._on_message(editor, content, [])  # how anywidget delivers a message


def _lora(editor, target, rank):
    _send(editor, {"type": "apply", "kind": "lora", "params": {"rank": rank},
                   "targets": [target]})
    assert editor.status["level"] == "info", editor.status


def test_export_code_message_shows_a_script_that_rebuilds_the_model(editor, tmp_path):
    _lora(editor, "head", 2)
    _lora(editor, "head", 1)  # stacked: a second adapter, "lora_1"
    path = tmp_path / "patch.py"
    _send(editor, {"type": "export_code", "path": str(path)})
    assert editor.status == {"level": "info",
                             "message": f"Exported 2 patches as code to {path}"}
    view = editor.code_view
    assert view["path"] == str(path) and view["patches"] == 2 and view["error"] is None
    assert path.read_text() == view["code"] and view["code"].count("rw.add_lora(") == 2
    json.dumps(view)  # plain JSON for the page
    namespace = {"model": editor.original}
    exec(compile(view["code"], str(path), "exec"), namespace)  # noqa: S102 - our script
    scripted = namespace["model"]
    assert rw.adapter_names(scripted) == rw.adapter_names(editor.model) == ["default", "lora_1"]
    for v in editor.model.trainable_weights:  # B != 0: the adapters change the outputs
        v.assign(v + 0.1)
    # random A: copy the editor's weights (fails unless every weight lines up), then compare
    scripted.set_weights(editor.model.get_weights())
    assert np.abs(editor.model.predict(X, verbose=0) - editor.original.predict(X, verbose=0)
                  ).max() > 1e-3
    np.testing.assert_allclose(scripted.predict(X, verbose=0), editor.model.predict(X, verbose=0),
                               atol=1e-6)


def test_export_code_without_a_path_only_shows_it_and_follows_undo(editor, tmp_path):
    _send(editor, {"type": "export_code"})  # no path: shown, not written
    assert editor.code_view["path"] is None and editor.code_view["patches"] == 0
    assert "(no patches" in editor.code_view["code"]
    assert editor.status["message"] == "Exported 0 patches as code"
    _lora(editor, "hidden", 2)  # the open panel follows the history
    assert editor.code_view["patches"] == 1 and "targets=['hidden']" in editor.code_view["code"]
    _send(editor, {"type": "undo"})
    assert editor.code_view["patches"] == 0
    _send(editor, {"type": "code_close"})
    assert editor.code_view == {}
    _lora(editor, "hidden", 2)  # closed stays closed
    assert editor.code_view == {} and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("path", "problem"),
    [("patch.txt", r"must end with '\.py'\. Received: .*patch\.txt"),
     ("missing/patch.py", r"does not exist")],
)
def test_export_code_to_a_bad_path_is_an_error_and_writes_nothing(editor, tmp_path, path,
                                                                  problem):
    import re

    _lora(editor, "head", 2)
    _send(editor, {"type": "export_code"})
    shown = editor.code_view
    _send(editor, {"type": "export_code", "path": str(tmp_path / path)})
    assert editor.status["level"] == "error"
    assert editor.status["message"].startswith("Export code failed: ")
    assert re.search(problem, editor.status["message"]), editor.status
    assert editor.code_view == shown and list(tmp_path.iterdir()) == []
    assert editor.history["index"] == 1


def test_param_report_panel_matches_param_report_and_follows_every_patch(editor):
    assert editor.param_report_view == {}  # closed until asked for
    _send(editor, {"type": "param_report"})
    view = editor.param_report_view
    assert view["adapters"] == [] and view["error"] is None
    assert view["trainable"] == view["total"] == 4 * 8 + 8 + 8 * 2 + 2 == 58
    assert view["fraction"] == 1.0
    _lora(editor, "head", 2)
    _lora(editor, "hidden", 1)
    view = editor.param_report_view
    assert {k: v for k, v in view.items() if k not in ("fraction", "error")} == (
        rw.param_report(editor.model).to_json())
    # head: A (8, 2) + B (2, 2) = 20; hidden: A (4, 1) + B (1, 8) = 12
    assert [(a["path"], a["name"], a["trainable"]) for a in view["adapters"]] == [
        ("hidden", "default", 12), ("head", "default", 20)]
    assert view["trainable"] == 32 and view["total"] == 58 + 32
    assert view["fraction"] == pytest.approx(32 / 90)
    assert [(b["name"], b["trainable"], b["total"]) for b in view["blocks"]] == [
        ("hidden", 12, 52), ("head", 20, 38)]
    json.dumps(view)
    _send(editor, {"type": "undo"})
    assert [a["path"] for a in editor.param_report_view["adapters"]] == ["head"]
    _send(editor, {"type": "param_report_close"})
    assert editor.param_report_view == {}


def test_param_report_from_python_opens_the_panel(editor):
    editor.apply("svf", targets=["head"])
    report = editor.param_report()
    assert [(a.path, a.kind, a.trainable) for a in report.adapters] == [("head", "svf", 2)]
    assert editor.param_report_view["adapters"][0]["kind"] == "svf"


@pytest.mark.parametrize(
    ("content", "message"),
    [({"type": "export_code", "path": 3}, "'export_code' needs field 'path' of type str or null"),
     ({"type": "export_code", "path": ["a.py"]}, "needs field 'path' of type str or null")],
)
def test_malformed_panel_messages_change_nothing(editor, content, message):
    _send(editor, content)
    assert editor.status["level"] == "error" and message in editor.status["message"]
    assert editor.code_view == {} and editor.param_report_view == {}


def test_adapter_names_typed_in_the_toolbar_reach_the_model_the_report_and_the_code(editor):
    _send(editor, {"type": "apply", "kind": "lora", "params": {"rank": "2", "name": "task_a"},
                   "targets": ["head"]})
    _send(editor, {"type": "apply", "kind": "svf", "params": {"name": " task_b "},
                   "targets": ["head"]})
    _send(editor, {"type": "apply", "kind": "svf", "params": {"name": ""},  # automatic
                   "targets": ["hidden"]})
    assert editor.status["level"] == "info", editor.status
    assert rw.adapter_names(editor.model) == ["default", "task_a", "task_b"]
    head = next(n for n in editor.graph["nodes"] if n["id"] == "head")
    assert [(p["kind"], p["name"]) for p in head["patches"]] == [("lora", "task_a"),
                                                                 ("svf", "task_b")]
    _send(editor, {"type": "param_report"})
    assert [(a["path"], a["name"]) for a in editor.param_report_view["adapters"]] == [
        ("hidden", "default"), ("head", "task_a"), ("head", "task_b")]
    code = editor.export_code()
    assert "name='task_a'" in code and "name='task_b'" in code and "name=None" in code
    namespace = {"model": editor.original}
    exec(code, namespace)  # noqa: S102 - our script
    assert rw.adapter_names(namespace["model"]) == ["default", "task_a", "task_b"]


@pytest.mark.parametrize("name", ["a/b", "2nd", "a b", "x" * 65])
def test_a_bad_adapter_name_is_refused_with_the_rule_and_changes_nothing(editor, name):
    _send(editor, {"type": "apply", "kind": "lora", "params": {"name": name},
                   "targets": ["head"]})
    assert editor.status["level"] == "error"
    assert "`name` must be a name of letters, digits, '_' or '-'" in editor.status["message"]
    assert "e.g. 'task_a'" in editor.status["message"]  # the way out
    assert editor.model is editor.original and editor.history["index"] == 0


def test_set_active_message_turns_named_adapters_on_and_off_without_a_rebuild(editor):
    _lora(editor, "head", 2)
    _send(editor, {"type": "apply", "kind": "lora", "params": {"rank": 1, "name": "b"},
                   "targets": ["head"]})
    _send(editor, {"type": "param_report"})
    model, history = editor.model, editor.history
    for v in model.trainable_weights:  # B != 0: each adapter changes the outputs
        v.assign(v + 0.1)
    both = model.predict(X, verbose=0)
    _send(editor, {"type": "set_active", "names": ["b"]})
    assert editor.status == {"level": "info", "message": "Active adapters: b."}
    assert editor.model is model and editor.history == history  # gates only: no new entry
    head = next(n for n in editor.graph["nodes"] if n["id"] == "head")
    assert [(p["name"], p["active"]) for p in head["patches"]] == [("default", False),
                                                                   ("b", True)]
    assert [(a["name"], a["active"]) for a in editor.param_report_view["adapters"]] == [
        ("default", False), ("b", True)]
    only_b = model.predict(X, verbose=0)
    with rw.disable_adapters(model):
        base = model.predict(X, verbose=0)
    assert np.abs(only_b - both).max() > 1e-3 and np.abs(only_b - base).max() > 1e-3
    _send(editor, {"type": "set_active", "names": []})
    assert editor.status["message"] == "Active adapters: none."
    np.testing.assert_allclose(model.predict(X, verbose=0), editor.original.predict(X, verbose=0),
                               atol=1e-6)
    _send(editor, {"type": "set_active", "names": None})  # all again
    np.testing.assert_allclose(model.predict(X, verbose=0), both, atol=1e-6)


@pytest.mark.parametrize(
    ("content", "message"),
    [({"type": "set_active", "names": "b"}, "'set_active' needs field 'names' of type list of "
      "str or null"),
     ({"type": "set_active", "names": ["nope"]}, "Set active adapters failed: set_active(): "
      "model 'mlp' has no adapter named 'nope'. Its adapters: 'default'")],
)
def test_a_bad_set_active_message_changes_no_gate(editor, content, message):
    _lora(editor, "head", 2)
    _send(editor, content)
    assert editor.status["level"] == "error" and message in editor.status["message"], (
        editor.status)
    assert rw.active_adapters(editor.model) == ["default"]


def test_open_panels_go_into_the_standalone_page(editor, tmp_path):
    editor.apply("svf", targets=["head"])
    editor.param_report()
    editor.export_code()
    page = (tmp_path / "g.html")
    editor.export_html(page)
    text = page.read_text()
    assert '"param_report_view": {' in text and '"fraction": ' in text
    assert '"code_view": {"code": "# Reproduces' in text

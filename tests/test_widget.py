"""GraphEditor widget without a browser: traits, message validation, live risk."""

import numpy as np
import pytest

import risk_widgets as rw
from risk_widgets import demo


@pytest.fixture
def editor():
    x, y = demo.cubic_data(n=64)
    return rw.GraphEditor(demo.regression_mlp(hidden=(16, 16)), data=(x, y))


def _send(editor, content):
    editor._on_message(editor, content, [])


def test_traits_describe_the_model(editor):
    ids = [n["id"] for n in editor.graph["nodes"]]
    assert {"hidden_1", "hidden_2", "head"} <= set(ids)
    assert set(editor.catalog) >= {"lora", "svf", "sample", "vote", "sculpt", "lora_ensemble"}
    assert editor.history == {"entries": [], "index": 0}
    assert editor.risk["mode"] == "bands" and editor.risk["n"] == 64


def test_apply_message_patches_its_targets_and_marks_nodes(editor):
    editor.selection = ["hidden_2", "head"]  # as the browser writes it (view state)
    _send(editor, {"type": "apply", "kind": "lora", "params": {"rank": "2"},
                   "targets": ["hidden_2", "head"]})
    assert editor.status["level"] == "info", editor.status
    marked = {n["id"]: n["patch"] for n in editor.graph["nodes"] if n["patch"]}
    assert set(marked) == {"hidden_2", "head"}
    assert marked["head"] == {"kind": "lora", "params": {"rank": 2, "alpha": None, "dropout": 0.0}}
    head = next(n for n in editor.graph["nodes"] if n["id"] == "head")
    assert head["class_name"] == "Dense"  # the layer the user knows, not the adapter class
    assert editor.history["index"] == 1
    _send(editor, {"type": "undo"})
    assert editor.model is editor.original
    _send(editor, {"type": "redo"})
    assert editor.history["index"] == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("apply", "expected an object"),
        ({"type": "explode"}, "unknown message type 'explode'"),
        ({"type": "apply", "params": {}}, "needs field 'kind'"),
        ({"type": "apply", "kind": "lora", "params": []}, "needs field 'params'"),
        ({"type": "apply", "kind": "lorra", "params": {}, "targets": []},
         "unknown patch kind 'lorra'"),
        ({"type": "apply", "kind": "lora", "params": {}}, "needs field 'targets'"),
        ({"type": "apply", "kind": "lora", "params": {}, "targets": "head"},
         "needs field 'targets' of type list of str"),
        ({"type": "apply", "kind": "lora", "params": {}, "targets": ["head", 3]},
         "needs field 'targets' of type list of str"),
        ({"type": "export", "path": 3}, "needs field 'path'"),
        ({"type": "export", "path": "x.keras", "fold": "yes"}, "needs field 'fold'"),
    ],
)
def test_malformed_messages_set_an_error_and_change_nothing(editor, content, message):
    graph, history = editor.graph, editor.history
    _send(editor, content)
    assert editor.status["level"] == "error"
    assert message in editor.status["message"]
    assert editor.graph == graph and editor.history == history
    assert editor.model is editor.original


def test_a_failing_patch_from_the_browser_keeps_the_kernel_and_state(editor):
    editor.selection = ["head"]
    _send(editor, {"type": "apply", "kind": "lora", "params": {"rank": 0}, "targets": ["head"]})
    assert editor.status == {
        "level": "error",
        "message": "Applying lora failed: lora: `rank` must be >= 1. Received: 0",
    }
    _send(editor, {"type": "apply", "kind": "lora", "params": {}, "targets": ["head"]})
    editor.selection = []
    _send(editor, {"type": "apply", "kind": "svf", "params": {}, "targets": []})
    assert "select one or more layers first" in editor.status["message"]
    assert editor.history["index"] == 1


def test_apply_message_targets_win_over_the_selection_trait(editor):
    # the debounced selection may lag behind the click on Apply: the message decides
    editor.select("hidden_1")
    _send(editor, {"type": "apply", "kind": "lora", "params": {"rank": 2},
                   "targets": ["hidden_2", "head"]})
    assert editor.status["level"] == "info", editor.status
    assert {n["id"] for n in editor.graph["nodes"] if n["patch"]} == {"hidden_2", "head"}
    assert editor.history["entries"][0]["targets"] == ["hidden_2", "head"]
    assert editor.selection == ["hidden_1"]  # view state, untouched by the message


def test_apply_message_with_unknown_targets_names_them_and_changes_nothing(editor):
    graph, history = editor.graph, editor.history
    _send(editor, {"type": "apply", "kind": "lora", "params": {"rank": 2},
                   "targets": ["head", "no_such_layer", "gone/dense"]})
    assert editor.status["level"] == "error"
    message = editor.status["message"]
    assert "['no_such_layer', 'gone/dense']" in message, message
    assert "select" in message  # the way out
    assert editor.graph == graph and editor.history == history
    assert editor.model is editor.original
    _send(editor, {"type": "apply", "kind": "lora", "params": {"rank": 2}, "targets": ["head"]})
    assert editor.history["index"] == 1  # the kernel and the editor are still fine


def test_python_apply_takes_targets_instead_of_the_selection(editor):
    assert editor.selection == []
    editor.apply("lora", targets=["head"], rank=2)
    assert [n["id"] for n in editor.graph["nodes"] if n["patch"]] == ["head"]
    with pytest.raises(ValueError, match=r"\['hidden_9'\]"):
        editor.apply("svf", targets=["hidden_9"])
    assert editor.status["level"] == "error" and "hidden_9" in editor.status["message"]
    assert editor.history["index"] == 1


def _statuses(editor):
    seen = []
    editor.observe(lambda c: seen.append((c["new"]["level"], c["new"]["message"])), "status")
    return seen


def test_each_action_reports_its_own_outcome_after_an_earlier_error(editor, tmp_path):
    seen = _statuses(editor)
    _send(editor, {"type": "undo"})
    assert seen == [("busy", "Undo…"), ("error", "Undo failed: Nothing to undo.")]
    missing = tmp_path / "missing"
    del seen[:]
    _send(editor, {"type": "export", "path": str(missing / "m.keras"), "fold": False})
    assert [level for level, _ in seen] == ["busy", "error"], seen
    assert seen[-1][1].startswith("Export failed: ") and "does not exist" in seen[-1][1]
    del seen[:]
    _send(editor, {"type": "export_svg", "path": str(missing / "g.svg")})
    assert [level for level, _ in seen] == ["busy", "error"], seen
    assert seen[-1][1].startswith("Export SVG failed: ") and str(missing) in seen[-1][1]
    del seen[:]
    saved = tmp_path / "m.keras"
    _send(editor, {"type": "export", "path": str(saved), "fold": False})
    assert seen[0][0] == "busy" and seen[-1] == ("info", f"Exported model to {saved}")
    del seen[:]
    with pytest.raises(ValueError, match="hiden_1"):
        editor.select("hiden_1")
    assert seen[-1][0] == "error" and "hiden_1" in seen[-1][1]
    editor.select("hidden_1")
    assert seen[-1] == ("info", "Selected hidden_1.")


def test_a_failed_fit_says_so_instead_of_staying_busy(editor):
    import keras

    def boom(epoch, logs):
        raise RuntimeError("the data loader broke")

    x, y = demo.cubic_data(n=32)
    with pytest.raises(RuntimeError, match="data loader"):
        editor.fit(x, y, epochs=2, callbacks=[keras.callbacks.LambdaCallback(on_epoch_end=boom)])
    assert editor.status["level"] == "error", editor.status
    assert editor.status["message"] == "Training failed: the data loader broke"
    assert "progress" not in editor.status


def test_unknown_ids_from_the_browser_are_refused(editor):
    editor.selection = ["head"]
    editor.selection = ["head", "no_such_layer"]
    assert editor.selection == ["head"]
    assert "no_such_layer" in editor.status["message"]


def test_python_select_highlights_in_the_trait(editor):
    assert editor.select("hidden_*") == ["hidden_1", "hidden_2"]
    assert editor.selection == ["hidden_1", "hidden_2"]


def test_risk_updates_after_patch_and_every_epoch(editor):
    assert editor.risk["summary"]["mean_risk"] == 0.0
    editor.apply("vote", n_voters=3)
    assert editor.risk["summary"]["mean_risk"] > 0.0
    x, y = demo.cubic_data(n=128, seed=3)
    seen, progress = [], []
    editor.observe(lambda change: seen.append(change["new"]["epoch"]), names="risk")
    editor.observe(lambda change: progress.append(change["new"].get("progress")), names="status")
    editor.fit(x, y, epochs=3, batch_size=32)
    assert seen == [1, 2, 3]
    assert progress == [0.0, 1 / 3, 2 / 3, 1.0, None]  # a bar while training, gone after
    assert len(editor.risk["loss"]) == 3
    assert editor.status["level"] == "info" and "Trained 3 epochs" in editor.status["message"]


def test_bad_sample_data_shows_inline_and_keeps_the_editor_usable():
    model = demo.regression_mlp(hidden=(8,))
    editor = rw.GraphEditor(model, data=np.zeros((4, 3), dtype="float32"))
    assert "x has shape (4, 3)" in editor.risk["error"]
    editor.select("head")
    editor.apply("lora", rank=1)
    assert editor.history["index"] == 1
    with pytest.raises(ValueError, match="NaN"):
        rw.GraphEditor(model, data=np.array([[np.nan]], dtype="float32"))


def test_unknown_keyword_arguments_are_a_type_error():
    with pytest.raises(TypeError):
        rw.GraphEditor(demo.regression_mlp(), colour="red")

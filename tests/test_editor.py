"""Headless editor state: apply, undo/redo, transactional failures, export."""

import pathlib

import keras
import numpy as np
import pytest

import risk_widgets as rw
from risk_widgets import demo
from risk_widgets.editor.state import EditorState


@pytest.fixture
def mlp():
    return demo.regression_mlp(hidden=(16, 16))


def _weights(model):
    return [np.array(v) for v in model.weights]


def test_apply_patches_exactly_the_selection(mlp):
    state = EditorState(mlp)
    state.select(["hidden_1", "head"])
    patched = state.apply("lora", rank=2)
    assert set(rw.trainable_report(patched)["patched"]) == {"hidden_1", "head"}
    assert state.history()["index"] == 1
    assert state.history()["entries"][0]["targets"] == ["hidden_1", "head"]
    x = np.linspace(-1, 1, 8, dtype="float32")[:, None]
    np.testing.assert_allclose(patched(x), mlp(x), atol=1e-6)


def test_undo_redo_reset_walk_the_stack_without_rebuilding(mlp):
    state = EditorState(mlp)
    state.select("head")
    first = state.apply("lora", rank=2)
    state.select("hidden_1")
    second = state.apply("svf")
    assert state.undo() is first
    assert state.redo() is second
    assert state.reset() is mlp and state.can_redo and not state.can_undo
    assert state.redo() is first
    # a new patch after undo drops the redo branch
    state.select("hidden_2")
    third = state.apply("lora", rank=1)
    assert not state.can_redo
    assert [e["kind"] for e in state.history()["entries"]] == ["lora", "lora"]
    assert state.model is third
    with pytest.raises(ValueError, match="Nothing to redo"):
        state.redo()


def test_failures_leave_everything_as_it_was(mlp):
    state = EditorState(mlp)
    before = _weights(mlp)
    with pytest.raises(ValueError, match="select one or more layers first"):
        state.apply("svf")
    with pytest.raises(ValueError, match="`rank` must be >= 1"):
        state.select("head")
        state.apply("lora", rank=0)
    with pytest.raises(ValueError, match="Unknown patch kind"):
        state.apply("lorra")
    assert state.model is mlp and state.history() == {"entries": [], "index": 0}
    for a, b in zip(before, _weights(mlp), strict=True):
        np.testing.assert_array_equal(a, b)


def test_unsupported_layer_is_refused_with_its_path():
    model = demo.transformer(n_blocks=1)
    state = EditorState(model)
    state.select("block_0/norm_1")
    with pytest.raises((ValueError, TypeError), match="block_0/norm_1"):
        state.apply("lora", rank=2)
    assert state.model is model


def test_select_reports_close_matches(mlp):
    state = EditorState(mlp)
    with pytest.raises(ValueError, match="hidden_1"):
        state.select("hiden_1")
    assert state.selection == []


def test_export_folded_and_unfolded_reload_with_equal_outputs(mlp, tmp_path):
    state = EditorState(mlp)
    state.select(["hidden_1", "head"])
    patched = state.apply("lora", rank=2)
    # move the adapters off zero so folding has something to merge
    for layer in rw.patch_layers(patched).values():
        for w in layer.trainable_weights:
            w.assign(np.full(w.shape, 0.05, dtype="float32"))
    x = np.linspace(-2, 2, 16, dtype="float32")[:, None]
    folded_path = state.export(tmp_path / "folded.keras", fold=True)
    plain_path = state.export(tmp_path / "patched.keras")
    folded = keras.models.load_model(folded_path)
    assert not any(getattr(layer, "is_patch_layer", False) for layer in folded.layers)
    np.testing.assert_allclose(folded(x), patched(x), atol=1e-5)
    np.testing.assert_allclose(keras.models.load_model(plain_path)(x), patched(x), atol=1e-6)
    assert not np.allclose(patched(x), mlp(x))


def test_export_rejects_bad_paths(mlp, tmp_path):
    state = EditorState(mlp)
    with pytest.raises(ValueError, match="must end with '.keras'"):
        state.export(tmp_path / "model.h5")
    with pytest.raises(ValueError, match="does not exist"):
        state.export(tmp_path / "missing" / "model.keras")


def test_editor_refuses_non_models_and_unbuilt_models():
    with pytest.raises(TypeError, match="needs a Keras 3 model"):
        EditorState(object())
    with pytest.raises(ValueError, match="not built yet"):
        EditorState(keras.Sequential([keras.layers.Dense(2)]))


def test_export_svg_writes_the_graph(mlp, tmp_path):
    state = EditorState(mlp)
    path = state.export_svg(tmp_path / "graph.svg")
    text = pathlib.Path(path).read_text(encoding="utf-8")
    assert text.lstrip().startswith("<?xml") or "<svg" in text[:500]
    assert "hidden_1" in text


def test_sculpt_ignores_the_selection_and_says_so_in_the_history(mlp):
    state = EditorState(mlp)
    state.select(["hidden_1", "hidden_2"])
    state.apply("sculpt")
    entry = state.history()["entries"][0]
    assert entry["targets"] == [] and entry["label"].endswith("on whole model")


def test_apply_with_targets_ignores_the_selection_and_keeps_it(mlp):
    state = EditorState(mlp)
    state.select("hidden_1")
    patched = state.apply("lora", targets=["hidden_2", "head"], rank=2)
    assert set(rw.trainable_report(patched)["patched"]) == {"hidden_2", "head"}
    assert state.history()["entries"][0]["targets"] == ["hidden_2", "head"]
    assert state.selection == ["hidden_1"]


def test_apply_with_unknown_targets_names_every_one_and_changes_nothing(mlp):
    state = EditorState(mlp)
    with pytest.raises(ValueError) as err:
        state.apply("vote", targets=["head", "no_such", "x/y"], n_voters=2)
    message = str(err.value)
    assert "Targets ['no_such', 'x/y'] are not layers of the current model" in message, message
    assert "Received: targets=['head', 'no_such', 'x/y']" in message, message
    assert state.model is mlp and state.history() == {"entries": [], "index": 0}
    with pytest.raises(ValueError, match="select one or more layers first"):
        state.apply("svf", targets=[])


def test_export_svg_to_a_missing_folder_names_it(mlp, tmp_path):
    state = EditorState(mlp)
    with pytest.raises(ValueError, match="folder .*missing.* does not exist"):
        state.export_svg(tmp_path / "missing" / "graph.svg")

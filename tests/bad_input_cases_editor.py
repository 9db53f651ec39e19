"""Bad inputs refused by the headless editor: the cases run by
``test_bad_input_is_refused_clearly_and_changes_nothing`` in tests/test_bad_inputs.py."""

from __future__ import annotations

import keras

from risk_widgets.editor.state import EditorState
from tests.bad_inputs_helpers import (
    _models,
    _vote_editor,
    case_table,
    mlp,
    unbuilt,
)

CASES, case = case_table()


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

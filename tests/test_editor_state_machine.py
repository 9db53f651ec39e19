"""A hypothesis state machine on the headless editor (`EditorState`): any sequence of
select / apply / undo / redo / reset keeps the model equal to the history replayed from the
original, and the original untouched."""

from __future__ import annotations

import functools
from typing import Any

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

import risk_widgets as rw
from risk_widgets.editor.state import EditorState
from risk_widgets.risk import RiskModel
from tests import models as M
from tests.bad_inputs_helpers import (
    _x,
    assert_same,
    snapshot,
)

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

"""Headless editor state: selection, patch stack, undo/redo and export. No UI code here.

Every action of the widget is one method of :class:`EditorState`, so everything the user
can click is also scriptable and testable without a browser.

Example:
    >>> import keras
    >>> from risk_widgets.editor.state import EditorState
    >>> inputs = keras.Input((4,))
    >>> outputs = keras.layers.Dense(2, name="head")(keras.layers.Dense(8, name="body")(inputs))
    >>> state = EditorState(keras.Model(inputs, outputs))
    >>> state.select("head")
    ['head']
    >>> _ = state.apply("lora", rank=2)
    >>> state.history()["entries"][0]["kind"], state.can_undo
    ('lora', True)
    >>> _ = state.undo(); state.model is state.original
    True
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import Any

from risk_widgets.editor.catalog import CATALOG, validate_params


@dataclasses.dataclass(frozen=True)
class PatchEntry:
    """One applied patch: what, where, with which parameters, and the model it produced."""

    kind: str
    params: dict[str, Any]
    targets: tuple[str, ...]
    model: Any

    @property
    def label(self) -> str:
        shown = ", ".join(f"{k}={v}" for k, v in self.params.items() if v is not None)
        where = ", ".join(self.targets) if self.targets else "whole model"
        return f"{CATALOG[self.kind].label}({shown}) on {where}"

    def to_json(self) -> dict:
        return {
            "kind": self.kind,
            "params": self.params,
            "targets": list(self.targets),
            "label": self.label,
        }


class EditorState:
    """The patch stack of one model.

    The original model is never changed: each patch builds a new model from the previous
    one, and undo/redo move along the stack without rebuilding anything.

    Args:
        model: any built Keras 3 model.
        data: ``(x, y)`` sample rows (``y`` may be None), or None: what the post-hoc kinds
            (conformal, temperature, laplace) are calibrated on (``PatchKind.needs_data``).
    """

    def __init__(self, model: Any, data: tuple[Any, Any] | None = None) -> None:
        import keras

        if not isinstance(model, keras.Model):
            raise TypeError(
                "GraphEditor needs a Keras 3 model (keras.Model, Sequential or Functional). "
                f"Received: {type(model).__name__}"
            )
        if not model.built:
            raise ValueError(
                f"Model {model.name!r} is not built yet: call it on data or give it an "
                "Input shape before opening the editor."
            )
        self.original = model
        self.data = data
        self.selection: list[str] = []
        self._entries: list[PatchEntry] = []
        self._index = 0  # number of entries in effect; entries past it can be redone

    # -- state -----------------------------------------------------------------------
    @property
    def model(self) -> Any:
        """The current patched model (the original when nothing is applied)."""
        return self._entries[self._index - 1].model if self._index else self.original

    @property
    def can_undo(self) -> bool:
        return self._index > 0

    @property
    def can_redo(self) -> bool:
        return self._index < len(self._entries)

    def history(self) -> dict:
        """``{"entries": [...], "index": n}``: entries past ``index`` can be redone."""
        return {"entries": [e.to_json() for e in self._entries], "index": self._index}

    def graph(self) -> dict:
        """The graph JSON of the current model (see docs/architecture.md)."""
        from risk_widgets.graph.build import to_graph

        return to_graph(self.model).to_json()

    def diff(self, i: int | None = None, j: int | None = None, x: Any = None) -> Any:
        """What the patches between history positions ``i`` and ``j`` changed.

        Position 0 is the original model and position ``n`` the model after entry ``n``
        (the widget numbers entries from 1). By default ``j`` is the current position and
        ``i`` the one before it: the current patch against the previous entry. With sample
        data ``x`` the output delta is measured too (see `risk_widgets.editor.patch_diff.diff`).

        Example:
            >>> import keras
            >>> from risk_widgets.editor.state import EditorState
            >>> inputs = keras.Input((4,))
            >>> state = EditorState(keras.Model(inputs, keras.layers.Dense(2, name="head")(inputs)))
            >>> _ = state.apply("lora", ["head"], rank=2)
            >>> state.diff().changed
            ['head']
        """
        from risk_widgets.editor.patch_diff import diff

        n = len(self._entries)
        if n == 0:
            raise ValueError("Nothing to diff yet: the history is empty. Apply a patch first.")
        j = self._index if j is None else j
        if i is None and j == 0:
            raise ValueError(
                "The current model is the original (every patch is undone): redo a patch, or "
                "pick two history positions, e.g. diff(0, 1)."
            )
        i = j - 1 if i is None else i
        for name, value in (("i", i), ("j", j)):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= n:
                raise ValueError(
                    f"`{name}` must be a history position from 0 (the original model) to {n} "
                    f"(after entry {n}). Received: {name}={value!r}"
                )
        return diff(self._model_at(i), self._model_at(j), x=x)

    def _model_at(self, position: int) -> Any:
        return self._entries[position - 1].model if position else self.original

    def preview(self, text: str) -> dict:
        """What a typed target (``"*/query, Dense"``) matches in the current model, per rule:
        `risk_widgets.core.targets.preview_json`. Changes nothing (not even the selection)."""
        from risk_widgets.core.target_text import preview_json

        return preview_json(self.model, text)

    # -- actions ---------------------------------------------------------------------
    def select(self, targets: Any) -> list[str]:
        """Selects the layers matched by ``targets`` (path, glob, list, class or predicate).

        An empty list or None clears the selection.
        """
        if targets is None or (isinstance(targets, (list, tuple)) and not targets):
            self.selection = []
            return []
        from risk_widgets.core.targets import find_layers

        self.selection = list(find_layers(self.model, targets))
        return list(self.selection)

    def apply(self, kind: str, targets: Sequence[str] | None = None, **params: Any) -> Any:
        """Applies patch ``kind`` and returns the new model.

        Args:
            kind: a catalog kind (lora, svf, sample, vote, sculpt).
            targets: the layer paths (graph node ids) to patch; None patches the selection.
            **params: the kind's parameters (see ``risk_widgets.core.params.PARAMS``).

        Raises ValueError/TypeError (from validation or the patch itself, or naming the
        targets that are not layers of the current model) and leaves the state exactly as
        it was when anything fails.
        """
        typed = validate_params(kind, params)
        spec = CATALOG[kind]
        chosen = self.selection if targets is None else self._check_targets(targets)
        targets = list(chosen) if spec.uses_selection else []
        if spec.targets == "layers" and not targets:
            raise ValueError(
                f"{spec.label} needs target layers: select one or more layers first "
                "(editor.select('*/query') or click them in the graph)."
            )
        # post-hoc kinds are calibrated on the sample data (their apply raises without it)
        extra = {"data": self.data} if spec.needs_data else {}
        new_model = spec.apply(self.model, targets or None, **typed, **extra)
        entry = PatchEntry(kind, typed, tuple(targets), new_model)
        del self._entries[self._index :]  # a new patch drops the redo branch
        self._entries.append(entry)
        self._index += 1
        self.selection = [p for p in self.selection if self._exists(p)]
        return new_model

    def undo(self) -> Any:
        """Steps back one patch; returns the model now current."""
        if not self.can_undo:
            raise ValueError("Nothing to undo.")
        self._index -= 1
        self._drop_stale_selection()
        return self.model

    def redo(self) -> Any:
        """Re-applies the patch last undone; returns the model now current."""
        if not self.can_redo:
            raise ValueError("Nothing to redo.")
        self._index += 1
        self._drop_stale_selection()
        return self.model

    def reset(self) -> Any:
        """Back to the original model; the whole patch stack can still be redone."""
        self._index = 0
        self._drop_stale_selection()
        return self.model

    def export(self, path: str | os.PathLike, fold: bool = False, overwrite: bool = True) -> str:
        """Saves the current model as ``.keras``; ``fold=True`` merges adapters first.

        A folded export is a plain Keras model that loads without risk_widgets (a model with
        no patches is saved as it is). ``overwrite=False`` refuses to replace a file.
        """
        path = os.fspath(path)
        if not path.endswith(".keras"):
            raise ValueError(f"Export path must end with '.keras'. Received: {path!r}")
        if os.path.isdir(path):
            raise IsADirectoryError(
                f"Cannot export to {path!r}: it is a folder. Choose a file name in it, e.g. "
                f"{os.path.join(path, 'model.keras')!r}."
            )
        if not overwrite and os.path.exists(path):
            raise FileExistsError(
                f"Cannot export to {path!r}: the file exists. Pass overwrite=True to replace "
                "it, or choose another path."
            )
        model = self.model
        if fold:
            from risk_widgets.engine.operations import fold as fold_model
            from risk_widgets.engine.operations import patch_layers

            if patch_layers(model):
                model = fold_model(model)
        _check_folder(path, "export")
        try:
            model.save(path)
        except OSError as err:
            raise type(err)(
                f"Cannot write {path!r}: {err.strerror or err}. Choose a folder you can write "
                "to."
            ) from err
        return path

    def export_svg(self, path: str | os.PathLike) -> str:
        """Writes the current model's graph as SVG (needs graphviz's ``dot``)."""
        from risk_widgets.graph.build import to_graph

        path = os.fspath(path)
        _check_folder(path, "write the graph SVG")
        svg = to_graph(self.model).to_svg()
        with open(path, "w", encoding="utf-8") as f:
            f.write(svg)
        return path

    def export_code(
        self, path: str | os.PathLike | None = None, model_path: str | None = None
    ) -> str:
        """The patch history in effect (undone entries left out) as a runnable script.

        The script applies the same calls, in order, to ``model`` (the original model, or
        the one it loads from ``model_path``); see `risk_widgets.editor.code_export` for what it
        reproduces. With ``path`` (a ``.py`` file) it is also written there.

        Example:
            >>> import keras
            >>> from risk_widgets.editor.state import EditorState
            >>> inputs = keras.Input((4,))
            >>> state = EditorState(keras.Model(inputs, keras.layers.Dense(2, name="head")(inputs)))
            >>> _ = state.apply("lora", ["head"], rank=2)
            >>> state.export_code().splitlines()[-1]  # doctest: +NORMALIZE_WHITESPACE
            "model = rw.add_lora(model, targets=['head'], rank=2, alpha=None, dropout=0.0,
            use_rslora=False, init='he_uniform', name=None)"
        """
        from risk_widgets.editor.code_export import history_code

        code = history_code(
            [(e.kind, list(e.targets), e.params) for e in self._entries[: self._index]],
            model_path=model_path,
        )
        if path is not None:
            path = os.fspath(path)
            if not path.endswith(".py"):
                raise ValueError(f"Code export path must end with '.py'. Received: {path!r}")
            _check_folder(path, "write the code")
            with open(path, "w", encoding="utf-8") as f:
                f.write(code)
        return code

    def param_report(self) -> Any:
        """The current model's trainable parameters per adapter and per top-level block
        (`risk_widgets.engine.param_report.ParamReport`; ``print`` it for a table).

        Example:
            >>> import keras
            >>> from risk_widgets.editor.state import EditorState
            >>> inputs = keras.Input((4,))
            >>> state = EditorState(keras.Model(inputs, keras.layers.Dense(2, name="head")(inputs)))
            >>> _ = state.apply("lora", ["head"], rank=2)
            >>> [(a.path, a.name, a.trainable) for a in state.param_report().adapters]
            [('head', 'default', 12)]
        """
        from risk_widgets.engine.param_report import param_report

        return param_report(self.model)

    # -- helpers ---------------------------------------------------------------------
    def _check_targets(self, targets: Sequence[str]) -> list[str]:
        """``targets`` as a list if every one is a layer path of the current model."""
        from risk_widgets.core.walk import iter_layers

        targets = [targets] if isinstance(targets, str) else list(targets)
        known = {ref.path for ref in iter_layers(self.model)}
        unknown = [t for t in targets if t not in known]
        if unknown:
            raise ValueError(
                f"Targets {_few(unknown)} are not layers of the current model (the graph may "
                "have changed since they were selected): select the layers again. "
                f"Received: targets={_few(targets)}"
            )
        return targets

    def _exists(self, path: str) -> bool:
        from risk_widgets.core.walk import get_layer_by_path

        try:
            get_layer_by_path(self.model, path)
        except (KeyError, ValueError):
            return False
        return True

    def _drop_stale_selection(self) -> None:
        self.selection = [p for p in self.selection if self._exists(p)]


def _check_folder(path: str, what: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ValueError(
            f"Cannot {what} to {path!r}: folder {directory!r} does not exist. Create it "
            "first or choose a path in an existing folder."
        )


def _few(items: list[str], n: int = 10) -> str:
    """``items`` as a list literal, cut after ``n`` (a 10k-id message stays readable)."""
    return f"{items[:n]!r}" + (f" ... ({len(items)} in all)" if items[n:] else "")

"""The anywidget class: traitlets and message handling over :mod:`risk_widgets.editor`.

State lives in traits (they survive views opening late); user intent arrives as messages,
validated on arrival. The trait and message contract is in docs/architecture.md.
"""

from __future__ import annotations

import math
import os
import pathlib
from typing import Any

import anywidget
import traitlets

from risk_widgets.catalog import CATALOG, catalog_json
from risk_widgets.editor import EditorState

_STATIC = pathlib.Path(__file__).parent / "static"
_BUNDLE = _STATIC / "widget.js"
if not _BUNDLE.exists():  # anywidget reads _esm at class definition: fail with the fix
    raise ImportError(
        f"The risk_widgets front-end bundle is missing ({_BUNDLE}). Build it with "
        "`cd js && npm ci && npm run build`, or reinstall with `pip install .`."
    )

_MESSAGE_FIELDS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "apply": {"kind": str, "params": dict},
    "undo": {},
    "redo": {},
    "reset": {},
    "export": {"path": str, "fold": bool},
    "export_svg": {"path": str},
}


class GraphEditor(anywidget.AnyWidget):
    """Interactive graph editor for a Keras 3 model, in Jupyter.

    Draws the model's layer graph (nested CompositeLayers and models as groups that
    expand and collapse), lets the user select layers and patch them (LoRA, SVF, or the
    vote / sample / sculpt risk wrappers), and live-plots the patched model's risk on
    sample data. Every UI action is also a method, so the editor works headless.

    The original model is never changed; ``editor.model`` is the current patched model.

    Args:
        model: a built Keras 3 model.
        data: sample data for the live risk plot: ``x`` or ``(x, y)``.

    Example:
        >>> import keras, numpy as np, risk_widgets as rw
        >>> inputs = keras.Input((1,))
        >>> hidden = keras.layers.Dense(8, activation="relu", name="hidden")(inputs)
        >>> model = keras.Model(inputs, keras.layers.Dense(1, name="head")(hidden))
        >>> x = np.linspace(-1, 1, 32)[:, None].astype("float32")
        >>> editor = rw.GraphEditor(model, data=(x, x**3))
        >>> editor.select(["hidden", "head"])
        ['hidden', 'head']
        >>> _ = editor.apply("lora", rank=2)
        >>> [n["id"] for n in editor.graph["nodes"] if n["patch"]]
        ['hidden', 'head']
        >>> _ = editor.undo(); editor.model is model
        True
    """

    _esm = _BUNDLE

    graph = traitlets.Dict(help="graph JSON of the current model").tag(sync=True)
    catalog = traitlets.Dict(help="patch kinds and their parameters").tag(sync=True)
    selection = traitlets.List(traitlets.Unicode(), help="selected node ids").tag(sync=True)
    expanded = traitlets.List(traitlets.Unicode(), help="expanded group ids").tag(sync=True)
    history = traitlets.Dict(help="{'entries': [...], 'index': n}").tag(sync=True)
    status = traitlets.Dict(help="{'level': ..., 'message': ...}").tag(sync=True)
    risk = traitlets.Dict(help="live risk view; arrays as bytes").tag(sync=True)

    def __init__(self, model: Any, data: Any = None) -> None:
        self._state = EditorState(model)
        self._data = _split_data(data)
        self._loss: list[float] = []
        super().__init__(
            catalog=catalog_json(),
            status={"level": "idle", "message": "Select layers, then pick a patch."},
        )
        self._refresh()
        self.on_msg(self._on_message)

    # -- the scriptable API ------------------------------------------------------------
    @property
    def model(self) -> Any:
        """The current patched model (the original when nothing is applied)."""
        return self._state.model

    @property
    def original(self) -> Any:
        """The model the editor was opened on; never changed."""
        return self._state.original

    def select(self, targets: Any) -> list[str]:
        """Selects layers by path, glob, list, class or predicate; highlights them."""
        paths = self._state.select(targets)
        self._set_selection(paths)
        return paths

    def apply(self, kind: str, **params: Any) -> Any:
        """Applies patch ``kind`` (lora, svf, sample, vote, sculpt) to the selection."""
        return self._run(f"Applying {kind}", lambda: self._state.apply(kind, **params))

    def undo(self) -> Any:
        """Steps back one patch."""
        return self._run("Undo", self._state.undo)

    def redo(self) -> Any:
        """Re-applies the last undone patch."""
        return self._run("Redo", self._state.redo)

    def reset(self) -> Any:
        """Back to the original model (the patches can still be redone)."""
        return self._run("Reset", self._state.reset)

    def export(self, path: str | os.PathLike, fold: bool = False) -> str:
        """Saves the current model as ``.keras``; ``fold=True`` merges adapters (plain Keras)."""
        saved = self._state.export(path, fold=fold)
        self._set_status("info", f"Exported {'folded ' if fold else ''}model to {saved}")
        return saved

    def export_svg(self, path: str | os.PathLike) -> str:
        """Writes the current graph as an SVG file."""
        saved = self._state.export_svg(path)
        self._set_status("info", f"Wrote graph SVG to {saved}")
        return saved

    def fit(self, x: Any, y: Any, epochs: int = 5, **fit_kwargs: Any) -> Any:
        """Trains the current patched model, updating the risk plot after every epoch.

        When the patched model is not compiled yet (or the editor compiled it for an earlier
        ``fit``), compiles it with the original model's loss (MSE if it had none) and Adam
        whose learning rate decays from 1e-2 over this run
        (:func:`risk_widgets.training.decaying_adam`).
        Interrupting (Ctrl-C / kernel interrupt) stops after the current batch and leaves a
        consistent model.
        """
        from risk_widgets.live import check_sample_data, make_live_callback
        from risk_widgets.training import decaying_adam, n_rows

        x, y = check_sample_data(x, y)
        model = self.model
        if not getattr(model, "compiled", False) or getattr(model, _EDITOR_COMPILED, False):
            loss = getattr(self.original, "loss", None) or "mse"
            steps = fit_kwargs.get("steps_per_epoch") or math.ceil(
                n_rows(x) / fit_kwargs.get("batch_size", 32)
            )
            model.compile(optimizer=decaying_adam(1e-2, epochs * steps), loss=loss)
            object.__setattr__(model, _EDITOR_COMPILED, True)  # recompiled on the next fit
        self._loss = []

        def on_epoch(epoch: int, logs: dict) -> None:
            self._loss.append(float(logs.get("loss", float("nan"))))
            self._refresh_risk(epoch=epoch + 1, epochs=epochs)
            done = epoch + 1
            message = f"Training: epoch {done}/{epochs}, loss {self._loss[-1]:.4g}"
            self._set_status("busy", message, progress=done / epochs)

        callbacks = [*fit_kwargs.pop("callbacks", []), make_live_callback(on_epoch)]
        fit_kwargs.setdefault("verbose", 0)
        self._set_status("busy", f"Training for {epochs} epochs…", progress=0.0)
        try:
            history = model.fit(x, y, epochs=epochs, callbacks=callbacks, **fit_kwargs)
        except KeyboardInterrupt:
            self._set_status("info", f"Training interrupted after {len(self._loss)} epoch(s).")
            return None
        self._set_status("info", f"Trained {epochs} epochs; loss {self._loss[-1]:.4g}.")
        return history

    # -- internals -------------------------------------------------------------------
    def _run(self, what: str, action: Any) -> Any:
        self._set_status("busy", f"{what}…")
        try:
            result = action()
        except Exception as err:
            self._set_status("error", f"{what} failed: {err}")
            raise
        self._refresh()
        self._set_status("info", f"{what}: done.")
        return result

    def _refresh(self) -> None:
        self.graph = self._state.graph()
        self.history = self._state.history()
        self._set_selection(self._state.selection)
        self._refresh_risk()

    def _refresh_risk(self, epoch: int | None = None, epochs: int | None = None) -> None:
        if self._data is None:
            return
        from risk_widgets.live import error_view, risk_view

        x, y = self._data
        try:
            self.risk = risk_view(self.model, x, y, epoch=epoch, epochs=epochs, loss=self._loss)
        except ValueError as err:
            self.risk = error_view(str(err), self.risk)

    def _set_selection(self, paths: list[str]) -> None:
        self._syncing_selection = True
        try:
            self.selection = list(paths)
        finally:
            self._syncing_selection = False

    @traitlets.observe("selection")
    def _on_selection(self, change: dict) -> None:
        if getattr(self, "_syncing_selection", False) or not hasattr(self, "_state"):
            return
        known = {n["id"] for n in self.graph.get("nodes", [])}
        unknown = [p for p in change["new"] if p not in known]
        if unknown:
            self._set_status("error", f"Unknown layer id(s) in selection: {unknown}")
            self._set_selection(self._state.selection)
            return
        self._state.selection = list(change["new"])

    def _set_status(self, level: str, message: str, progress: float | None = None) -> None:
        status: dict[str, Any] = {"level": level, "message": message}
        if progress is not None:  # the page shows a progress bar while busy
            status["progress"] = progress
        self.status = status

    def _on_message(self, _widget: Any, content: Any, _buffers: Any = None) -> None:
        try:
            kind, fields = _validate_message(content)
        except ValueError as err:
            self._set_status("error", f"Ignored a malformed message: {err}")
            return
        try:
            if kind == "apply":
                self.apply(fields["kind"], **fields["params"])
            elif kind in ("undo", "redo", "reset"):
                getattr(self, kind)()
            elif kind == "export":
                self.export(fields["path"], fold=fields["fold"])
            elif kind == "export_svg":
                self.export_svg(fields["path"])
        except Exception as err:  # the kernel stays alive; the message shows in the page
            if self.status.get("level") != "error":  # _run already said what failed
                self._set_status("error", str(err))


def _validate_message(content: Any) -> tuple[str, dict]:
    if not isinstance(content, dict):
        raise ValueError(f"expected an object, got {type(content).__name__}")
    kind = content.get("type")
    if kind not in _MESSAGE_FIELDS:
        expected = sorted(_MESSAGE_FIELDS)
        raise ValueError(f"unknown message type {kind!r}; expected one of {expected}")
    fields = {}
    for name, expected in _MESSAGE_FIELDS[kind].items():
        value = content.get(name, False if expected is bool else None)
        if not isinstance(value, expected):
            raise ValueError(f"'{kind}' needs field '{name}' of type {expected.__name__}")
        fields[name] = value
    if kind == "apply" and fields["kind"] not in CATALOG:
        raise ValueError(f"unknown patch kind {fields['kind']!r}")
    return kind, fields


_EDITOR_COMPILED = "_rw_editor_compiled"


def _split_data(data: Any) -> tuple[Any, Any] | None:
    if data is None:
        return None
    from risk_widgets.live import check_sample_data

    if isinstance(data, tuple) and len(data) == 2:
        return check_sample_data(*data)
    return check_sample_data(data)

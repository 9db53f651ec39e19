"""The anywidget class: traitlets and message handling over :mod:`risk_widgets.editor.state`.

State lives in traits (they survive views opening late); user intent arrives as messages,
validated on arrival. The trait and message contract is in docs/architecture.md.
"""

from __future__ import annotations

import math
import os
import pathlib
from collections.abc import Callable, Sequence
from typing import Any

import anywidget
import traitlets

from risk_widgets.editor.catalog import catalog_json
from risk_widgets.editor.state import EditorState
from risk_widgets.ui.fit_record import FitRecord
from risk_widgets.ui.fit_scope import distributed_scope
from risk_widgets.ui.messages import validate_message

_STATIC = pathlib.Path(__file__).parents[1] / "static"
_BUNDLE = _STATIC / "widget.js"
if not _BUNDLE.exists():  # anywidget reads _esm at class definition: fail with the fix
    raise ImportError(
        f"The risk_widgets front-end bundle is missing ({_BUNDLE}). Build it with "
        "`cd js && npm ci && npm run build`, or reinstall with `pip install .`."
    )

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
    target_preview = traitlets.Dict(help="what the typed target matches; {} when none").tag(
        sync=True
    )
    diff_view = traitlets.Dict(help="the diff shown (editor.diff); {} when closed").tag(sync=True)
    code_view = traitlets.Dict(help="the exported script shown; {} when closed").tag(sync=True)
    param_report_view = traitlets.Dict(
        help="the parameter report shown (editor.param_report); {} when closed").tag(sync=True)
    overlays = traitlets.Dict(help="{name: {'values': {path: number}, 'agg'}} (overlay)").tag(
        sync=True)
    overlay_shown = traitlets.Unicode("", help="the overlay shown; '' = families").tag(sync=True)

    def __init__(self, model: Any, data: Any = None, ood: Any = None) -> None:
        self._data = _split_data(data)
        self._state = EditorState(model, data=self._data)  # post-hoc kinds calibrate on it
        # OOD probes (inputs unlike the sample data): the calibration panel's OOD AUROC
        self._ood = None if ood is None else _split_data(ood)[0]
        self._loss: list[float] = []
        self._fit = FitRecord()  # the last fit's training rows and held-out scores
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

    @property
    def editor_state(self) -> EditorState:
        """The headless editor state behind the widget (`risk_widgets.editor.state.EditorState`)."""
        return self._state

    @property
    def sample_x(self) -> Any:
        """The sample inputs given as ``data`` (None without data)."""
        return None if self._data is None else self._data[0]

    def preview(self, targets: str) -> dict:
        """Shows on the graph what a typed target (``"*/query, Dense"``) matches, per rule,
        before anything is patched (the ``target_preview`` trait); returns that JSON."""
        from risk_widgets.ui.views import preview_payload

        self.target_preview = preview_payload(self._state, targets)
        return self.target_preview

    def diff(self, i: int | None = None, j: int | None = None) -> Any:
        """What the patches between history positions ``i`` and ``j`` changed (default: the
        current patch against the previous entry), with the output delta on the sample
        data; shown on the graph (``diff_view``). Returns a
        `risk_widgets.editor.patch_diff.ModelDiff`.
        """
        from risk_widgets.ui.views import diff_payload

        result = self._state.diff(i, j, x=self.sample_x)  # raises with the reason
        self.diff_view = diff_payload(self._state, self.sample_x, i, j, result=result)
        return result

    def select(self, targets: Any) -> list[str]:
        """Selects layers by path, glob, list, class or predicate; highlights them.

        The page expands the groups holding them and scrolls to the first one.
        """

        def select() -> list[str]:
            paths = self._state.select(targets)
            self._set_selection(paths)
            return paths

        return self._run("Select", select, done=_selected, refresh=False)

    def apply(self, kind: str, targets: Sequence[str] | None = None, **params: Any) -> Any:
        """Applies patch ``kind`` (lora, svf, sample, vote, sculpt) and returns the new model.

        Args:
            kind: the patch kind.
            targets: the layer paths (graph node ids) to patch; default: the selection.
            **params: the kind's parameters (``editor.catalog[kind]["params"]``).
        """
        return self._apply(kind, params, targets)

    def undo(self) -> Any:
        """Steps back one patch."""
        return self._run("Undo", self._state.undo)

    def redo(self) -> Any:
        """Re-applies the last undone patch."""
        return self._run("Redo", self._state.redo)

    def reset(self) -> Any:
        """Back to the original model (the patches can still be redone)."""
        return self._run("Reset", self._state.reset)

    def export(self, path: str | os.PathLike, fold: bool = False, overwrite: bool = True) -> str:
        """Saves the current model as ``.keras``; ``fold=True`` merges adapters (plain Keras);
        ``overwrite=False`` refuses to replace a file."""
        return self._run(
            "Export",
            lambda: self._state.export(path, fold=fold, overwrite=overwrite),
            done=lambda saved: f"Exported {'folded ' if fold else ''}model to {saved}",
            refresh=False,
        )

    def export_svg(self, path: str | os.PathLike) -> str:
        """Writes the current graph as an SVG file."""
        return self._run(
            "Export SVG",
            lambda: self._state.export_svg(path),
            done=lambda saved: f"Wrote graph SVG to {saved}",
            refresh=False,
        )

    def export_html(self, path: str | os.PathLike, overwrite: bool = True) -> str:
        """Writes a standalone HTML page of the graph (with its patch marks), the risk plot
        and the calibration panel, viewable without a kernel (`risk_widgets.ui.html_export`)."""
        from risk_widgets.ui.html_export import write_html

        return self._run(
            "Export HTML",
            lambda: write_html(self, path, overwrite=overwrite),
            done=lambda saved: f"Wrote a standalone page to {saved}",
            refresh=False,
        )

    def export_code(self, path: str | os.PathLike | None = None) -> str:
        """The patch history in effect as a short runnable script (`EditorState.export_code`),
        shown in the page's code panel (``code_view``); written to ``path`` (``.py``) too."""
        from risk_widgets.ui.panels import code_payload

        def export() -> dict:
            self.code_view = code_payload(self._state, path)
            return self.code_view

        def done(view: dict) -> str:
            n = view["patches"]
            what = f"Exported {n} patch{'es' if n != 1 else ''} as code"
            return what + (f" to {view['path']}" if view["path"] else "")

        return self._run("Export code", export, done=done, refresh=False)["code"]

    def param_report(self) -> Any:
        """Trainable parameters per adapter and per block of the current model
        (`risk_widgets.engine.param_report.ParamReport`), shown in the page's parameter
        report panel (``param_report_view``)."""
        from risk_widgets.ui.panels import report_payload

        report = self._state.param_report()  # raises with the reason
        self.param_report_view = report_payload(self._state)
        return report

    def overlay(self, name: str | None, values: Any = None, *, agg: str = "sum") -> str:
        """Colours the graph's nodes by a number per layer, ``values`` = ``{path: number}``,
        with a scale legend; a group without a value shows the ``agg`` ("sum" or "max") of
        its children's. Without values, shows an overlay by name: "parameters", "trainable
        parameters", "risk", "gradient norm" (after `fit`) or one added before; None: the
        layer families. A path not in the graph, or a value that is no finite number, is a
        ValueError / TypeError naming it. Returns the name shown (`risk_widgets.ui.overlays`).
        """
        from risk_widgets.ui.overlays import show_overlay

        return show_overlay(self, name, values, agg)

    def set_active(self, names: str | Sequence[str] | None = None) -> list[str]:
        """Makes the adapters named ``names`` active and every other one inactive
        (`risk_widgets.set_active` on the current model: its gates change in place, no
        rebuild; None: all, ``[]``: none); the graph, the report and the risk plot follow.
        Not a history entry: the gates belong to the adapter layers, which the history's
        models share. Returns the names now active."""
        from risk_widgets.engine.operations import set_active

        return self._run(
            "Set active adapters",
            lambda: set_active(self.model, names),
            done=lambda active: f"Active adapters: {', '.join(active) or 'none'}.",
        )

    def fit(
        self,
        x: Any,
        y: Any,
        epochs: int = 5,
        *,
        strategy: Any = None,
        distribution: Any = None,
        **fit_kwargs: Any,
    ) -> Any:
        """Trains the current patched model, updating the risk plot after every epoch.

        When the patched model is not compiled yet (or the editor compiled it for an earlier
        ``fit``), compiles it with the original model's loss (MSE if it had none) and Adam
        whose learning rate decays from 1e-2 over this run
        (:func:`risk_widgets.editor.training.decaying_adam`).
        Interrupting (Ctrl-C / kernel interrupt) stops after the current batch and leaves a
        consistent model. The bands plot draws the training rows as dots; with
        ``validation_split`` / ``validation_data`` a risk model's calibration panel shows the
        held-out coverage every epoch and says when it parts from the training rows'.

        Args:
            strategy: a ``tf.distribute.Strategy`` (TensorFlow backend, e.g.
                ``MirroredStrategy``): compiles and trains inside ``strategy.scope()``.
            distribution: a ``keras.distribution.Distribution`` (JAX backend, e.g.
                ``DataParallel``): compiles and trains inside ``distribution.scope()``.

        With either, the model's variables must have been created under it (both engines
        require it): apply the patches inside the scope (``with strategy.scope():
        editor.apply("lora", ...)``, or open the editor on a model built or loaded there);
        otherwise a ValueError says so and nothing is trained. See the README,
        "Distributed fine-tuning".
        """
        from risk_widgets.editor.live import check_sample_data, make_live_callback
        from risk_widgets.editor.training import decaying_adam, n_rows

        def on_epoch(epoch: int, logs: dict) -> None:
            self._loss.append(float(logs.get("loss", float("nan"))))
            self._fit.epoch(logs)
            self._refresh_risk(epoch=epoch + 1, epochs=epochs)
            done = epoch + 1
            message = f"Training: epoch {done}/{epochs}, loss {self._loss[-1]:.4g}"
            self._set_status("busy", message, progress=done / epochs)

        def train() -> tuple[Any, bool]:  # (history, interrupted)
            xs, ys = check_sample_data(x, y)
            self._fit.start(xs, ys, fit_kwargs)
            model = self.model
            with distributed_scope(model, strategy, distribution):
                return compile_and_fit(model, xs, ys)

        def compile_and_fit(model: Any, xs: Any, ys: Any) -> tuple[Any, bool]:
            if not getattr(model, "compiled", False) or getattr(model, _EDITOR_COMPILED, False):
                loss = getattr(self.original, "loss", None) or "mse"
                steps = fit_kwargs.get("steps_per_epoch") or math.ceil(
                    n_rows(xs) / fit_kwargs.get("batch_size", 32)
                )
                model.compile(optimizer=decaying_adam(1e-2, epochs * steps), loss=loss)
                object.__setattr__(model, _EDITOR_COMPILED, True)  # recompiled on the next fit
            self._loss = []
            callbacks = [*fit_kwargs.pop("callbacks", []), make_live_callback(on_epoch)]
            fit_kwargs.setdefault("verbose", 0)
            self._training = True  # patches, undo, redo and reset wait until it ends
            try:
                history = model.fit(xs, ys, epochs=epochs, callbacks=callbacks, **fit_kwargs)
            except KeyboardInterrupt:
                return None, True
            finally:
                self._training = False
            return history, False

        def trained(result: tuple[Any, bool]) -> str:
            if result[1]:
                return f"Training interrupted after {len(self._loss)} epoch(s)."
            from risk_widgets.ui.overlays import refresh_gradient_norms

            why = refresh_gradient_norms(self, x, y)  # the "gradient norm" overlay
            note = f" (no gradient norm overlay: {why})" if why else ""
            return f"Trained {epochs} epochs; loss {self._loss[-1]:.4g}.{note}"

        busy = f"Training for {epochs} epochs"
        history, _ = self._run(
            "Training", train, busy=busy, done=trained, progress=0.0, refresh=False
        )
        return history

    # -- internals -------------------------------------------------------------------
    def _run(
        self,
        what: str,
        action: Callable[[], Any],
        *,
        busy: str | None = None,
        done: Callable[[Any], str] | None = None,
        progress: float | None = None,
        refresh: bool = True,
    ) -> Any:
        """The one path of every action: ``status`` goes busy, then info (``done(result)``,
        default "<what>: done.") or error ("<what> failed: <why>", and the error is raised).

        ``refresh``: the action may change the model, so graph, history, selection and
        risk are sent again.
        """
        if refresh and getattr(self, "_training", False):  # e.g. a message sent during fit()
            message = (
                f"{what} failed: the model is training (editor.fit); wait until training ends "
                "(or interrupt it), then try again."
            )
            self._set_status("error", message)
            raise RuntimeError(message)
        self._set_status("busy", f"{busy or what}…", progress=progress)
        try:
            result = action()
            if refresh:
                self._refresh()
        except BaseException as err:  # an interrupt too: never leave "busy" behind
            self._set_status("error", f"{what} failed: {str(err) or type(err).__name__}")
            raise
        self._set_status("info", done(result) if done else f"{what}: done.")
        return result

    def _apply(self, kind: str, params: dict, targets: Sequence[str] | None) -> Any:
        return self._run(f"Applying {kind}", lambda: self._state.apply(kind, targets, **params))

    def _refresh(self) -> None:
        self._fit.forget_held_out()  # scores of the model before this change
        self.graph = self._state.graph()
        # a gradient norm measured on another model would mislead: the next fit measures again
        self.overlays = {k: v for k, v in self.overlays.items() if k != "gradient norm"}
        if self.overlay_shown == "gradient norm":
            self.overlay_shown = ""  # back to the families, as the page shows
        self.history = self._state.history()
        from risk_widgets.ui.views import refresh_views

        refresh_views(self)  # the target preview and the diff follow the new model
        from risk_widgets.ui.panels import refresh_panels

        refresh_panels(self)  # so do the code and parameter report panels
        self._set_selection(self._state.selection)
        self._refresh_risk()

    def _refresh_risk(self, epoch: int | None = None, epochs: int | None = None) -> None:
        if self._data is None:
            return
        from risk_widgets.editor.live import error_view, risk_view

        x, y = self._data
        try:
            self.risk = risk_view(
                self.model, x, y, epoch=epoch, epochs=epochs, loss=self._loss, ood=self._ood,
                points=self._fit.points, held_out=self._fit.held_out(),
            )
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
        unknown = list(dict.fromkeys(p for p in change["new"] if p not in known))
        if unknown:
            shown = f"{unknown[:10]}" + (f" ... ({len(unknown)} in all)" if unknown[10:] else "")
            self._set_status(
                "error",
                f"Unknown layer id(s) in selection: {shown}. Select nodes of the current graph "
                "(ids are layer paths such as 'block_0/attn/query').",
            )
            self._set_selection(self._state.selection)
            return
        self._state.selection = list(dict.fromkeys(change["new"]))  # each id once

    def _set_status(self, level: str, message: str, progress: float | None = None) -> None:
        status: dict[str, Any] = {"level": level, "message": message}
        if progress is not None:  # the page shows a progress bar while busy
            status["progress"] = progress
        self.status = status

    def _on_message(self, _widget: Any, content: Any, _buffers: Any = None) -> None:
        try:
            kind, fields = validate_message(content)
        except ValueError as err:
            self._set_status("error", f"Ignored a malformed message: {err}")
            return
        try:  # every branch is one `_run`, which reports success or failure in `status`
            if kind == "apply":
                self._apply(fields["kind"], fields["params"], fields["targets"])
            elif kind in ("undo", "redo", "reset"):
                getattr(self, kind)()
            elif kind == "export":
                self.export(fields["path"], fold=fields["fold"])
            elif kind == "export_svg":
                self.export_svg(fields["path"])
            elif kind == "export_html":
                self.export_html(fields["path"])
            elif kind in ("preview", "diff", "diff_close"):
                from risk_widgets.ui.views import on_view_message

                on_view_message(self, kind, fields)
            elif kind == "set_active":
                self.set_active(fields["names"])
            elif kind in ("export_code", "code_close", "param_report", "param_report_close"):
                from risk_widgets.ui.panels import on_panel_message

                on_panel_message(self, kind, fields)
        except Exception:  # already in `status` (the page shows it); the kernel stays alive
            pass


_EDITOR_COMPILED = "_rw_editor_compiled"


def _selected(paths: list[str]) -> str:
    """The status after a selection from Python."""
    if not paths:
        return "Selection cleared."
    if len(paths) <= 3:
        return f"Selected {', '.join(paths)}."
    return f"Selected {len(paths)} layers: {', '.join(paths[:3])}, …"


def _split_data(data: Any) -> tuple[Any, Any] | None:
    if data is None:
        return None
    from risk_widgets.editor.live import check_sample_data

    if isinstance(data, tuple) and len(data) == 2:
        return check_sample_data(*data)
    return check_sample_data(data)

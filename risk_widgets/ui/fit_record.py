"""What a ``GraphEditor.fit`` adds to the risk plot: the training rows, drawn as dots, and
the held-out scores of every epoch when it validates (docs/architecture.md, "Risk view").

Example:
    >>> import numpy as np
    >>> from risk_widgets.ui.fit_record import FitRecord
    >>> record = FitRecord()
    >>> x = np.arange(10, dtype="float32")[:, None]
    >>> record.start(x, x, {"validation_split": 0.2})
    >>> record.epoch({"val_nll": 1.0, "val_coverage": 0.7, "coverage": 0.9})
    >>> record.held_out()["val_coverage"], record.points[0].shape
    ([0.7], (8, 1))
"""

from __future__ import annotations

from typing import Any

_KEYS = ("val_nll", "val_coverage", "coverage")


class FitRecord:
    """The training rows of the last fit and its held-out scores so far."""

    def __init__(self) -> None:
        self.points: tuple[Any, Any] | None = None
        self.history: dict[str, list[float]] = {k: [] for k in _KEYS}
        self.n_train = 0
        self.n_val = 0

    def start(self, x: Any, y: Any, fit_kwargs: dict) -> None:
        """A fit on ``(x, y)`` begins: its training rows (without the held-out ones of
        ``validation_split``) become the plot's dots; the scores start again."""
        from risk_widgets.risk.held_out import held_out_rows

        held = held_out_rows(x, y, fit_kwargs)
        self.n_val = 0 if held is None else len(held[0])
        split = fit_kwargs.get("validation_split") or 0.0
        train = (x[: len(x) - self.n_val], y[: len(y) - self.n_val]) if (
            held is not None and split > 0 and fit_kwargs.get("validation_data") is None
        ) else (x, y)
        self.points = train
        self.n_train = len(train[0])
        self.history = {k: [] for k in _KEYS}

    def epoch(self, logs: dict) -> None:
        """Keeps the epoch's held-out scores (logged by `risk.held_out.HeldOutRisk`)."""
        for key in _KEYS:
            if key in logs:
                self.history[key].append(float(logs[key]))

    def held_out(self) -> dict | None:
        """The ``held_out`` entry of the risk payload (None when the fit did not validate)."""
        from risk_widgets.editor.live import held_out_view

        return held_out_view(self.history, self.n_train, self.n_val)

    def forget_held_out(self) -> None:
        """The model changed (a patch, undo, redo): the scores were another model's."""
        self.history = {k: [] for k in _KEYS}

"""``%risk_edit``: open a GraphEditor on a model from the user's namespace.

Loading the extension imports nothing heavy; TensorFlow loads when an editor opens.

Example (in IPython / Jupyter):
    %load_ext risk_widgets
    %risk_edit model --data x_test y_test
"""

from __future__ import annotations

import argparse
import shlex
from typing import Any

from IPython.core.error import UsageError

USAGE = "%risk_edit MODEL [--data X [Y]]"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse would exit the kernel; say it in one line
        raise UsageError(f"{message}. Usage: {USAGE}")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="%risk_edit", add_help=False, usage=USAGE)
    parser.add_argument("model")
    parser.add_argument("--data", nargs="+", metavar="ARRAY", default=None)
    return parser


def _lookup(namespace: dict, name: str, what: str) -> Any:
    if name not in namespace:
        raise UsageError(f"%risk_edit: no {what} named {name!r} in this notebook. Usage: {USAGE}")
    return namespace[name]


def risk_edit(line: str, namespace: dict) -> Any:
    """Parses ``line`` and returns a GraphEditor (raises UsageError with a one-line reason)."""
    try:
        args = _parser().parse_args(shlex.split(line))
    except ValueError as err:  # unbalanced quotes
        raise UsageError(f"%risk_edit: {err}. Usage: {USAGE}") from None
    model = _lookup(namespace, args.model, "model")
    if args.data is not None and len(args.data) > 2:
        raise UsageError(f"%risk_edit: --data takes X or X Y, got {len(args.data)} names.")
    data = None
    if args.data:
        arrays = tuple(_lookup(namespace, name, "array") for name in args.data)
        data = arrays if len(arrays) == 2 else arrays[0]

    import keras

    if not isinstance(model, keras.Model):
        raise UsageError(
            f"%risk_edit: {args.model!r} is a {type(model).__name__}, not a Keras model."
        )
    from risk_widgets.ui.widget import GraphEditor

    try:
        return GraphEditor(model, data=data)
    except (TypeError, ValueError) as err:
        raise UsageError(f"%risk_edit: {err}") from None


def register(ipython: Any) -> None:
    """Registers the ``%risk_edit`` line magic on ``ipython``."""
    ipython.register_magic_function(
        lambda line: risk_edit(line, ipython.user_ns), magic_kind="line", magic_name="risk_edit"
    )


def unregister(ipython: Any) -> None:
    """Removes ``%risk_edit`` from ``ipython``."""
    ipython.magics_manager.magics["line"].pop("risk_edit", None)

"""Every patch parameter with its type, default and limits: one table for the whole package.

The editor's validation (:mod:`risk_widgets.editor.catalog`), the toolbar (the table travels in
the ``catalog`` trait), ``add_lora``'s argument checks and docs/architecture.md
("Patch parameters", checked by a test) all read :data:`PARAMS`, so a limit is changed
here and nowhere else.

Two checks per parameter, with the same limits:

- :meth:`ParamSpec.check`: for Python callers (``add_lora(rank=...)``); strict about types
  (no strings, no booleans); Keras-style messages.
- :meth:`ParamSpec.coerce`: for values typed in the browser; accepts numeric strings; the
  message starts with the patch kind.

Example:
    >>> from risk_widgets.core.params import PARAMS
    >>> PARAMS["rank"].min, PARAMS["rank"].max
    (1, 1024)
    >>> PARAMS["rank"].check(4), PARAMS["rank"].coerce("lora", "4")
    (4, 4)
    >>> try:
    ...     PARAMS["rank"].check(4096)
    ... except ValueError as err:
    ...     print(err)
    Received an invalid value for `rank`, expected an integer in [1, 1024]. Received: rank=4096
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import re
from typing import Any

__all__ = ["PARAMS", "ParamSpec"]

_NOUN = {"int": "integer", "float": "number", "bool": "boolean", "choice": "string",
         "str": "name"}
#: what a ``"str"`` parameter takes: an identifier such as ``my_adapter`` or ``task-2``
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")
_NAME_TEXT = ("a name of letters, digits, '_' or '-' (at most 64, starting with a letter "
              "or '_', e.g. 'task_a')")


@dataclasses.dataclass(frozen=True)
class ParamSpec:
    """One parameter: its name, type (``"int"``, ``"float"``, ``"bool"`` or ``"choice"``),
    default and limits.

    ``min`` and ``max`` are inclusive, except ``max`` when ``max_exclusive`` is set (a
    dropout rate is in ``[0, 1)``). ``optional``: None is accepted (``alpha`` defaults to
    ``rank``). A ``"choice"`` takes one of the strings in ``choices`` (the toolbar shows a
    select), a ``"bool"`` True or False (a checkbox), a ``"str"`` a name such as
    ``"task_a"`` (a text field; with ``optional``, empty text is None).
    """

    name: str
    type: str
    default: Any
    min: float | None = None
    max: float | None = None
    optional: bool = False
    help: str = ""
    max_exclusive: bool = False
    choices: tuple[str, ...] | None = None
    #: a number may be given per layer path, ``{glob: value}`` (`adapters.patterns`); the
    #: toolbar takes it as the text "glob: value, glob: value"
    patterns: bool = False

    def to_json(self) -> dict:
        """The spec as the ``catalog`` trait sends it (absent limits and flags left out)."""
        data = {k: v for k, v in dataclasses.asdict(self).items() if v is not None}
        for flag in ("max_exclusive", "patterns"):
            if not data[flag]:
                del data[flag]
        if self.choices is not None:
            data["choices"] = list(self.choices)
        return data

    # -- what a valid value is, in words ----------------------------------------------
    def _lower(self) -> str:
        """'a positive integer', 'an integer >= 2', 'a non-negative number', ..."""
        noun = _NOUN[self.type]
        if self.min == 1 and self.type == "int":
            return "a positive integer"
        if self.min == 0:
            return f"a non-negative {noun}"
        if self.min is None:
            return f"an {noun}" if noun == "integer" else f"a {noun}"
        return f"an {noun} >= {self.min}" if noun == "integer" else f"a {noun} >= {self.min}"

    def expected(self, *, below_min: bool = False) -> str:
        """The valid values, e.g. ``"an integer in [1, 1024]"``, ``"a number in [0, 1)"``.

        ``below_min``: the phrase for a value under the minimum (only the lower limit).
        """
        if self.type in ("bool", "choice", "str"):
            return _other_expected(self)
        if self.max is None or below_min:
            text = self._lower()
        else:
            low = "" if self.min is None else f"{self.min}"
            closing = ")" if self.max_exclusive else "]"
            article = "an" if self.type == "int" else "a"
            text = f"{article} {_NOUN[self.type]} in [{low}, {self.max}{closing}"
        return text + (" or None" if self.optional else "")

    def _too_big(self, number: float) -> bool:
        return self.max is not None and (
            number >= self.max if self.max_exclusive else number > self.max
        )

    # -- the two checks ----------------------------------------------------------------
    def check(self, value: Any) -> Any:
        """``value`` as this parameter's type if it is valid, else a Keras-style ValueError.

        For Python callers: an ``int`` parameter takes Python or NumPy integers only, a
        ``float`` one any real number (not booleans, not strings).
        """
        if value is None and self.optional:
            return None
        if self.type in ("bool", "choice", "str"):
            return _check_other(self, value, f"Received an invalid value for `{self.name}`, "
                                f"expected {self.expected()}. Received: {self.name}={value!r}")
        if self.type == "int":
            ok_type = isinstance(value, numbers.Integral) and not isinstance(value, bool)
        else:
            ok_type = (
                isinstance(value, numbers.Real)
                and not isinstance(value, bool)
                and math.isfinite(value)
            )
        below = ok_type and self.min is not None and value < self.min
        if not ok_type or below or self._too_big(value):
            raise ValueError(
                f"Received an invalid value for `{self.name}`, expected "
                f"{self.expected(below_min=bool(below))}. Received: {self.name}={value!r}"
            )
        return int(value) if self.type == "int" else float(value)

    def coerce(self, kind: str, value: Any) -> Any:
        """``value`` (a number or numeric text from the browser) as this parameter's type,
        or a ValueError whose message starts with the patch ``kind``. With ``patterns``, a
        dict ``{glob: value}`` or the text ``"glob: value, glob: value"`` too."""
        if self.patterns and (isinstance(value, dict) or (isinstance(value, str) and ":" in value)):
            return self._coerce_patterns(kind, value)
        return self._coerce_one(kind, value)

    def _coerce_patterns(self, kind: str, value: Any) -> dict:
        if isinstance(value, str):
            pairs = []
            for part in value.split(","):
                glob, colon, text = part.rpartition(":")
                if not colon or not glob.strip() or not text.strip():
                    raise ValueError(
                        f"{kind}: `{self.name}` patterns read 'glob: value, glob: value' (e.g. "
                        f"'*/attn/*: 8, *: 4'). Received: {part.strip()!r}"
                    )
                pairs.append((glob.strip(), text.strip()))
            value = dict(pairs)
        if not value:
            raise ValueError(f"{kind}: `{self.name}` is an empty dict of patterns.")
        rules = {}
        for glob, v in value.items():
            if not isinstance(glob, str) or not glob:
                raise ValueError(f"{kind}: the keys of `{self.name}` are path globs (strings). "
                                 f"Received: {glob!r}")
            try:
                rules[glob] = self._coerce_one(kind, v)
            except ValueError as err:
                raise ValueError(f"{err} (in the pattern {glob!r})") from None
        return rules

    def _coerce_one(self, kind: str, value: Any) -> Any:
        if self.type == "str" and isinstance(value, str):
            value = value.strip()  # text from the browser
        if value is None or value == "":
            if self.optional:
                return None
            raise ValueError(f"{kind}: `{self.name}` is required ({self.help or self.type}).")
        if self.type in ("bool", "choice", "str"):
            if self.type == "bool" and value in ("true", "false"):  # text from the browser
                value = value == "true"
            return _check_other(self, value, f"{kind}: `{self.name}` must be "
                                f"{self.expected()}. Received: {self.name}={value!r}")
        caster = int if self.type == "int" else float
        try:
            if isinstance(value, bool):
                raise ValueError
            number = caster(value)
            if self.type == "int" and float(value) != number:
                raise ValueError
        except (TypeError, ValueError, OverflowError):
            raise ValueError(
                f"{kind}: `{self.name}` must be {self._article()} {_NOUN[self.type]}."
                f" Received: {self.name}={value!r}"
            ) from None
        if not math.isfinite(number):
            raise ValueError(
                f"{kind}: `{self.name}` must be a number (not NaN or infinity)."
                f" Received: {self.name}={value!r}"
            )
        if self.min is not None and number < self.min:
            raise ValueError(f"{kind}: `{self.name}` must be >= {self.min}. Received: {number}")
        if self._too_big(number):
            op = "<" if self.max_exclusive else "<="
            raise ValueError(f"{kind}: `{self.name}` must be {op} {self.max}. Received: {number}")
        return number

    def _article(self) -> str:
        return "an" if self.type == "int" else "a"


def _other_expected(spec: ParamSpec) -> str:
    """The valid values of a bool or choice parameter, in words."""
    if spec.type == "bool":
        text = "True or False"
    elif spec.type == "str":
        text = _NAME_TEXT
    else:
        text = "one of " + ", ".join(repr(c) for c in spec.choices or ())
    return text + (" or None" if spec.optional else "")


def _check_other(spec: ParamSpec, value: Any, message: str) -> Any:
    """``value`` if it is valid for a bool / choice ``spec`` (NumPy booleans as bool), else a
    ValueError with ``message``."""
    if spec.type == "bool" and type(value).__name__ in ("bool", "bool_"):
        return bool(value)
    if spec.type == "choice" and isinstance(value, str) and value in (spec.choices or ()):
        return value
    if spec.type == "str" and isinstance(value, str) and _NAME.fullmatch(value):
        return value
    raise ValueError(message)


#: Every patch parameter. The catalog says which kinds use which; docs/architecture.md
#: ("Patch parameters") lists this table and a test keeps the two equal.
PARAMS: dict[str, ParamSpec] = {
    p.name: p
    for p in (
        ParamSpec("rank", "int", 8, min=1, max=1024, help="rank of the low-rank update",
                  patterns=True),
        ParamSpec("alpha", "float", None, min=0, optional=True, help="scale; defaults to rank",
                  patterns=True),
        ParamSpec(
            "dropout", "float", 0.0, min=0, max=1, max_exclusive=True,
            help="dropout on the adapter input",
        ),
        ParamSpec("n_samples", "int", 16, min=2, max=1024, help="Monte-Carlo samples"),
        ParamSpec("rate", "float", 0.1, min=0.001, max=0.9, help="dropout rate"),
        ParamSpec("n_voters", "int", 5, min=2, max=64, help="ensemble members"),
        ParamSpec("n_members", "int", 4, min=2, max=64, help="LoRA adapters in the ensemble"),
        ParamSpec("coverage", "float", 0.9, min=0.5, max=0.999, help="target coverage 1 - α"),
        ParamSpec(
            "prior_precision", "float", None, min=0, optional=True,
            help="prior precision λ; None picks it by held-out NLL",
        ),
        ParamSpec(
            "use_rslora", "bool", False,
            help="rsLoRA: scale by alpha/√rank instead of alpha/rank",
        ),
        ParamSpec(
            "init", "choice", "he_uniform", choices=("he_uniform", "gaussian", "pissa"),
            help="init of A, B: he_uniform, gaussian (PEFT) or pissa (SVD)",
        ),
        ParamSpec(
            "name", "str", None, optional=True,
            help="adapter name; empty: automatic (default, then <kind>_1, ...)",
        ),
    )
}

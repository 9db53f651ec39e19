"""Per-path values of an adapter parameter: PEFT's ``rank_pattern`` / ``alpha_pattern``.

``add_lora(model, targets, rank={"*/attn/*": 8, "*": 4})``: a parameter is one value for
every target, or a dict from a path glob (the target syntax of `risk_widgets.find_layers`:
`fnmatch`, ``*`` also crosses ``/``; an exact path matches itself) to a value. For each
patched layer the **first** key, in dict order, whose glob matches its path wins; a path no
key matches gets the parameter's default (as in PEFT). Every value is checked against
`risk_widgets.core.params.PARAMS` up front, naming its key. A key that matches none of the patched
layers is almost always a typo: `PathValues.warn_unmatched` says so (`TargetWarning`).

Example:
    >>> from risk_widgets.adapters.patterns import PathValues
    >>> rank = PathValues("rank", {"*/attn/*": 8, "*": 4})
    >>> rank("block_0/attn/query"), rank("head")
    (8, 4)
    >>> PathValues("rank", 2)("head")
    2
"""

from __future__ import annotations

import fnmatch
import warnings
from typing import Any

from risk_widgets.core.params import PARAMS

__all__ = ["PathValues"]


class PathValues:
    """One parameter's value per layer path: a constant, or first-match glob rules.

    Args:
        name: the parameter (a key of `PARAMS`: its check validates every value).
        value: a value, or a dict ``{glob: value}``.
        default: the value for a path no rule matches (default: the parameter's default).

    Raises:
        ValueError: an invalid value (naming the key) or an empty dict.
        TypeError: a key that is not a string.
    """

    def __init__(self, name: str, value: Any, default: Any = None):
        spec = PARAMS[name]
        self.name = name
        self.default = spec.default if default is None else default
        self.rules: list[tuple[str, Any]] | None = None
        self.matched: set[str] = set()  # keys that set some layer's value
        self.touched: set[str] = set()  # keys whose glob matched some layer
        if not isinstance(value, dict):
            self.value = spec.check(value)
            return
        if not value:
            raise ValueError(
                f"`{name}` is an empty dict. Pass a value, or a dict from path globs to values "
                f"such as {{'*/attn/*': 8, '*': 4}}."
            )
        rules = []
        for key, v in value.items():
            if not isinstance(key, str) or not key:
                raise TypeError(
                    f"The keys of `{name}` are layer path globs (strings such as '*/attn/*'). "
                    f"Received: {key!r}"
                )
            try:
                rules.append((key, spec.check(v)))
            except ValueError as err:
                raise ValueError(f"{err} (in `{name}` for the pattern {key!r})") from None
        self.rules = rules
        self.value = None

    @property
    def is_pattern(self) -> bool:
        """Whether the value depends on the path."""
        return self.rules is not None

    def __call__(self, path: str) -> Any:
        """The value for the layer at ``path`` (and remembers which rule matched)."""
        if self.rules is None:
            return self.value
        hits = [(key, v) for key, v in self.rules if key == path or fnmatch.fnmatchcase(path, key)]
        self.touched.update(key for key, _ in hits)
        if not hits:
            return self.default
        self.matched.add(hits[0][0])
        return hits[0][1]

    def warn_unmatched(self, patch: str) -> None:
        """Warns (`TargetWarning`) for each rule that set no patched layer's value: it
        matched none of them (a typo?), or an earlier key always won (order matters)."""
        from risk_widgets.core.targets import TargetWarning, user_stacklevel

        for key, _ in self.rules or []:
            if key in self.matched:
                continue
            if key in self.touched:
                why = ("an earlier key matches every layer it matches, and the first match "
                       "wins. Put the more specific pattern first")
            else:
                why = ("it matches none of the patched layers. Check it against "
                       "rw.find_layers(model, targets), or remove it")
            warnings.warn(
                f"{patch}: the `{self.name}` pattern {key!r} sets nothing: {why}.",
                TargetWarning,
                stacklevel=user_stacklevel(),
            )

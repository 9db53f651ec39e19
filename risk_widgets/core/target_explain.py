"""What a target reaches: per rule, its matches and the repeated blocks it covers.

``find_layers(model, targets, explain=True)`` returns a `TargetExplanation`; every patch calls
`warn_partial_targets`, which warns (`TargetWarning`) when a rule reaches only some of the
model's repeated blocks (``block_0`` … ``block_23``).
"""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import Any

from risk_widgets.core.target_match import TargetWords, expand_groups, is_glob, resolve
from risk_widgets.core.walk import iter_layers


class TargetWarning(UserWarning):
    """A patch's targets match only some of a model's repeated blocks (see `explain`)."""


@dataclasses.dataclass(frozen=True)
class BlockCoverage:
    """How many blocks of one family of repeated blocks a rule reaches.

    A *family* is a run of sibling groups (children of one container) with the same
    structure: the same class, and the same classes at the same depths inside, in order;
    names are not compared, so ``block_0/dense`` and ``block_1/dense_1`` are alike.

    Attributes:
        parent: the container of the blocks (None at the top level).
        blocks: every block of the family, in graph order.
        hit: the blocks holding at least one matched path.
    """

    parent: str | None
    blocks: tuple[str, ...]
    hit: tuple[str, ...]

    @property
    def missed(self) -> tuple[str, ...]:
        """The blocks the rule does not reach."""
        hit = set(self.hit)
        return tuple(b for b in self.blocks if b not in hit)

    @property
    def partial(self) -> bool:
        return 0 < len(self.hit) < len(self.blocks)

    def describe(self) -> str:
        """``"2 of 24 blocks"``."""
        return f"{len(self.hit)} of {len(self.blocks)} blocks"

    def to_json(self) -> dict:
        return {"parent": self.parent, "total": len(self.blocks), "count": len(self.hit),
                "hit": list(self.hit), "missed": list(self.missed)}


@dataclasses.dataclass(frozen=True)
class RuleMatch:
    """What one rule of a target matched.

    Attributes:
        rule: the rule as written: the path or glob, a class name, a predicate's name.
        paths: the matched paths in graph order.
        blocks: one `BlockCoverage` per family of repeated blocks the rule reaches.
        exact: the rule is an exact path (a deliberate choice: never warned about).
        error: why the rule matches nothing (the message `find_layers` would raise).
    """

    rule: str
    paths: tuple[str, ...]
    blocks: tuple[BlockCoverage, ...] = ()
    exact: bool = False
    error: str | None = None

    @property
    def count(self) -> int:
        return len(self.paths)

    def describe(self) -> str:
        """``"4 layers, 2 of 24 blocks"`` / ``"no match"``."""
        if not self.paths:
            return "no match"
        words = [f"{self.count} layer{'s' if self.count != 1 else ''}"]
        words += [b.describe() for b in self.blocks]
        return ", ".join(words)

    def to_json(self) -> dict:
        return {"rule": self.rule, "count": self.count, "paths": list(self.paths),
                "blocks": [b.to_json() for b in self.blocks], "exact": self.exact,
                "error": self.error, "summary": self.describe()}


class TargetExplanation:
    """The result of ``find_layers(model, targets, explain=True)``.

    Attributes:
        rules: one `RuleMatch` per rule (each item of a list target, or the one target).
        paths: the union of the matches in graph order (what ``find_layers`` returns).
        total: the number of paths in the model.
    """

    def __init__(self, rules: list[RuleMatch], paths: list[str], total: int):
        self.rules = rules
        self.paths = paths
        self.total = total

    @property
    def count(self) -> int:
        return len(self.paths)

    @property
    def errors(self) -> list[str]:
        """The messages of the rules that match nothing."""
        return [r.error for r in self.rules if r.error]

    def warnings(self) -> list[str]:
        """One message per (non-exact) rule that reaches only some of a family's blocks,
        and per rule of a list that matches nothing; each says the way out."""
        found = []
        for r in self.rules:
            if r.error and len(self.rules) > 1:
                found.append(f"target rule {r.rule!r} matches nothing: {r.error}")
            if r.exact:
                continue
            for b in r.blocks:
                if not b.partial:
                    continue
                missed = b.missed
                shown = ", ".join(missed[:4]) + (", …" if len(missed) > 4 else "")
                found.append(
                    f"target {r.rule!r} matches {len(b.hit)} of {len(b.blocks)} repeated "
                    f"blocks ({b.blocks[0]} … {b.blocks[-1]}); it misses {len(missed)}: {shown}. "
                    "Layer names may differ between blocks: compare "
                    f"`rw.find_layers(model, {missed[0] + '/*'!r})` with "
                    f"{b.hit[0] + '/*'!r}, then use a glob or layer class that matches every "
                    "block; if the subset is intended, list exact paths."
                )
        return found

    def to_json(self) -> dict:
        """Plain JSON: ``{"paths", "count", "total", "rules": [RuleMatch.to_json()...]}``."""
        return {"paths": list(self.paths), "count": self.count, "total": self.total,
                "rules": [r.to_json() for r in self.rules]}

    def table(self) -> str:
        """A text table: one row per rule (rule, layers matched, block coverage)."""
        rows = [("rule", "matches", "blocks")]
        for r in self.rules:
            blocks = "; ".join(b.describe() for b in r.blocks) or "—"
            rows.append((r.rule, "no match" if r.error else str(r.count), blocks))
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                 for row in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        lines.append(f"{self.count} of {self.total} paths matched")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.table()


def _rule_label(rule: Any) -> str:
    if isinstance(rule, str):
        return rule
    if isinstance(rule, type):
        return rule.__name__
    return getattr(rule, "__name__", None) or repr(rule)


def _families(refs: list) -> list[tuple[str | None, list[str]]]:
    """The outermost families of repeated blocks: ``[(parent, [block paths])]``.

    Sibling groups with the same structure signature (their class, then the depth and
    class of everything inside, in walk order) form a family when there are two or more;
    families nested inside a block of another family are left out (the outer one counts).
    """
    signature: dict[str, tuple] = {}
    open_groups: list[tuple[str, int, list]] = []  # (path, depth, signature parts)
    for ref in refs:
        depth = ref.path.count("/")
        while open_groups and not ref.path.startswith(open_groups[-1][0] + "/"):
            path, _, parts = open_groups.pop()
            signature[path] = tuple(parts)
        for _, gdepth, parts in open_groups:
            parts.append((depth - gdepth, type(ref.layer).__name__))
        if ref.kind == "group":
            open_groups.append((ref.path, depth, [type(ref.layer).__name__]))
    for path, _, parts in open_groups:
        signature[path] = tuple(parts)
    by_key: dict[tuple, list[str]] = {}
    for ref in refs:
        if ref.kind == "group":
            by_key.setdefault((ref.parent, signature[ref.path]), []).append(ref.path)
    families = [(parent, blocks) for (parent, _), blocks in by_key.items() if len(blocks) > 1]
    members = [b for _, blocks in families for b in blocks]
    return [
        (parent, blocks) for parent, blocks in families
        if parent is None or not any(parent == m or parent.startswith(m + "/") for m in members)
    ]


def _coverage(paths: tuple[str, ...], families: list) -> tuple[BlockCoverage, ...]:
    found = []
    for parent, blocks in families:
        hit = tuple(b for b in blocks if any(p == b or p.startswith(b + "/") for p in paths))
        if hit:
            found.append(BlockCoverage(parent, tuple(blocks), hit))
    return tuple(found)


def explain_targets(model: Any, targets: Any, leaves: Any, words: TargetWords) -> TargetExplanation:
    refs = list(iter_layers(model))
    paths = [ref.path for ref in refs]
    index = {p: i for i, p in enumerate(paths)}
    see_through = leaves is not False
    is_list = isinstance(targets, (list, tuple, set, frozenset))
    if is_list and not targets:
        raise words.empty_list()
    rules = list(targets) if is_list else [targets]
    families = _families(refs)
    matches, union = [], set()
    for rule in rules:
        if is_list and isinstance(rule, (list, tuple, set, frozenset)):
            raise words.nested_list(rule)
        try:
            found = resolve(rule, refs, paths, index, words, see_through)
            if leaves is not False:
                found = expand_groups(found, refs, words, leaves)
        except ValueError as err:  # a rule that matches nothing: reported, not raised
            matches.append(RuleMatch(_rule_label(rule), (), error=str(err),
                                     exact=isinstance(rule, str) and not is_glob(rule)))
            continue
        ordered = tuple(sorted(found, key=index.__getitem__))
        union |= found
        exact = isinstance(rule, str) and rule in index
        matches.append(RuleMatch(_rule_label(rule), ordered, _coverage(ordered, families), exact))
    return TargetExplanation(matches, sorted(union, key=index.__getitem__), len(paths))


def warn_partial_targets(model: Any, targets: Any, patch: str | None = None) -> None:
    """Warns (`TargetWarning`) when a rule of ``targets`` reaches only some of the model's
    repeated blocks, or a rule of a list matches nothing.

    Called by `risk_widgets.rewire` (so by every patch) after the targets resolved. Exact
    paths never warn (naming one layer is deliberate).

    Example:
        >>> import warnings, keras
        >>> from risk_widgets.core.targets import warn_partial_targets
        >>> x = keras.Input((4,))
        >>> h = keras.Sequential([keras.layers.Dense(4, name="a")], name="b0")(x)
        >>> h = keras.Sequential([keras.layers.Dense(4, name="c")], name="b1")(h)
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     warn_partial_targets(keras.Model(x, h), "*/a")
        >>> print(str(caught[0].message)[:70])
        target '*/a' matches 1 of 2 repeated blocks (b0 … b1); it misses 1: b1
    """
    import warnings

    try:
        explanation = explain_targets(model, targets, False, TargetWords(model, patch))
    except (TypeError, ValueError):
        return  # the resolver raises the same error with its full message
    prefix = f"{patch}: " if patch else ""
    for message in explanation.warnings():
        warnings.warn(prefix + message, TargetWarning, stacklevel=user_stacklevel())


def user_stacklevel() -> int:
    """The ``stacklevel`` of the first caller outside the package (the user's line)."""
    # the package root, two folders up: every module of risk_widgets is "inside"
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(here):
        frame, level = frame.f_back, level + 1
    return level

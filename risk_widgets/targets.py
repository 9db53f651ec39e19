"""Resolving targets (paths, globs, lists, classes, predicates) to layer paths.

Example:
    >>> import keras
    >>> from risk_widgets.targets import find_layers
    >>> x = keras.Input((6, 8), name="x")
    >>> h = keras.layers.MultiHeadAttention(2, 4, name="attn")(x, x)
    >>> model = keras.Model(x, keras.layers.Dense(2, name="head")(h), name="m")
    >>> find_layers(model, "attn/*")[:3]
    ['attn/query', 'attn/key', 'attn/value']
    >>> find_layers(model, ["head", "*/value"])
    ['attn/value', 'head']
    >>> find_layers(model, keras.layers.Dense)
    ['head']
    >>> find_layers(model, lambda path, layer: path.endswith("key"))
    ['attn/key']
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import os
import sys
from collections.abc import Callable
from typing import Any

from keras import Operation

from risk_widgets.walk import iter_layers

__all__ = [
    "BlockCoverage", "RuleMatch", "TargetExplanation", "TargetWarning", "find_layers",
    "parse_target_text", "preview_json", "warn_partial_targets",
]

_GLOB_CHARS = frozenset("*?[")
_HOW_TO_LIST = "List every path with `risk_widgets.find_layers(model, '*')`."
_SHOWN_PATHS = 30  # paths listed in a patch's "matches no layer" message


def _is_glob(target: str) -> bool:
    return any(c in _GLOB_CHARS for c in target)


def _close_matches(target: str, paths: list[str]) -> list[str]:
    """Paths close to ``target``: whole paths first, then paths with a close last name."""
    probe = target.replace("*", "").replace("?", "") if _is_glob(target) else target
    close = difflib.get_close_matches(probe, paths, n=5, cutoff=0.5)
    if len(close) < 5:
        last = probe.rsplit("/", 1)[-1]
        names = {p.rsplit("/", 1)[-1] for p in paths}
        near = set(difflib.get_close_matches(last, sorted(names), n=5, cutoff=0.6))
        for p in paths:
            if len(close) >= 5:
                break
            if p.rsplit("/", 1)[-1] in near and p not in close:
                close.append(p)
    return close


def _model_name(model: Any) -> str:
    return str(getattr(model, "name", type(model).__name__))


def _listing(paths: list[str]) -> str:
    shown = ", ".join(paths[:_SHOWN_PATHS])
    return shown if len(paths) <= _SHOWN_PATHS else f"{shown}, ... ({len(paths)} in all)"


class _Words:
    """The wording of errors: plain (``find_layers``) or for a patch's ``targets`` argument.

    With ``patch`` (e.g. ``"vote"``) every message starts with ``"vote: "`` and speaks of
    the patch's targets (where None is the patch's default); either way it says what matched
    nothing, lists close matches and ends with the way to list every path.
    """

    def __init__(self, model: Any, patch: str | None):
        self.model = _model_name(model)
        self.patch = patch
        self.prefix = f"{patch}: " if patch else ""

    def no_path(self, target: str, paths: list[str]) -> ValueError:
        close = _close_matches(target, paths)
        if self.patch:
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            return ValueError(
                f"{self.prefix}target {target!r} matches no layer.{hint} Paths of model "
                f"{self.model!r}: {_listing(paths)}. {_HOW_TO_LIST}"
            )
        hint = f" Close matches: {', '.join(map(repr, close))}." if close else ""
        what = (
            f"The pattern {target!r} matches no layer"
            if _is_glob(target)
            else f"No layer at path {target!r}"
        )
        return ValueError(f"{what} in model {self.model!r}.{hint} {_HOW_TO_LIST}")

    def no_class(self, target: type, present: list[str]) -> ValueError:
        what = f"no layer of class {target.__name__}" if self.patch else (
            f"No layer of class {target.__name__}"
        )
        return ValueError(
            f"{self.prefix}{what} in model {self.model!r}. Classes present: "
            f"{', '.join(present) or 'none'}. {_HOW_TO_LIST}"
        )

    def no_predicate_match(self, name: str) -> ValueError:
        if self.patch:
            return ValueError(
                f"{self.prefix}the targets predicate matched no layer in model {self.model!r}: "
                f"{name} is called as predicate(path, layer) -> bool. {_HOW_TO_LIST}"
            )
        return ValueError(
            f"The predicate {name} matched no layer in model {self.model!r}. It is called as "
            f"predicate(path, layer) -> bool. {_HOW_TO_LIST}"
        )

    def empty_group(self, path: str, inside: list[str]) -> ValueError:
        listed = ", ".join(map(repr, inside))
        if self.patch:
            return ValueError(
                f"{self.prefix}target {path!r} holds no layer that {self.patch} applies to. "
                f"Its layers: {listed}. Target another layer or group. {_HOW_TO_LIST}"
            )
        return ValueError(
            f"The group {path!r} holds no layer that the leaves filter accepts (in model "
            f"{self.model!r}). Its layers: {listed}. {_HOW_TO_LIST}"
        )

    def empty_list(self) -> ValueError:
        return ValueError(
            f"{self.prefix}`targets` is an empty list: give at least one path, glob, layer "
            f"class or predicate. {_HOW_TO_LIST}"
        )

    def nested_list(self, item: Any) -> TypeError:
        return TypeError(
            f"{self.prefix}A targets list holds paths, globs, layer classes or predicates, not "
            f"nested lists. Received the element: {item!r}"
        )

    def not_a_layer_class(self, target: type) -> TypeError:
        return TypeError(
            f"{self.prefix}A class target must be a Keras layer class such as "
            f"`keras.layers.Dense`. Received: {target.__module__}.{target.__qualname__}"
        )

    def bad_type(self, target: Any) -> TypeError:
        none = "None, " if self.patch else ""
        default = "; None is the patch's own default choice" if self.patch else ""
        return TypeError(
            f"{self.prefix}`targets` must be {none}a path ('block_0/attn/query'), a glob "
            "('*/query'), a list of them, a layer class (keras.layers.Dense) or a "
            f"predicate(path, layer) -> bool{default}. "
            f"Received: targets={target!r} (of type {type(target).__name__})"
        )


def _wrapped_chain(layer: Any) -> list[Any]:
    """``layer`` and the layers it wraps through ``wrapped_layer`` (risk layers), outermost
    first."""
    chain = [layer]
    while getattr(chain[-1], "wrapped_layer", None) is not None and len(chain) < 32:
        chain.append(chain[-1].wrapped_layer)
    return chain


def _resolve(target: Any, refs: list, paths: list[str], index: dict, words: _Words,
             see_through: bool) -> set[str]:
    """The set of paths one target selects (raises when it selects none)."""
    if isinstance(target, str):
        if target in index:
            return {target}
        if _is_glob(target):
            found = {p for p in paths if fnmatch.fnmatchcase(p, target)}
            if found:
                return found
        raise words.no_path(target, paths)
    if isinstance(target, type):
        if not issubclass(target, Operation):
            raise words.not_a_layer_class(target)
        found = {
            ref.path
            for ref in refs
            if any(isinstance(layer, target)
                   for layer in (_wrapped_chain(ref.layer) if see_through else [ref.layer]))
        }
        if not found:
            raise words.no_class(target, sorted({type(ref.layer).__name__ for ref in refs}))
        return found
    if isinstance(target, (list, tuple, set, frozenset)):
        if not target:
            raise words.empty_list()
        found: set[str] = set()
        for item in target:
            if isinstance(item, (list, tuple, set, frozenset)):
                raise words.nested_list(item)
            found |= _resolve(item, refs, paths, index, words, see_through)
        return found
    if callable(target):
        found = {ref.path for ref in refs if target(ref.path, ref.layer)}
        if not found:
            raise words.no_predicate_match(getattr(target, "__name__", repr(target)))
        return found
    raise words.bad_type(target)


def _expand_groups(found: set[str], refs: list, words: _Words, keep: Any) -> set[str]:
    """Replaces each group in ``found`` by its leaf layers (those ``keep`` accepts)."""
    kinds = {ref.path: ref.kind for ref in refs}
    leaves: set[str] = set()
    for path in found:
        if kinds[path] != "group":
            leaves.add(path)  # named by itself: kept, its caller checks it
            continue
        inside = [r for r in refs if r.kind == "layer" and r.path.startswith(path + "/")]
        chosen = {r.path for r in inside if keep is True or keep(r.layer)}
        if not chosen:
            raise words.empty_group(path, [r.path for r in inside])
        leaves |= chosen
    return leaves


def find_layers(
    model: Any,
    targets: Any,
    *,
    leaves: bool | Callable[[Any], bool] = False,
    patch: str | None = None,
    explain: bool = False,
) -> Any:
    """Resolves ``targets`` to the paths of existing layers, in graph order, no duplicates.

    Paths are those of `risk_widgets.walk.iter_layers` (docs/architecture.md "Paths"):
    leaves and containers (groups) both have one. This is the one target resolver: the
    editor's selection, `rewire` (and so `add_lora` / `add_svf`) and the risk wrappers
    (``leaves=...``) all use it.

    Args:
        model: a built Keras model (Functional, Sequential, CompositeLayer, ...).
        targets: one of
            - an exact path: ``"block_0/attn/query"``;
            - a glob with `fnmatch` semantics, where ``*`` also crosses ``/``:
              ``"*/query"``, ``"block_?/*"``, ``"*/attn/*"``;
            - a list (or tuple) of paths, globs, classes and predicates: the union;
            - a layer class: every layer that is an instance of it (``keras.layers.Dense``
              also matches subclasses; ops such as ``x + y`` are not layers);
            - a predicate ``predicate(path, layer) -> bool``.
        leaves: ``False`` (default): the matching paths, groups included. ``True``: only
            leaf layers, the layers a risk wrapper goes into: a matched group stands for
            the leaf layers inside it (at every depth), and a layer class also matches a
            risk layer around an instance of it (through ``wrapped_layer``). A predicate
            ``keep(layer) -> bool``: as ``True``, but a group stands only for the leaves
            inside it that ``keep`` accepts (a group with none is an error); a leaf matched
            by itself is returned whatever ``keep`` says, for the caller to check.
        patch: the patch kind asking (e.g. ``"vote"``): errors then start with
            ``"vote: "`` and speak of that patch's ``targets`` argument.
        explain: return a `TargetExplanation` instead of the paths: per rule (each item
            of a list, or the one target) the matched paths, their count, and for rules
            reaching repeated blocks (sibling groups of the same structure, e.g.
            ``block_0`` … ``block_23``) how many of the blocks they reach ("2 of 24
            blocks"); ``.paths`` is what ``explain=False`` returns. A rule that matches
            nothing is reported (``.error``) instead of raised; a bad type still raises.

    Returns:
        The matching paths in graph order (the order of `iter_layers`), each once; with
        ``explain=True`` a `TargetExplanation` (``repr`` is a table, ``to_json()``).

    Raises:
        ValueError: a path that does not exist, a glob, class or predicate that matches
            nothing, an empty list, or (``leaves=keep``) a group holding no leaf ``keep``
            accepts; the message names it, lists close matches and says how to list every
            path.
        TypeError: ``targets`` is none of the forms above.

    Example:
        >>> import keras
        >>> from risk_widgets.targets import find_layers
        >>> inner = keras.Sequential([keras.layers.Dense(4, name="dense")], name="inner")
        >>> x = keras.Input((3,), name="x")
        >>> model = keras.Model(x, keras.layers.Dense(2, name="head")(inner(x)), name="m")
        >>> find_layers(model, "*")
        ['inner', 'inner/dense', 'head']
        >>> find_layers(model, "*dense")
        ['inner/dense']
        >>> find_layers(model, ["inner", "head"], leaves=True)
        ['inner/dense', 'head']
        >>> find_layers(model, "inner/dens")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: No layer at path 'inner/dens' in model 'm'. Close matches: 'inner/dense'...
        >>> print(find_layers(model, ["*dense", "head"], explain=True))
        rule    matches  blocks
        ------  -------  ------
        *dense  1        —
        head    1        —
        2 of 3 paths matched
    """
    if not (isinstance(leaves, bool) or callable(leaves)):
        raise TypeError(
            "`leaves` must be True, False or a predicate keep(layer) -> bool. "
            f"Received: leaves={leaves!r}"
        )
    words = _Words(model, patch)
    if explain:
        return _explain(model, targets, leaves, words)
    refs = list(iter_layers(model))
    paths = [ref.path for ref in refs]
    index = {p: i for i, p in enumerate(paths)}
    found = _resolve(targets, refs, paths, index, words, see_through=leaves is not False)
    if leaves is not False:
        found = _expand_groups(found, refs, words, leaves)
    return sorted(found, key=index.__getitem__)


# ----------------------------------------------------------------------------- explain


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


def _explain(model: Any, targets: Any, leaves: Any, words: _Words) -> TargetExplanation:
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
            found = _resolve(rule, refs, paths, index, words, see_through)
            if leaves is not False:
                found = _expand_groups(found, refs, words, leaves)
        except ValueError as err:  # a rule that matches nothing: reported, not raised
            matches.append(RuleMatch(_rule_label(rule), (), error=str(err),
                                     exact=isinstance(rule, str) and not _is_glob(rule)))
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
        >>> from risk_widgets.targets import warn_partial_targets
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
        explanation = _explain(model, targets, False, _Words(model, patch))
    except (TypeError, ValueError):
        return  # the resolver raises the same error with its full message
    prefix = f"{patch}: " if patch else ""
    for message in explanation.warnings():
        warnings.warn(prefix + message, TargetWarning, stacklevel=user_stacklevel())


def user_stacklevel() -> int:
    """The ``stacklevel`` of the first caller outside the package (the user's line)."""
    here = os.path.dirname(os.path.abspath(__file__)) + os.sep
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(here):
        frame, level = frame.f_back, level + 1
    return level


def parse_target_text(model: Any, text: str) -> list[Any]:
    """The rules of a target typed as text: comma-separated paths, globs and class names.

    An item that is a path of ``model`` stays a path; otherwise an item that names the
    class of a layer in the model (``Dense``, ``EinsumDense``, or a base class such as
    ``Layer``) becomes that class; anything else stays a string (a glob or a path, which
    `find_layers` then matches or reports). Blank items are dropped.

    Raises:
        TypeError: ``text`` is not a string.
        ValueError: ``text`` holds no rule.

    Example:
        >>> import keras
        >>> from risk_widgets.targets import parse_target_text
        >>> x = keras.Input((3,), name="x")
        >>> model = keras.Model(x, keras.layers.Dense(2, name="head")(x), name="m")
        >>> parse_target_text(model, " head, Dense ,*/q ")
        ['head', <class 'keras.src.layers.core.dense.Dense'>, '*/q']
    """
    if not isinstance(text, str):
        raise TypeError(f"A typed target is a string such as '*/query, Dense'. Received: {text!r}")
    items = [item.strip() for item in text.split(",")]
    items = [item for item in items if item]
    if not items:
        raise ValueError(
            "The target is empty: type a path ('block_0/attn/query'), a glob ('*/query'), a "
            "layer class name ('Dense') or a comma-separated list of them."
        )
    refs = list(iter_layers(model))
    paths = {ref.path for ref in refs}
    classes: dict[str, type] = {}
    for ref in refs:
        for cls in type(ref.layer).__mro__:
            if isinstance(cls, type) and issubclass(cls, Operation):
                classes.setdefault(cls.__name__, cls)
    return [
        classes[item] if item not in paths and item.isidentifier() and item in classes else item
        for item in items
    ]


def preview_json(model: Any, text: str) -> dict:
    """A typed target's matches as JSON, for a preview before anything is patched.

    ``text`` is parsed by `parse_target_text`; the result is
    ``TargetExplanation.to_json()`` plus ``"warnings"`` (the messages a patch would warn
    with) and ``"error"`` (None, or why the text as a whole cannot be used, e.g. it is
    empty). Nothing raises for a target that matches nothing: each rule says so.

    Example:
        >>> import keras
        >>> from risk_widgets.targets import preview_json
        >>> x = keras.Input((3,), name="x")
        >>> model = keras.Model(x, keras.layers.Dense(2, name="head")(x), name="m")
        >>> got = preview_json(model, "Dense, hed")
        >>> got["paths"], [r["count"] for r in got["rules"]], got["rules"][1]["error"][:32]
        (['head'], [1, 0], "No layer at path 'hed' in model ")
    """
    try:
        explanation = find_layers(model, parse_target_text(model, text), explain=True)
    except (TypeError, ValueError) as err:
        return {"paths": [], "count": 0, "total": None, "rules": [], "warnings": [],
                "error": str(err)}
    return {**explanation.to_json(), "warnings": explanation.warnings(), "error": None}

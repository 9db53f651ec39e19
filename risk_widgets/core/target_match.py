"""Matching one target against a model's layers, and the wording of what matched nothing.

The shared machinery of `targets.find_layers` and `target_explain`: a path, glob, class,
list or predicate to a set of paths (`resolve`), a group to its leaves (`expand_groups`), and
`TargetWords`, the errors each form raises (close matches, the way to list every path).
"""

from __future__ import annotations

import difflib
import fnmatch
from typing import Any

from keras import Operation

_GLOB_CHARS = frozenset("*?[")
_HOW_TO_LIST = "List every path with `risk_widgets.find_layers(model, '*')`."
_SHOWN_PATHS = 30  # paths listed in a patch's "matches no layer" message


def is_glob(target: str) -> bool:
    return any(c in _GLOB_CHARS for c in target)


def _close_matches(target: str, paths: list[str]) -> list[str]:
    """Paths close to ``target``: whole paths first, then paths with a close last name."""
    probe = target.replace("*", "").replace("?", "") if is_glob(target) else target
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


class TargetWords:
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
            if is_glob(target)
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


def wrapped_chain(layer: Any) -> list[Any]:
    """``layer`` and the layers it wraps through ``wrapped_layer`` (risk layers), outermost
    first."""
    chain = [layer]
    while getattr(chain[-1], "wrapped_layer", None) is not None and len(chain) < 32:
        chain.append(chain[-1].wrapped_layer)
    return chain


def resolve(target: Any, refs: list, paths: list[str], index: dict, words: TargetWords,
             see_through: bool) -> set[str]:
    """The set of paths one target selects (raises when it selects none)."""
    if isinstance(target, str):
        if target in index:
            return {target}
        if is_glob(target):
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
                   for layer in (wrapped_chain(ref.layer) if see_through else [ref.layer]))
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
            found |= resolve(item, refs, paths, index, words, see_through)
        return found
    if callable(target):
        found = {ref.path for ref in refs if target(ref.path, ref.layer)}
        if not found:
            raise words.no_predicate_match(getattr(target, "__name__", repr(target)))
        return found
    raise words.bad_type(target)


def expand_groups(found: set[str], refs: list, words: TargetWords, keep: Any) -> set[str]:
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

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

import difflib
import fnmatch
from typing import Any

from keras.src.ops.operation import Operation

from risk_widgets.walk import iter_layers

__all__ = ["find_layers"]

_GLOB_CHARS = frozenset("*?[")
_HOW_TO_LIST = "List every path with `risk_widgets.find_layers(model, '*')`."


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


def _no_match(model: Any, what: str, paths: list[str], target: str | None) -> ValueError:
    hint = ""
    if target is not None:
        close = _close_matches(target, paths)
        if close:
            hint = f" Close matches: {', '.join(map(repr, close))}."
    return ValueError(f"{what} in model {_model_name(model)!r}.{hint} {_HOW_TO_LIST}")


def _resolve(model: Any, target: Any, refs: list, paths: list[str], index: dict) -> set[str]:
    """The set of paths one target selects (raises when it selects none)."""
    if isinstance(target, str):
        if target in index:
            return {target}
        if _is_glob(target):
            found = {p for p in paths if fnmatch.fnmatchcase(p, target)}
            if not found:
                raise _no_match(model, f"The pattern {target!r} matches no layer", paths, target)
            return found
        raise _no_match(model, f"No layer at path {target!r}", paths, target)
    if isinstance(target, type):
        if not issubclass(target, Operation):
            raise TypeError(
                "A class target must be a Keras layer class such as `keras.layers.Dense`. "
                f"Received: {target.__module__}.{target.__qualname__}"
            )
        found = {ref.path for ref in refs if isinstance(ref.layer, target)}
        if not found:
            present = sorted({type(ref.layer).__name__ for ref in refs})
            raise ValueError(
                f"No layer of class {target.__name__} in model {_model_name(model)!r}. "
                f"Classes present: {', '.join(present) or 'none'}. {_HOW_TO_LIST}"
            )
        return found
    if isinstance(target, (list, tuple, set, frozenset)):
        if not target:
            raise ValueError(
                "`targets` is an empty list: give at least one path, glob, layer class or "
                f"predicate. {_HOW_TO_LIST}"
            )
        found: set[str] = set()
        for item in target:
            if isinstance(item, (list, tuple, set, frozenset)):
                raise TypeError(
                    "A targets list holds paths, globs, layer classes or predicates, not "
                    f"nested lists. Received the element: {item!r}"
                )
            found |= _resolve(model, item, refs, paths, index)
        return found
    if callable(target):
        found = {ref.path for ref in refs if target(ref.path, ref.layer)}
        if not found:
            name = getattr(target, "__name__", repr(target))
            raise ValueError(
                f"The predicate {name} matched no layer in model {_model_name(model)!r}. It "
                f"is called as predicate(path, layer) -> bool. {_HOW_TO_LIST}"
            )
        return found
    raise TypeError(
        "`targets` must be a path ('block_0/attn/query'), a glob ('*/query'), a list of "
        "them, a layer class (keras.layers.Dense) or a predicate(path, layer) -> bool. "
        f"Received: targets={target!r} (of type {type(target).__name__})"
    )


def find_layers(model: Any, targets: Any) -> list[str]:
    """Resolves ``targets`` to the paths of existing layers, in graph order, no duplicates.

    Paths are those of `risk_widgets.walk.iter_layers` (docs/architecture.md "Paths"):
    leaves and containers (groups) both have one.

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

    Returns:
        The matching paths in graph order (the order of `iter_layers`), each once.

    Raises:
        ValueError: a path that does not exist, a glob, class or predicate that matches
            nothing, or an empty list; the message names it, lists close matches and says
            how to list every path.
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
        >>> find_layers(model, "inner/dens")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: No layer at path 'inner/dens' in model 'm'. Close matches: 'inner/dense'...
    """
    refs = list(iter_layers(model))
    paths = [ref.path for ref in refs]
    index = {p: i for i, p in enumerate(paths)}
    found = _resolve(model, targets, refs, paths, index)
    return sorted(found, key=index.__getitem__)

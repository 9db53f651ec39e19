"""Resolving targets (paths, globs, lists, classes, predicates) to layer paths.

Example:
    >>> import keras
    >>> from risk_widgets.core.targets import find_layers
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

from collections.abc import Callable
from typing import Any

from risk_widgets.core.target_explain import (
    BlockCoverage,
    RuleMatch,
    TargetExplanation,
    TargetWarning,
    explain_targets,
    user_stacklevel,
    warn_partial_targets,
)
from risk_widgets.core.target_match import TargetWords, expand_groups, resolve
from risk_widgets.core.walk import iter_layers

__all__ = [
    "BlockCoverage", "RuleMatch", "TargetExplanation", "TargetWarning", "find_layers",
    "user_stacklevel", "warn_partial_targets",
]


def find_layers(
    model: Any,
    targets: Any,
    *,
    leaves: bool | Callable[[Any], bool] = False,
    patch: str | None = None,
    explain: bool = False,
) -> Any:
    """Resolves ``targets`` to the paths of existing layers, in graph order, no duplicates.

    Paths are those of `risk_widgets.core.walk.iter_layers` (docs/architecture.md "Paths"):
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
        >>> from risk_widgets.core.targets import find_layers
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
    words = TargetWords(model, patch)
    if explain:
        return explain_targets(model, targets, leaves, words)
    refs = list(iter_layers(model))
    paths = [ref.path for ref in refs]
    index = {p: i for i, p in enumerate(paths)}
    found = resolve(targets, refs, paths, index, words, see_through=leaves is not False)
    if leaves is not False:
        found = expand_groups(found, refs, words, leaves)
    return sorted(found, key=index.__getitem__)

"""How risk wrappers compose: the member layout, the law of total variance, and the rebuild.

**Members.** A risk model runs ``M`` members at once, ``M`` the product of the member counts
of every wrapper applied (voters × samples × ...). The input batch is repeated example-major
(``ops.repeat(x, M, axis=0)``), so row ``r`` holds example ``r // M`` for member ``r % M``, and
the body runs **once** on the ``B·M`` rows. The member index is a mixed-radix number: each
wrapper owns one digit, the first applied the least significant (``stride`` = the product of
the member counts applied before it). A vote layer with ``n`` voters and stride ``s`` reshapes
its input to ``(-1, n, s, ...)`` and gives slice ``[:, k]`` to voter ``k``; its config never
changes when more wrappers are composed around it, every combination of digits is a member,
and a whole-model vote (every weighted layer voted with one stride) gives member ``k`` an
independent copy of the whole network. Dropout draws a fresh mask for each row, so it needs
no digit bookkeeping at all.

**Reduction.** Rows are reshaped to ``(B, M, ...)``; the prediction is the mean of member
means and the variance follows the law of total variance: the mean of member variances
(sculpt's predicted variance, 0 without sculpt) plus the variance of member means.

**Rebuild.** :func:`rebuild` is the one place that inserts risk layers into a model: one
:func:`risk_widgets.engine.rewiring.rewire` call in which every layer with weights becomes a new
object holding a copy of the original's weights, and the targeted layers are swapped for
what ``replace`` returns. Risk models therefore own their base weights (weightless layers are
shared): training one never touches the user's model. Targets can sit inside nested models,
CompositeLayers and opaque layers.

Example:
    >>> import numpy as np
    >>> from risk_widgets.risk.compose import total_variance_np
    >>> mean, var = total_variance_np(np.array([[1.0, 3.0]]), np.array([[1.0, 1.0]]))
    >>> float(mean[0]), float(var[0])
    (2.0, 2.0)
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from risk_widgets.core.params import PARAMS

__all__ = [
    "capture_outputs",
    "check_finite",
    "copy_layer",
    "gaussian_nll_terms",
    "leaf_layers",
    "Sites",
    "rebuild",
    "report_output",
    "split_members",
    "tile_members",
    "total_variance",
    "total_variance_np",
    "unwrap",
]


# --- member layout and the law of total variance ------------------------------------------


def tile_members(x: Any, members: int) -> Any:
    """Repeats every example ``members`` times, example-major (row r = example r // M)."""
    from keras import ops, tree

    if members == 1:
        return x
    return tree.map_structure(lambda t: ops.repeat(t, members, axis=0), x)


def trailing_dims(t: Any) -> tuple:
    """``t``'s shape after the batch axis: static ints where known, dynamic where not (static
    shapes keep reshapes constant, which TF's graph optimiser handles best)."""
    from keras import ops

    static = tuple(t.shape[1:])
    if all(d is not None for d in static):
        return static
    dynamic = ops.shape(t)
    return tuple(d if d is not None else dynamic[i + 1] for i, d in enumerate(static))


def split_members(t: Any, members: int) -> Any:
    """``(B·M, ...)`` rows -> ``(B, M, ...)``."""
    from keras import ops

    return ops.reshape(t, (-1, members, *trailing_dims(t)))


def total_variance(means: Any, variances: Any | None, members: int) -> tuple[Any, Any]:
    """Mean and variance over the member axis of ``(B·M, ...)`` member outputs.

    ``mean = E[mu_m]``; ``var = E[var_m] + Var[mu_m]`` (population variance over members).
    """
    from keras import ops

    mu = split_members(means, members)
    mean = ops.mean(mu, axis=1)
    var = ops.mean(ops.square(mu - ops.expand_dims(mean, 1)), axis=1)
    if variances is not None:
        var = var + ops.mean(split_members(variances, members), axis=1)
    return mean, var


def gaussian_nll_terms(y: Any, mean: Any, var: Any) -> Any:
    """The Gaussian negative log-likelihood of every element: ``0.5 (log(2 pi var) + (y -
    mean)^2 / var)`` (broadcast; ``var`` > 0)."""
    import math

    from keras import ops

    return 0.5 * (ops.log(2.0 * math.pi * var) + ops.square(y - mean) / var)


def total_variance_np(means: np.ndarray, variances: np.ndarray | None = None, axis: int = -1):
    """NumPy version over ``axis`` (the member axis): ``(mean, var)``."""
    mean = np.mean(means, axis=axis)
    var = np.var(means, axis=axis)
    if variances is not None:
        var = var + np.mean(variances, axis=axis)
    return mean, var


# --- watching risk layers at any depth -------------------------------------------------

_CAPTURE = "_rw_capture"  # on a risk layer while watched: the list its outputs go to


def report_output(layer: Any, outputs: Any) -> Any:
    """Called by a risk layer on what its ``call`` returns; records the first output tensor
    while :func:`capture_outputs` watches the layer. Returns ``outputs`` unchanged."""
    sink = getattr(layer, _CAPTURE, None)
    if sink is not None:
        from keras import tree

        sink.append(tree.flatten(outputs)[0])
    return outputs


@contextlib.contextmanager
def capture_outputs(layers: Sequence[Any]):
    """Within the block, every call of one of ``layers`` (risk layers) records its output.

    Yields ``{id(layer): [output, ...]}``, one entry per call in call order. This reaches
    layers at any depth (inside CompositeLayers and opaque layers such as
    `MultiHeadAttention`, whose inside is no graph to probe). Meant for eager calls.
    """
    sinks: dict[int, list[Any]] = {}
    watched = []
    for layer in layers:
        if id(layer) not in sinks:
            sinks[id(layer)] = []
            watched.append(layer)
            object.__setattr__(layer, _CAPTURE, sinks[id(layer)])  # untracked by Keras
    try:
        yield sinks
    finally:
        for layer in watched:
            layer.__dict__.pop(_CAPTURE, None)


# --- walking and target resolution --------------------------------------------------------


def leaf_layers(model: Any) -> list[tuple[str, Any]]:
    """``[(path, layer)]`` of every leaf layer (risk and other patch layers are leaves), in
    graph order, as :func:`risk_widgets.core.walk.iter_layers` names them."""
    from risk_widgets.core.walk import iter_layers

    return [(ref.path, ref.layer) for ref in iter_layers(model) if ref.kind == "layer"]


def unwrap(layer: Any) -> Any:
    """The layer a risk layer wraps (voters[0] for a vote, the base for a sample), recursively."""
    inner = getattr(layer, "wrapped_layer", None)
    return layer if inner is None else unwrap(inner)


@dataclasses.dataclass(frozen=True)
class Sites:
    """Where a risk wrapper goes for given ``targets``: the one rule behind applying it
    (:meth:`choose`) and behind the graph's ``patchable`` for it (:meth:`offers`).

    Targets are resolved by :func:`risk_widgets.core.targets.find_layers`. A path written out
    (a leaf or a group) and a class or predicate keep its leaves mode: a leaf named by the
    targets must take the wrapper (``problem(layer)`` is None, otherwise a ValueError says
    why); a group named by the targets stands for the leaves inside it that ``in_group``
    accepts (each of which must have no problem), and must hold one. Matches of a class or
    predicate that cannot take the wrapper are skipped while another one can.

    A **glob** takes its outermost matches only: ``"*transformer_layer_1*"`` matches a block
    and every layer inside it, and stands for the block alone (the layers inside it are not
    taken a second time, on their own). With ``whole_groups`` (vote) such a group takes the
    wrapper whole: one wrapper around the block (one set of voters, each a fresh copy of
    the whole block). Without it (sample, whose dropout goes after layers, and the LoRA
    ensemble) the group stands for its ``in_group`` leaves, as if its path were written
    out. A group holding patch layers (an earlier wrapper, an adapter) is never wrapped
    whole, as re-creating it from its config would drop them: its leaves are taken. Matches
    that cannot take the wrapper (a weightless ``Softmax`` in the block, a group without a
    site) are skipped; a glob whose matches give no site is a ValueError naming the glob.
    A leaf inside a group wrapped whole, named by another target, is left to that group.

    Attributes:
        kind: the wrapper's kind, ``"vote"`` or ``"sample"`` (starts every error message).
        problem: ``problem(layer) -> str | None``: why the leaf ``layer`` cannot take the
            wrapper, worded to follow ``"<kind>: target '<path>' "``; None when it can.
        in_group: ``in_group(layer) -> bool``: whether a leaf inside a targeted group takes it.
        whole_groups: whether a group that a glob matches takes the wrapper whole (checked
            with ``problem``, as a leaf is).
    """

    kind: str
    problem: Callable[[Any], str | None]
    in_group: Callable[[Any], bool]
    whole_groups: bool = False

    def choose(self, model: Any, targets: Any) -> list[str]:
        """The paths of ``model`` that ``targets`` give this wrapper, in graph order: leaves,
        and with ``whole_groups`` the groups a glob matched."""
        from risk_widgets.core.targets import find_layers
        from risk_widgets.core.walk import iter_layers

        items = list(targets) if isinstance(targets, (list, tuple, set, frozenset)) else None
        refs = list(iter_layers(model))
        globs = [t for t in (items or [targets]) if _is_glob_target(t, refs)]
        if not globs:
            return self._choose_leaves(model, targets, refs)
        rest = [t for t in items or [] if not any(t is g for g in globs)]
        chosen = set(self._choose_leaves(model, rest, refs)) if rest else set()
        for glob in globs:
            chosen |= self._choose_by_glob(model, glob, refs, find_layers)
        whole = [p for p in chosen if _is_group(p, refs)]
        chosen = {p for p in chosen if not any(p.startswith(f"{g}/") for g in whole)}
        order = {ref.path: i for i, ref in enumerate(refs)}
        return sorted(chosen, key=order.__getitem__)

    def _choose_leaves(self, model: Any, targets: Any, refs: list) -> list[str]:
        """Paths, classes and predicates: the leaves they give this wrapper."""
        from risk_widgets.core.targets import find_layers

        paths = find_layers(model, targets, leaves=self.in_group, patch=self.kind)
        layers = {ref.path: ref.layer for ref in refs}
        named = _named_paths(targets)
        chosen, first_problem = [], None
        for path in paths:
            problem = self.problem(layers[path])
            if not problem:
                chosen.append(path)
                continue
            first_problem = first_problem or f"{self.kind}: target {path!r} {problem}"
            if path in named:  # a path the user wrote out: say why it cannot take it
                raise ValueError(first_problem)
        # a class or predicate also matching leaves that cannot take the wrapper wraps the
        # ones that can
        if not chosen and first_problem:
            raise ValueError(first_problem)
        return chosen

    def _choose_by_glob(self, model: Any, glob: str, refs: list, find_layers: Any) -> set[str]:
        """A glob's outermost matches: the sites they give (see the class docstring)."""
        from risk_widgets.core.walk import is_patch_layer

        matches = find_layers(model, glob, patch=self.kind)  # raises when it matches nothing
        outer = [p for p in matches if not any(p.startswith(f"{q}/") for q in matches)]
        layers = {ref.path: ref.layer for ref in refs}
        chosen: set[str] = set()
        skipped: list[str] = []
        for path in outer:
            layer = layers[path]
            group = _is_group(path, refs)
            inside = [r for r in refs if r.kind == "layer" and r.path.startswith(f"{path}/")
                      ] if group else []
            # a leaf, or a group this kind takes whole (one holding a patch gives its layers)
            if not group or (self.whole_groups and not any(is_patch_layer(r.layer)
                                                           for r in inside)):
                problem = self.problem(layer)
                if problem:
                    skipped.append(f"{path!r} {problem}")
                else:
                    chosen.add(path)
                continue
            sites = {r.path for r in inside if self.in_group(r.layer) and not self.problem(r.layer)}
            if not sites:
                skipped.append(
                    f"{path!r} holds no layer that {self.kind} applies to. Target another "
                    "layer or group; list every path with `risk_widgets.find_layers(model, '*')`."
                )
            chosen |= sites
        if not chosen:
            shown = ", ".join(map(repr, outer[:5])) + (", ..." if len(outer) > 5 else "")
            raise ValueError(
                f"{self.kind}: target {glob!r} matches no layer that {self.kind} applies to "
                f"(it matches {shown}): {skipped[0]}"
            )
        return chosen

    def offers(self, layer: Any) -> bool:
        """Whether :meth:`choose` accepts the path of ``layer`` (a leaf or a group)."""
        from risk_widgets.core.walk import children, iter_layers

        if not children(layer):
            return self.problem(layer) is None
        return any(self.in_group(ref.layer) for ref in iter_layers(layer) if ref.kind == "layer")


def _is_glob_target(target: Any, refs: list) -> bool:
    """Whether ``target`` is a glob (a string with ``*?[`` that is not itself a path)."""
    from risk_widgets.core.target_match import is_glob

    return (isinstance(target, str) and is_glob(target)
            and not any(ref.path == target for ref in refs))


def _is_group(path: str, refs: list) -> bool:
    return any(ref.kind == "group" for ref in refs if ref.path == path)


def _named_paths(targets: Any) -> set[str]:
    """The targets written out as plain paths (no glob characters)."""
    items = targets if isinstance(targets, (list, tuple, set)) else [targets]
    return {t for t in items if isinstance(t, str) and not any(c in t for c in "*?[")}


# --- copying and the rebuild --------------------------------------------------------------


def copy_layer(layer: Any, name: str | None = None, fresh: bool = False) -> Any:
    """A new layer object from ``layer``'s config (weights not copied; see :func:`rebuild`).

    ``fresh=True`` clears the seeds of initialisers so that copies are drawn independently.
    """
    structural = getattr(layer, "copy_layer", None)
    if structural is not None:  # risk layers copy their sub-layers without the registry
        return structural(name=name, fresh=fresh)
    try:
        config = layer.get_config()
        if fresh:
            config = _clear_seeds(config)
        if name is not None:
            config["name"] = name
        return layer.__class__.from_config(config)
    except (NotImplementedError, TypeError, ValueError, AttributeError):
        if fresh or name is not None:
            raise
        # a layer that does not re-create from its config (KerasHub's RMSNormalization):
        # a structural copy owning new variables (the caller sets them from ``layer``)
        from risk_widgets.core.layer_copy import independent_copy

        return independent_copy(layer)


def _clear_seeds(config: Any) -> Any:
    if isinstance(config, dict):
        out = {}
        for key, value in config.items():
            if (
                key.endswith("initializer")
                and isinstance(value, dict)
                and isinstance(value.get("config"), dict)
                and value["config"].get("seed") is not None
            ):
                value = {**value, "config": {**value["config"], "seed": None}}
            out[key] = _clear_seeds(value)
        return out
    if isinstance(config, list):
        return [_clear_seeds(v) for v in config]
    return config


Replace = Callable[[Any, str, Callable[[Any], Any]], Any]


def rebuild(model: Any, replacements: dict[str, Replace]) -> Any:
    """A copy of ``model`` with every weighted layer copied and targeted layers replaced.

    ``replacements`` maps a path to ``replace(layer, path, copy) -> Layer``; ``copy(layer)``
    returns a copy of ``layer`` whose weights are set from ``layer`` once it is built. Every
    other layer with weights is copied the same way (the risk model owns its weights);
    weightless layers (activations, ``Add``, ...) are shared. The walk-and-swap is
    :func:`risk_widgets.engine.rewiring.rewire`, so paths can sit inside nested models,
    CompositeLayers and opaque layers (also layers patched there by an earlier wrapper).
    The input model is not modified.
    """
    from risk_widgets.engine.rewiring import rewire

    pairs: list[tuple[Any, Any]] = []

    def copy(layer: Any) -> Any:
        new = copy_layer(layer)
        pairs.append((layer, new))
        return new

    def replace(layer: Any, path: str) -> Any:
        if path in replacements:
            return replacements[path](layer, path, copy)
        return copy(layer)

    weighted = [
        p
        for p, layer in leaf_layers(model)
        if getattr(layer, "weights", None) and not any(p.startswith(f"{r}/") for r in replacements)
    ]  # a replaced group (an RNN layer) brings its own layers along
    targets = list(dict.fromkeys([*weighted, *replacements]))
    if not targets:
        raise ValueError(f"Model {model.name!r} has no layer with weights to wrap.")
    new_model = rewire(model, targets, replace, freeze_base=False)
    for old, new in pairs:
        new.set_weights(old.get_weights())
    return new_model


def model_io(model: Any) -> tuple[Any, list[Any]]:
    """``(input structure, flat output list)`` of a built Functional or Sequential model."""
    from risk_widgets.core.keras_internals import inputs_struct

    struct = inputs_struct(model)
    if struct is None:
        struct = model.inputs[0] if len(model.inputs) == 1 else list(model.inputs)
    return struct, list(model.outputs)


def check_member_count(name: str, value: Any, reason: str) -> int:
    """``value`` if it is an integer >= 2 (members to take a std over) within the limits of
    `risk_widgets.core.params.PARAMS` (the editor's), else a ValueError."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 2:
        raise ValueError(
            f"Received an invalid value for `{name}`, expected an integer >= 2 ({reason}). "
            f"Received: {name}={value!r}"
        )
    return PARAMS[name].check(value)


def check_finite(data: Any, name: str, method: str) -> None:
    """Raises a ValueError if NumPy data (any nesting) holds NaN or infinity."""
    from keras import tree

    if data is None or not isinstance(data, (np.ndarray, list, tuple, dict)):
        return
    try:
        leaves = tree.flatten(data)
    except Exception:  # pragma: no cover - unusual containers are left to Keras
        return
    for leaf in leaves:
        if isinstance(leaf, np.ndarray) and leaf.dtype.kind == "f":
            bad = ~np.isfinite(leaf)
            if bad.any():
                rows = np.unique(np.nonzero(bad)[0])[:5].tolist() if leaf.ndim else []
                raise ValueError(
                    f"{method}(): `{name}` contains {int(bad.sum())} NaN/infinite value(s) "
                    f"(rows {rows}{'...' if bad.sum() > 5 else ''}). Drop or impute them first, "
                    f"e.g. keep = np.isfinite({name}).all(axis=1)."
                )

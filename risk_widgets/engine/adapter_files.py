"""Adapter files: `save_adapters` / `load_adapters` (only the patch weights, keyed by path).

The file format and an example are in `save_adapters`; how a file's paths are matched to a
model's (another build of the same architecture, a task and its backbone) in
`load_adapters`.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

import keras
import numpy as np

from risk_widgets.core.walk import is_patch_layer, iter_layers
from risk_widgets.engine.operations import (
    adapter_weights,
    check_model,
    check_names,
    named_adapters,
    patch_layers,
)

__all__ = ["load_adapters", "portable_paths", "save_adapters"]


def _base_kernel_shape(layer) -> tuple | None:
    """The shape of the kernel an adapter patches (None for other patch layers)."""
    kernel = getattr(getattr(layer, "layer", None), "kernel", None)
    return None if kernel is None else tuple(int(d) for d in kernel.shape)


def _prefix(path: str, name: str | None, n_named: int) -> str:
    """The key prefix of one adapter: the path, plus its name when its layer holds several."""
    return path if name is None or n_named == 1 else f"{path}::{name}"


#: the kind recorded for a layer that trains whole (`PatchedModel.trained_layers`)
_FULL = "full"


def _trained_layers(model) -> dict[str, Any]:
    """``{path: layer}`` of the layers ``model`` trains whole (``train=`` heads, your own
    replacement layers), each at its first path, with no variable shared with the model
    it was patched from (a layer keeping shared weights is not saved)."""
    whole = getattr(model, "trained_layers", None)
    layers = {id(layer) for layer in whole()} if callable(whole) else set()
    shared = {id(v) for v in model.shared_variables()} if layers else set()
    found = {}
    for ref in iter_layers(model):
        if id(ref.layer) in layers and not any(id(v) in shared for v in ref.layer.weights):
            layers.discard(id(ref.layer))
            found[ref.path] = ref.layer
    return found


def _layers(model) -> dict[str, Any]:
    """Every layer a file holds weights of: patch layers, then layers trained whole."""
    return {**patch_layers(model), **_trained_layers(model)}


def _unit_weights(unit) -> list:
    """What the file holds for one unit: an adapter's own weights, a trained layer's all
    (a BatchNormalization's moving statistics too)."""
    return list(unit.weights) if _is_full(unit) else adapter_weights(unit)


def _is_full(unit) -> bool:
    return not is_patch_layer(unit) and not hasattr(unit, "adapter_name")


def _model_units(model, names) -> dict[str, dict[str, Any]]:
    """``{path: {adapter name or None: layer}}`` of the patches to save or load, and of the
    layers trained whole (``train=``) when all are asked for."""
    units: dict[str, dict[str, Any]] = {}
    if names is None:
        units.update({path: {None: layer} for path, layer in _trained_layers(model).items()})
    for path, layer in patch_layers(model).items():
        members = named_adapters(layer)
        if members:
            chosen = {
                a.adapter_name: a for a in members if names is None or a.adapter_name in names
            }
            if chosen:
                units[path] = chosen
        elif names is None:  # a patch without names (e.g. your own PatchLayer)
            units[path] = {None: layer}
    return units


# ----------------------------------------------------------------------------- portable paths
#
# A layer's path names each container on the way. Keras numbers the names of models it
# builds (``gpt2_backbone``, ``gpt2_backbone_1``, ...), so the path of a layer inside a
# task's backbone differs between two builds of one task. Files keep paths relative to the
# model with such numbers dropped from nested models' names, and loading matches a file's
# paths to a model's as exactly as it can (`_match`).

_NUMBERED = re.compile(r"^(?P<base>.+)_(?P<n>\d+)$")


def portable_paths(model, paths) -> dict[str, str]:
    """``{path: portable path}``: each ``path`` of ``model`` with the Keras number dropped
    from the name of every nested model on the way (``"gpt2_backbone_1/x"`` ->
    ``"gpt2_backbone/x"``); a name stays whole where dropping its number would make it
    equal to a sibling's.

    Example:
        >>> import keras
        >>> from risk_widgets.engine.adapter_files import portable_paths
        >>> x = keras.Input((4,))
        >>> inner = keras.Sequential([keras.layers.Dense(2, name="d")], name="block_7")
        >>> model = keras.Model(x, inner(x))
        >>> portable_paths(model, ["block_7/d"])
        {'block_7/d': 'block/d'}
    """
    renamed: dict[str, str] = {}  # path of a nested model -> its portable name
    siblings: dict[str | None, list[str]] = {}
    models = []
    for ref in iter_layers(model):
        siblings.setdefault(ref.parent, []).append(ref.path.rsplit("/", 1)[-1])
        if isinstance(ref.layer, keras.Model):
            models.append(ref)
    for ref in models:
        name = ref.path.rsplit("/", 1)[-1]
        numbered = _NUMBERED.match(name)
        if numbered is None:
            continue
        base = numbered["base"]
        others = [n for n in siblings.get(ref.parent, []) if n != name]
        if not any(_base_name(n) == base for n in others):
            renamed[ref.path] = base
    out = {}
    for path in paths:
        parts = path.split("/")
        out[path] = "/".join(
            renamed.get("/".join(parts[: i + 1]), part) for i, part in enumerate(parts)
        )
    return out


def _base_name(name: str) -> str:
    numbered = _NUMBERED.match(name)
    return name if numbered is None else numbered["base"]


def _strip(path: str, n: int) -> str | None:
    parts = path.split("/")
    return "/".join(parts[n:]) if len(parts) > n else None


def _numbering_dropped(path: str, n: int) -> list[str]:
    """The first ``n`` components of ``path``, each without Keras' number."""
    return [_base_name(part) for part in path.split("/")[:n]]


def _common_depth(paths) -> int:
    """How many leading components all ``paths`` share, each leaving at least one."""
    split = [p.split("/") for p in paths]
    depth = 0
    while all(len(s) > depth + 1 for s in split) and len({s[depth] for s in split}) == 1:
        depth += 1
    return depth


def _by_prefix(saved, model_paths) -> list[dict[str, str]]:
    """The bijections ``{saved path: model path}`` that drop a leading run of components
    shared by all paths on one side (``"gpt2_backbone/x"`` <-> ``"x"``), or on both sides
    where the two runs differ only in Keras' numbering (``"gpt2_backbone_1/x"`` <->
    ``"gpt2_backbone_2/x"``)."""
    found = []
    for i in range(_common_depth(saved) + 1):
        for j in range(_common_depth(model_paths) + 1):
            if i == j == 0:
                continue
            if i and j and _numbering_dropped(saved[0], i) != _numbering_dropped(
                model_paths[0], j
            ):
                continue  # "encoder/x" is not "decoder/x"
            rest_saved = {_strip(p, i): p for p in saved}
            rest_model = {_strip(p, j): p for p in model_paths}
            if set(rest_saved) == set(rest_model) and len(rest_saved) == len(saved):
                mapping = {rest_saved[r]: rest_model[r] for r in rest_saved}
                if mapping not in found:
                    found.append(mapping)
    return found


def _match(saved, model, paths, file) -> dict[str, str]:
    """``{file path: model path}`` for the patched ``paths`` of ``model``: the same paths,
    else the same portable paths, else the same paths after dropping a leading run of
    components shared by every path of one side or both (a task's backbone prefix),
    when that is unambiguous. Raises a ValueError listing what matched nothing."""
    saved, paths = list(saved), list(paths)
    portable = portable_paths(model, paths)
    back = {v: k for k, v in portable.items()}
    if set(saved) == set(paths):
        return {p: p for p in saved}
    if set(saved) == set(back) and len(back) == len(paths):
        return {p: back[p] for p in saved}
    if len(saved) == len(paths) and len(back) == len(paths):
        mappings = _by_prefix(saved, list(back))
        if len(mappings) == 1:
            return {s: back[m] for s, m in mappings[0].items()}
        if len(mappings) > 1:  # pragma: no cover - needs two different common prefixes
            raise ValueError(
                f"The paths in {file!r} match model {model.name!r} in several ways after "
                f"dropping leading components ({mappings}). Patch a model whose paths are "
                "those of the file, or load into the backbone the file was saved from."
            )
    extra = sorted(set(saved) - set(back) - set(paths))
    missing = sorted(set(back) - set(saved))
    raise ValueError(
        f"The adapters in {file!r} are for paths {sorted(saved)}, but model {model.name!r} "
        f"is patched at {sorted(back)}: in the file only: {extra or 'none'}; in the model "
        f"only: {missing or 'none'}. Patch the model the same way (same targets and kinds) "
        "before loading; a task's file loads into its backbone and back when all other "
        "paths agree."
    )


def save_adapters(model, path: str | os.PathLike, names: Any = None) -> str:
    """Saves only the adapter weights of ``model`` to an ``.npz`` file keyed by path.

    Keys are ``"<layer path>::<weight name>"``, and ``"<layer path>::<adapter
    name>::<weight name>"`` on a layer that holds several adapters; ``"__patches__"``
    holds, per path, the patch's ``patch_info()`` and its kernel shape, and for adapters
    ``"adapters"``: each one's kind, name, params and active state, as JSON. Base weights
    are not saved. ``names`` (an adapter name, a list, or None = all) saves only those
    adapters. A layer the model trains whole (``train=``: a classifier's head, PEFT's
    ``modules_to_save``) is saved with all its weights, keyed ``"<path>::<i>:<weight
    name>"`` (its weights in order: names can repeat) and recorded as kind ``"full"``,
    when all adapters are saved.

    The layer path is relative to ``model`` (never its own name) and **portable**: the
    number Keras appends to the name of a nested model is dropped (a task's backbone
    ``gpt2_backbone_1`` is written ``gpt2_backbone``), so the file loads into every build
    of the same architecture (`portable_paths`; a name stays whole where dropping the
    number would make it equal to a sibling's). A patched backbone's keys start at its
    blocks (``"transformer_layer_0/self_attention/query::lora_a"``), a patched task's
    at its backbone (``"gpt2_backbone/transformer_layer_0/self_attention/query::lora_a"``);
    `load_adapters` loads either into the other.

    Example:
        >>> import keras, tempfile, os
        >>> import risk_widgets as rw
        >>> inputs = keras.Input((4,))
        >>> model = keras.Model(inputs, keras.layers.Dense(2, name="head")(inputs))
        >>> lora = rw.add_lora(model, "head", rank=1)
        >>> file = rw.save_adapters(lora, os.path.join(tempfile.mkdtemp(), "a.npz"))
        >>> rw.load_adapters(rw.add_lora(model, "head", rank=1), file)
        ['head']
        >>> both = rw.add_lora(lora, "head", rank=2, name="b")
        >>> file = rw.save_adapters(both, os.path.join(tempfile.mkdtemp(), "b.npz"), names="b")
        >>> rw.load_adapters(rw.add_lora(lora, "head", rank=2, name="b"), file, names="b")
        ['head']
    """
    check_model(model, "save_adapters()")
    path = os.fspath(path)
    if not path.endswith(".npz"):
        raise ValueError(f"Adapter files end with '.npz'. Received: {path!r}")
    if not _layers(model):
        raise ValueError(
            f"Model {model.name!r} has no patch layers: nothing to save. Patch it first "
            "(rw.add_lora / rw.add_svf), or save the whole model with model.save('m.keras')."
        )
    wanted = check_names(model, names, "save_adapters()")
    arrays, info = {}, {}
    units = _model_units(model, wanted)
    keys = portable_paths(model, units)
    every = _layers(model)
    for path_in_model, chosen in units.items():
        layer = every[path_in_model]
        where = keys[path_in_model]
        if _is_full(layer):  # a layer that trains whole: all its weights (PEFT's
            info[where] = {"kind": _FULL}  # modules_to_save)
        else:
            info[where] = dict(layer.patch_info()) if hasattr(layer, "patch_info") else {}
        info[where].pop("patches", None)
        base_shape = _base_kernel_shape(layer)
        if base_shape is not None:  # checked by load_adapters: same-sized z fits any base
            info[where]["base_shape"] = list(base_shape)
        if None not in chosen:
            info[where]["adapters"] = [
                {
                    "name": name,
                    "kind": a.patch_info().get("kind"),
                    "params": dict(a.patch_info().get("params", {})),
                    "active": bool(a.active),
                }
                for name, a in chosen.items()
            ]
        for name, unit in chosen.items():
            prefix = _prefix(where, name, len(chosen))
            for i, v in enumerate(_unit_weights(unit)):  # a layer's weight names can repeat
                key = f"{prefix}::{v.name}" if not _is_full(unit) else f"{prefix}::{i}:{v.name}"
                arrays[key] = keras.ops.convert_to_numpy(v)
    arrays["__patches__"] = np.array(json.dumps(info))
    np.savez(path, **arrays)
    return path


def _file_units(info: dict, names) -> dict[str, dict[str | None, dict]]:
    """``{path: {adapter name or None: entry}}`` as recorded in a file (None: no names)."""
    units: dict[str, dict[str | None, dict]] = {}
    for where, entry in info.items():
        if "adapters" in entry:
            chosen = {
                a["name"]: a for a in entry["adapters"] if names is None or a["name"] in names
            }
            if chosen:
                units[where] = chosen
        elif names is None:  # one unnamed patch (also every file from before adapter names)
            units[where] = {None: entry}
    return units


def _read(path: str) -> dict:
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"No adapter file at {path!r}. Write one with rw.save_adapters(patched, {path!r}) "
            "or check the path."
        )
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except Exception as err:  # truncated, not a zip, pickled, a bare .npy: not our file
        raise ValueError(
            f"Cannot read adapters from {path!r}: it is not a complete .npz file written by "
            f"rw.save_adapters ({type(err).__name__}: {err}). Save the adapters again with "
            "rw.save_adapters(patched, path)."
        ) from None


def load_adapters(model, path: str | os.PathLike, names: Any = None) -> list[str]:
    """Loads adapter weights saved by `save_adapters` into ``model`` (patched alike).

    Everything is checked first (same patched paths, adapter names, kinds, weight names
    and shapes); on a mismatch a ValueError names it and no weight is changed. Each
    adapter's active state is restored too. ``names`` (an adapter name, a list, or None =
    all in the file) loads only those adapters; the model must hold them under the same
    names on the same paths.

    The file's paths are matched to the model's patched paths, first that works:

    1. the same paths;
    2. the same portable paths (`portable_paths`: another build of the model, whose nested
       models Keras numbered differently);
    3. the same paths once a leading run of components shared by *every* path of the file
       or of the model is dropped, when exactly one way does it: a task's file
       (``gpt2_backbone/transformer_layer_0/...``) into its patched backbone
       (``transformer_layer_0/...``) and back; or of both, where the two runs differ
       only in Keras' numbering: a file saved with an older release (keys
       ``gpt2_backbone_1/...``) into a task built again (``gpt2_backbone_2/...``). A run
       named otherwise (``encoder/...`` vs ``decoder/...``) never matches.

    Otherwise the ValueError lists the paths found only in the file and only in the model.

    Returns:
        The patched paths of ``model`` that were loaded.

    Example:
        >>> import keras, tempfile, os
        >>> import risk_widgets as rw
        >>> def task():
        ...     x = keras.Input((4,))
        ...     inner = keras.Sequential([keras.layers.Dense(2, name="d")])
        ...     return keras.Model(x, inner(x)), inner
        >>> (first, _), (second, inner) = task(), task()
        >>> file = rw.save_adapters(rw.add_lora(first, "*/d", rank=1),
        ...                         os.path.join(tempfile.mkdtemp(), "a.npz"))
        >>> rw.load_adapters(rw.add_lora(inner, "d", rank=1), file)  # the inner model alone
        ['d']
    """
    check_model(model, "load_adapters()")
    path = os.fspath(path)
    arrays = _read(path)
    info = json.loads(str(arrays.pop("__patches__", np.array("{}"))))
    wanted = None
    if names is not None:
        wanted = check_names(model, names, "load_adapters()")
        in_file = {a["name"] for e in info.values() for a in e.get("adapters", [])}
        missing = sorted(wanted - in_file)
        if missing:
            raise ValueError(
                f"{path!r} holds no adapter named {', '.join(map(repr, missing))}; it holds "
                f"{', '.join(map(repr, sorted(in_file))) or 'no named adapters'}. Save them "
                "with rw.save_adapters(model, path, names=...) first."
            )
    saved = _file_units(info, wanted)
    units = _model_units(model, wanted)
    file_path_of = {m: f for f, m in _match(saved, model, units, path).items()}
    plan, gates = [], []
    every = _layers(model)
    for path_in_model, chosen in units.items():
        where = file_path_of[path_in_model]
        entries = saved[where]
        if list(entries) == [None] and len(chosen) == 1:  # a file without adapter names
            entries = {next(iter(chosen)): entries[None]}
        if sorted(entries, key=str) != sorted(chosen, key=str):
            raise ValueError(
                f"{where!r} holds the adapters {sorted(entries, key=str)} in {path!r} but "
                f"{sorted(chosen, key=str)} in model {model.name!r}. Stack the same adapters "
                "with the same names (rw.add_lora(..., name=...)) before loading, or load "
                "some of them with names=[...]."
            )
        layer = every[path_in_model]
        saved_shape = info[where].get("base_shape")
        base_shape = _base_kernel_shape(layer)
        if saved_shape is not None and base_shape is not None and (
            tuple(saved_shape) != tuple(base_shape)
        ):
            raise ValueError(
                f"The adapters for {where!r} in {path!r} were saved on a kernel of shape "
                f"{tuple(saved_shape)}, but the layer patched there in model {model.name!r} has "
                f"a kernel of shape {tuple(base_shape)}. Load them into a model of the same "
                "architecture as the one they were saved from."
            )
        n_saved = len(info[where].get("adapters", [None]))
        for name, unit in chosen.items():
            entry = entries[name]
            if _is_full(unit):
                kind = _FULL
            else:
                kind = unit.patch_info().get("kind") if hasattr(unit, "patch_info") else None
            if entry.get("kind") != kind:
                raise ValueError(
                    f"{where!r} holds a {entry.get('kind')!r} patch in the file but a "
                    f"{kind!r} patch in the model. Patch the model the same way (same targets "
                    "and kinds) before loading."
                )
            prefix = _prefix(where, entry.get("name"), n_saved)
            for i, v in enumerate(_unit_weights(unit)):
                key = f"{prefix}::{v.name}" if kind != _FULL else f"{prefix}::{i}:{v.name}"
                if key not in arrays:
                    raise ValueError(f"{path!r} has no weight {key!r}.")
                if tuple(arrays[key].shape) != tuple(v.shape):
                    raise ValueError(
                        f"Weight {key!r} has shape {tuple(arrays[key].shape)} in the file but "
                        f"{tuple(v.shape)} in the model (a different rank?). Patch the model "
                        "with the same kind, rank and targets as the one the adapters were "
                        "saved from."
                    )
                plan.append((v, arrays[key]))
            if "active" in entry:
                gates.append((unit, bool(entry["active"])))
    for v, value in plan:
        v.assign(value)
    for unit, active in gates:
        unit.active = active
    return list(units)

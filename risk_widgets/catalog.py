"""The patch kinds the editor offers, their parameters, and how each is applied.

One entry per kind; the editor, the widget's toolbar (through the ``catalog`` trait) and the
parameter validation all read this table, so a new kind is added here and nowhere else.
A kind's parameters are specs from :data:`risk_widgets.params.PARAMS` (one table of types,
defaults and limits, which ``add_lora`` checks its arguments against too).

Example:
    >>> from risk_widgets.catalog import CATALOG, validate_params
    >>> sorted(CATALOG)
    ['lora', 'lora_ensemble', 'sample', 'sculpt', 'svf', 'vote']
    >>> validate_params("lora", {"rank": "4"})
    {'rank': 4, 'alpha': None, 'dropout': 0.0}
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from risk_widgets.params import PARAMS, ParamSpec


@dataclasses.dataclass(frozen=True)
class PatchKind:
    """A patch the editor can apply: LoRA, SVF or a risk wrapper."""

    name: str
    label: str
    targets: str  # "layers": needs a selection; "model": selection optional or unused
    params: tuple[ParamSpec, ...]
    apply: Callable[..., Any]  # apply(model, targets: list[str] | None, **params) -> model
    help: str = ""
    uses_selection: bool = True  # False: the patch ignores the selection (a model-wide head)
    #: how `editor.export_code` writes this patch: a template of the expression (``{targets}``:
    #: the paths or None, ``{params}``: ``name=value, ...``) or ``code(targets, params) -> str``
    code: str | Callable[[list[str] | None, dict[str, Any]], str] | None = None

    def to_json(self) -> dict:
        return {
            "label": self.label,
            "targets": self.targets,
            "help": self.help,
            "params": [p.to_json() for p in self.params],
        }


def _apply_lora(model, targets, **params):
    from risk_widgets.adapters.lora import add_lora

    return add_lora(model, targets=targets, **params)


def _apply_svf(model, targets, **params):
    from risk_widgets.adapters.svf import add_svf

    return add_svf(model, targets=targets)


def _apply_sample(model, targets, **params):
    from risk_widgets.risk import sample

    return sample.Wrapper(**params)(model, targets=targets or None)


def _apply_vote(model, targets, **params):
    from risk_widgets.risk import vote

    return vote.Wrapper(**params)(model, targets=targets or None)


def _apply_lora_ensemble(model, targets, **params):
    from risk_widgets.risk import lora_ensemble

    return lora_ensemble.Wrapper(**params)(model, targets=targets or None)


def _apply_sculpt(model, targets, **params):
    from risk_widgets.risk import sculpt

    return sculpt.Wrapper(**params)(model)


CATALOG: dict[str, PatchKind] = {
    "lora": PatchKind(
        "lora", "LoRA", "layers",
        (PARAMS["rank"], PARAMS["alpha"], PARAMS["dropout"]),
        _apply_lora,
        "Low-rank adapter: y = xW + (alpha/rank)·xAB; only A and B train.",
        code="rw.add_lora(model, targets={targets}, {params})",
    ),
    "svf": PatchKind(
        "svf", "SVF", "layers", (), _apply_svf,
        "Singular-value fine-tuning: W = U diag(s·z) Vᵀ; only z trains.",
        code="rw.add_svf(model, targets={targets})",
    ),
    "sample": PatchKind(
        "sample", "Sample (MC dropout)", "model",
        (PARAMS["n_samples"], PARAMS["rate"]),
        _apply_sample,
        "Monte-Carlo dropout after the selected layers (all Dense/Conv if none selected).",
        code="rw.risk.sample.Wrapper({params})(model, targets={targets})",
    ),
    "vote": PatchKind(
        "vote", "Vote (ensemble)", "model",
        (PARAMS["n_voters"],),
        _apply_vote,
        "Ensemble of independently initialised copies of the selected layers"
        " (the whole model if none).",
        code="rw.risk.vote.Wrapper({params})(model, targets={targets})",
    ),
    "lora_ensemble": PatchKind(
        "lora_ensemble", "LoRA ensemble", "model",
        (PARAMS["n_members"], PARAMS["rank"]),
        _apply_lora_ensemble,
        "Vote over M LoRA adapters on one frozen base (the selected Dense layers, all if"
        " none); memory ≈ base + M adapters.",
        code="rw.risk.lora_ensemble.Wrapper({params})(model, targets={targets})",
    ),
    "sculpt": PatchKind(
        "sculpt", "Sculpt (variance head)", "model", (), _apply_sculpt,
        "A variance head trained with the Gaussian NLL; risk = predicted std.",
        uses_selection=False,
        code="rw.risk.sculpt.Wrapper({params})(model)",
    ),
}


def validate_params(kind: str, params: dict[str, Any] | None) -> dict[str, Any]:
    """Checks ``params`` for patch ``kind`` and returns them typed, with defaults filled in.

    Raises:
        ValueError: unknown kind, unknown parameter, or a value of the wrong type or range.
    """
    if kind not in CATALOG:
        raise ValueError(
            f"Unknown patch kind {kind!r}. Expected one of: {', '.join(sorted(CATALOG))}."
        )
    spec = CATALOG[kind]
    params = dict(params or {})
    known = {p.name for p in spec.params}
    unknown = sorted(set(params) - known)
    if unknown:
        allowed = ", ".join(sorted(known)) or "none"
        raise ValueError(f"{kind}: unknown parameter(s) {unknown}. Allowed: {allowed}.")
    return {p.name: p.coerce(kind, params.get(p.name, p.default)) for p in spec.params}


def catalog_json() -> dict[str, dict]:
    """The ``catalog`` trait: every patch kind with its label and parameters."""
    return {name: kind.to_json() for name, kind in CATALOG.items()}

"""The patch kinds the editor offers, their parameters, and how each is applied.

One entry per kind; the editor, the widget's toolbar (through the ``catalog`` trait) and the
parameter validation all read this table. Adapter kinds come from
``rw.register_adapter`` (`risk_widgets.adapters.kinds`, the built-in LoRA, DoRA and SVF too);
``full`` (train the selected layers whole, beside the adapters) and the risk kinds are
listed here.
A kind's parameters are specs from :data:`risk_widgets.core.params.PARAMS` (one table of types,
defaults and limits, which ``add_lora`` checks its arguments against too).

Example:
    >>> from risk_widgets.editor.catalog import CATALOG, validate_params
    >>> sorted(CATALOG)[:5]
    ['conformal', 'dora', 'full', 'laplace', 'laplace_diag']
    >>> validate_params("lora", {"rank": "4"})  # doctest: +NORMALIZE_WHITESPACE
    {'rank': 4, 'alpha': None, 'dropout': 0.0, 'use_rslora': False, 'init': 'he_uniform',
     'name': None}
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, MutableMapping
from typing import Any

from risk_widgets.core.params import PARAMS, ParamSpec


@dataclasses.dataclass(frozen=True)
class PatchKind:
    """A patch the editor can apply: LoRA, SVF or a risk wrapper."""

    name: str
    label: str
    targets: str  # "layers": needs a selection; "model": selection optional or unused
    # (lora / dora without a selection: `add_lora`'s default targets)
    params: tuple[ParamSpec, ...]
    apply: Callable[..., Any]  # apply(model, targets: list[str] | None, **params) -> model
    help: str = ""
    uses_selection: bool = True  # False: the patch ignores the selection (a model-wide head)
    #: how `editor.export_code` writes this patch: a template of the expression (``{targets}``:
    #: the paths or None, ``{params}``: ``name=value, ...``) or ``code(targets, params) -> str``
    code: str | Callable[[list[str] | None, dict[str, Any]], str] | None = None
    #: post-hoc kinds are fitted on held-out rows: the editor passes its sample data as
    #: ``apply(model, targets, data=(x, y), **params)`` (see `posthoc_data`)
    needs_data: bool = False

    def to_json(self) -> dict:
        return {
            "label": self.label,
            "targets": self.targets,
            "help": self.help,
            "params": [p.to_json() for p in self.params],
        }


def _apply_full(model, targets, **params):
    from risk_widgets.adapters.full import train_fully

    return train_fully(model, targets)


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


def posthoc_data(kind: str, data: Any) -> tuple[Any, Any]:
    """``(x_cal, y_cal)`` from the editor's sample data, or a ValueError with the way out.

    Example:
        >>> from risk_widgets.editor.catalog import posthoc_data
        >>> try:
        ...     posthoc_data("conformal", None)
        ... except ValueError as err:
        ...     print(str(err)[:68])
        conformal is calibrated on held-out data, and this editor has no sam
    """
    if data is None or data[1] is None:
        what = "no sample data" if data is None else "sample inputs but no targets"
        raise ValueError(
            f"{kind} is calibrated on held-out data, and this editor has {what}. Open it "
            "with rows the model was not trained on, inputs and targets (labels for a "
            "classifier): GraphEditor(model, data=(x_cal, y_cal)); or call "
            f"rw.risk.{kind.split('_')[0]}.Wrapper(...)(model, x_cal, y_cal) in Python."
        )
    return data[0], data[1]


def _apply_conformal(model, targets, data=None, **params):
    from risk_widgets.risk import conformal

    return conformal.Wrapper(**params)(model, *posthoc_data("conformal", data))


def _apply_temperature(model, targets, data=None, **params):
    from risk_widgets.risk import temperature

    return temperature.Wrapper()(model, *posthoc_data("temperature", data))


def _apply_laplace(hessian):
    def apply(model, targets, data=None, **params):
        from risk_widgets.risk import laplace

        return laplace.Wrapper(hessian=hessian, **params)(model, *posthoc_data("laplace", data))

    return apply


_FULL = PatchKind(
    "full", "Train fully", "layers", (), _apply_full,
    "The selected layers train whole beside the adapters (a new classifier head; PEFT's"
    " modules_to_save): each is replaced by a copy with the same values whose weights train;"
    " your model keeps its own.",
    code="rw.train_fully(model, targets={targets})",
)

_RISK_KINDS: dict[str, PatchKind] = {
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
    "conformal": PatchKind(
        "conformal", "Conformal", "model", (PARAMS["coverage"],), _apply_conformal,
        "Split conformal intervals (regression) or sets (classification), calibrated on the"
        " sample data (held-out rows); risk = half-width or set size. No retraining.",
        uses_selection=False, needs_data=True,
        code="rw.risk.conformal.Wrapper({params})(model, x_cal, y_cal)",
    ),
    "temperature": PatchKind(
        "temperature", "Temperature scaling", "model", (), _apply_temperature,
        "Divides a classifier's logits by one T fitted on the sample data (held-out rows);"
        " risk = 1 - max probability. No retraining.",
        uses_selection=False, needs_data=True,
        code="rw.risk.temperature.Wrapper({params})(model, x_cal, y_cal)",
    ),
    "laplace": PatchKind(
        "laplace", "Laplace (last layer, full)", "model", (PARAMS["prior_precision"],),
        _apply_laplace("full"),
        "Gaussian posterior on the final Dense (full Hessian), fitted on the sample data;"
        " risk = predictive std (regression) or 1 - max probability. No retraining.",
        uses_selection=False, needs_data=True,
        code="rw.risk.laplace.Wrapper(hessian='full', {params})(model, x_cal, y_cal)",
    ),
    "laplace_diag": PatchKind(
        "laplace_diag", "Laplace (last layer, diagonal)", "model", (PARAMS["prior_precision"],),
        _apply_laplace("diag"),
        "As Laplace, with the diagonal of the Hessian (cheaper for wide heads).",
        uses_selection=False, needs_data=True,
        code="rw.risk.laplace.Wrapper(hessian='diag', {params})(model, x_cal, y_cal)",
    ),
}


def _adapter_entry(entry: Any) -> PatchKind:
    """An adapter kind (`risk_widgets.adapters.kinds.AdapterKind`) as the editor's entry."""

    def apply(model, targets, name=None, **params):
        return entry.add(model, targets, name=name, **params)

    return PatchKind(
        entry.kind, entry.label, entry.targets, (*entry.params, PARAMS["name"]), apply,
        entry.help, code=entry.code,
    )


class Catalog(MutableMapping):
    """Every patch kind the editor offers: the adapter kinds registered with
    ``rw.register_adapter`` (LoRA, DoRA, SVF and yours, read at each lookup, so a kind
    registered later is offered by editors opened after it), then the risk kinds.
    Assigning an entry overrides it (tests); deleting one hides it."""

    def __init__(self, fixed: dict[str, PatchKind]):
        self._fixed = fixed
        self._overrides: dict[str, PatchKind] = {}
        self._hidden: set[str] = set()

    def _entries(self) -> dict[str, PatchKind]:
        from risk_widgets.adapters import adapter_kinds

        merged = {k: _adapter_entry(e) for k, e in adapter_kinds().items()}
        merged.update(self._fixed)
        merged.update(self._overrides)
        return {k: v for k, v in merged.items() if k not in self._hidden}

    def __getitem__(self, kind: str) -> PatchKind:
        return self._entries()[kind]

    def __setitem__(self, kind: str, value: PatchKind) -> None:
        self._hidden.discard(kind)
        self._overrides[kind] = value

    def __delitem__(self, kind: str) -> None:
        if kind not in self._entries():
            raise KeyError(kind)
        self._overrides.pop(kind, None)
        self._hidden.add(kind)

    def __iter__(self):
        return iter(self._entries())

    def __len__(self) -> int:
        return len(self._entries())

    def __contains__(self, kind: object) -> bool:
        return kind in self._entries()


CATALOG = Catalog({"full": _FULL, **_RISK_KINDS})


def validate_params(kind: str, params: dict[str, Any] | None) -> dict[str, Any]:
    """Checks ``params`` for patch ``kind`` and returns them typed, with defaults filled in.

    Raises:
        ValueError: unknown kind, unknown parameter, or a value of the wrong type or range.
    """
    entries = dict(CATALOG)
    if kind not in entries:
        raise ValueError(
            f"Unknown patch kind {kind!r}. Expected one of: {', '.join(sorted(entries))}."
        )
    spec = entries[kind]
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

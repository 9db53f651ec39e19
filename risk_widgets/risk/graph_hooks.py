"""How risk models look in the graph view: the body's graph, and where each wrapper applies.

A `RiskModel` runs a Functional ``body``; paths, targets and the graph are the body's, so
a selection made before wrapping still names the same layers after it.

A node's ``patchable`` lists ``vote`` / ``sample`` exactly where applying that wrapper with the
node's path as ``targets`` is accepted: both come from the wrapper's `Sites` rule
(`risk_widgets.risk.vote.SITES`, `risk_widgets.risk.sample.SITES`).
"""

from __future__ import annotations

from typing import Any

from risk_widgets.core.walk import register_graph_root
from risk_widgets.engine.registry import register_patchable
from risk_widgets.risk import sample, vote
from risk_widgets.risk.model import RiskModel
from risk_widgets.risk.posthoc import posthoc_base


def risk_model_body(model: Any) -> Any:
    """The body of a RiskModel (the graph to show and patch), else None."""
    return model.body if isinstance(model, RiskModel) else None


def can_sample(layer: Any) -> bool:
    """Whether ``sample`` applies to this layer or group (`sample.SITES`)."""
    return sample.SITES.offers(layer)


def can_vote(layer: Any) -> bool:
    """Whether ``vote`` applies to this layer or group (`vote.SITES`)."""
    return vote.SITES.offers(layer)


register_graph_root(risk_model_body)
register_graph_root(posthoc_base)  # conformal / temperature / laplace: the wrapped model
register_patchable("sample", can_sample)
register_patchable("vote", can_vote)


def can_lora_ensemble(layer: Any) -> bool:
    """Whether ``lora_ensemble`` applies to this layer or group (`lora_ensemble.SITES`)."""
    from risk_widgets.risk import lora_ensemble

    return lora_ensemble.SITES.offers(layer)


register_patchable("lora_ensemble", can_lora_ensemble)
